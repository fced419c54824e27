"""Multitask learning: the weighted loss, head splitting, derived labels, metrics, a run."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from jaxdl.data import CIFAR10_CLASSES, CIFAR100_CLASSES, STL10_CLASSES
from jaxdl.data import derived_labels as dl
from jaxdl.training import multitask as mt
from jaxdl.training import steps
from jaxdl.training.metrics import compute_metrics
from jaxdl.training.state import TrainState
from train import classification, validate
from train import multitask as train_mt
from train.configs import mnist_mlp

DIGITS = tuple(str(d) for d in range(10))
TASKS = (mt.TaskSpec("label", 10, 1.0), mt.TaskSpec("parity", 2, 0.5))

# CIFAR-100 fine label -> coarse label, typed from the dataset's superclass list
# (the order of the fine and coarse class-name tables), independently of the code.
FINE_TO_COARSE = [
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11,
    6, 11, 5, 10, 7, 6, 13, 15, 3, 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5,
    5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
    10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13,
    16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
]  # fmt: skip


def ref_ce(logits, labels, smoothing=0.0):
    """float64 per-example softmax cross-entropy (optionally label-smoothed)."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    k = z.shape[-1]
    target = np.eye(k)[labels] * (1 - smoothing) + smoothing / k
    return -(target * logp).sum(-1)


def ref_softmax(logits):
    z = np.asarray(logits, np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _batch(n=16, seed=0):
    rng = np.random.default_rng(seed)
    digits = rng.integers(0, 10, n).astype(np.int32)
    return {
        "image": rng.normal(size=(n, 4, 4, 1)).astype(np.float32),
        "label": digits,
        "label_parity": (digits % 2).astype(np.int32),
    }


# ----------------------------------------------------------------------------- loss, split


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_multitask_loss_is_the_weighted_sum_of_per_task_cross_entropies(smoothing):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(32, 12)).astype(np.float32) * 3
    b = _batch(32)
    labels = {"label": b["label"], "parity": b["label_parity"]}
    loss, ces = mt.multitask_loss(jnp.asarray(logits), labels, TASKS, smoothing)
    ce_digit = ref_ce(logits[:, :10], b["label"], smoothing).mean()
    ce_parity = ref_ce(logits[:, 10:], b["label_parity"], smoothing).mean()
    np.testing.assert_allclose(float(ces["label"]), ce_digit, rtol=1e-5)
    np.testing.assert_allclose(float(ces["parity"]), ce_parity, rtol=1e-5)
    np.testing.assert_allclose(float(loss), 1.0 * ce_digit + 0.5 * ce_parity, rtol=1e-5)


def test_split_logits_cuts_column_blocks_in_task_order():
    logits = jnp.arange(2 * 15, dtype=jnp.float32).reshape(2, 15)
    tasks = (mt.TaskSpec("a", 3), mt.TaskSpec("b", 10), mt.TaskSpec("c", 2))
    got = mt.split_logits(logits, tasks)
    assert list(got) == ["a", "b", "c"]
    np.testing.assert_array_equal(got["a"], np.asarray(logits)[:, 0:3])
    np.testing.assert_array_equal(got["b"], np.asarray(logits)[:, 3:13])
    np.testing.assert_array_equal(got["c"], np.asarray(logits)[:, 13:15])
    with pytest.raises(ValueError, match="num_classes=total_classes"):
        mt.split_logits(logits[:, :14], tasks)


class _Trunk(nn.Module):
    """A classifier with an auxiliary head (GoogLeNet-like output tuple in training)."""

    num_classes: int
    aux: bool = False

    @nn.compact
    def __call__(self, x, train=False):
        h = nn.relu(nn.Dense(8, name="hidden")(x.reshape(x.shape[0], -1)))
        out = nn.Dense(self.num_classes, name="head")(h)
        if not self.aux:
            return out
        aux = nn.Dense(self.num_classes, name="aux_head")(x.reshape(x.shape[0], -1))
        return (out, aux) if train else out  # GoogLeNet: aux params always created


@pytest.mark.parametrize("aux", [False, True])
def test_multitask_wrapper_returns_the_trunks_column_blocks(aux):
    x = jnp.asarray(_batch(4)["image"])
    trunk = _Trunk(12, aux)
    wrapped = mt.MultiTask(trunk, (("label", 10), ("parity", 2)))
    variables = wrapped.init(jax.random.PRNGKey(0), x)
    out = wrapped.apply(variables, x, train=True)
    raw = trunk.apply({"params": variables["params"]["trunk"]}, x, train=True)
    outs, raws = (out, raw) if aux else ((out,), (raw,))
    assert len(outs) == len(raws) == (2 if aux else 1)
    for o, r in zip(outs, raws):
        np.testing.assert_array_equal(o["label"], r[:, :10])
        np.testing.assert_array_equal(o["parity"], r[:, 10:])


# ----------------------------------------------------------------------------- steps


def _state(model, lr=1.0):
    example = jnp.zeros((1, 4, 4, 1))
    return TrainState.create(
        model=model, tx=optax.sgd(lr), rng=jax.random.PRNGKey(3), example_input=example
    )


def _bias_grad(logits, labels, weight):
    """d/db of weight * mean_b CE for a dense layer's bias: weight * mean(p - onehot)."""
    p = ref_softmax(logits)
    return weight * (p - np.eye(p.shape[-1])[labels]).mean(0)


@pytest.mark.parametrize("aux", [False, True])
def test_train_step_gradient_and_metrics_follow_the_weighted_loss(aux):
    model = _Trunk(12, aux)
    state = _state(model)
    b = _batch(16)
    train_step, _ = steps.classification_steps(
        lambda batch, key, train: batch, aux_loss_weight=0.3, tasks=mt.task_views(TASKS)
    )
    new, metrics = jax.jit(train_step)(state, b)
    out = model.apply({"params": state.params}, jnp.asarray(b["image"]), train=True)
    logits = np.asarray(out[0] if aux else out)
    ce_d = ref_ce(logits[:, :10], b["label"]).mean()
    ce_p = ref_ce(logits[:, 10:], b["label_parity"]).mean()
    np.testing.assert_allclose(float(metrics["loss"]), ce_d + 0.5 * ce_p, rtol=1e-5)
    np.testing.assert_allclose(float(metrics["label_loss"]), ce_d, rtol=1e-5)
    np.testing.assert_allclose(float(metrics["parity_loss"]), ce_p, rtol=1e-5)
    acc_d = (logits[:, :10].argmax(-1) == b["label"]).mean()
    acc_p = (logits[:, 10:].argmax(-1) == b["label_parity"]).mean()
    np.testing.assert_allclose(float(metrics["accuracy"]), acc_d)
    np.testing.assert_allclose(float(metrics["label_accuracy"]), acc_d)
    np.testing.assert_allclose(float(metrics["parity_accuracy"]), acc_p)
    # SGD with rate 1: the head bias moves by minus its gradient, block by block.
    want = np.concatenate(
        [
            _bias_grad(logits[:, :10], b["label"], 1.0),
            _bias_grad(logits[:, 10:], b["label_parity"], 0.5),
        ]
    )
    got = np.asarray(state.params["head"]["bias"]) - np.asarray(new.params["head"]["bias"])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    if aux:  # the auxiliary output is split and weighted the same way, times 0.3
        aux_logits = np.asarray(out[1])
        want_aux = 0.3 * np.concatenate(
            [
                _bias_grad(aux_logits[:, :10], b["label"], 1.0),
                _bias_grad(aux_logits[:, 10:], b["label_parity"], 0.5),
            ]
        )
        got_aux = np.asarray(state.params["aux_head"]["bias"]) - np.asarray(
            new.params["aux_head"]["bias"]
        )
        np.testing.assert_allclose(got_aux, want_aux, rtol=1e-4, atol=1e-6)


def test_eval_step_sums_each_task_over_real_examples_only():
    model = _Trunk(12)
    state = _state(model)
    b = _batch(16, seed=5)
    mask = np.array([1.0] * 11 + [0.0] * 5, np.float32)  # the last 5 are padding
    tasks = (mt.TaskSpec("parity", 2, 2.0), mt.TaskSpec("label", 10, 1.0))  # parity first
    _, eval_step = steps.classification_steps(
        lambda batch, key, train: batch, tasks=mt.task_views(tasks)
    )
    metrics = jax.jit(eval_step)(state, {**b, "mask": mask})
    means = compute_metrics(metrics)
    logits = np.asarray(model.apply({"params": state.params}, jnp.asarray(b["image"])))
    real = mask.astype(bool)
    ce_p = ref_ce(logits[:, :2], b["label_parity"])[real]
    ce_d = ref_ce(logits[:, 2:], b["label"])[real]
    hit_p = (logits[:, :2].argmax(-1) == b["label_parity"])[real]
    hit_d = (logits[:, 2:].argmax(-1) == b["label"])[real]
    top5_p = hit_p  # two classes: top-min(5, 2) always holds the label
    assert set(metrics) == {
        "loss", "accuracy", "top5_accuracy",
        "parity_loss", "parity_accuracy", "label_loss", "label_accuracy",
    }  # fmt: skip
    assert int(metrics["loss"].count) == 11  # the real examples only
    np.testing.assert_allclose(means["loss"], (2.0 * ce_p + ce_d).mean(), rtol=1e-5)
    np.testing.assert_allclose(means["parity_loss"], ce_p.mean(), rtol=1e-5)
    np.testing.assert_allclose(means["label_loss"], ce_d.mean(), rtol=1e-5)
    np.testing.assert_allclose(means["accuracy"], hit_p.mean())  # the first task's
    np.testing.assert_allclose(means["top5_accuracy"], np.ones_like(top5_p).mean())
    np.testing.assert_allclose(means["parity_accuracy"], hit_p.mean())
    np.testing.assert_allclose(means["label_accuracy"], hit_d.mean())


def test_single_task_default_keeps_the_plain_metric_names():
    train_step, eval_step = steps.classification_steps(lambda batch, key, train: batch)
    state = _state(_Trunk(10))
    b = _batch(8)
    _, metrics = jax.jit(train_step)(state, b)
    evaluated = jax.jit(eval_step)(state, {**b, "mask": np.ones(8, np.float32)})
    assert set(metrics) == {"loss", "accuracy", "grad_norm"}
    assert set(evaluated) == {"loss", "accuracy", "top5_accuracy"}


# ----------------------------------------------------------------------------- derived labels


def test_parity_of_digit_names_also_after_relabelling():
    got = dl.derive("parity", {"label": np.arange(10)}, DIGITS)
    np.testing.assert_array_equal(got.labels, [0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
    assert got.class_names == ("even", "odd")
    # digits 5..9 relabelled 0..4 (data.classes): the parity of the digit, not of the label
    sub = dl.derive("parity", {"label": np.array([0, 1, 2, 3, 4])}, DIGITS[5:])
    np.testing.assert_array_equal(sub.labels, [1, 0, 1, 0, 1])


def test_animal_vs_vehicle_on_cifar10_and_stl10():
    hand_cifar = [0, 0, 1, 1, 1, 1, 1, 1, 0, 0]  # airplane automobile ... ship truck
    hand_stl = [0, 1, 0, 1, 1, 1, 1, 1, 0, 0]  # airplane bird car cat ... monkey ship truck
    for names, hand in ((CIFAR10_CLASSES, hand_cifar), (STL10_CLASSES, hand_stl)):
        got = dl.derive("animal", {"label": np.arange(10)}, names)
        np.testing.assert_array_equal(got.labels, hand)
        assert got.class_names == ("vehicle", "animal")


def test_coarse_table_and_the_loaders_coarse_labels_are_preferred():
    fine = np.arange(100)
    got = dl.derive("coarse", {"label": fine}, CIFAR100_CLASSES)
    np.testing.assert_array_equal(got.labels, FINE_TO_COARSE)
    assert len(got.class_names) == 20 and got.class_names[0] == "aquatic_mammals"
    provided = np.full(100, 7, np.int32)  # a loader's own array wins over the table
    got = dl.derive("coarse", {"label": fine, "coarse_label": provided}, CIFAR100_CLASSES)
    np.testing.assert_array_equal(got.labels, provided)


def test_label_task_is_the_identity():
    got = dl.derive("label", {"label": np.array([3, 1])}, CIFAR10_CLASSES)
    np.testing.assert_array_equal(got.labels, [3, 1])
    assert got.class_names == CIFAR10_CLASSES


@pytest.mark.parametrize(
    ("task", "names", "labels", "message"),
    [
        ("parity", CIFAR10_CLASSES, [0], "does not fit this dataset.*mnist, svhn"),
        ("animal", DIGITS, [0], "does not fit.*cifar10, stl10"),
        ("coarse", CIFAR10_CLASSES, [0], "does not fit.*cifar100"),
        ("colour", DIGITS, [0], "Unknown derived task 'colour'"),
        ("parity", DIGITS, [-1, 3], r"Labels must lie in \[0, 10\)"),
    ],
)
def test_derivation_errors_name_the_problem(task, names, labels, message):
    with pytest.raises(ValueError, match=message):
        dl.derive(task, {"label": np.array(labels)}, names)


# ----------------------------------------------------------------------------- config


def test_parse_tasks_and_its_errors():
    assert train_mt.parse_tasks("") == ()
    assert train_mt.parse_tasks("label:1.0, parity:0.5") == (("label", 1.0), ("parity", 0.5))
    assert train_mt.parse_tasks("parity") == (("parity", 1.0),)
    for bad, message in [
        ("label:x", "not 'task:weight'"),
        ("label:-1", "finite weight >= 0"),
        ("label:nan", "finite weight"),
        (":1", "not 'task:weight'"),
        ("label,colour:1", "unknown task 'colour'"),
        ("label,label:2", "listed twice"),
    ]:
        with pytest.raises(ValueError, match=message):
            train_mt.parse_tasks(bad)


def test_validate_rejects_bad_multitask_configs():
    c = mnist_mlp.get_config()
    c.multitask.tasks = "label:1,parity:-2"
    with pytest.raises(validate.ConfigError, match="finite weight >= 0"):
        validate.validate(c)
    c.multitask.tasks = "label:1,parity:2"
    validate.validate(c)
    c.task = "segmentation"
    with pytest.raises(validate.ConfigError, match="only used by task 'classification'"):
        validate.validate(c)


def test_prepare_adds_derived_labels_and_consumes_the_loaders_arrays():
    rng = np.random.default_rng(0)
    fine = rng.integers(0, 100, 50).astype(np.int32)
    splits = {
        r: {"image": np.zeros((50, 2, 2, 3), np.uint8), "label": fine, "coarse_label": fine % 20}
        for r in ("train", "test")
    }
    got = train_mt.prepare("label:1,coarse:0.3", splits, CIFAR100_CLASSES)
    assert got.num_classes == 120 and [t.name for t in got.tasks] == ["label", "coarse"]
    for arrays in splits.values():
        assert set(arrays) == {"image", "label", "label_coarse"}
        np.testing.assert_array_equal(arrays["label_coarse"], fine % 20)  # the loader's
    single = {
        "train": {
            "image": np.zeros((3, 2, 2, 3), np.uint8),
            "label": fine[:3],
            "coarse_label": fine[:3],
        }
    }
    plain = train_mt.prepare("", single, CIFAR100_CLASSES)
    assert (
        plain.num_classes == 100
        and plain.tasks == ()
        and set(single["train"]) == {"image", "label"}
    )
    with pytest.raises(ValueError, match="streamed"):
        train_mt.prepare("label,parity", {}, DIGITS, streamed=True)
    with pytest.raises(ValueError, match="does not fit"):
        train_mt.prepare("label,parity", splits, CIFAR100_CLASSES)


# ----------------------------------------------------------------------------- end to end


def test_tiny_multitask_run_reports_every_task(tmp_path):
    c = mnist_mlp.get_config()
    c.data.train_split, c.data.val_split, c.data.test_split = (
        "train[:1024]",
        "train[1024:1280]",
        "test[:512]",
    )
    c.model.kwargs = ml_collections.ConfigDict({"depth": 1, "width": 32, "dropout_rate": 0.0})
    c.train.batch_size, c.train.eval_batch_size, c.train.num_epochs = 64, 256, 2
    c.train.progress, c.train.log_every_steps = False, 8
    c.multitask.tasks = "label:1.0,parity:0.5"
    validate.validate(c)
    result = classification.run(c, tmp_path)
    m = result.final_metrics
    assert result.finished
    np.testing.assert_allclose(
        m["test_loss"], m["test_label_loss"] + 0.5 * m["test_parity_loss"], rtol=1e-4
    )
    assert m["test_accuracy"] == m["test_label_accuracy"]
    assert m["test_label_accuracy"] > 0.5 and m["test_parity_accuracy"] > 0.6  # chance: 0.1, 0.5
    assert "val_parity_accuracy" in result.history[-1]


@pytest.mark.heavy  # an experiment script (~21 s)
def test_experiment_script_writes_its_section(tmp_path):
    from train.experiments import multitask as experiment

    doc = tmp_path / "multitask.md"
    experiment.main(
        ["--datasets", "mnist", "--mnist-train", "512", "--mnist-epochs", "1"]
        + ["--mnist-seeds", "0", "--workdir", str(tmp_path / "runs"), "--doc", str(doc)]
    )
    text = doc.read_text()
    assert "<!-- generated: multitask-mnist begin" in text
    for variant in ("| digit only |", "| digit + parity (1.0 / 0.5) |", "| parity only |"):
        assert variant in text
