"""Filter grids, confusion matrices and ``train.visualize`` on a tiny finished run."""

import json

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxdl.training import checkpoint
from jaxdl.training.metrics import confusion_matrix
from jaxdl.viz import confusion, filters
from train import build, classification, visualize
from train.configs import mnist_mlp
from train.workdir import prepare


def test_normalize_filters_each_filter_to_unit_range_against_numpy():
    rng = np.random.default_rng(0)
    k = rng.normal(0, 0.1, (5, 5, 3, 4))
    k[..., 2] = 0.7  # a constant filter
    got = filters.normalize_filters(k)
    assert got.shape == (4, 5, 5, 3)
    for f in (0, 1, 3):
        w = k[..., f]
        np.testing.assert_allclose(got[f], (w - w.min()) / (w.max() - w.min()), atol=1e-12)
        assert got[f].min() == 0.0 and got[f].max() == 1.0
    np.testing.assert_array_equal(got[2], 0.5)


def test_filter_grid_layout_rgb_and_grey():
    rng = np.random.default_rng(1)
    k = rng.normal(size=(3, 3, 3, 5))
    grid = filters.filter_grid(k, ncols=2, pad=1)
    assert grid.shape == (3 * 4 + 1, 2 * 4 + 1, 3) and grid.dtype == np.uint8
    # Filter 3 sits in row 1, column 1 (row-major), at y = 1 + 1*4, x = 1 + 1*4.
    w = k[..., 3]
    want = np.round(255 * (w - w.min()) / (w.max() - w.min())).astype(np.uint8)
    np.testing.assert_array_equal(grid[5:8, 5:8], want)
    assert (grid[0] == 128).all()  # padding
    grey = filters.filter_evolution([k[:, :, :1], 2 * k[:, :, :1]], max_filters=4)
    assert grey.shape == (2 * 4 + 1, 4 * 4 + 1, 1)
    np.testing.assert_array_equal(grey[1:4], grey[5:8])  # scaling a filter: same picture
    with pytest.raises(ValueError, match="4 input channels"):
        filters.filter_grid(rng.normal(size=(3, 3, 4, 2)))


def test_first_layer_kernel_finds_conv_and_dense_first_layers():
    conv = {"C1": {"kernel": np.ones((5, 5, 1, 6))}, "C5": {"kernel": np.ones((5, 5, 16, 8))}}
    name, k = filters.first_layer_kernel(conv, (32, 32, 1))
    assert name == "C1/kernel" and k.shape == (5, 5, 1, 6)
    dense = {"Dense_0": {"kernel": np.arange(12 * 7.0).reshape(12, 7)}}
    name, k = filters.first_layer_kernel(dense, (2, 2, 3))
    assert k.shape == (2, 2, 3, 7) and k[1, 0, 2, 4] == dense["Dense_0"]["kernel"][2 * 3 + 2, 4]
    with pytest.raises(ValueError, match="No kernel applies"):
        filters.first_layer_kernel(conv, (32, 32, 3))


def test_confusion_counts_against_numpy_add_at():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    want = np.zeros((5, 5), np.int64)
    np.add.at(want, (y, p), 1)
    np.testing.assert_array_equal(np.asarray(confusion_matrix(jnp.array(y), jnp.array(p), 5)), want)

    # predict_confusion over padded batches: a "model" whose logits are one-hot(p).
    images = np.eye(5, dtype=np.float32)[p][:, None, None, :]  # [N, 1, 1, 5]

    def apply_fn(variables, x, train):
        return x[:, 0, 0, :] * variables["params"]["scale"]

    got = confusion.predict_confusion(apply_fn, {"scale": 2.0}, {}, images, y, 5, batch_size=64)
    np.testing.assert_array_equal(got, want)  # 300 = 4 * 64 + 44: the last batch padded


def test_visualize_command_on_a_tiny_finished_run(tmp_path):
    cfg = mnist_mlp.get_config()
    cfg.data.train_split, cfg.data.val_split = "train[:512]", "train[512:640]"
    cfg.data.test_split = "test[:200]"
    cfg.model.kwargs.width = 16
    cfg.train.batch_size, cfg.train.eval_batch_size = 64, 128
    cfg.train.num_epochs, cfg.train.log_every_steps, cfg.train.progress = 2, 4, False
    classification.run(cfg, prepare(tmp_path, cfg, False))
    paths = visualize.visualize(tmp_path)  # config from the workdir's config.json
    assert set(paths) == {"curves", "filters", "confusion", "confusion_json"}
    record = json.loads(paths["confusion_json"].read_text())
    m = np.array(record["matrix"])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert m.sum() == 200 and m.shape == (10, 10)
    assert record["accuracy"] == pytest.approx(summary["test_accuracy"], abs=1e-6)
    img = Image.open(paths["filters"])
    assert img.size[0] > 100 and img.size[1] > 50
    # Rows: step 0 (initialization) and the kept checkpoints (16 steps per run).
    model = build.model(cfg, 10)
    initial = visualize.initial_variables(cfg, model, (28, 28, 1))
    states = visualize.checkpoint_variables(tmp_path, initial, None)
    assert list(states) == [0, 8, 16] and summary["steps"] == 16
    # Read raw, the last checkpoint's parameters are the run's final ones (bit for bit).
    assert checkpoint.tree_digest(states[16].params) == summary["params_sha256"]
    with pytest.raises(ValueError, match="No checkpoint at steps \\[5\\]"):
        visualize.checkpoint_variables(tmp_path, initial, [0, 5])
