"""Segmentation losses, set-level IoU/Dice through the loop's padded sharded evaluation,
joint augmentation, the threshold baseline, the mask-folder reader, pictures, and one
tiny run of ``python -m train``.

References are float64 numpy implementations of the formulas, written here.
"""

import json
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import processes
import pytest
from PIL import Image

from jaxdl.data import loader
from jaxdl.data.augment import build_augment
from jaxdl.data.readers.seg_folder import load_seg_folder, read_seg_folder, seg_folder_classes
from jaxdl.training import checkpoint, loop, parallel
from jaxdl.training import segmentation as seg
from jaxdl.training.state import TrainState
from jaxdl.viz.segmentation import PredictionProbe, overlay, save_prediction_grid

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(0)


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


# ------------------------------------------------------------------------------- losses


def test_softmax_ce_weighted_mean_with_ignored_pixels():
    logits = RNG.normal(size=(2, 5, 6, 3))
    labels = RNG.integers(0, 3, size=(2, 5, 6))
    labels[0, 0, :3] = 255  # void: ignored
    w_class = np.array([0.5, 1.0, 3.0])
    per_px = np.asarray(seg.softmax_cross_entropy(jnp.asarray(logits), jnp.asarray(labels)))
    valid = labels < 3
    ref = -np.take_along_axis(_log_softmax(logits), np.where(valid, labels, 0)[..., None], -1)
    np.testing.assert_allclose(per_px[valid], ref[..., 0][valid], rtol=1e-5)
    assert np.all(per_px[~valid] == 0)
    # Weighted mean over valid pixels: sum_i w_{y_i} l_i / sum_i w_{y_i}.
    w = np.where(valid, w_class[np.where(valid, labels, 0)], 0.0)
    got = seg._weights(jnp.asarray(labels), 3, w_class)
    np.testing.assert_allclose(got, w)
    np.testing.assert_allclose(
        (np.asarray(got) * per_px).sum() / w.sum(), (w * ref[..., 0]).sum() / w.sum(), rtol=1e-5
    )


def test_binary_ce_and_dice_against_numpy():
    z = RNG.normal(size=(2, 4, 4, 1)) * 3
    y = RNG.integers(0, 2, size=(2, 4, 4))
    got = np.asarray(seg.binary_cross_entropy(jnp.asarray(z), jnp.asarray(y)))
    p = 1 / (1 + np.exp(-z[..., 0]))
    np.testing.assert_allclose(got, -(y * np.log(p) + (1 - y) * np.log(1 - p)), rtol=1e-4)
    probs = np.asarray(seg.class_probabilities(jnp.asarray(z)))
    np.testing.assert_allclose(probs[..., 1], p, rtol=1e-5)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-6)
    # Soft Dice over foreground classes 1..C-1, eps = 1, valid pixels only.
    logits = RNG.normal(size=(2, 4, 4, 3))
    labels = RNG.integers(0, 3, size=(2, 4, 4))
    valid = (RNG.uniform(size=(2, 4, 4)) > 0.2).astype(np.float64)
    pr = np.exp(_log_softmax(logits))
    ref = []
    for c in (1, 2):
        g = (labels == c) * valid
        pc = pr[..., c] * valid
        ref.append((2 * (pc * g).sum() + 1) / (pc.sum() + g.sum() + 1))
    got = seg.dice_loss(
        jax.nn.softmax(jnp.asarray(logits)), jnp.asarray(labels), jnp.asarray(valid)
    )
    np.testing.assert_allclose(float(got), 1 - np.mean(ref), rtol=1e-5)


def test_bad_loss_settings_raise():
    with pytest.raises(ValueError, match="one of"):
        seg.segmentation_steps(lambda b, k, t: b, ("a", "b"), loss="focal")
    with pytest.raises(ValueError, match="exactly 2 classes"):
        seg.segmentation_steps(lambda b, k, t: b, ("a", "b", "c"), loss="binary_ce")
    with pytest.raises(ValueError, match="both be 0|not both 0"):
        seg.segmentation_steps(lambda b, k, t: b, ("a", "b"), ce_weight=0.0)
    with pytest.raises(ValueError, match="one weight per class"):
        seg._weights(jnp.zeros((1, 2, 2), jnp.int32), 2, (1.0, 2.0, 3.0))


# ------------------------------------------------------------------------------ metrics


class _PixelLinear(nn.Module):
    """logits = a * x + b per pixel: predictions known in closed form."""

    num_classes: int = 3

    @nn.compact
    def __call__(self, x, train=False):
        return nn.Conv(self.num_classes, (1, 1))(x)


def _numpy_scores(pred, labels, C):
    out = {}
    for c in range(C):
        i = np.sum((pred == c) & (labels == c))
        u = np.sum((pred == c) | (labels == c))
        t, p = np.sum(labels == c), np.sum(pred == c)
        out[c] = (i / u, 2 * i / (p + t))
    valid = labels < C
    return out, np.sum(pred[valid] == labels[valid]) / valid.sum()


def test_set_iou_through_the_loops_padded_sharded_evaluation(tmp_path):
    """37 images in batches of 16 on 8 devices (last batch padded): IoU of the whole set."""
    mesh = parallel.make_mesh()
    assert mesh.size == 8
    N, H, W, C = 37, 6, 5, 3
    images = RNG.integers(0, 256, size=(N, H, W, 1)).astype(np.uint8)
    labels = RNG.integers(0, C, size=(N, H, W)).astype(np.uint8)
    labels[3, 0, :] = 255  # void pixels are left out of every count
    model = _PixelLinear(C)
    pre = seg.segmentation_preprocess(np.zeros(1), np.ones(1))
    probe = PredictionProbe(4, tmp_path / "pictures", ("val",), ("a", "b", "c"), mesh)
    train_step, eval_step = seg.segmentation_steps(pre, ("a", "b", "c"), probe=probe)
    state = TrainState.create(
        model=model,
        tx=optax.sgd(0.1),
        rng=jax.random.PRNGKey(0),
        example_input=pre(
            {"image": jnp.asarray(images[:1]), "label": jnp.asarray(labels[:1])}, None, False
        )["image"],
    )
    arrays = {"image": images, "label": labels, "index": np.arange(N, dtype=np.int32)}
    arrays["split_id"] = np.zeros(N, np.int32)
    split = loader.to_device(arrays, mesh)
    record = loop.evaluate(state, eval_step, split, 16, mesh, "val")
    jax.effects_barrier()  # the probe's host callbacks have run
    scores = record  # IoU, Dice, mIoU and pixel accuracy come with the evaluation
    # Reference predictions in float64 from the same parameters.
    k = np.asarray(state.params["Conv_0"]["kernel"], np.float64)[0, 0]  # [1, C]
    b = np.asarray(state.params["Conv_0"]["bias"], np.float64)
    pred = np.argmax(images.astype(np.float64) / 255.0 @ k + b, -1)
    valid = labels < C
    ref, acc = _numpy_scores(np.where(valid, pred, 255), labels, C)
    for c, name in enumerate("abc"):
        np.testing.assert_allclose(scores[f"val_iou_{name}"], ref[c][0], rtol=1e-6)
        np.testing.assert_allclose(scores[f"val_dice_{name}"], ref[c][1], rtol=1e-6)
    np.testing.assert_allclose(scores["val_miou"], np.mean([ref[c][0] for c in range(C)]))
    np.testing.assert_allclose(scores["val_accuracy"], acc, rtol=1e-6)
    # The per-image loss mean, for images without void pixels, is the pixel CE mean.
    logp = _log_softmax(images.astype(np.float64) / 255.0 @ k + b)
    ce = -np.take_along_axis(logp, np.where(valid, labels, 0)[..., None].astype(int), -1)[..., 0]
    per_image = [(ce[i] * valid[i]).sum() / valid[i].sum() for i in range(N)]
    np.testing.assert_allclose(record["val_loss"], np.mean(per_image), rtol=1e-5)
    # The probe drew the first 4 examples with their probabilities.
    got_images, got_labels, got_probs, step = probe.last["val"]
    np.testing.assert_array_equal(got_images, images[:4])
    np.testing.assert_array_equal(got_labels, labels[:4])
    np.testing.assert_array_equal(got_probs.argmax(-1), pred[:4])
    assert step == 0 and (tmp_path / "pictures" / "val_step0000000.png").stat().st_size > 1000
    # One training step runs on the mesh and reports the monitoring metrics.
    batch = {"image": jnp.asarray(images[:8]), "label": jnp.asarray(labels[:8])}
    new_state, metrics = jax.jit(train_step)(state, batch)
    assert int(new_state.step) == 1 and set(metrics) == {"loss", "accuracy", "iou", "grad_norm"}
    # With a Dice term, 'loss' is still the cross-entropy; the Dice term is reported apart.
    dice_step, _ = seg.segmentation_steps(pre, ("a", "b", "c"), dice_weight=0.5)
    _, dice_metrics = jax.jit(dice_step)(state, batch)
    assert set(dice_metrics) == {"loss", "dice_loss", "accuracy", "iou", "grad_norm"}
    np.testing.assert_allclose(dice_metrics["loss"], metrics["loss"], rtol=1e-6)
    assert 0 < float(dice_metrics["dice_loss"]) < 1


def _seg_run(mesh, tmp_path, best_metric):
    """A 2-epoch fit of the per-pixel linear model on 48 noisy 'dark = class 1' images."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, size=(48, 6, 5)).astype(np.uint8)
    noise = rng.integers(0, 120, (48, 6, 5, 1))
    images = (135 - 120 * labels[..., None] + noise).astype(np.uint8)  # overlapping classes
    names = ("background", "crack")
    pre = seg.segmentation_preprocess(np.full(1, 0.5), np.full(1, 0.3))
    train_step, eval_step = seg.segmentation_steps(pre, names)
    state = parallel.create_sharded(
        lambda: TrainState.create(model=_PixelLinear(2), tx=optax.sgd(0.05),
                                  rng=jax.random.PRNGKey(0), example_input=jnp.zeros((1, 6, 5, 1))),
        mesh,
    )  # fmt: skip
    split = {"image": images, "label": labels}
    result = loop.fit(
        state=state, train_step=train_step, eval_step=eval_step, train=split,
        evals={"val": {"image": images[:24], "label": labels[:24]}}, mesh=mesh,
        options=loop.LoopOptions(batch_size=8, num_epochs=4, log_every_steps=3,
                                 best_metric=best_metric),
        workdir=tmp_path, hooks=[],
    )  # fmt: skip
    return result, eval_step, split


def test_segmentation_ranks_checkpoints_by_val_miou(tmp_path):
    mesh = parallel.make_mesh()
    result, _, _ = _seg_run(mesh, tmp_path, "val_miou")
    mious = [r["val_miou"] for r in result.history]
    assert len(mious) == 4 and all(0 <= m <= 1 for m in mious)
    for r in result.history:  # mIoU is the mean of the two classes' IoUs
        assert r["val_miou"] == pytest.approx((r["val_iou_background"] + r["val_iou_crack"]) / 2)
    best = result.history[int(np.argmax(mious))]["step"]
    ranked = checkpoint.Checkpointer(tmp_path / "checkpoints", best_metric="val_miou")
    assert ranked.best_step() == best
    assert int(result.best_state.step) == best


def test_segmentation_metrics_agree_on_one_and_eight_devices(tmp_path):
    eight = parallel.make_mesh()
    result, eval_step, split = _seg_run(eight, tmp_path, None)
    one = parallel.make_mesh(jax.devices()[:1])
    state1 = jax.device_put(result.state, parallel.replicated(one))
    m8 = loop.evaluate(result.state, eval_step, split, 16, eight, "val")  # 48 = 3 batches
    m1 = loop.evaluate(state1, eval_step, split, 16, one, "val")
    assert m1.keys() == m8.keys() and "val_miou" in m1
    for k in m1:
        assert m1[k] == pytest.approx(m8[k], rel=1e-6), k


def test_threshold_baseline_is_the_best_of_all_levels():
    x = RNG.integers(0, 256, size=(3, 7, 7, 1)).astype(np.uint8)
    y = ((x[..., 0] < 90) ^ (RNG.uniform(size=(3, 7, 7)) < 0.1)).astype(np.uint8)
    t, iou = seg.threshold_baseline(x, y)

    def iou_at(t):
        p = x[..., 0] <= t
        return np.sum(p & (y == 1)) / np.sum(p | (y == 1))

    brute = [iou_at(v) for v in range(256)]
    assert iou == pytest.approx(max(brute)) and iou_at(t) == pytest.approx(max(brute))
    t_bright, iou_bright = seg.threshold_baseline(255 - x, y, dark=False)  # "x > t" rule
    p = (255 - x[..., 0]) > t_bright
    assert iou_bright == pytest.approx(iou)
    assert np.sum(p & (y == 1)) / np.sum(p | (y == 1)) == pytest.approx(iou)


# ------------------------------------------------------------------------ augmentation


def test_joint_augmentation_keeps_image_and_mask_aligned():
    # The label is a function of the image (bright = 1): after augmentation it must still be.
    blocks = (RNG.uniform(size=(8, 4, 4)) < 0.3).astype(np.uint8)
    labels = np.kron(blocks, np.ones((1, 3, 3), np.uint8))  # [8, 12, 12], 3x3 blocks
    images = (labels * 200 + 30)[..., None].astype(np.uint8)
    augment = build_augment(
        [
            ("horizontal_flip", {}),
            ("rotate", {"degrees": (90.0, 90.0)}),
            ("translate", {"max_shift": 3}),
            ("random_crop", {"padding": 2}),
        ]
    )
    pre = seg.segmentation_preprocess(np.zeros(1), np.ones(1), augment)
    out = jax.jit(lambda b, k: pre(b, k, True))(
        {"image": jnp.asarray(images), "label": jnp.asarray(labels)}, jax.random.PRNGKey(3)
    )
    x, y = np.asarray(out["image"])[..., 0], np.asarray(out["label"])
    assert y.dtype == np.int32
    assert not np.array_equal(y, labels)  # something moved
    np.testing.assert_array_equal(y, (x * 255 > 128).astype(np.int32))  # zero fill: label 0
    # Arbitrary angles: bilinear images vs nearest-neighbour masks agree almost everywhere.
    rot = build_augment([("rotate", {"degrees": 30.0})])
    xr, yr = jax.jit(rot)(jax.random.PRNGKey(0), jnp.asarray(images, jnp.float32), labels)
    agree = np.mean((np.asarray(xr)[..., 0] > 115) == (np.asarray(yr) == 1))
    assert agree > 0.9


# ----------------------------------------------------------------------- folder reader


def _write_folder(root: Path, n=3, size=(6, 5)):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        img = RNG.integers(0, 256, size=(*size, 3)).astype(np.uint8)
        Image.fromarray(img).save(root / "images" / f"{i:03d}.png")
        m = (RNG.uniform(size=size) < 0.5).astype(np.uint8)
        Image.fromarray(m * 255).save(root / "masks" / f"{i:03d}.png")
    return root


def test_seg_folder_reader(tmp_path):
    root = _write_folder(tmp_path / "ds", n=4)
    data = read_seg_folder(root)
    assert data["image"].shape == (4, 6, 5, 3) and data["label"].shape == (4, 6, 5)
    assert set(np.unique(data["label"])) == {0, 1}  # 0/255 export read as binary
    ref = np.asarray(Image.open(root / "masks" / "002.png")) // 255
    np.testing.assert_array_equal(data["label"][2], ref)
    assert seg_folder_classes(root, data["label"]) == ("background", "class_1")
    (root / "classes.txt").write_text("bg\ncrack\n")
    assert seg_folder_classes(root, data["label"]) == ("bg", "crack")
    a, b = load_seg_folder(root, "train[:50%]"), load_seg_folder(root, "train[50%:]")
    both = np.concatenate([a["label"], b["label"]])
    assert sorted(map(bytes, both)) == sorted(map(bytes, data["label"]))  # a partition
    resized = read_seg_folder(root, image_size=8)
    assert resized["image"].shape == (4, 8, 8, 3) and set(np.unique(resized["label"])) <= {0, 1}
    (root / "masks" / "003.png").unlink()
    with pytest.raises(ValueError, match="unpaired"):
        read_seg_folder(root)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_seg_folder(tmp_path / "nope")
    with pytest.raises(ValueError, match="no named splits"):
        read_seg_folder(root, "val")


# ------------------------------------------------------------------------------ pictures


def test_overlay_colours_and_grid(tmp_path):
    label = np.array([[1, 1, 0, 0]])
    pred = np.array([[1, 0, 1, 0]])
    rgb = overlay(np.zeros((1, 4)), label, pred)
    assert rgb[0, 0, 1] > 0.5 and rgb[0, 0, 0] < 0.2  # true positive: green
    assert rgb[0, 1, 2] > 0.5  # missed: blue
    assert rgb[0, 2, 0] > 0.5 and rgb[0, 2, 1] < 0.2  # false positive: red
    np.testing.assert_array_equal(rgb[0, 3], 0.0)  # true negative: the (black) input
    probs = RNG.uniform(size=(2, 8, 8, 2))
    path = save_prediction_grid(
        RNG.integers(0, 255, size=(2, 8, 8, 1)), probs.argmax(-1), probs, tmp_path / "g.png"
    )
    assert Image.open(path).size[0] > 100
    with pytest.raises(ValueError, match="same N, H, W"):
        save_prediction_grid(np.zeros((2, 8, 8, 1)), np.zeros((2, 8, 7)), probs, tmp_path / "x")


# ----------------------------------------------------------------------------------- CLI


@pytest.mark.slow  # two `python -m train` U-Net processes (about 40 s); in-process: above
@pytest.mark.parametrize("model", ["unet_padded", "unet"])
def test_tiny_cli_run(tmp_path, model):
    """The shipped config, shrunk; 'unet' is the valid variant (overlap-tile inputs)."""
    args = [
        "--config=train/configs/cracks_unet.py",
        "--config.data.train_split=train[:32]",
        "--config.data.val_split=val[:8]",
        "--config.data.test_split=test[:8]",
        "--config.segmentation.image_size=16",
        "--config.segmentation.num_pictures=2",
        f"--config.model.name={model}",
        "--config.model.kwargs.depth=1",
        "--config.model.kwargs.base_width=4",
        "--config.train.batch_size=16",
        "--config.train.eval_batch_size=8",
        "--config.train.num_epochs=1",
        "--config.train.progress=False",
    ]
    proc = processes.python_m("train", [f"--workdir={tmp_path}", *args])
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["finished"] and summary["steps"] == 2
    for key in ("test_iou_crack", "test_dice_crack", "test_accuracy", "test_miou"):
        assert 0.0 <= summary[key] <= 1.0
    assert 0.0 < summary["baseline"]["threshold_test_iou_crack"] < 1.0
    assert (tmp_path / "pictures" / "val_step0000002.png").exists()
    assert (tmp_path / "pictures" / "test_step0000002.png").exists()
    assert (tmp_path / "predictions_test.png").stat().st_size > 1000
    rows = [json.loads(x) for x in (tmp_path / "scores.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 2 and "val_iou_crack" in rows[-1]
