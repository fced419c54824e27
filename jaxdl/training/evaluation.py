"""Evaluation by averaging predictions: test-time augmentation (TTA) and ensembles.

Both average predicted PROBABILITIES (softmax of each prediction, then the mean),
as AlexNet's 10-patch test and the ILSVRC ensembles do:

  p(y | x) = 1/V sum_v softmax(f(view_v(x)))            (TTA over V views)
  p(y | x) = 1/K sum_k softmax(f_k(x))                  (ensemble of K models)

Every function is pure ``jnp`` and jit-safe: call it inside ``jax.jit`` with the
batch sharded over the mesh's ``'data'`` axis (``NamedSharding(mesh, P('data'))``)
and the variables replicated; the views/models axis is a loop or a ``vmap`` on each
device's shard, so nothing is gathered. The two compose: an ensemble's averaged
probabilities ``p`` are valid logits as ``log p`` (``softmax(log p) = p``).

The crops themselves come from ``jaxdl.data.augment`` (``center_crop``, ``five_crop``,
``ten_crop``, which stack views on a leading axis); ``flip_views`` and
``scale_views`` here add the mirror and multi-scale views, and
``jaxdl.training.multicrop`` the ImageNet protocols (shorter side resized to several
scales x 10 crops, GoogLeNet's 144 crops, ``multicrop_probabilities``).

References:
  Krizhevsky, Sutskever, Hinton. ImageNet classification with deep convolutional
  neural networks. NeurIPS 2012 (section 4.1: averaging the softmax over ten
  patches; section 6: averaging the predictions of several CNNs).
  Simonyan, Zisserman. Very deep convolutional networks. ICLR 2015 (section 3.2 and
  4.2-4.4: multi-scale and multi-crop evaluation, ensembles by averaging softmax).
  Szegedy et al. Going deeper with convolutions. CVPR 2015 (section 7: 144 crops).
"""

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxdl.data.augment import center_crop
from jaxdl.training.metrics import top_k_error

__all__ = [
    "average_probabilities",
    "ensemble_probabilities",
    "flip_views",
    "scale_views",
    "stack_variables",
    "top_k_errors",
    "tta_probabilities",
]

PredictFn = Callable[[jax.Array], jax.Array]  # images [B, H, W, C] -> logits [B, K]


def average_probabilities(logits: jax.Array | Sequence[jax.Array]) -> jax.Array:
    """Mean of the softmax probabilities of several predictions of the same batch.

    Args:
      logits: ``[V, B, C]`` array or a sequence of ``[B, C]`` arrays.

    Returns:
      ``[B, C]`` float32 probabilities.

    Example:
      >>> import jax.numpy as jnp
      >>> logits_a = jnp.array([[2.0, 0.0], [1.0, 1.0]])
      >>> logits_b = jnp.array([[0.0, 2.0], [1.0, 1.0]])
      >>> p = average_probabilities([logits_a, logits_b])
      >>> p.shape
      (2, 2)
      >>> p.round(4)
      Array([[0.5, 0.5],
             [0.5, 0.5]], dtype=float32)
    """
    if isinstance(logits, list | tuple):
        if not logits:
            raise ValueError("average_probabilities needs at least one prediction.")
        logits = jnp.stack(logits)
    logits = jnp.asarray(logits)
    if logits.ndim != 3:
        raise ValueError(f"logits must be [V, B, C] (or a list of [B, C]); got {logits.shape}.")
    return jnp.mean(jax.nn.softmax(logits.astype(jnp.float32), axis=-1), axis=0)


def tta_probabilities(
    predict_fn: PredictFn,
    views: jax.Array | Sequence[jax.Array],
    vectorize: bool = False,
) -> jax.Array:
    """Test-time augmentation: the averaged probabilities of ``predict_fn`` over views.

    Args:
      predict_fn: ``images -> logits``, e.g.
        ``lambda x: model.apply(variables, x, train=False)``.
      views: the same batch seen ``V`` ways: a ``[V, B, H, W, C]`` array (flips, crops
        of one size, e.g. ``augment.ten_crop``) or a sequence of ``[B, h_v, w_v, C]``
        arrays whose sizes may differ (``scale_views``).
      vectorize: with a stacked array, ``vmap`` over the views (one big batch: fast
        for small batches, V times the activation memory) instead of ``lax.map``
        (one view at a time). Ignored for a sequence, which is a Python loop.

    Returns:
      ``[B, K]`` float32 probabilities.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxdl.data import augment
      >>> images = jnp.ones((2, 8, 8, 3))
      >>> crops = augment.ten_crop(images, 6)
      >>> crops.shape
      (10, 2, 6, 6, 3)
      >>> predict = lambda x: x.mean(axis=(1, 2))  # stand-in model: [B, 3] logits
      >>> probs = tta_probabilities(predict, crops)
      >>> probs.shape
      (2, 3)
      >>> round(float(probs[0, 0]), 4)
      0.3333
    """
    if not isinstance(views, list | tuple):
        views = jnp.asarray(views)
        if views.ndim != 5:
            raise ValueError(
                f"stacked views must be [V, B, H, W, C], got {views.shape}; pass views of "
                "different sizes as a list."
            )
        mapper = jax.vmap if vectorize else (lambda f: lambda xs: jax.lax.map(f, xs))
        return average_probabilities(mapper(predict_fn)(views))  # logits [V, B, K]
    if not views:
        raise ValueError("views must be a [V, B, H, W, C] array or a non-empty list of batches.")
    return average_probabilities([predict_fn(v) for v in views])


def stack_variables(variables: Sequence[Any]) -> Any:
    """Stacks K variable trees of one architecture along a new leading axis.

    Args:
      variables: K pytrees with identical structure and shapes (e.g. the same model
        trained from K seeds).

    Returns:
      one pytree whose leaves are ``[K, ...]``, for ``ensemble_probabilities``.

    Example:
      >>> import jax.numpy as jnp
      >>> v1 = {"params": {"kernel": jnp.zeros((3, 2)), "bias": jnp.zeros(2)}}
      >>> v2 = {"params": {"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2)}}
      >>> stacked = stack_variables([v1, v2])
      >>> stacked["params"]["kernel"].shape, stacked["params"]["bias"].shape
      ((2, 3, 2), (2, 2))
    """
    if not variables:
        raise ValueError("stack_variables needs at least one variable tree.")
    structs = {jax.tree.structure(v) for v in variables}
    if len(structs) != 1:
        raise ValueError("all ensemble members must have the same architecture (tree structure).")
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *variables)


def ensemble_probabilities(
    apply_fn: Callable[[Any, jax.Array], jax.Array],
    stacked_variables: Any,
    images: jax.Array,
    vectorize: bool = True,
) -> jax.Array:
    """Averaged probabilities of K models of one architecture (an ensemble).

    Args:
      apply_fn: ``(variables, images) -> logits`` for ONE member, e.g.
        ``lambda v, x: model.apply(v, x, train=False)``.
      stacked_variables: the members' variables stacked on a leading ``K`` axis
        (``stack_variables``).
      images: ``[B, H, W, C]`` batch (sharded or not).
      vectorize: ``vmap`` over the members (K times the activation memory, one
        big computation: it pays for small models) instead of ``lax.map``.

    Returns:
      ``[B, classes]`` float32 probabilities.

    Example:
      >>> import jax.numpy as jnp
      >>> import flax.linen as nn
      >>> model = nn.Dense(4)  # a tiny classifier on flattened images
      >>> apply_fn = lambda v, x: model.apply(v, x.reshape(x.shape[0], -1))
      >>> # member k favours class k (zero kernel, bias 2 on class k)
      >>> members = [
      ...     {"params": {"kernel": jnp.zeros((9, 4)), "bias": 2.0 * jnp.eye(4)[k]}}
      ...     for k in range(3)
      ... ]
      >>> images = jnp.ones((2, 3, 3, 1))
      >>> p = ensemble_probabilities(apply_fn, stack_variables(members), images)
      >>> p.shape
      (2, 4)
      >>> p[0].round(4)
      Array([0.3012, 0.3012, 0.3012, 0.0963], dtype=float32)
    """

    def member(v):
        return apply_fn(v, images)

    if vectorize:
        logits = jax.vmap(member)(stacked_variables)
    else:
        logits = jax.lax.map(member, stacked_variables)
    return average_probabilities(logits)  # [K, B, C] -> [B, C]


def flip_views(images: jax.Array) -> jax.Array:
    """The batch and its left-right mirror, stacked: ``[2, B, H, W, C]``.

    Args:
      images: ``[B, H, W, C]``.

    Returns:
      ``[2, B, H, W, C]`` (original first).

    Example:
      >>> import jax.numpy as jnp
      >>> images = jnp.arange(4.0).reshape(1, 1, 4, 1)  # one 1 x 4 image
      >>> views = flip_views(images)
      >>> views.shape
      (2, 1, 1, 4, 1)
      >>> views[1, 0, 0, :, 0]
      Array([3., 2., 1., 0.], dtype=float32)
    """
    if images.ndim != 4:
        raise ValueError(f"images must be [B, H, W, C], got {images.shape}.")
    return jnp.stack([images, images[:, :, ::-1]])


def scale_views(
    images: jax.Array,
    scales: Sequence[float],
    crop: int | None = None,
    method: str = "bilinear",
) -> list[jax.Array]:
    """The batch rescaled by each factor (then centre-cropped): multi-scale TTA views.

    Networks with global average pooling (ResNet, GoogLeNet) take every size; fixed
    classifiers (AlexNet, VGG) need ``crop`` to bring every scale back to their input.

    Args:
      images: ``[B, H, W, C]``.
      scales: resize factors, e.g. ``(1.0, 1.15, 1.3)``.
      crop: side of the centre crop taken after resizing (None: no crop).
      method: ``jax.image.resize`` method.

    Returns:
      a list of ``[B, h_s, w_s, C]`` arrays, one per scale, for ``tta_probabilities``.

    Example:
      >>> import jax.numpy as jnp
      >>> images = jnp.zeros((2, 8, 8, 3))
      >>> [v.shape for v in scale_views(images, (1.0, 1.5))]
      [(2, 8, 8, 3), (2, 12, 12, 3)]
      >>> [v.shape for v in scale_views(images, (1.0, 1.5), crop=8)]
      [(2, 8, 8, 3), (2, 8, 8, 3)]
    """
    if images.ndim != 4:
        raise ValueError(f"images must be [B, H, W, C], got {images.shape}.")
    if not scales or any(s <= 0 for s in scales):
        raise ValueError(f"scales must be a non-empty list of positive factors, got {scales}.")
    B, H, W, C = images.shape
    out = []
    for s in scales:
        size = (B, max(1, round(H * s)), max(1, round(W * s)), C)
        x = images if size == images.shape else jax.image.resize(images, size, method)
        out.append(x if crop is None else center_crop(x, crop))
    return out


def top_k_errors(
    logits: jax.Array,
    labels: jax.Array,
    ks: Sequence[int] = (1, 5),
    weights: jax.Array | None = None,
) -> dict[str, jax.Array]:
    """Top-k error rates of a batch (logits or probabilities), e.g. top-1 and top-5.

    Args:
      logits: ``[B, C]`` scores or averaged probabilities.
      labels: ``[B]`` integer classes.
      ks: the k values; each must be <= C.
      weights: optional ``[B]`` weights (0 for padded examples).

    Returns:
      ``{"top{k}_error": scalar}`` weighted means.

    Example:
      >>> import jax.numpy as jnp
      >>> probs = jnp.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]])
      >>> labels = jnp.array([1, 1])
      >>> errors = top_k_errors(probs, labels, ks=(1, 2))
      >>> {k: round(float(v), 4) for k, v in errors.items()}
      {'top1_error': 0.5, 'top2_error': 0.0}
    """
    w = jnp.ones(labels.shape, jnp.float32) if weights is None else weights.astype(jnp.float32)
    total = jnp.maximum(jnp.sum(w), 1e-12)
    return {f"top{k}_error": jnp.sum(top_k_error(logits, labels, k) * w) / total for k in ks}
