"""Image generation (task ``'gan'``): ``config`` -> ``train.build``'s objects -> ``fit``.

``model.name`` picks the generator family: a GAN of ``jaxdl.models.gan.GAN_MODELS``
(``mlp_gan``, ``dcgan``, ``stylegan``, ``pix2pix``), trained by the project's one loop
through the GAN step functions, or ``gaussian``, the closed-form Gaussian model
(``train.gaussian``: fitted, not trained). Every run writes to its workdir
``samples.png`` and ``summary.json``; a GAN run also the loop's checkpoints,
``metrics.jsonl`` and ``curves.png``; samples and classifier-FID: ``train.gan_report``
(a StyleGAN with ``gan.truncation_psi`` also ``samples_psi<psi>.png`` and one FID per psi).

  python -m train --config train/configs/fashion_mnist_dcgan.py --workdir runs/fmnist_dcgan
"""

from pathlib import Path
from typing import Any, NamedTuple

import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxdl.models import gaussian as gaussian_model
from jaxdl.models.gan import create_gan
from jaxdl.training.gan import GANState, example_inputs, gan_steps
from train import build, gan_report, gaussian
from train.gan_report import FidScorer


class GenerationResult(NamedTuple):
    """What ``run`` returns: the trained state (None for the Gaussian model), the fitted
    Gaussian (None for GANs), the summary, the numpy splits and the FID scorer."""

    state: GANState | None
    gaussian_model: gaussian_model.GaussianModel | None
    summary: dict[str, Any]
    splits: dict[str, dict[str, np.ndarray]]
    scorer: FidScorer | None


def run(config: ml_collections.ConfigDict, workdir: str | Path) -> GenerationResult:
    """Trains (or fits) the generator described by ``config`` in ``workdir``."""
    g = config.gan
    conditional = bool(g.condition)  # pix2pix (train.validate checks it agrees with the model)
    splits, _ = build.load_generation_splits(config)
    if config.model.name == "gaussian":
        frame = build.start(config, workdir, devices=False)
        fitted, summary, scorer = gaussian.fit(config, frame, splits)
        return GenerationResult(None, fitted, summary, splits, scorer)
    frame = build.start(
        config, workdir, num_keys=3, per_step_batch=config.train.batch_size // g.d_steps
    )
    init_key, _, sample_key = frame.keys
    dtype = jnp.dtype(config.model.dtype)
    train_np = splits["train"]
    g_kwargs = g.generator.to_dict()
    if config.model.name == "stylegan":  # the moving average of the truncation trick
        g_kwargs.setdefault("w_avg_beta", g.w_avg_beta)
    generator, discriminator = create_gan(
        config.model.name,
        train_np["image"].shape[1:],
        latent_dim=g.latent_dim,
        dtype=dtype,
        generator_kwargs=g_kwargs,
        discriminator_kwargs=g.discriminator.to_dict(),
    )
    cond_shape = train_np["condition"].shape[1:] if conditional else None
    g_input, d_input = example_inputs(train_np["image"].shape[1:], g.latent_dim, cond_shape, dtype)
    state = build.sharded_state(
        lambda: GANState.create(
            generator=generator,
            discriminator=discriminator,
            g_tx=optax.adam(g.g_learning_rate, b1=g.beta1, b2=g.beta2),
            d_tx=optax.adam(g.d_learning_rate, b1=g.beta1, b2=g.beta2),
            rng=init_key,
            g_input=g_input,
            d_input=d_input,
        ),
        frame,
    )
    steps = gan_steps(
        latent_dim=g.latent_dim,
        loss=g.loss,
        conditional=conditional,
        l1_weight=g.l1_weight,
        d_steps=g.d_steps,
        r1_gamma=g.r1_gamma,
        r1_every=g.r1_every,
        dtype=dtype,
        eval_seed=config.seed,
    )
    keys = ("image", "condition") if conditional else ("image",)
    kept = {role: {k: arrays[k] for k in keys} for role, arrays in splits.items()}
    for role, arrays in kept.items():
        if role != "train":  # per-example evaluation latents (see gan_steps)
            arrays["index"] = np.arange(len(arrays["image"]), dtype=np.int32)
    result = build.fit(
        config, frame, state, steps, build.to_device(kept, frame), ranked=False, supervised=False
    )
    state = result.state
    summary = build.summary(
        config, frame, result, params={"g_params": state.g_params, "d_params": state.d_params}
    )
    fid_entries, scorer = gan_report.report(config, frame.workdir, state, splits, sample_key)
    summary.update(fid_entries)
    build.write_summary(frame, summary, hide=("classifier_fid_runs", "truncation"))
    return GenerationResult(state, None, summary, splits, scorer)
