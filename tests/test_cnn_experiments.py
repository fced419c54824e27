"""Smoke tests of the CNN-zoo experiment scripts at tiny scale, with independent references.

- ``cnn_arguments``: the parameter / multiply-add table against the counts derived by
  hand here (27 C^2, 49 C^2, inception 3a's branches from table 1).
- ``degradation``: two nets, two steps each, on generated CIFAR-10 binary files.
- ``degradation_peer``: ResNet-20's first steps in jaxdl and in the PyTorch peer.
- ``tta_ensemble``: two tiny finished runs; its errors against a numpy float64
  re-computation from each run's restored variables.
"""

import json
from pathlib import Path

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxdl.data import preprocess
from jaxdl.nn.normalization import apply_model
from jaxdl.training import parallel
from train import build, classification
from train import experiments as ex
from train.configs import cifar10_resnet20
from train.experiments import cnn_arguments, degradation, degradation_peer, tta_ensemble


def _write_cifar10(folder: Path, n_per_batch: int = 8, n_test: int = 16) -> None:
    """cifar-10-batches-bin/: records of <1 label byte><3072 bytes: R, G, B planes>."""
    d = folder / "cifar-10-batches-bin"
    d.mkdir(parents=True)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for k, name in enumerate(names):
        n = n_test if name == "test_batch.bin" else n_per_batch
        rng = np.random.default_rng(k)
        x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8).reshape(n, -1)
        y = rng.integers(0, 10, (n, 1), dtype=np.uint8)
        (d / name).write_bytes(np.concatenate([y, x], 1).tobytes())


def test_cnn_arguments_table_matches_hand_counts(tmp_path):
    doc = tmp_path / "cnn_zoo.md"
    text = cnn_arguments.main(["--doc", str(doc), "--channels", "8"])
    row = next(line for line in text.splitlines() if line.startswith("| 8 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # three 3x3 convs C->C: 3 * 9 * C^2; one 7x7: 49 * C^2 (bias-free)
    assert cells[1] == f"{3 * 9 * 64:,}" and cells[3] == f"{49 * 64:,}"
    assert cells[6] == "7x7" and cells[7] == "7x7"  # same receptive field
    rows = {ln.split("|")[1].strip(): ln for ln in text.splitlines() if ln.startswith("| 3a")}
    reduced = rows["3a 5x5 branch, 1x1 reduction (192->16->32)"].split("|")
    plain = rows["3a 5x5 branch, no reduction (192->32)"].split("|")
    # 1x1 192->16 (+16 biases), 5x5 16->32 (+32); 5x5 192->32 (+32)
    assert reduced[2].strip() == f"{192 * 16 + 16 + 25 * 16 * 32 + 32:,}"
    assert plain[2].strip() == f"{25 * 192 * 32 + 32:,}"
    assert float(reduced[4]) == pytest.approx(28 * 28 * (192 * 16 + 25 * 16 * 32) / 1e6, abs=0.01)
    assert float(plain[4]) == pytest.approx(28 * 28 * 25 * 192 * 32 / 1e6, abs=0.01)
    whole = rows["3a whole module (table 1)"].split("|")
    macs = 28 * 28 * (192 * (64 + 96 + 16 + 32) + 9 * 96 * 128 + 25 * 16 * 32)
    assert float(whole[4]) == pytest.approx(macs / 1e6, abs=0.01)
    # XLA's count of the no-reduction conv: 2 flops per multiply-add on the taps that
    # are not padding, (28 * 5 - 2 * (2 + 1)) per axis of a same-padded 5x5 on 28
    assert float(plain[6]) == pytest.approx(
        2 * (28 * 5 - 6) ** 2 * 192 * 32 / 1e6 + 28 * 28 * 32 / 1e6, rel=0.02
    )
    # a rerun replaces its section and keeps the others and the hand-written text
    ex.write_section(doc, "other", "other table")
    doc.write_text(doc.read_text() + "\nhand-written note\n")
    ex.write_section(doc, "cnn_arguments", "new table")
    final = doc.read_text()
    assert final.count("generated: cnn_arguments begin") == 1 and "new table" in final
    assert "| 8 |" not in final and "other table" in final and "hand-written note" in final


@pytest.mark.heavy  # an experiment script: ResNet-20 and plain-20 training steps (~30 s)
def test_degradation_smoke(tmp_path):
    _write_cifar10(tmp_path / "data")
    doc = tmp_path / "cnn_zoo.md"
    results = degradation.main(
        ["--steps", "2", "--batch_size", "8", "--epochs", "2", "--log_every", "1",
         "--models", "plain20", "resnet20", "--data_dir", str(tmp_path / "data"),
         "--workdir", str(tmp_path / "runs"),
         "--doc", str(doc), "--figures", str(tmp_path / "fig")]
    )  # fmt: skip
    assert set(results) == {"plain20", "resnet20"}
    for r in results.values():
        assert [s for s, _ in r["curve"]] == [1, 2, 3, 4]  # two passes over the 16 images
        assert all(np.isfinite(v) for _, v in r["curve"])
    assert results["resnet20"]["params"] == results["plain20"]["params"]  # option A: free
    assert (tmp_path / "fig" / "cnn_degradation.png").stat().st_size > 1000
    text = doc.read_text()
    assert "| plain20 |" in text and "| resnet20 |" in text and "lr 0.00625" in text
    assert "2 pass(es) of 2 steps of batch 8 (4 steps)" in text
    # A second run of one net, with a warm-up, into its own section: plain20's run stays.
    again = degradation.main(
        ["--steps", "2", "--batch_size", "8", "--epochs", "2", "--log_every", "1",
         "--models", "resnet20", "--learning_rate", "0.02", "--warmup_epochs", "1",
         "--section", "warm", "--data_dir", str(tmp_path / "data"),
         "--workdir", str(tmp_path / "runs"),
         "--doc", str(doc), "--figures", str(tmp_path / "fig")]
    )  # fmt: skip
    assert set(again) == {"resnet20"} and (tmp_path / "runs" / "plain20").is_dir()
    assert (tmp_path / "fig" / "cnn_warm.png").stat().st_size > 1000
    text = doc.read_text()
    assert "lr 0.00625" in text  # the first section is kept
    assert "--learning_rate 0.02 --warmup_epochs 1 --section warm" in text
    assert "warm-up at 0.002 for the first 2 steps" in text


@pytest.mark.heavy  # an experiment script: a ResNet-20 step in both frameworks (~11 s)
def test_degradation_peer_smoke(tmp_path):
    pytest.importorskip("torch", reason="the PyTorch peer needs torch (the 'peers' extra)")
    _write_cifar10(tmp_path / "data")
    doc = tmp_path / "cnn_zoo.md"
    runs = degradation_peer.main(
        ["--models", "resnet20", "--seeds", "0", "--steps", "3", "--batch_size", "4",
         "--data_dir", str(tmp_path / "data"), "--doc", str(doc)]
    )  # fmt: skip
    assert set(runs) == {("resnet20", "jaxdl", 0), ("resnet20", "torch", 0)}
    for losses in runs.values():
        assert len(losses) == 3 and all(np.isfinite(losses))
        assert 1.0 < losses[0] < 8.0  # 10 classes from fresh weights: near ln 10
    text = doc.read_text()
    assert "| resnet20 | jaxdl | 0 |" in text and "| resnet20 | torch | 0 |" in text


def _tiny_run(data_dir: Path, workdir: Path, seed: int) -> None:
    c = cifar10_resnet20.get_config()
    c.data.data_dir = str(data_dir)
    c.data.val_split = ""
    c.model.name = "mlp"
    c.model.kwargs = ml_collections.ConfigDict({"depth": 1, "width": 16})
    c.train.batch_size = 8
    c.train.eval_batch_size = 8
    c.train.num_epochs = 1
    c.train.progress = False
    c.seed = seed
    workdir.mkdir(parents=True)
    (workdir / "config.json").write_text(c.to_json_best_effort())
    classification.run(c, workdir)


@pytest.mark.slow  # trains and restores two tiny runs (evaluation itself: test_evaluation)
def test_tta_ensemble_against_numpy(tmp_path):
    _write_cifar10(tmp_path / "data")
    runs = [tmp_path / f"run{s}" for s in (0, 1)]
    for s, w in enumerate(runs):
        _tiny_run(tmp_path / "data", w, seed=s)
    doc = tmp_path / "doc.md"
    got = tta_ensemble.main([*map(str, runs), "--batch_size", "8", "--doc", str(doc)])
    # reference: restore each run, logits of the test images and of their mirrors
    cfg = tta_ensemble.read_config(runs[0])
    splits, names = build.load_splits(cfg.data)
    model = build.model(cfg, num_classes=len(names))
    mean, std = preprocess.channel_stats(splits["train"]["image"])
    x = (splits["test"]["image"].astype(np.float64) / 255.0 - mean) / std
    y = splits["test"]["label"]
    mesh = parallel.make_mesh()

    def softmax(z):
        z = z - z.max(-1, keepdims=True)
        return np.exp(z) / np.exp(z).sum(-1, keepdims=True)

    probs, probs_flip = [], []
    for w in runs:
        params, state = tta_ensemble.read_variables(w, mesh=mesh)
        for imgs, out in ((x, probs), (x[:, :, ::-1], probs_flip)):
            z = apply_model(model.apply, params, state, jnp.asarray(imgs, jnp.float32), train=False)
            out.append(softmax(np.asarray(z[0], np.float64)))

    def err(p):
        return float(np.mean(np.argmax(p, -1) != y))

    for k in range(2):
        assert got["runs"][k]["error"] == pytest.approx(err(probs[k]), abs=1e-6)
        assert got["runs"][k]["error_flip"] == pytest.approx(
            err((probs[k] + probs_flip[k]) / 2), abs=1e-6
        )
    assert got["ensemble_error"] == pytest.approx(err((probs[0] + probs[1]) / 2), abs=1e-6)
    assert got["ensemble_error_flip"] == pytest.approx(err(sum(probs + probs_flip) / 4), abs=1e-6)
    assert "ensemble of 2" in doc.read_text()
    with pytest.raises(FileNotFoundError, match="config.json"):
        tta_ensemble.read_config(tmp_path / "nothing")


def test_tta_ensemble_rejects_mixed_architectures(tmp_path):
    for name, model in (("a", "mlp"), ("b", "lenet5")):
        (tmp_path / name).mkdir()
        c = cifar10_resnet20.get_config()
        c.model.name = model
        (tmp_path / name / "config.json").write_text(json.dumps(json.loads(c.to_json())))
    with pytest.raises(ValueError, match="one architecture"):
        tta_ensemble.evaluate_runs([tmp_path / "a", tmp_path / "b"])
