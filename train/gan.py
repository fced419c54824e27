"""Config -> objects -> ``fit`` for image generation (task ``'gan'``).

``model.name`` picks the generator family: a GAN of ``jaxdl.models.gan.GAN_MODELS``
(``mlp_gan``, ``dcgan``, ``stylegan``, ``pix2pix``), trained by the project's one loop
(``jaxdl.training.loop.fit``) through the GAN step functions, or ``gaussian``, the
closed-form Gaussian model (fitted, not trained: no loop). Every run writes to its
workdir ``samples.png`` and ``summary.json``; a GAN run also the loop's checkpoints,
``metrics.jsonl`` and ``curves.png``.

Classifier-FID (``gan.fid_classifier``, a ``train/configs`` module): the classifier is
trained once with the classification task (``train.classification.run``) in
``gan.fid_workdir`` and reused (a finished run is only restored); the reference
statistics are its test split's features. FID is reported as mean +- std over
``gan.fid_seeds`` independent sets of ``gan.fid_samples`` generated images, next to the
same number of REAL training images scored the same way (the floor).

  python -m train --config train/configs/fashion_mnist_dcgan.py --workdir runs/fmnist_dcgan
"""

import functools
import importlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxdl.data import loader, preprocess
from jaxdl.data.readers.paired_folder import load_paired_folder
from jaxdl.models import gaussian
from jaxdl.models.gan import GAN_MODELS, create_gan
from jaxdl.models.pix2pix import sobel_edges
from jaxdl.training import fid, guards, parallel
from jaxdl.training.gan import GANState, gan_steps, generate, to_uint8
from jaxdl.viz import samples as viz
from train import classification, segmentation
from train import workdir as workdirs


class FidScorer(NamedTuple):
    """A trained classifier's feature map, its reference statistics and its predictions."""

    features: Callable[[np.ndarray], np.ndarray]  # uint8 [N, H, W, C] -> [N, F]
    reference: fid.FeatureStats  # of the classifier's test split
    predict: Callable[[np.ndarray], np.ndarray]  # uint8 images -> class ids [N]
    class_names: tuple[str, ...]


class GenerationResult(NamedTuple):
    """What ``run`` returns: the trained state (None for the Gaussian model), the fitted
    Gaussian (None for GANs), the summary, the numpy splits and the FID scorer."""

    state: GANState | None
    gaussian_model: gaussian.GaussianModel | None
    summary: dict[str, Any]
    splits: dict[str, dict[str, np.ndarray]]
    scorer: FidScorer | None


CONDITIONS = ("", "sobel_edges", "mask", "paired")
_PAIRED = "paired_folder:"


def _mask_image(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Class indices [N, H, W] -> a grey uint8 input [N, H, W, 1] (void labels -> 0)."""
    step = 255 // max(num_classes - 1, 1)
    return np.where(labels < num_classes, labels * step, 0).astype(np.uint8)[..., None]


def load_data(config: ml_collections.ConfigDict) -> tuple[dict[str, dict], tuple[str, ...]]:
    """The splits of ``config.data`` plus the GAN inputs.

    ``gan.condition`` gives every split a ``'condition'`` (pix2pix's input):
    ``'sobel_edges'``: binary Sobel edge maps of its images (edges -> image);
    ``'mask'``: the per-pixel masks of a segmentation dataset (``data.name`` 'cracks',
    'seg_folder:...', 'tfds:...', read by ``train.segmentation``), the image is the
    target (crack mask -> surface); ``'paired'``: the input halves of a pix2pix folder
    (``data.name='paired_folder:<root>'``, ``jaxdl.data.readers.paired_folder``).
    """
    cond = config.gan.condition
    if cond not in CONDITIONS:
        raise ValueError(f"gan.condition must be one of {CONDITIONS}, got {cond!r}.")
    paired = config.data.name.startswith(_PAIRED)
    if paired != (cond == "paired"):
        raise ValueError(
            "gan.condition='paired' goes with data.name='paired_folder:<root>' and only with "
            f"it; got condition {cond!r} and data.name {config.data.name!r}."
        )
    if cond == "mask":
        splits, names = segmentation.load_segmentation_splits(config.data, config.segmentation)
        for arrays in splits.values():
            arrays["condition"] = _mask_image(arrays.pop("label"), len(names))
        return splits, names
    if paired:
        root, size = config.data.name[len(_PAIRED) :], config.segmentation.image_size or None
        splits = {
            role: load_paired_folder(root, spec, size, config.gan.paired_direction)
            for role in ("train", "val", "test")
            if (spec := config.data[f"{role}_split"])
        }
        return splits, ()
    splits, names = classification.load_splits(config.data)
    for arrays in splits.values():
        if cond == "sobel_edges":
            arrays["condition"] = sobel_edges(arrays["image"], config.gan.edge_threshold)
    return splits, names


@functools.lru_cache(maxsize=4)
def _scorer(module: str, fid_workdir: str, layer: str, progress: bool) -> FidScorer:
    ccfg = importlib.import_module(f"train.configs.{module}").get_config()
    ccfg.train.progress = progress
    path = workdirs.prepare(fid_workdir, ccfg, overwrite=False)
    result = classification.run(ccfg, path)  # trains once; a finished run is restored
    splits, names = classification.load_splits(ccfg.data)
    mean, std = preprocess.channel_stats(splits["train"]["image"])
    variables = {"params": result.state.params, **result.state.model_state}
    features = fid.classifier_features(
        result.state.apply_fn, variables, layer, mean, std, pad_to=ccfg.data.pad_to
    )
    reference = fid.feature_stats(features(splits["test"]["image"]))
    mean32 = jnp.asarray(mean, jnp.float32)
    inv_std = jnp.asarray(1.0 / np.maximum(std, 1e-8), jnp.float32)

    @jax.jit
    def logits(images):
        x = (images.astype(jnp.float32) / 255.0 - mean32) * inv_std
        return result.state.apply_fn(variables, x, train=False)

    def predict(images: np.ndarray) -> np.ndarray:
        pad = ccfg.data.pad_to
        if pad and images.shape[1] < pad:
            images = preprocess.pad_to(images, pad)
        return np.concatenate(
            [
                np.argmax(np.asarray(logits(images[i : i + 500])), -1)
                for i in range(0, len(images), 500)
            ]
        )

    return FidScorer(features, reference, predict, tuple(names))


def fid_scorer(config: ml_collections.ConfigDict, workdir: Path) -> FidScorer | None:
    """The classifier-FID scorer of ``config.gan`` (trained on first use), or None."""
    g = config.gan
    if not g.fid_classifier:
        return None
    path = g.fid_workdir or str(workdir.parent / f"fid_{g.fid_classifier}")
    return _scorer(g.fid_classifier, str(Path(path).absolute()), g.fid_layer, config.train.progress)


def fid_report(
    scorer: FidScorer, sample_sets: list[np.ndarray], real: np.ndarray
) -> dict[str, Any]:
    """Classifier-FID mean/std over the sample sets, and the real-data floor."""
    values = [fid.classifier_fid(scorer.features, s, scorer.reference) for s in sample_sets]
    return {
        "classifier_fid": float(np.mean(values)),
        "classifier_fid_std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
        "classifier_fid_runs": [round(v, 3) for v in values],
        "fid_samples": int(len(sample_sets[0])),
        "real_train_fid": fid.classifier_fid(scorer.features, real, scorer.reference),
    }


def _real_subset(images: np.ndarray, n: int, seed: int) -> np.ndarray:
    idx = np.random.default_rng(seed).permutation(len(images))[:n]
    return images[idx]


def run_gaussian(
    config: ml_collections.ConfigDict, workdir: Path, splits: dict, t0: float
) -> GenerationResult:
    """Fits the Gaussian model; writes samples, eigen-images, likelihood and FID."""
    x = splits["train"]["image"].astype(np.float64) / 127.5 - 1.0  # [N, H, W, C] in [-1, 1]
    t_fit = time.perf_counter()
    model = gaussian.fit_gaussian(x, config.gan.gaussian_components or None)
    fit_s = time.perf_counter() - t_fit
    np.savez(workdir / "gaussian.npz", **{k: np.asarray(v) for k, v in model._asdict().items()})
    key = jax.random.PRNGKey(config.seed)
    grid = to_uint8(gaussian.sample(model, key, config.gan.num_samples))
    viz.save_grid(grid, workdir / "samples.png", ncols=8)
    k = min(32, model.eigenvalues.shape[0])
    eig = model.components[:, :k].T.reshape(k, *model.image_shape)
    lo, hi = eig.min(axis=(1, 2, 3), keepdims=True), eig.max(axis=(1, 2, 3), keepdims=True)
    eig_u8 = ((eig - lo) / np.maximum(hi - lo, 1e-12) * 255).astype(np.uint8)
    mean_u8 = to_uint8(model.mean.reshape(1, *model.image_shape))
    viz.save_grid(np.concatenate([mean_u8, eig_u8]), workdir / "eigen_images.png", ncols=11)
    summary: dict[str, Any] = {
        "model": "gaussian",
        "dataset": config.data.name,
        "components": int(model.eigenvalues.shape[0]),
        "explained_variance": round(model.explained, 4),
        "train_wall_s": round(fit_s, 2),
    }
    if "test" in splits:
        xt = splits["test"]["image"].astype(np.float64) / 127.5 - 1.0
        ll = gaussian.log_likelihood(model, xt)
        summary["test_log_likelihood_nats"] = round(float(ll.mean()), 2)
        summary["test_bits_per_dim"] = round(
            gaussian.bits_per_dim(ll, model.image_shape, 1 / 127.5), 4
        )
    scorer = fid_scorer(config, workdir)
    if scorer is not None:
        g = config.gan
        sets = [
            to_uint8(gaussian.sample(model, jax.random.fold_in(key, 1000 + s), g.fid_samples))
            for s in range(g.fid_seeds)
        ]
        real = _real_subset(splits["train"]["image"], g.fid_samples, config.seed)
        summary.update(fid_report(scorer, sets, real))
    summary["total_wall_s"] = round(time.perf_counter() - t0, 1)
    _write_summary(workdir, summary)
    return GenerationResult(None, model, summary, splits, scorer)


def _write_summary(workdir: Path, summary: dict) -> None:
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2))
    shown = {k: v for k, v in summary.items() if k != "classifier_fid_runs"}
    print("summary: " + " ".join(f"{k}={v}" for k, v in shown.items()), flush=True)


def _count(tree) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))


def run(config: ml_collections.ConfigDict, workdir: str | Path) -> GenerationResult:
    """Trains (or fits) the generator described by ``config`` in ``workdir``."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    name = config.model.name
    if name != "gaussian" and name not in GAN_MODELS:
        raise ValueError(
            f"model.name {name!r} is not a generator; use 'gaussian' or one of "
            f"{sorted(GAN_MODELS)} for task 'gan'."
        )
    if config.model.kwargs.to_dict():
        raise ValueError(
            "task 'gan' takes generator/discriminator fields in gan.generator / "
            "gan.discriminator, not model.kwargs."
        )
    splits, _ = load_data(config)
    if name == "gaussian":
        return run_gaussian(config, workdir, splits, t0)
    g = config.gan
    conditional = GAN_MODELS[name][2] == "image"
    if conditional != bool(g.condition):
        raise ValueError(
            f"model {name!r} {'needs' if conditional else 'takes no'} gan.condition "
            f"(got {g.condition!r}); pix2pix needs gan.condition 'sobel_edges', 'mask' or "
            "'paired'."
        )
    mesh = parallel.make_mesh()
    parallel.check_batch_size(config.train.batch_size // g.d_steps, mesh)
    parallel.check_batch_size(config.train.eval_batch_size, mesh)
    dtype = jnp.dtype(config.model.dtype)
    train_np = splits["train"]
    image_shape = train_np["image"].shape[1:]
    generator, discriminator = create_gan(
        name,
        image_shape,
        latent_dim=g.latent_dim,
        dtype=dtype,
        generator_kwargs=g.generator.to_dict(),
        discriminator_kwargs=g.discriminator.to_dict(),
    )
    g_tx = optax.adam(g.g_learning_rate, b1=g.beta1, b2=g.beta2)
    d_tx = optax.adam(g.d_learning_rate, b1=g.beta1, b2=g.beta2)
    train_step, eval_step = gan_steps(
        latent_dim=g.latent_dim,
        loss=g.loss,
        conditional=conditional,
        l1_weight=g.l1_weight,
        d_steps=g.d_steps,
        dtype=dtype,
        eval_seed=config.seed,
    )
    if config.train.on_nonfinite == "skip":
        train_step = guards.skip_nonfinite(train_step)
    root = jax.random.PRNGKey(config.seed)
    init_key, data_key, sample_key = jax.random.split(root, 3)
    if conditional:
        cond_shape = train_np["condition"].shape[1:]
        g_input = jnp.zeros((1, *cond_shape), dtype)
        d_input = jnp.zeros((1, *image_shape[:2], image_shape[2] + cond_shape[2]), dtype)
    else:
        g_input = jnp.zeros((1, g.latent_dim), dtype)
        d_input = jnp.zeros((1, *image_shape), dtype)
    state = parallel.create_sharded(
        lambda: GANState.create(
            generator=generator,
            discriminator=discriminator,
            g_tx=g_tx,
            d_tx=d_tx,
            rng=init_key,
            g_input=g_input,
            d_input=d_input,
        ),
        mesh,
    )
    keys = ("image", "condition") if conditional else ("image",)
    device = {}
    for role, arrays in splits.items():
        kept = {k: arrays[k] for k in keys}
        if role != "train":  # per-example evaluation latents (see gan_steps)
            kept["index"] = np.arange(len(arrays["image"]), dtype=np.int32)
        device[role] = loader.to_device(kept, mesh)
    resumed = workdirs.has_checkpoints(workdir)
    result = classification.fit_from_config(
        config,
        state,
        train_step,
        eval_step,
        device,
        workdir,
        data_key,
        mesh,
        ranked=False,
        supervised=False,
    )
    state = result.state
    # Training time over every call that trained this run (a resumed finished run adds ~0).
    timing_path = workdir / "train_time.json"
    spent = result.wall_time
    if resumed and timing_path.exists():
        spent += json.loads(timing_path.read_text())["train_wall_s"]
    timing_path.write_text(json.dumps({"train_wall_s": spent}))
    summary: dict[str, Any] = {
        "model": name,
        "dataset": config.data.name,
        "g_params": _count(state.g_params),
        "d_params": _count(state.d_params),
        "steps": int(state.step),
        "finished": result.finished,
        "train_wall_s": round(spent, 1),
        "steps_per_second": round(int(state.step) / spent, 2) if spent > 0 else 0.0,
        **{k: round(v, 5) for k, v in result.final_metrics.items()},
    }
    ref = splits.get("test", train_np)
    n = config.gan.num_samples
    if conditional:
        cond = ref["condition"][:n] / 127.5 - 1.0
        out = to_uint8(generate(state, cond, sample_key))
        rows = []
        for start in range(0, n, 8):  # per 8 examples: edges, generated, target rows
            rows += [ref["condition"][start : start + 8], out[start : start + 8]]
            rows += [ref["image"][start : start + 8]]
        viz.save_grid(np.concatenate(rows), workdir / "samples.png", ncols=8)
    else:
        z = np.asarray(jax.random.normal(sample_key, (n, g.latent_dim)))
        viz.save_grid(to_uint8(generate(state, z, sample_key)), workdir / "samples.png", ncols=8)
    scorer = fid_scorer(config, workdir)
    if scorer is not None:
        t_fid = time.perf_counter()
        sets = []
        for s in range(1 if conditional else g.fid_seeds):
            k = jax.random.fold_in(sample_key, 1000 + s)
            if conditional:  # deterministic G (eval mode): one set, the test edges
                inputs = ref["condition"][: g.fid_samples] / 127.5 - 1.0
            else:
                inputs = np.asarray(jax.random.normal(k, (g.fid_samples, g.latent_dim)))
            sets.append(to_uint8(generate(state, inputs, k)))
        summary.update(fid_report(scorer, sets, _real_subset(train_np["image"], g.fid_samples, 0)))
        summary["fid_wall_s"] = round(time.perf_counter() - t_fid, 1)
    summary["total_wall_s"] = round(time.perf_counter() - t0, 1)
    _write_summary(workdir, summary)
    return GenerationResult(state, None, summary, splits, scorer)
