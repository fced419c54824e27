"""Data parallelism over every visible device: one mesh axis ``'data'`` (layer 0).

Below both ``jaxdl.data`` (which places splits and batches with it) and
``jaxdl.training`` (which shards the state); ``jaxdl.training.parallel`` re-exports it.

Batches are sharded on ``'data'`` (``P('data')``), parameters and optimizer state are
replicated (``P()``); XLA's SPMD partitioner inserts the gradient all-reduce, and
batch-norm statistics computed with ``mean`` over the batch axis are global
(synchronized BN) for free. Multi-host runs call ``initialize_distributed()`` first;
each process then feeds its own slice of a global batch with
``host_local_batch_to_global``.

References:
  JAX "Distributed arrays and automatic parallelization" and multi-process guides.
"""

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = [
    "DATA_AXIS",
    "check_batch_size",
    "create_sharded",
    "data_sharding",
    "host_local_batch_to_global",
    "initialize_distributed",
    "make_mesh",
    "process_rows",
    "replicated",
]

DATA_AXIS = "data"


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh with axis ``'data'`` over ``devices`` (default: all devices, all hosts).

    Example:
      >>> import jax
      >>> mesh = make_mesh()  # every device
      >>> mesh.axis_names, mesh.size == len(jax.devices())
      (('data',), True)
      >>> mesh1 = make_mesh(jax.devices()[:1])
      >>> mesh1.shape["data"]
      1
    """
    devices = list(jax.devices() if devices is None else devices)
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def data_sharding(mesh: Mesh) -> NamedSharding:
    """Sharding that splits the leading (batch) axis over the mesh's ``'data'`` axis."""
    return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """Sharding that keeps a full copy on every device (params, optimizer state)."""
    return NamedSharding(mesh, P())


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    """Raises a clear error when ``batch_size`` cannot be split evenly over the mesh."""
    n = mesh.shape[DATA_AXIS]
    if batch_size <= 0 or batch_size % n:
        raise ValueError(
            f"batch_size={batch_size} must be a positive multiple of the {n} devices on the "
            f"'data' axis; use e.g. batch_size={max(n, (batch_size // n) * n or n)}."
        )


def create_sharded(init_fn: Callable[[], Any], mesh: Mesh) -> Any:
    """Builds a replicated pytree (e.g. a train state) directly on the mesh.

    ``jax.eval_shape`` gives the structure; ``jit(init_fn, out_shardings=...)`` then
    materialises every leaf already replicated, with no host round trip.
    """
    shapes = jax.eval_shape(init_fn)
    shardings = jax.tree.map(lambda _: replicated(mesh), shapes)
    return jax.jit(init_fn, out_shardings=shardings)()


def initialize_distributed(**kwargs) -> None:
    """Starts JAX's multi-host runtime (no-op when already initialised or single process).

    Args:
      **kwargs: forwarded to ``jax.distributed.initialize`` (coordinator_address,
        num_processes, process_id); on managed clusters (SLURM, TPU pods) none are needed.
    """
    if jax.distributed.is_initialized():
        return
    jax.distributed.initialize(**kwargs)


def host_local_batch_to_global(batch: Any, mesh: Mesh) -> Any:
    """Assembles each process's slice of a batch into one globally sharded array tree.

    Each process passes ITS rows of the global batch (``process_rows``), leaves
    ``[B / num_processes, ...]``; the result has leaves ``[B, ...]`` sharded on ``'data'``.
    With one process this is ``device_put`` of the whole batch.
    """
    sharding = data_sharding(mesh)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), batch)


def process_rows(batch_size: int, mesh: Mesh) -> slice:
    """The rows of a global batch that live on this process's devices (contiguous).

    A ``'data'`` sharding gives device d the rows ``[d B/n, (d+1) B/n)``; a process
    feeds the union over its devices, which ``jax.devices()``' process-major order
    makes one contiguous slice. One process: ``slice(0, batch_size)``.

    Example:
      >>> import jax
      >>> import numpy as np
      >>> mesh = make_mesh(jax.devices()[:1])
      >>> rows = process_rows(8, mesh)  # one process: every row (process 1 of 2: the 2nd half)
      >>> rows
      slice(0, 8, None)
      >>> global_host_batch = {"image": np.zeros((8, 4, 4, 1)), "label": np.arange(8)}
      >>> local = {k: v[rows] for k, v in global_host_batch.items()}
      >>> local["image"].shape, local["label"].shape
      ((8, 4, 4, 1), (8,))
    """
    check_batch_size(batch_size, mesh)
    index_map = data_sharding(mesh).addressable_devices_indices_map((batch_size,))
    starts = sorted(idx[0].start or 0 for idx in index_map.values())
    stops = sorted(batch_size if idx[0].stop is None else idx[0].stop for idx in index_map.values())
    if any(a != b for a, b in zip(starts[1:], stops[:-1], strict=False)):
        raise ValueError(
            f"This process's devices hold non-contiguous rows of the batch ({starts}, {stops}); "
            "build the mesh from jax.devices() in its default (process-major) order."
        )
    return slice(starts[0], stops[-1])
