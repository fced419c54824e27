"""Smoke tests of the throughput benchmark (benchmarks/): harness, peers, JSON schema.

Nothing here asserts a speed. The harness pieces are checked against hand counts
(steps timed, XLA FLOPs of a matmul = 2 m k n per device), the PyTorch peers against
the papers' parameter counts, and the CLI end to end on 8 fake CPU devices with
LeNet-5 at batch 16 for 2 steps: one run in this process, one through worker
processes with a row that fails on purpose. The PyTorch parts need torch (the
optional ``peers`` extra); without it they are skipped with that reason.
"""

import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import common, throughput  # noqa: E402
from jaxdl.models import create  # noqa: E402
from jaxdl.training import parallel  # noqa: E402

ROW_KEYS = {
    "model", "framework", "mode", "dtype", "batch_size", "image_shape", "num_classes",
    "params", "median_step_s", "images_per_s", "step_time", "first_step_s", "final_loss",
    "peak_bytes_in_use", "mfu", "wall_s",
}  # fmt: skip
JAX_ROW_KEYS = {
    "compile_s", "trace_lower_s", "flops_per_step", "flops_per_step_per_device",
    "xla_memory_bytes", "devices", "ratio_vs_torch_eager", "ratio_vs_torch_compile",
}  # fmt: skip


def _jax_params(name, size, classes):
    model = create(name, num_classes=classes)
    c = 1 if name == "lenet5" else 3
    rngs = {"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1)}
    v = jax.eval_shape(lambda: model.init(rngs, jnp.zeros((1, size, size, c)), train=False))
    return sum(x.size for x in jax.tree.leaves(v["params"]))


def test_time_steps_counts_warmup_and_windows():
    calls, syncs = [], []
    samples, first = common.time_steps(
        lambda: calls.append(1) or len(calls), syncs.append, steps=5, warmup=3, sync_every=2
    )
    # 3 warm-up steps (each synced), then ceil(5 / 2) = 3 windows of 2 steps, 1 sync each.
    assert len(calls) == 3 + 6
    assert syncs == [1, 2, 3, 5, 7, 9]
    assert len(samples) == 3 and all(s >= 0 for s in samples) and first >= 0
    assert common.summarize([3.0, 1.0, 2.0])["median_s"] == 2.0
    with pytest.raises(ValueError, match="sync_every"):
        common.time_steps(lambda: 0, lambda _: None, steps=1, warmup=0, sync_every=0)


def test_xla_flops_are_per_device_matmul_flops():
    # [64, 256] @ [256, 128]: 2 * 64 * 256 * 128 FLOPs in all; sharded over 8 devices
    # on the batch axis, each device's program does an eighth of them.
    mesh = parallel.make_mesh()
    x = jax.device_put(jnp.ones((64, 256)), parallel.data_sharding(mesh))
    w = jax.device_put(jnp.ones((256, 128)), parallel.replicated(mesh))
    compiled = jax.jit(jnp.matmul).lower(x, w).compile()
    assert common.xla_flops(jnp.matmul, x, w, num_devices=8) == 2 * 64 * 256 * 128 / 8
    assert common.xla_memory_bytes(compiled) > 0
    peaks = common.measure_peaks(n=64)
    assert peaks["device"]["device_count"] == len(jax.devices())
    assert {p["dtype"] for p in peaks["peak_flops"].values()} == {"float32", "bfloat16"}
    assert all(p["flops_per_s"] > 0 for p in peaks["peak_flops"].values())


def test_markdown_table_and_input_spec():
    text = common.markdown_table(
        [{"a": None, "b": 1234567, "c": 0.5}],
        [("A", "a", "str"), ("B", "b", "int"), ("C", "c", "pct")],
    )
    assert text.splitlines()[-1] == "| - | 1,234,567 | 50.0% |"
    assert throughput.input_spec("lenet5", 64) == ((32, 32, 1), 10)  # fixed 32x32
    assert throughput.input_spec("resnet50", 64) == ((64, 64, 3), 1000)
    assert throughput.input_spec("alexnet", None) == ((227, 227, 3), 1000)


def test_torch_peer_parameter_counts_match_the_papers():
    torch = pytest.importorskip("torch", reason="PyTorch peers need torch (the 'peers' extra)")
    from benchmarks.peers import torch_models

    # Counts documented in jaxdl/models (LeNet-5 paper + softmax head, He et al., VGG
    # table 2, AlexNet single tower, GoogLeNet with both auxiliary heads).
    expected = {
        ("lenet5", 32, 10): 60_850,
        ("resnet20", 32, 10): 269_722,
        ("resnet50", 224, 1000): 25_557_032,
        ("vgg16", 224, 1000): 138_357_544,
        ("alexnet", 227, 1000): 62_378_344,
        ("googlenet", 224, 1000): 13_378_280,
    }
    for (name, size, classes), n in expected.items():
        with torch.device("meta"):  # shapes only: no 138M-parameter allocation
            model, impl = torch_models.build(name, classes, size, source="native")
        assert torch_models.count_params(model) == n, name
        assert impl.startswith("torch.nn")
    # Other input sizes change the flattening classifiers / aux heads the same way in both.
    for name, size in (("googlenet", 112), ("vgg16", 64)):
        with torch.device("meta"):
            model, _ = torch_models.build(name, 1000, size, source="native")
        assert torch_models.count_params(model) == _jax_params(name, size, 1000), name
    with pytest.raises(ValueError, match="No PyTorch peer"):
        torch_models.build("mlp", 10, 28)


def test_torch_peer_outputs_and_one_step():
    torch = pytest.importorskip("torch", reason="PyTorch peers need torch (the 'peers' extra)")
    from benchmarks.peers import torch_models, torch_train

    net, _ = torch_models.build("googlenet", 7, 64, source="native")
    x = torch.zeros(2, 3, 64, 64)
    outs = net.train()(x)
    assert [tuple(o.shape) for o in outs] == [(2, 7)] * 3  # logits + two auxiliary heads
    assert tuple(net.eval()(x).shape) == (2, 7)
    row = torch_train.run("resnet20", "bfloat16", "eager", 4, (32, 32, 3), 10, steps=1, warmup=1)
    assert row["params"] == 269_722 and row["images_per_s"] > 0
    assert row["torch_settings"]["autocast_bf16"] and row["final_loss"] > 0


def _check_result(path: pathlib.Path, n_rows: int) -> dict:
    result = json.loads(path.read_text())
    for key in ("device", "peak_flops", "versions", "git_sha", "config", "rows", "warnings"):
        assert key in result, key
    assert result["device"]["device_count"] == 8
    assert {"jax", "jaxlib", "flax", "optax", "torch"} <= set(result["versions"])
    assert len(result["rows"]) == n_rows
    assert "| model | framework |" in path.with_suffix(".md").read_text()
    return result


def test_cli_in_process_jaxdl_and_torch_rows(tmp_path):
    pytest.importorskip("torch", reason="PyTorch peers need torch (the 'peers' extra)")
    out = tmp_path / "r.json"
    args = "--models lenet5 --batch_size 16 --dtypes float32 --steps 2 --warmup 1 --peer torch"
    args += f" --torch_modes eager --peak_n 128 --no-isolate --out {out}"
    throughput.main(args.split())
    result = _check_result(out, 2)
    ours, peer = result["rows"]
    assert set(ours) >= ROW_KEYS | JAX_ROW_KEYS, sorted(ROW_KEYS | JAX_ROW_KEYS - set(ours))
    assert set(peer) >= ROW_KEYS, sorted(ROW_KEYS - set(peer))
    assert (ours["framework"], peer["framework"], peer["mode"]) == ("jaxdl", "torch", "eager")
    assert ours["params"] == peer["params"] == 60_850 and peer["params_match"]
    assert ours["devices"] == 8 and ours["flops_per_step"] == 8 * ours["flops_per_step_per_device"]
    assert ours["ratio_vs_torch_eager"] == pytest.approx(
        ours["images_per_s"] / peer["images_per_s"]
    )
    assert ours["ratio_vs_torch_compile"] is None
    peak = result["peak_flops"]["float32"]["flops_per_s"]
    assert ours["mfu"] == pytest.approx(
        ours["flops_per_step_per_device"] / ours["median_step_s"] / peak
    )
    assert ours["images_per_s"] == pytest.approx(16 / ours["median_step_s"])
    assert ours["step_time"]["samples"] == 2 and "error" not in ours


def test_cli_isolated_keeps_going_after_a_failed_row(tmp_path):
    pytest.importorskip("torch", reason="PyTorch peers need torch (the 'peers' extra)")
    out = tmp_path / "r.json"
    # batch 12 cannot be split over 8 devices: the jaxdl row fails, the torch row runs.
    args = "--models lenet5 --batch_size 12 --dtypes float32 --steps 1 --warmup 0 --peer torch"
    args += f" --torch_modes eager --peak_n 64 --out {out}"
    throughput.main(args.split())
    ours, peer = _check_result(out, 2)["rows"]
    assert "multiple of the 8 devices" in ours["error"] and ours["ratio_vs_torch_eager"] is None
    assert "error" not in peer and peer["images_per_s"] > 0 and peer["mfu"] is None


def test_xla_flops_count_convolutions():
    # A VALID 3x3 conv, 8 -> 16 channels on [2, 10, 10, 8]: 2 * B*H'*W'*Cout*k*k*Cin FLOPs.
    import flax.linen as nn

    conv = nn.Conv(16, (3, 3), padding="VALID", use_bias=False)
    x = jnp.ones((2, 10, 10, 8))
    variables = conv.init(jax.random.PRNGKey(0), x)
    expected = 2 * 2 * 8 * 8 * 16 * 3 * 3 * 8
    assert common.xla_flops(conv.apply, variables, x) == pytest.approx(expected, rel=0.01)
