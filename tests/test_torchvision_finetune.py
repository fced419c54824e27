"""Transfer learning from a torchvision file: ``model.init_from`` in the classification runner.

A ResNet-18 ``.pth`` written by the torchvision-layout PyTorch network
(benchmarks/peers/torchvision_arch.py) and a tiny generated 3-class image folder.
Default stage: ``train.transfer.initialise`` (a torchvision file) on a fresh state
(converted trunk, fresh head, re-initialised optimizer state; skipped when the workdir has
checkpoints) and the config validation. Slow stage (compiling ResNet-18's init and step
on 8 CPU devices takes about a minute): the ``image_folder_resnet18_torchvision`` config run for 2
steps by ``classification.run``, whose state entering the loop holds exactly the
converted trunk, and the resume path with the run's real checkpoint.
"""

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="the test writes its .pth with PyTorch (CI installs torch)"
)

import jax  # noqa: E402
import optax  # noqa: E402
from flax import traverse_util  # noqa: E402
from PIL import Image  # noqa: E402

from benchmarks.peers import torchvision_arch  # noqa: E402
from jaxdl import models  # noqa: E402
from jaxdl.training.state import TrainState  # noqa: E402
from train import build, classification, transfer  # noqa: E402
from train.configs import image_folder_resnet18_torchvision  # noqa: E402
from train.validate import ConfigError, validate  # noqa: E402


def image_folder(root, classes=3, per_class=8, size=32):
    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / f"class{c}" / f"{i}.png")
    return root


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXDL_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    net = torchvision_arch.build("resnet18")
    torchvision_arch.randomize_batch_norm(net, torch.Generator().manual_seed(0))
    torch.save(net.state_dict(), tmp_path / "resnet18.pth")
    c = image_folder_resnet18_torchvision.get_config()
    c.data.name = f"image_folder:{image_folder(tmp_path / 'images')}"
    c.model.init_from = str(tmp_path / "resnet18.pth")
    c.data.val_split = ""  # no evaluation: one compiled step function
    c.train.batch_size = 8
    c.train.eval_batch_size = 8
    c.train.num_epochs = 2
    c.train.max_steps = 2
    c.train.log_every_steps = 1
    c.train.progress = False
    return c, tmp_path


def check_start(start, config):
    """``start`` (variables entering training) = the converted file, but a 3-class fc."""
    expected = traverse_util.flatten_dict(
        models.load_torchvision_weights("resnet18", config.model.init_from)
    )
    start = traverse_util.flatten_dict(start)
    assert set(start) == set(expected)
    for path, value in expected.items():
        if path[1] == "fc":  # 1000 classes in the file, 3 in the folder: fresh head
            assert start[path].shape[-1] == 3
        else:
            np.testing.assert_array_equal(start[path], value, err_msg="/".join(path))


def test_init_from_pretrained_on_a_fresh_state(setup, capsys):
    config, tmp_path = setup
    model = models.create("resnet18", num_classes=3)
    x = jax.numpy.zeros((1, 32, 32, 3))
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
    rng = np.random.default_rng(1)
    fresh = jax.tree.map(lambda s: rng.standard_normal(s.shape).astype(np.float32), shapes)
    tx = optax.sgd(0.1, momentum=0.9)
    params = fresh["params"]
    state = TrainState(
        step=np.int32(0),
        params=params,
        model_state={"batch_stats": fresh["batch_stats"]},
        opt_state=tx.init(params),
        rng=jax.random.PRNGKey(0),
        apply_fn=model.apply,
        tx=tx,
    )
    mesh = jax.make_mesh((jax.device_count(),), ("data",))
    new = transfer.initialise(state, config, None, tmp_path / "run", mesh)
    check_start(jax.tree.map(np.asarray, {"params": new.params, **new.model_state}), config)
    np.testing.assert_array_equal(new.params["fc"]["kernel"], params["fc"]["kernel"])
    trace = new.opt_state[0].trace  # momentum buffers: re-initialised for the new params
    assert all(not np.any(np.asarray(t)) for t in jax.tree.leaves(trace))
    assert jax.tree.structure(trace) == jax.tree.structure(params)
    assert "kept fresh (new head or absent from the file): params/fc/bias, params/fc/kernel" in (
        capsys.readouterr().out
    )
    (tmp_path / "run" / "checkpoints" / "7").mkdir(parents=True)  # a run to resume
    assert transfer.initialise(state, config, None, tmp_path / "run", mesh) is state
    assert "init_from: not applied" in capsys.readouterr().out


@pytest.mark.slow
def test_run_starts_from_the_converted_trunk_with_a_fresh_head(setup, monkeypatch, capsys):
    config, tmp_path = setup
    validate(config)
    seen = []
    real_fit = build.fit

    def spy(cfg, frame, state, *args, **kwargs):  # the state entering the loop (not donated)
        seen.append(jax.tree.map(np.asarray, {"params": state.params, **state.model_state}))
        return real_fit(cfg, frame, state, *args, **kwargs)

    monkeypatch.setattr(build, "fit", spy)
    result = classification.run(config, tmp_path / "run")
    assert int(result.state.step) == 2
    assert all(np.all(np.isfinite(np.asarray(p))) for p in jax.tree.leaves(result.state.params))
    out = capsys.readouterr().out
    assert "init_from: resnet18 variables from" in out and "params/fc/kernel" in out
    check_start(seen[0], config)

    # The same workdir now holds a checkpoint: a resumed run keeps it, the file is not
    # applied (``fit`` then restores the checkpoint over this fresh state).
    mesh = jax.make_mesh((jax.device_count(),), ("data",))
    again = transfer.initialise(result.state, config, None, tmp_path / "run", mesh)
    assert again is result.state
    assert "init_from: not applied" in capsys.readouterr().out


def test_init_from_is_validated(setup):
    config, tmp_path = setup
    bad = [
        ({"model.init_from": str(tmp_path / "nope.pth")}, "no such file"),
        ({"model.init_from": str(tmp_path / "images")}, "directory without checkpoints"),
        ({"model.init_from": str(tmp_path / "weights.bin")}, "state_dict file"),
        ({"model.name": "lenet5"}, "torchvision counterpart"),
        ({"model.name": "alexnet"}, "alexnet_torchvision"),
        ({"task": "segmentation"}, "only used by task 'classification'"),
    ]
    for overrides, message in bad:
        c = config.copy_and_resolve_references()
        for key, value in overrides.items():
            section, field = key.split(".") if "." in key else (None, key)
            (c[section] if section else c)[field] = value
        with pytest.raises(ConfigError, match=message):
            validate(c)
