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

from benchmarks import bench_step, common, profile_step, throughput  # noqa: E402
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


@pytest.mark.slow  # a torch CPU step of every peer model (default suite: under 10 min)
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


@pytest.mark.slow  # the throughput CLI, jaxdl and torch rows (default suite: under 10 min)
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
    # --fill_mfu's FLOPs, lowered from shapes alone, are those of the timed program.
    assert bench_step.program_flops(ours) == pytest.approx(ours["flops_per_step_per_device"])


def test_profile_step_times_the_same_step():
    times, wall_ms = profile_step.profile("lenet5", batch_size=8, steps=2)
    assert wall_ms > 0 and times and all(t >= 0 for t in times.values())
    assert any("conv" in name for name in times), sorted(times)[:10]


@pytest.mark.slow  # the throughput CLI, one subprocess per row (default suite: under 10 min)
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


# --- time to accuracy, scaling, benchmark-only models -------------------------------


def test_patch_whitening_whitens_the_patches():
    import numpy as np

    from benchmarks import speed_recipes as sr

    rng = np.random.default_rng(0)
    images = rng.normal(size=(6, 9, 9, 3)) * np.array([1.0, 2.0, 0.5]) + 0.3
    images[..., 1] += 0.8 * images[..., 0]  # correlated channels
    k, eps = 2, 1e-6
    kernel, bias = sr.patch_whitening(jnp.asarray(images, jnp.float32), k, eps)
    d = k * k * 3
    assert kernel.shape == (k, k, 3, 2 * d) and bias.shape == (2 * d,)
    # Reference in float64: every k x k patch, flattened (kh, kw, C) like an HWIO kernel.
    p = np.stack(
        [images[n, i : i + k, j : j + k, :].ravel() for n in range(6) for i in range(8)
         for j in range(8)]
    )  # fmt: skip
    out = p @ np.asarray(kernel, np.float64).reshape(d, 2 * d) + np.asarray(bias)
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-3)
    cov = np.cov(out[:, :d].T, bias=True)
    np.testing.assert_allclose(cov, np.eye(d), atol=2e-3)
    np.testing.assert_allclose(out[:, d:], -out[:, :d], atol=1e-4)


def test_dirac_init_and_frozen_whitening():
    from benchmarks import speed_recipes as sr

    w = sr.dirac_uniform(jax.random.PRNGKey(0), (3, 3, 4, 6))
    noise = 1 / (3 * 3 * 4) ** 0.5
    assert float(jnp.abs(w[1, 1, :, :4] - jnp.eye(4)).max()) <= noise
    assert float(jnp.abs(w[0, 0]).max()) <= noise and float(jnp.abs(w[..., 4:]).max()) <= noise
    params = {"whiten": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}, "head": {"kernel": 1.0}}
    assert sr.param_labels(params) == {
        "whiten": {"kernel": "frozen", "bias": "bias"}, "head": {"kernel": "weight"},
    }  # fmt: skip
    tx = sr.optimizer(sr.RECIPES["mnist"], batch_size=256, total_steps=10)
    grads = jax.tree.map(jnp.ones_like, params)
    updates, _ = tx.update(grads, tx.init(params), params)
    assert float(jnp.abs(updates["whiten"]["kernel"]).max()) == 0.0
    assert float(jnp.abs(updates["head"]["kernel"])) > 0.0
    # Mean-loss conversion: gamma = lr B / (1024 (1 + 1 / (1 - rho))) at the schedule's
    # 0.2 start; first Nesterov update = gamma (1 + rho) (g + kappa w), kappa = d / gamma.
    r = sr.RECIPES["mnist"]
    s = 1024 * (1 + 1 / (1 - r.momentum))
    gamma, decay = r.lr * 256 / s, r.weight_decay * 256 / s
    want = -0.2 * gamma * (1 + r.momentum) * (1.0 + decay / gamma * 1.0)
    assert float(updates["head"]["kernel"]) == pytest.approx(want, rel=1e-5)


def _fake_data(monkeypatch, shape, n_train=256, n_test=96):
    import numpy as np

    from benchmarks import time_to_accuracy as tta

    def fake(recipe, data_dir, train_subset, test_subset):
        rng = np.random.default_rng(0)

        def split(n):
            labels = rng.integers(0, 10, n).astype(np.int32)
            images = rng.integers(0, 60, (n, *shape)).astype(np.uint8)
            images[:, :4, :4] += (labels * 19).astype(np.uint8)[:, None, None, None]  # learnable
            return {"image": images, "label": labels}

        return split(n_train), split(n_test), "synthetic (test)"

    monkeypatch.setattr(tta, "load_data", fake)
    return tta


@pytest.mark.slow  # the CIFAR recipe compiled for each of 2 seeds: ~30 s on 2 loaded cores
def test_time_to_accuracy_cli_cifar_scan(tmp_path, monkeypatch):
    tta = _fake_data(monkeypatch, (32, 32, 3))
    out = tmp_path / "c.json"
    args = "--task cifar10 --seeds 2 --epochs 2 --widths 8,8,8 --batch_size 64 --eval_batch 32"
    result = tta.main((args + f" --devices 0 --epoch_mode scan --target 0 --out {out}").split())
    saved = json.loads(out.read_text())
    assert saved["config"]["epoch_mode"] == "scan" and saved["device"]["device_count"] == 8
    assert saved["config"]["steps_per_dispatch"] == saved["steps_per_epoch"] == 256 // 64
    assert {"versions", "git_sha", "params", "summary", "data"} <= set(saved)
    rows = result["rows"]
    assert [r["seed"] for r in rows] == [0, 1]
    # target 0: the first evaluation reaches it; the time is that evaluation's clock.
    for r in rows:
        assert r["reached"] and r["epochs_run"] == 1 and len(r["history"]) == 1
        assert r["time_to_target_s"] == r["history"][0]["elapsed_s"] > 0
        count = r["final_accuracy"] * 96  # a count of the 96 test images
        assert 0 <= count <= 96 and count == pytest.approx(round(count))
    times = [r["time_to_target_s"] for r in rows]
    assert saved["summary"]["time_to_target_s"]["mean"] == pytest.approx(sum(times) / 2)
    assert "| seed | time to target s |" in out.with_suffix(".md").read_text()


@pytest.mark.slow  # the time-to-accuracy CLI on MNIST (default suite: under 10 min)
def test_time_to_accuracy_cli_mnist_loop(tmp_path, monkeypatch):
    tta = _fake_data(monkeypatch, (28, 28, 1))
    out = tmp_path / "m.json"
    args = "--task mnist --seeds 1 --epochs 2 --widths 4,8 --batch_size 64 --eval_batch 32"
    result = tta.main((args + f" --epoch_mode loop --target 1.01 --out {out}").split())
    assert result["config"]["steps_per_dispatch"] == 1
    (r,) = result["rows"]
    assert not r["reached"] and r["time_to_target_s"] is None and r["epochs_run"] == 2
    assert [h["epoch"] for h in r["history"]] == [1, 2]  # evaluated every epoch
    assert result["summary"]["time_to_target_s"] is None and result["summary"]["reached"] == 0
    assert all(h["last_loss"] > 0 for h in r["history"])  # finite, real losses


def test_time_to_accuracy_trains_with_fit_and_stops_at_the_first_epoch_at_target(
    tmp_path, monkeypatch
):
    import jaxdl.training.loop as loop

    tta = _fake_data(monkeypatch, (28, 28, 1))
    calls, fit = [], loop.fit
    monkeypatch.setattr(loop, "fit", lambda **kw: calls.append(kw["options"]) or fit(**kw))
    out = tmp_path / "m.json"
    args = "--task mnist --seeds 1 --first_seed 7 --epochs 3 --eval_from 2 --widths 4,8"
    args += f" --batch_size 64 --eval_batch 32 --steps_per_dispatch 2 --target 0 --out {out}"
    result = tta.main(args.split())
    (options,) = calls  # one fit per seed, K steps per dispatch, the recipe's epoch budget
    assert (options.steps_per_dispatch, options.num_epochs, options.log_every_steps) == (2, 3, 4)
    (r,) = result["rows"]
    # target 0: the first evaluation (epoch 2, --eval_from) reaches it and stops the run.
    assert r["seed"] == 7 and r["reached"] and r["epochs_run"] == 2
    assert [h["epoch"] for h in r["history"]] == [2]
    assert r["time_to_target_s"] == r["history"][0]["elapsed_s"] > 0
    assert r["process_s_at_target"] >= r["time_to_target_s"]  # the process started earlier
    count = r["final_accuracy"] * 96  # a count of the 96 test images
    assert 0 <= count <= 96 and count == pytest.approx(round(count))
    assert result["config"]["loop"] == "jaxdl.training.loop.fit"


def test_torch_mnist_example_recipe_and_one_step(isolated_data, tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch peers need torch (the 'peers' extra)")
    import torch.nn.functional as F

    from benchmarks.peers import torch_mnist_example as ex

    # By hand: conv 3x3 1->32 and 32->64 (28 -> 26 -> 24, pooled to 12), 64 x 12 x 12 ->
    # 128 -> 10, each with its biases.
    want = (9 * 1 * 32 + 32) + (9 * 32 * 64 + 64) + (64 * 12 * 12 * 128 + 128) + (128 * 10 + 10)
    assert want == 1_199_882
    torch.manual_seed(0)
    net = ex.build_model()
    assert sum(p.numel() for p in net.parameters()) == want
    x, y = ex.load("train", 64, None, "cpu")  # the embedded MNIST, normalised
    assert tuple(x.shape) == (64, 1, 28, 28) and abs(float(x.mean())) < 0.5
    opt, schedule = ex.optimizer(net)

    def loss():  # dropout off: the same function before and after the step
        with torch.no_grad():
            return float(F.nll_loss(net.eval()(x), y))

    before = loss()
    net.train()
    ex.train_step(net, opt, x, y)
    assert loss() < before
    schedule.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(ex.LR * ex.GAMMA)
    with torch.no_grad():  # log-softmax outputs
        assert torch.allclose(net(x).exp().sum(1), torch.ones(64), atol=1e-5)
    out = tmp_path / "t.json"
    args = f"--seed 0 --target 0 --max_epochs 3 --train_subset 128 --test_subset 100 --out {out}"
    record = ex.main(args.split())
    assert json.loads(out.read_text()) == record
    assert record["reached"] and record["epochs_run"] == 1 and record["params"] == want
    assert record["time_to_target_s"] == record["history"][0]["process_s"] > 0
    assert 0 <= record["final_accuracy"] <= 1 and record["data"]["test_size"] == 100


def test_peer_comparison_alternates_sides_and_takes_the_median_ratio(tmp_path, monkeypatch):
    from benchmarks import time_to_accuracy as tta
    from benchmarks import time_to_accuracy_peer

    times = {("jaxdl", 0): 10.0, ("torch", 0): 30.0, ("jaxdl", 1): 20.0, ("torch", 1): 50.0}
    times |= {("jaxdl", 2): 14.0, ("torch", 2): None}  # torch misses the target on seed 2
    commands = []

    def fake_side(cmd, side, seed, out, timeout):
        commands.append(cmd)
        t = times[side, seed]
        return {"seed": seed, "framework": side, "reached": t is not None, "process_wall_s": 99,
                "time_to_target_process_s": t, "process_s_at_target": t and t - 1,
                "epochs_run": 1, "final_accuracy": 0.5}  # fmt: skip

    monkeypatch.setattr(time_to_accuracy_peer, "run_side", fake_side)
    out = tmp_path / "p.json"
    args = "--task mnist --peer torch --seeds 3 --train_subset 128 --widths 4,8 --peer_epochs 2"
    result = tta.main(f"{args} --out {out}".split())
    order = [(r["seed"], r["framework"]) for r in result["rows"]]
    assert order == [(0, "jaxdl"), (0, "torch"), (1, "torch"), (1, "jaxdl"), (2, "jaxdl"),
                     (2, "torch")]  # fmt: skip
    s = json.loads(out.read_text())["summary"]
    assert (s["jaxdl"]["reached"], s["torch"]["reached"]) == (3, 2)
    assert s["jaxdl"]["time_to_target_process_s"]["median"] == 14.0
    assert s["torch"]["time_to_target_process_s"]["median"] == 40.0
    assert s["ratio_torch_over_jaxdl_time_to_target_process_s"] == pytest.approx(40 / 14)
    assert s["ratio_torch_over_jaxdl_process_s_at_target"] == pytest.approx(39 / 13)
    jaxdl_cmd, torch_cmd = commands[0], commands[1]
    assert jaxdl_cmd[1].endswith("time_to_accuracy.py") and "--peer" not in jaxdl_cmd
    flags = " ".join(jaxdl_cmd[2:])
    assert "--seeds 1 --first_seed 0 --target 0.99" in flags and "--widths 4,8" in flags
    assert "--train_subset 128" in flags
    assert torch_cmd[1:3] == ["-m", "benchmarks.peers.torch_mnist_example"]
    assert "--max_epochs 2" in " ".join(torch_cmd) and "--train_subset 128" in " ".join(torch_cmd)
    assert {"cpu_count", "load_avg_start", "load_avg_end"} <= set(result["machine"])
    assert "| seed | framework |" in out.with_suffix(".md").read_text()
    with pytest.raises(SystemExit):
        tta.parse_args(["--task", "cifar10", "--peer", "torch"])


@pytest.mark.slow  # two whole processes: jaxdl (imports, compilation) and torch, ~40 s
def test_time_to_accuracy_against_torch_in_whole_processes(isolated_data, tmp_path):
    pytest.importorskip("torch", reason="PyTorch peers need torch (the 'peers' extra)")
    from benchmarks import time_to_accuracy as tta

    out = tmp_path / "p.json"
    args = "--task mnist --peer torch --seeds 1 --first_seed 3 --epochs 1 --peer_epochs 2"
    args += " --widths 4,8 --batch_size 32 --eval_batch 50 --train_subset 128 --test_subset 100"
    tta.main(f"{args} --target 0 --out {out}".split())
    saved = json.loads(out.read_text())
    ours, peer = saved["rows"]
    assert (ours["framework"], peer["framework"]) == ("jaxdl", "torch")
    for r in (ours, peer):
        assert r["seed"] == 3 and r["returncode"] == 0 and "error" not in r
        assert r["reached"] and r["epochs_run"] == 1 and 0 <= r["final_accuracy"] <= 1
        assert 0 < r["process_s_at_target"] < r["process_wall_s"] == r["time_to_target_process_s"]
    assert peer["params"] == 1_199_882 and peer["threads"] >= 1 and peer["torch"]
    assert ours["config"]["loop"] == "jaxdl.training.loop.fit"
    assert ours["data"]["test_size"] == peer["data"]["test_size"] == 100
    s = saved["summary"]
    assert s["ratio_torch_over_jaxdl_time_to_target_process_s"] == pytest.approx(
        peer["process_wall_s"] / ours["process_wall_s"]
    )


@pytest.mark.slow  # the scaling CLI over 1-8 devices (default suite: under 10 min)
def test_scaling_cli_weak_and_strong(tmp_path):
    from benchmarks import scaling

    out = tmp_path / "s.json"
    args = "--model mlp --per_device_batch 2 --global_batch 16 --steps 1 --warmup 0"
    result = scaling.main((args + f" --device_counts 1,8,16 --out {out}").split())
    assert result["skipped"] == [16] and "only prove the harness" in result["caveat"]
    rows = {(r["mode"], r["devices"]): r for r in result["rows"]}
    assert set(rows) == {("weak", 1), ("weak", 8), ("strong", 1), ("strong", 8)}
    assert rows["weak", 8]["batch_size"] == 16 and rows["strong", 8]["per_device_batch"] == 2
    for mode, key in (("weak", "images_per_s"), ("strong", "steps_per_s")):
        one, eight = rows[mode, 1], rows[mode, 8]
        assert one["efficiency"] == pytest.approx(1.0)
        assert eight["speedup"] == pytest.approx(eight[key] / one[key])
        assert eight["efficiency"] == pytest.approx(eight["speedup"] / 8)
    assert rows["strong", 8]["steps_per_s"] == pytest.approx(1 / rows["strong", 8]["median_step_s"])
    assert "| mode | devices |" in out.with_suffix(".md").read_text()


def test_cifar_resnet18_in_both_frameworks():
    from benchmarks import bench_models

    # He et al.'s ResNet-18 with a 3x3 stem: 11,689,512 - 7x7x3x64 + 3x3x3x64 stem weights,
    # and a 10-class head instead of 1000 (512 x 990 + 990 fewer).
    want = 11_689_512 - 7 * 7 * 3 * 64 + 3 * 3 * 3 * 64 - 990 * 513
    assert want == 11_173_962
    assert _jax_params_any("resnet18_cifar", 32, 10) == want
    assert throughput.input_spec("resnet18_cifar", 64) == ((32, 32, 3), 10)
    assert "resnet18_cifar" in bench_models.names()
    torch = pytest.importorskip("torch", reason="PyTorch peers need torch (the 'peers' extra)")
    from benchmarks.peers import torch_models

    with torch.device("meta"):
        model, _ = torch_models.build("resnet18_cifar", 10, 32)
    assert torch_models.count_params(model) == want


def _jax_params_any(name, size, classes):
    from benchmarks import bench_models

    model = bench_models.create(name, num_classes=classes)
    v = jax.eval_shape(
        lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, size, size, 3)), train=False)
    )
    return sum(x.size for x in jax.tree.leaves(v["params"]))


def test_native_resnet50_peer_runs_and_ends_blocks_without_relu():
    torch = pytest.importorskip("torch", reason="PyTorch peers need torch (the 'peers' extra)")
    from benchmarks.peers import torch_models

    net, _ = torch_models.build("resnet50", 7, 64, source="native")
    assert tuple(net.train()(torch.zeros(2, 3, 64, 64)).shape) == (2, 7)
    blocks = [m for m in net.modules() if isinstance(m, torch_models.Bottleneck)]
    assert len(blocks) == 16  # 3 + 4 + 6 + 3
    # The ReLU comes after the residual sum, not at the end of the branch (He et al.).
    assert not any(isinstance(m, torch.nn.ReLU) for b in blocks for m in b.body[-1])
