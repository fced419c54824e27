"""Transfer learning: head detection, per-group rates, frozen trunk, init from another run."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import traverse_util

from jaxdl import models
from jaxdl.training import transfer
from jaxdl.training.checkpoint import Checkpointer
from train import build, classification
from train import transfer as train_transfer
from train.configs import mnist_mlp

HEAD = (("head",),)


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "conv": {"kernel": rng.normal(size=(3, 3, 1, 4)).astype(np.float32)},
        "block": {"dense": {"kernel": rng.normal(size=(4, 5)).astype(np.float32)}},
        "head": {"kernel": rng.normal(size=(5, 3)).astype(np.float32)},
    }


@pytest.mark.parametrize(
    ("name", "shape", "expected"),
    [
        ("lenet5", (1, 32, 32, 1), (("output",),)),
        ("resnet20", (1, 32, 32, 3), (("fc",),)),
        ("mlp", (1, 28, 28, 1), (("Dense_2",),)),  # depth 2: Dense_0, Dense_1, then the head
        ("googlenet_torchvision", (1, 224, 224, 3), (("fc",), ("aux1", "fc2"), ("aux2", "fc2"))),
    ],
)
def test_head_paths_name_each_models_classifier(name, shape, expected):
    kwargs = {"depth": 2, "width": 8} if name == "mlp" else {}
    model = models.create(name, num_classes=7, **kwargs)
    assert transfer.head_paths(model, name, jnp.zeros(shape)) == expected


def test_head_paths_spec_overrides():
    got = transfer.head_paths(None, "lenet5", None, "fc, aux1/fc2")
    assert got == (("fc",), ("aux1", "fc2"))


@pytest.mark.parametrize("factor", [0.0, 0.1, 1.0])
def test_group_optimizer_scales_only_the_trunk(factor):
    params = _params()
    grads = _params(seed=1)
    lr = 0.5
    tx = transfer.group_optimizer(optax.sgd(lr), HEAD, factor)
    updates, _ = tx.update(grads, tx.init(params), params)
    new = optax.apply_updates(params, updates)
    flat_p, flat_g = traverse_util.flatten_dict(params), traverse_util.flatten_dict(grads)
    for path, w in traverse_util.flatten_dict(new).items():
        rate = lr if path[0] == "head" else factor * lr
        want = flat_p[path].astype(np.float64) - rate * flat_g[path].astype(np.float64)
        np.testing.assert_allclose(np.asarray(w, np.float64), want, rtol=1e-6, atol=1e-6)
        if path[0] != "head" and factor == 0:
            assert np.array_equal(np.asarray(w), flat_p[path])  # bit for bit


def test_frozen_trunk_keeps_no_optimizer_state_and_rejects_negative():
    tx = transfer.group_optimizer(optax.adam(1e-3), HEAD, 0.0)
    state = tx.init(_params())
    moments = [x for x in jax.tree.leaves(state) if x.ndim > 0]
    assert sum(x.size for x in moments) == 2 * 5 * 3  # Adam's mu and nu of the head only
    with pytest.raises(ValueError, match="trunk_lr_factor"):
        transfer.group_optimizer(optax.sgd(1.0), HEAD, -1.0)


def test_stop_trunk_gradient_zeroes_trunk_gradients_only():
    params = jax.tree.map(jnp.asarray, _params())
    x = jnp.ones((2, 3, 3, 1))

    def loss(p):
        h = jnp.tanh(jnp.sum(x[..., None] * p["conv"]["kernel"], axis=(1, 2, 3)))  # [2, 4]
        h = jnp.tanh(h @ p["block"]["dense"]["kernel"])  # [2, 5]
        return jnp.sum((h @ p["head"]["kernel"]) ** 2)

    full = jax.grad(loss)(params)
    frozen = jax.grad(lambda p: loss(transfer.stop_trunk_gradient(HEAD)(p)))(params)
    np.testing.assert_array_equal(frozen["head"]["kernel"], full["head"]["kernel"])
    assert not np.any(frozen["conv"]["kernel"]) and not np.any(frozen["block"]["dense"]["kernel"])
    assert np.any(full["conv"]["kernel"])


def test_merge_keeps_trunk_and_fresh_head_and_names_mismatches():
    fresh, source = _params(0), _params(1)
    merged, kept = transfer.merge(fresh, source, HEAD)
    assert kept == ["head/kernel"]
    np.testing.assert_array_equal(merged["head"]["kernel"], fresh["head"]["kernel"])
    np.testing.assert_array_equal(merged["conv"]["kernel"], source["conv"]["kernel"])
    source["conv"]["kernel"] = np.zeros((5, 5, 1, 4), np.float32)
    with pytest.raises(ValueError, match="conv/kernel.*transfer.head"):
        transfer.merge(fresh, source, HEAD)
    del source["conv"]
    with pytest.raises(ValueError, match="no variable conv/kernel"):
        transfer.merge(fresh, source, HEAD)


def test_select_classes_relabels_in_the_given_order():
    arrays = {"image": np.arange(6)[:, None], "label": np.array([0, 5, 7, 5, 2, 9])}
    out, names = build.select_classes(arrays, tuple("abcdefghij"), (7, 5))
    np.testing.assert_array_equal(out["label"], [1, 0, 1])  # 7 -> 0, 5 -> 1
    np.testing.assert_array_equal(out["image"][:, 0], [1, 2, 3])
    assert names == ("h", "f")
    with pytest.raises(ValueError, match="distinct labels"):
        build.select_classes(arrays, tuple("abcdefghij"), (3, 3))


def _tiny(workdir_classes, **overrides):
    c = mnist_mlp.get_config()
    c.data.train_split, c.data.val_split, c.data.test_split = "train[:2048]", "", "test[:500]"
    c.data.classes = workdir_classes
    c.model.kwargs.width, c.model.kwargs.dropout_rate = 32, 0.0
    c.train.batch_size, c.train.eval_batch_size, c.train.num_epochs = 64, 128, 1
    c.train.progress = False
    for key, value in overrides.items():
        section, name = key.split("__")
        c[section][name] = value
    return c


def _variables(workdir):
    params, _, _ = transfer.read_variables(workdir)
    return traverse_util.flatten_dict(params)


def test_digits_0_4_to_5_9_frozen_then_fine_tuned(tmp_path):
    src, head_only, tuned = tmp_path / "src", tmp_path / "head", tmp_path / "tuned"
    classification.run(_tiny((0, 1, 2, 3, 4)), src)
    frozen_cfg = _tiny((5, 6, 7, 8, 9), model__init_from=str(src), transfer__trunk_lr_factor=0.0)
    result = classification.run(frozen_cfg, head_only)
    before, after = _variables(src), _variables(head_only)
    for path, w in after.items():
        if path[0] == "Dense_2":  # the head: fresh, then trained
            assert not np.array_equal(w, before[path])
        else:  # the trunk: bit for bit the source run's
            assert np.array_equal(w, before[path]), path
    assert result.final_metrics["test_accuracy"] > 0.5  # 5 classes: chance is 0.2
    tuned_cfg = _tiny(
        (5, 6, 7, 8, 9),
        model__init_from=str(head_only),
        transfer__trunk_lr_factor=0.1,
        transfer__reinit_head=False,
    )
    classification.run(tuned_cfg, tuned)
    final = _variables(tuned)
    assert not np.array_equal(final[("Dense_0", "kernel")], after[("Dense_0", "kernel")])


def test_init_from_a_directory_without_checkpoints_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no checkpoint"):
        transfer.read_variables(tmp_path)
    Checkpointer(tmp_path / "checkpoints", async_save=False).close()
    config = mnist_mlp.get_config()
    config.model.init_from = str(tmp_path)  # an (empty) checkpoints/ passes validation
    with pytest.raises(FileNotFoundError, match="model.init_from=.*holds no checkpoint"):
        train_transfer.init_from_run(None, config, (), mesh=None)


def test_config_validation_of_transfer_keys(tmp_path):
    from train.validate import ConfigError, validate

    c = mnist_mlp.get_config()
    c.model.init_from = str(tmp_path)  # a directory, but not a run
    with pytest.raises(ConfigError, match="without checkpoints"):
        validate(c)
    (tmp_path / "checkpoints").mkdir()
    validate(c)  # a run directory: accepted for any model
    c.transfer.trunk_lr_factor = -0.5
    with pytest.raises(ConfigError, match="trunk_lr_factor must be >= 0"):
        validate(c)
