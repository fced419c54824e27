"""Multi-host data parallelism: 2 processes on localhost train like 1 process.

Two worker processes (this file run as a script) call ``jax.distributed.initialize``
with a localhost coordinator and CPU collectives over gloo
(``jax_cpu_collectives_implementation='gloo'``), each with 2 CPU devices: a 4-device
mesh spread over 2 processes. They train a batch-norm MLP (global batch statistics,
so the all-reduces really cross processes) for a few SGD-momentum steps on the same
global batches, fed two ways:

- device-resident: ``loader.to_device`` (every process holds the data) and
  ``loader.train_batch`` inside jit, as ``fit`` does;
- host shards: ``loader.process_local_batch``, each process gathering only its rows of
  the global batch (``parallel.process_rows``).

The reference is the same code in this (single) pytest process on a 4-device mesh.
Per-step losses and final parameters must agree to rtol 1e-5 / atol 1e-6 (the
cross-process all-reduce may sum in another order than the in-process one; float32).
Both feeding paths must agree with each other exactly, and each process must feed
exactly its half of the rows.
"""

import json
import pathlib
import socket
import subprocess
import sys

import numpy as np
import processes
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
N, B, STEPS, DEVICES_PER_PROCESS = 64, 16, 4, 2


def _data():
    rng = np.random.default_rng(0)
    return {
        "image": rng.integers(0, 256, (N, 8, 8, 1), dtype=np.uint8),
        "label": rng.integers(0, 10, (N,), dtype=np.int32),
    }


def train_both_ways(mesh):
    """Trains STEPS steps fed on device and fed by host shards; returns numpy results."""
    import jax
    import jax.numpy as jnp
    import optax

    from jaxdl.data import loader
    from jaxdl.models import create
    from jaxdl.training import parallel
    from jaxdl.training.state import TrainState
    from jaxdl.training.steps import classification_steps

    model = create("mlp", num_classes=10, width=32, batch_norm=True)
    train_step, _ = classification_steps(
        lambda b, k, t: {**b, "image": b["image"].astype(jnp.float32) / 255.0}
    )
    data = _data()

    def fresh():
        return parallel.create_sharded(
            lambda: TrainState.create(
                model=model,
                tx=optax.sgd(0.1, momentum=0.9),
                rng=jax.random.PRNGKey(0),
                example_input=jnp.zeros((1, 8, 8, 1)),
            ),
            mesh,
        )

    perm_host = np.random.default_rng(1).permutation(N).astype(np.int32)
    split = loader.to_device(data, mesh)
    perm = jax.device_put(perm_host, parallel.replicated(mesh))
    on_device = jax.jit(
        lambda s, arrays, p, i: train_step(s, loader.train_batch(arrays, p, i, B, mesh)),
        donate_argnums=0,
    )
    from_host = jax.jit(train_step, donate_argnums=0)
    out = {}
    for name in ("device", "host"):
        state, losses = fresh(), []
        for i in range(STEPS):
            if name == "device":
                state, m = on_device(state, split.arrays, perm, jnp.asarray(i, jnp.int32))
            else:
                batch = loader.process_local_batch(data, perm_host, i, B, mesh)
                state, m = from_host(state, batch)
            losses.append(float(m["loss"].addressable_data(0)))
        leaves = jax.tree.leaves((state.params, state.model_state))
        out[name] = {
            "losses": losses,
            "leaves": [np.asarray(x.addressable_data(0)).tolist() for x in leaves],
        }
    rows = parallel.process_rows(B, mesh)
    out["rows"] = [rows.start, rows.stop]
    return out


def _worker(process_id: int, num_processes: int, port: int, out_path: str) -> None:
    import jax

    jax.config.update("jax_num_cpu_devices", DEVICES_PER_PROCESS)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    from jaxdl.training import parallel

    parallel.initialize_distributed(
        coordinator_address=f"localhost:{port}",
        num_processes=num_processes,
        process_id=process_id,
    )
    assert jax.process_count() == num_processes
    assert jax.device_count() == num_processes * DEVICES_PER_PROCESS
    result = train_both_ways(parallel.make_mesh())
    pathlib.Path(out_path).write_text(json.dumps(result))
    jax.distributed.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _has_cpu_collectives() -> str | None:
    import jax

    if "jax_cpu_collectives_implementation" not in jax.config.values:
        return f"jax {jax.__version__} has no jax_cpu_collectives_implementation option"
    return None


@pytest.mark.slow  # three training processes (1 + 2 over localhost collectives)
def test_two_processes_train_like_one(tmp_path):
    import jax

    reason = _has_cpu_collectives()
    if reason:
        pytest.skip(reason)
    env = processes.env(1, PYTHONPATH=str(ROOT))  # no 8 fake devices
    port = _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, str(i), "2", str(port), str(tmp_path / f"p{i}.json")],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    from jaxdl.training import parallel

    reference = train_both_ways(parallel.make_mesh(jax.devices()[: 2 * DEVICES_PER_PROCESS]))
    logs = []
    for p in procs:
        try:
            logs.append(p.communicate(timeout=240)[0])
        except subprocess.TimeoutExpired:
            p.kill()
            logs.append(p.communicate()[0])
    for i, p in enumerate(procs):
        assert p.returncode == 0, f"process {i} failed:\n{logs[i][-3000:]}"
    results = [json.loads((tmp_path / f"p{i}.json").read_text()) for i in range(2)]
    assert [r["rows"] for r in results] == [[0, B // 2], [B // 2, B]]
    assert reference["rows"] == [0, B]
    # Both feeding paths train identically, in every setting.
    for r in [reference, *results]:
        assert r["device"]["losses"] == r["host"]["losses"]
    for r in results:
        for path in ("device", "host"):
            np.testing.assert_allclose(
                r[path]["losses"], reference[path]["losses"], rtol=1e-5, atol=1e-6
            )
            for got, want in zip(r[path]["leaves"], reference[path]["leaves"], strict=True):
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # Training happened: the loss moved.
    assert reference["device"]["losses"][0] != reference["device"]["losses"][-1]


if __name__ == "__main__":
    _worker(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
