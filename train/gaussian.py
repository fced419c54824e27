"""The Gaussian image model of task 'gan' (``model.name='gaussian'``): fitted, not trained.

Fits ``jaxdl.models.gaussian`` in closed form on the training images in [-1, 1], then
writes ``gaussian.npz``, ``samples.png``, ``eigen_images.png`` (the mean and the
leading principal components, each stretched to [0, 255]), the test log-likelihood and
bits per dimension, and the classifier-FID of ``train.gan_report`` when configured.
"""

import time
from typing import Any

import jax
import ml_collections
import numpy as np

from jaxdl.models import gaussian
from jaxdl.training import fid
from jaxdl.training.gan import to_uint8
from jaxdl.viz import samples as viz
from train import build
from train.gan_report import FidScorer, fid_scorer


def eigen_images(model: gaussian.GaussianModel, k: int = 32) -> np.ndarray:
    """uint8 [1 + k, H, W, C]: the mean image, then the first ``k`` components, each
    stretched to the full grey range."""
    k = min(k, model.eigenvalues.shape[0])
    eig = model.components[:, :k].T.reshape(k, *model.image_shape)
    lo, hi = eig.min(axis=(1, 2, 3), keepdims=True), eig.max(axis=(1, 2, 3), keepdims=True)
    eig_u8 = ((eig - lo) / np.maximum(hi - lo, 1e-12) * 255).astype(np.uint8)
    return np.concatenate([to_uint8(model.mean.reshape(1, *model.image_shape)), eig_u8])


def fit(
    config: ml_collections.ConfigDict, frame: build.Frame, splits: dict
) -> tuple[gaussian.GaussianModel, dict[str, Any], FidScorer | None]:
    """Fits the model; writes its files and summary.json; returns (model, summary, scorer)."""
    x = splits["train"]["image"].astype(np.float64) / 127.5 - 1.0  # [N, H, W, C] in [-1, 1]
    t_fit = time.perf_counter()
    model = gaussian.fit_gaussian(x, config.gan.gaussian_components or None)
    fit_s = time.perf_counter() - t_fit
    arrays = {k: np.asarray(v) for k, v in model._asdict().items()}
    np.savez(frame.workdir / "gaussian.npz", **arrays)
    key = jax.random.PRNGKey(config.seed)
    grid = to_uint8(gaussian.sample(model, key, config.gan.num_samples))
    viz.save_grid(grid, frame.workdir / "samples.png", ncols=8)
    viz.save_grid(eigen_images(model), frame.workdir / "eigen_images.png", ncols=11)
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
        bpd = gaussian.bits_per_dim(ll, model.image_shape, 1 / 127.5)
        summary["test_bits_per_dim"] = round(bpd, 4)
    scorer = fid_scorer(config, frame.workdir)
    if scorer is not None:
        g = config.gan
        sets = [
            to_uint8(gaussian.sample(model, jax.random.fold_in(key, 1000 + s), g.fid_samples))
            for s in range(g.fid_seeds)
        ]
        real = fid.real_subset(splits["train"]["image"], g.fid_samples, config.seed)
        summary.update(fid.fid_report(scorer.features, scorer.reference, sets, real))
    build.write_summary(frame, summary, hide=("classifier_fid_runs",))
    return model, summary, scorer
