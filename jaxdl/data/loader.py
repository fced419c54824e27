"""Device-resident batching for small datasets (MNIST ... STL-10).

The whole split is put on the devices once (replicated: every device holds the
uint8 images, ~47 MB for MNIST at 32x32). Each epoch draws one permutation on
device from ``(seed, epoch)``; a step slices its indices out of it and gathers the
batch inside the jitted train step, so no host->device copy happens in the hot
loop, and the data position is a pure function of the step number (exact resume).

Multi-host (``jax.distributed.initialize``): ``to_device`` puts the same host arrays
on every device of every process (each process loads the whole small dataset), and
``train_batch`` is unchanged: inside jit each device gathers its own rows. Data that
stay on the host (too big for device memory) go through ``process_local_batch``: each
process gathers only its rows of the global batch and the shards are assembled into
one global array, so no process ever holds another's examples on its devices.

Last partial batch: in training it is DROPPED (``steps_per_epoch = N // B``); the
permutation changes every epoch, so every example is still used. In evaluation
nothing is dropped: the last batch is padded (repeating index 0) and a 0/1
``mask`` marks the real examples, so metrics average over exactly N examples with
one compiled shape.
"""

import abc
import functools
from collections.abc import Iterator, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jaxdl.sharding import (
    data_sharding,
    host_local_batch_to_global,
    process_rows,
    replicated,
)


class DeviceSplit(NamedTuple):
    """A dataset split held on device.

    Attributes:
      arrays: dict of replicated device arrays, every leaf shaped [N, ...].
      size: N, the number of examples.
    """

    arrays: dict[str, jax.Array]
    size: int


class StreamedSplit(abc.ABC):
    """A split too large for device memory: batches are made on the host, per epoch.

    The other kind of split is a ``DeviceSplit`` (every example on every device, batches
    gathered inside the jitted step). ``jaxdl.training.loop.fit`` and
    ``jaxdl.training.inference.evaluate`` tell the two apart by this class and call
    ``batches`` / ``eval_batches``; each yields global batches already sharded on the
    mesh (``jaxdl.data.imagenet.StreamSplit`` is one).

    Attributes:
      size: examples per epoch (all hosts).
    """

    size: int

    @abc.abstractmethod
    def batches(self, epoch: int, start: int, batch_size: int) -> Iterator[dict[str, jax.Array]]:
        """Training batches ``start, start + 1, ...`` of epoch ``epoch`` (full batches),
        the same batches whenever the same epoch is asked for again (exact resume)."""

    @abc.abstractmethod
    def eval_batches(self, batch_size: int) -> Iterator[dict[str, jax.Array]]:
        """Every example once, in order; the last batch padded, ``mask`` 1 on real ones."""


Split = DeviceSplit | StreamedSplit  # what fit and evaluate take (besides a dict of arrays)


def to_device(arrays: Mapping[str, np.ndarray], mesh: Mesh) -> DeviceSplit:
    """Copies a dict of equally long numpy arrays to every device of ``mesh`` once.

    Example:
      >>> from jaxdl.sharding import make_mesh
      >>> images, labels = np.zeros((10, 4, 4, 1), np.uint8), np.arange(10)
      >>> split = to_device({"image": images, "label": labels}, make_mesh())
      >>> split.size, split.arrays["image"].shape
      (10, (10, 4, 4, 1))
    """
    sizes = {k: len(v) for k, v in arrays.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"All arrays of a split must have the same length, got {sizes}.")
    size = next(iter(sizes.values()))
    if size == 0:
        raise ValueError("Cannot build a device split from zero examples.")
    on_device = jax.device_put(dict(arrays), replicated(mesh))
    return DeviceSplit(on_device, size)


def steps_per_epoch(size: int, batch_size: int) -> int:
    """Training steps per epoch (the last partial batch is dropped)."""
    if size < batch_size:
        raise ValueError(
            f"The training split has {size} examples, fewer than one batch of {batch_size}; "
            "lower batch_size or use more data."
        )
    return size // batch_size


def num_eval_batches(size: int, batch_size: int) -> int:
    """Evaluation batches covering every example once (the last one padded)."""
    return -(-size // batch_size)


@functools.partial(jax.jit, static_argnums=2)
def epoch_permutation(key: jax.Array, epoch: jax.Array, size: int) -> jax.Array:
    """The shuffled order of epoch ``epoch``: a pure function of ``(key, epoch)``, int32 [N]."""
    return jax.random.permutation(jax.random.fold_in(key, epoch), size)


def train_batch(
    arrays: Mapping[str, jax.Array],
    perm: jax.Array,
    index: jax.Array,
    batch_size: int,
    mesh: Mesh | None = None,
) -> dict[str, jax.Array]:
    """Gathers training batch ``index`` of an epoch (call inside jit).

    Args:
      arrays: the split's device arrays, leaves [N, ...].
      perm: int32 [N] permutation of the epoch.
      index: batch index within the epoch (a traced scalar is fine).
      batch_size: B (static).
      mesh: when given, the batch is constrained to be sharded on ``'data'``.

    Returns:
      dict with the same keys, leaves [B, ...].
    """
    idx = jax.lax.dynamic_slice_in_dim(perm, index * batch_size, batch_size)  # [B]
    return _gather(arrays, idx, mesh)


def process_local_batch(
    arrays: Mapping[str, np.ndarray],
    perm: np.ndarray,
    index: int,
    batch_size: int,
    mesh: Mesh,
) -> dict[str, jax.Array]:
    """Training batch ``index`` of host arrays, each process feeding only its shard.

    Same rows as ``train_batch`` (``perm[index B : (index + 1) B]``), but gathered on the
    host: this process takes the slice ``process_rows(B, mesh)`` of those indices and
    ``host_local_batch_to_global`` assembles the global array sharded on ``'data'``.

    Args:
      arrays: host (numpy) arrays, leaves [N, ...]; every process has the same view.
      perm: the epoch's permutation [N] (e.g. ``np.asarray(epoch_permutation(...))``).
      index: batch index within the epoch (a Python int).
      batch_size: global batch B.
      mesh: the device mesh (all processes).

    Returns:
      dict of global arrays [B, ...] sharded on ``'data'``.

    Example:
      >>> from jaxdl.sharding import make_mesh
      >>> host_arrays = {"x": np.arange(32.0)}
      >>> perm = np.random.default_rng(0).permutation(32)
      >>> batch = process_local_batch(host_arrays, perm, 1, 8, make_mesh())
      >>> bool((np.asarray(batch["x"]) == perm[8:16]).all())  # rows 8..15 of the epoch
      True
    """
    rows = process_rows(batch_size, mesh)
    idx = np.asarray(perm[index * batch_size : (index + 1) * batch_size])[rows]  # [B / P]
    return host_local_batch_to_global({k: np.asarray(v)[idx] for k, v in arrays.items()}, mesh)


def eval_batch(
    arrays: Mapping[str, jax.Array],
    index: jax.Array,
    batch_size: int,
    size: int,
    mesh: Mesh | None = None,
) -> dict[str, jax.Array]:
    """Gathers evaluation batch ``index`` in file order, padded, with a ``mask`` [B]."""
    pos = index * batch_size + jnp.arange(batch_size)  # [B]
    valid = pos < size
    batch = _gather(arrays, jnp.where(valid, pos, 0), mesh)
    batch["mask"] = valid.astype(jnp.float32)
    if mesh is not None:
        batch["mask"] = jax.lax.with_sharding_constraint(batch["mask"], data_sharding(mesh))
    return batch


def _gather(arrays, idx, mesh):
    batch = {k: jnp.take(v, idx, axis=0) for k, v in arrays.items()}
    if mesh is not None:
        batch = jax.lax.with_sharding_constraint(batch, data_sharding(mesh))
    return batch
