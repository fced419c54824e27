"""Shared helpers of the augmentation ops: input checks, dtype round-trips, per-example keys.

Private to ``jaxdl.data.augment``; see the package docstring for the conventions
(NHWC, dtype preservation, full-range units, joint masks).
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P


def _check(images: jax.Array, masks: jax.Array | None, op: str) -> None:
    if jnp.ndim(images) != 4:
        raise ValueError(f"{op}: images must be NHWC [B, H, W, C], got shape {images.shape}")
    dtype = jnp.result_type(images)
    if not (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)):
        raise TypeError(f"{op}: images must be float or integer (e.g. uint8), got {dtype}")
    if masks is not None and (masks.ndim not in (3, 4) or masks.shape[:3] != images.shape[:3]):
        raise ValueError(
            f"{op}: masks must be [B, H, W] or [B, H, W, K] matching images {images.shape[:3]}, "
            f"got {masks.shape}"
        )


def _positive_int(value: Any, name: str, op: str, allow_zero: bool = True) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        bound = ">= 0" if allow_zero else ">= 1"
        raise ValueError(f"{op}: {name} must be an int {bound}, got {value!r}")
    return value


def _range_scale(dtype) -> float:
    """Full range of a dtype: 255 for uint8, 1.0 for floats."""
    return float(jnp.iinfo(dtype).max) if jnp.issubdtype(dtype, jnp.integer) else 1.0


def _to_float(x: jax.Array) -> jax.Array:
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _restore(y: jax.Array, dtype) -> jax.Array:
    if jnp.issubdtype(dtype, jnp.integer):
        info = jnp.iinfo(dtype)
        return jnp.clip(jnp.round(y), info.min, info.max).astype(dtype)
    return y.astype(dtype)


def _per_example(key: jax.Array, images: jax.Array, sample: Callable[[jax.Array], Any]) -> Any:
    """One key per example, split from the batch key; ``sample(key_i)`` -> params of i.

    Under a mesh with explicit axis types (``jax.make_mesh``'s default) the params are
    resharded along the images' batch axis, as vmap and elementwise ops require.
    """
    params = jax.vmap(sample)(jax.random.split(key, images.shape[0]))
    sharding = jax.typeof(images).sharding
    spec = getattr(sharding, "spec", None)
    if not spec or spec[0] is None:  # unsharded, or sharding not in types (auto axes)
        return params
    batch_sharding = NamedSharding(sharding.mesh, P(spec[0]))
    return jax.tree.map(lambda a: jax.sharding.reshard(a, batch_sharding), params)


def _on_masks(fn: Callable[[jax.Array], jax.Array], masks: jax.Array) -> jax.Array:
    """Apply an NHWC function to ``[B, H, W]`` or ``[B, H, W, K]`` masks."""
    return fn(masks[..., None])[..., 0] if masks.ndim == 3 else fn(masks)


def _out(images: jax.Array, masks: jax.Array | None):
    return images if masks is None else (images, masks)


def _flip(x: jax.Array) -> jax.Array:
    return x[:, :, ::-1]  # [B, H, W, C], mirror the W axis
