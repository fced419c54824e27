"""Classifier-FID: the Frechet distance between Gaussian fits of a classifier's features.

``FID = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2})`` between the means and
covariances of feature vectors of two image sets (Heusel et al. 2017), computed in
float64 with ``scipy.linalg.sqrtm``.

The features here are NOT Inception-v3's: they are a hidden layer (e.g. LeNet-5's F6,
84 units) of a small classifier trained by jaxdl on the same dataset, so the numbers
are named ``classifier_fid`` and are comparable only with each other (same classifier,
same layer, same sample sizes), never with published FIDs. FID is biased upwards for
small sample sizes, so every compared set uses the same number of images.

References:
  Heusel, Ramsauer, Unterthiner, Nessler, Hochreiter. GANs trained by a two time-scale
  update rule converge to a local Nash equilibrium. NeurIPS 2017 (eq. 6).
  Dowson, Landau. The Frechet distance between multivariate normal distributions.
  J. Multivariate Analysis 1982.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

__all__ = [
    "fid_report",
    "real_subset",
    "FeatureStats",
    "classifier_features",
    "classifier_fid",
    "feature_stats",
    "frechet_distance",
]


class FeatureStats(NamedTuple):
    """Mean [F] and covariance [F, F] (float64) of a feature set, and its size."""

    mean: np.ndarray
    cov: np.ndarray
    count: int


def feature_stats(features: np.ndarray) -> FeatureStats:
    """Float64 mean and unbiased covariance of features [N, F].

    Example:
      >>> import numpy as np
      >>> stats = feature_stats(np.random.default_rng(0).normal(size=(100, 4)))
      >>> stats.mean.shape, stats.cov.shape, stats.count
      ((4,), (4, 4), 100)
    """
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"feature_stats needs [N >= 2, F] features, got shape {f.shape}.")
    return FeatureStats(f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], -1), len(f))


def frechet_distance(a: FeatureStats, b: FeatureStats, eps: float = 1e-6) -> float:
    """``|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 sqrtm(S_a S_b))`` in float64.

    When ``S_a S_b`` is singular ``sqrtm`` can return non-finite values; then ``eps I``
    is added to both covariances (the reference implementation's remedy). The tiny
    imaginary part numerical error leaves is dropped.

    Example:
      >>> import numpy as np
      >>> f1 = np.random.default_rng(0).normal(size=(200, 3))
      >>> round(abs(frechet_distance(feature_stats(f1), feature_stats(f1))), 4)
      0.0
      >>> f2 = f1 + 2.0  # same covariance, mean moved by 2 on each of 3 axes: 3 * 2**2
      >>> round(frechet_distance(feature_stats(f1), feature_stats(f2)), 4)
      12.0
    """
    mu1, mu2 = np.asarray(a.mean, np.float64), np.asarray(b.mean, np.float64)
    s1, s2 = np.asarray(a.cov, np.float64), np.asarray(b.cov, np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape:
        raise ValueError(f"Feature sizes differ: {mu1.shape} vs {mu2.shape}.")
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if not np.all(np.isfinite(covmean)):
        offset = eps * np.eye(s1.shape[0])
        covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def classifier_features(
    apply_fn: Callable[..., Any],
    variables: dict,
    layer: str,
    mean: np.ndarray,
    std: np.ndarray,
    pad_to: int = 0,
    batch_size: int = 500,
) -> Callable[[np.ndarray], np.ndarray]:
    """Builds ``uint8 images [N, H, W, C] -> features [N, F]`` from a trained classifier.

    The images get the classifier's own preparation (zero padding to ``pad_to``, then
    ``(x / 255 - mean) / std``), the model runs in eval mode, and the output of the
    submodule named ``layer`` is captured (``capture_intermediates``) and flattened.

    Args:
      apply_fn: the classifier's ``apply`` (e.g. ``TrainState.apply_fn``).
      variables: ``{'params': ..., 'batch_stats': ...}``.
      layer: name of the top-level submodule whose output is the feature (LeNet-5: 'F6').
      mean: per-channel training mean on the [0, 1] scale.
      std: per-channel training std on the [0, 1] scale.
      pad_to: pad images to this square side first (0: as they are).
      batch_size: images per forward pass.

    Returns:
      The feature function (float64 numpy output).

    Example:
      >>> import jax
      >>> import numpy as np
      >>> import flax.linen as nn
      >>> class Tiny(nn.Module):  # a tiny classifier; its layer 'F6' gives the features
      ...     @nn.compact
      ...     def __call__(self, x, train=False):
      ...         h = nn.tanh(nn.Dense(4, name="F6")(x.reshape(x.shape[0], -1)))
      ...         return nn.Dense(2, name="output")(h)
      >>> model = Tiny()
      >>> variables = jax.jit(model.init)(jax.random.PRNGKey(0), np.zeros((1, 6, 6, 1)))
      >>> feats = classifier_features(
      ...     model.apply, variables, "F6", np.array([0.5]), np.array([0.25]), pad_to=6,
      ...     batch_size=4,
      ... )
      >>> images = np.zeros((5, 4, 4, 1), np.uint8)  # padded to 6 x 6
      >>> f = feats(images)
      >>> f.shape, f.dtype
      ((5, 4), dtype('float64'))
    """
    mean32 = jnp.asarray(mean, jnp.float32)
    inv_std = jnp.asarray(1.0 / np.maximum(np.asarray(std), 1e-8), jnp.float32)

    @jax.jit
    def forward(images):
        x = (images.astype(jnp.float32) / 255.0 - mean32) * inv_std
        _, state = apply_fn(
            variables,
            x,
            train=False,
            capture_intermediates=lambda mdl, method: mdl.name == layer and method == "__call__",
        )
        inter = state["intermediates"]
        if layer not in inter:
            raise ValueError(f"The classifier has no submodule named {layer!r}.")
        out = inter[layer]["__call__"][0]
        return out.reshape(out.shape[0], -1).astype(jnp.float32)

    def features(images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4:
            raise TypeError(
                f"classifier features expect uint8 [N, H, W, C] images, got {images.dtype} "
                f"{images.shape}; convert generator output with jaxdl.training.gan.to_uint8."
            )
        if pad_to and images.shape[1] < pad_to:
            top = (pad_to - images.shape[1]) // 2
            left = (pad_to - images.shape[2]) // 2
            images = np.pad(
                images,
                (
                    (0, 0),
                    (top, pad_to - images.shape[1] - top),
                    (left, pad_to - images.shape[2] - left),
                    (0, 0),
                ),
            )
        out = []
        n = len(images)
        for start in range(0, n, batch_size):
            chunk = images[start : start + batch_size]
            real = len(chunk)
            if real < batch_size:  # one compiled shape: pad the last chunk
                chunk = np.concatenate([chunk, np.repeat(chunk[:1], batch_size - real, 0)])
            out.append(np.asarray(forward(chunk))[:real])
        return np.concatenate(out).astype(np.float64)

    return features


def classifier_fid(
    features: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    reference: FeatureStats | np.ndarray,
) -> float:
    """Classifier-FID of uint8 ``images`` against ``reference`` (stats or uint8 images).

    Example:
      >>> import numpy as np
      >>> def feats(images):  # stand-in for classifier_features(...): flattened pixels
      ...     return images.reshape(len(images), -1).astype(np.float64)
      >>> rng = np.random.default_rng(0)
      >>> real = rng.integers(0, 256, (50, 2, 1, 1), dtype=np.uint8)
      >>> ref = feature_stats(feats(real))
      >>> round(abs(classifier_fid(feats, real, ref)), 4)
      0.0
      >>> round(classifier_fid(feats, real // 2, real), 1)  # reference given as images
      11789.9
    """
    if not isinstance(reference, FeatureStats):
        reference = feature_stats(features(reference))
    return frechet_distance(feature_stats(features(images)), reference)


def fid_report(
    features: Callable[[np.ndarray], np.ndarray],
    reference: FeatureStats,
    sample_sets: list[np.ndarray],
    real: np.ndarray,
) -> dict[str, Any]:
    """Classifier-FID mean/std over the sample sets, and the real-data floor.

    Each set (uint8 images) is scored against ``reference`` through ``features``; so is
    ``real``, as many real training images (``real_subset``): the FID a perfect generator
    would get at this sample size.
    """
    values = [classifier_fid(features, s, reference) for s in sample_sets]
    return {
        "classifier_fid": float(np.mean(values)),
        "classifier_fid_std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
        "classifier_fid_runs": [round(v, 3) for v in values],
        "fid_samples": int(len(sample_sets[0])),
        "real_train_fid": classifier_fid(features, real, reference),
    }


def real_subset(images: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` training images drawn without replacement (the real-data floor's set)."""
    idx = np.random.default_rng(seed).permutation(len(images))[:n]
    return images[idx]
