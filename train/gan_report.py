"""The report of a trained generator: its samples grid and its classifier-FID.

``gan.fid_classifier`` names a ``train/configs`` module; that classifier is trained once
with the classification task (``train.classification.run``) in ``gan.fid_workdir`` and
reused (a finished run is only restored); the reference statistics are its test split's
features. FID is reported as mean +- std over ``gan.fid_seeds`` independent sets of
``gan.fid_samples`` generated images, next to the same number of REAL training images
scored the same way (the floor). A StyleGAN with ``gan.truncation_psi`` also gets, per
psi, a samples grid ``samples_psi<psi>.png`` (the same latents for every psi) and its
classifier-FID over the same sample sets' latents (the truncation trick's table).
"""

import functools
import importlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import ml_collections
import numpy as np

from jaxdl.data import preprocess
from jaxdl.training import fid, inference
from jaxdl.training.gan import generate, to_uint8
from jaxdl.viz import samples as viz
from train import build, classification
from train import workdir as workdirs


class FidScorer(NamedTuple):
    """A trained classifier's feature map, its reference statistics and its predictions."""

    features: Callable[[np.ndarray], np.ndarray]  # uint8 [N, H, W, C] -> [N, F]
    reference: fid.FeatureStats  # of the classifier's test split
    predict: Callable[[np.ndarray], np.ndarray]  # uint8 images -> class ids [N]
    class_names: tuple[str, ...]


@functools.lru_cache(maxsize=4)
def _scorer(module: str, fid_workdir: str, layer: str, progress: bool) -> FidScorer:
    ccfg = importlib.import_module(f"train.configs.{module}").get_config()
    ccfg.train.progress = progress
    path = workdirs.prepare(fid_workdir, ccfg, overwrite=False)
    result = classification.run(ccfg, path)  # trains once; a finished run is restored
    splits, names = build.load_splits(ccfg.data)
    mean, std = preprocess.channel_stats(splits["train"]["image"])
    variables = {"params": result.state.params, **result.state.model_state}
    features = fid.classifier_features(
        result.state.apply_fn, variables, layer, mean, std, pad_to=ccfg.data.pad_to
    )
    reference = fid.feature_stats(features(splits["test"]["image"]))
    pre = preprocess.image_preprocess(mean, std)  # the classifier's own normalisation

    def predict(images: np.ndarray) -> np.ndarray:
        pad = ccfg.data.pad_to
        if pad and images.shape[1] < pad:
            images = preprocess.pad_to(images, pad)
        logits = inference.predict(result.state, images, preprocess=pre, batch_size=500)
        return np.argmax(logits, -1)

    return FidScorer(features, reference, predict, tuple(names))


def fid_scorer(config: ml_collections.ConfigDict, workdir: Path) -> FidScorer | None:
    """The classifier-FID scorer of ``config.gan`` (trained on first use), or None."""
    g = config.gan
    if not g.fid_classifier:
        return None
    path = g.fid_workdir or str(workdir.parent / f"fid_{g.fid_classifier}")
    return _scorer(g.fid_classifier, str(Path(path).absolute()), g.fid_layer, config.train.progress)


def generated(
    state, g, conditional: bool, ref: dict, key: jax.Array, n: int, psi: float = 1.0
) -> np.ndarray:
    """``n`` generated uint8 images: pix2pix's from the reference split's first ``n``
    conditions, the others' from latents ``N(0, I)`` drawn with ``key`` (StyleGAN:
    truncated by ``psi``)."""
    if conditional:
        inputs = ref["condition"][:n] / 127.5 - 1.0
    else:
        inputs = np.asarray(jax.random.normal(key, (n, g.latent_dim)))
    return to_uint8(generate(state, inputs, key, psi=psi))


def psi_name(psi: float) -> str:
    """The samples grid of truncation ``psi``: ``samples_psi0.7.png``."""
    return f"samples_psi{float(psi):g}.png"


def report(
    config: ml_collections.ConfigDict,
    workdir: Path,
    state: Any,
    splits: dict[str, dict[str, np.ndarray]],
    key: jax.Array,
) -> tuple[dict[str, Any], FidScorer | None]:
    """Writes ``samples.png``; returns the classifier-FID entries and the scorer.

    The samples: ``gan.num_samples`` images (pix2pix: per 8 examples a row of inputs, of
    generated images, of targets, from the test split or else the training split).
    The FID: ``gan.fid_seeds`` sets of ``gan.fid_samples`` (one set for pix2pix, whose
    generator is deterministic in evaluation), against as many real training images.
    """
    g = config.gan
    conditional = bool(g.condition)
    ref, n = splits.get("test", splits["train"]), g.num_samples
    shown = generated(state, g, conditional, ref, key, n)
    if conditional:
        rows = [ref["condition"], shown, ref["image"]]
        shown = np.concatenate([r[i : i + 8] for i in range(0, n, 8) for r in rows])
    viz.save_grid(shown, workdir / "samples.png", ncols=8)
    psis = tuple(g.truncation_psi)
    for psi in psis:  # the same latents and noise as samples.png, truncated
        viz.save_grid(generated(state, g, False, ref, key, n, psi), workdir / psi_name(psi), 8)
    scorer = fid_scorer(config, workdir)
    if scorer is None:
        return {}, None
    t_fid = time.perf_counter()
    keys = [jax.random.fold_in(key, 1000 + s) for s in range(1 if conditional else g.fid_seeds)]
    sets = [generated(state, g, conditional, ref, k, g.fid_samples) for k in keys]
    real = fid.real_subset(splits["train"]["image"], g.fid_samples, 0)
    out = fid.fid_report(scorer.features, scorer.reference, sets, real)
    if psis:  # each psi scored on the same latents (sample sets) as psi = 1 above
        out["truncation"] = []
        for psi in psis:
            truncated = (generated(state, g, False, ref, k, g.fid_samples, psi) for k in keys)
            values = [fid.classifier_fid(scorer.features, x, scorer.reference) for x in truncated]
            out["truncation"].append(
                {
                    "psi": float(psi),
                    "classifier_fid": float(np.mean(values)),
                    "classifier_fid_std": float(np.std(values, ddof=1)) if len(keys) > 1 else 0.0,
                    "classifier_fid_runs": [round(v, 3) for v in values],
                    "samples": psi_name(psi),
                }
            )
    return {**out, "fid_wall_s": round(time.perf_counter() - t_fid, 1)}, scorer
