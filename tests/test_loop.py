"""The training loop: 1 vs 8 devices, exact resume, one compilation, in-memory runs."""

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tiny_runs
from tiny_runs import B, fit, quiet_hooks, setup

from jaxdl.data import preprocess
from jaxdl.training import loop, parallel, predict
from jaxdl.training.hooks import FinalEvaluation
from jaxdl.training.store import CheckpointOptions


@pytest.fixture(scope="module")
def mnist_small():
    return tiny_runs.mnist_small()


@pytest.fixture(scope="module", autouse=True)
def _forget_setups():
    yield
    tiny_runs.forget()


def _leaves(state):
    return [np.asarray(x) for x in jax.tree.leaves(state.params)]


def test_one_device_and_eight_devices_give_the_same_numbers(mnist_small, tmp_path):
    assert jax.device_count() == 8
    one = fit(mnist_small, parallel.make_mesh(jax.devices()[:1]), tmp_path / "one")
    eight = fit(mnist_small, parallel.make_mesh(), tmp_path / "eight")
    # Same math, different reduction order across devices: float32 round-off only.
    for a, b in zip(one.history, eight.history):
        np.testing.assert_allclose(a["val_loss"], b["val_loss"], rtol=1e-5)
        assert a["val_accuracy"] == pytest.approx(b["val_accuracy"], abs=1 / 200)
    for a, b in zip(_leaves(one.state), _leaves(eight.state)):
        np.testing.assert_allclose(a, b, atol=2e-5)


def test_resume_gives_identical_parameters(mnist_small, tmp_path):
    mesh = parallel.make_mesh()
    straight = fit(mnist_small, mesh, tmp_path / "straight", epochs=3)
    # Interrupted mid-epoch 2 (step 15 of 30), then restarted with the same workdir.
    first = fit(mnist_small, mesh, tmp_path / "resumed", epochs=3, max_steps=15)
    assert not first.finished and int(first.state.step) == 15
    second = fit(mnist_small, mesh, tmp_path / "resumed", epochs=3)
    assert second.finished and int(second.state.step) == 30
    for a, b in zip(_leaves(straight.state), _leaves(second.state)):
        np.testing.assert_array_equal(a, b)
    assert straight.history == second.history
    lines = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    rows = [json.loads(x) for x in lines]
    steps_logged = [r["step"] for r in rows if "train_loss" in r]
    assert steps_logged == sorted(steps_logged) and len(steps_logged) == len(set(steps_logged))
    assert (tmp_path / "resumed" / "tensorboard").exists()


def test_train_step_compiles_once(mnist_small, tmp_path):
    mesh = parallel.make_mesh()
    _, ts, _, _ = setup(mnist_small, mesh)
    counted = chex.assert_max_traces(ts, n=1)
    fit(mnist_small, mesh, tmp_path, epochs=2, train_step=counted)


def test_in_memory_fit_writes_nothing_and_keeps_the_callers_state(
    mnist_small, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    mesh = parallel.make_mesh()
    state, ts, es, splits = setup(mnist_small, mesh)
    before = _leaves(state)
    result = loop.fit(
        state=state, train_step=ts, eval_step=es, train=mnist_small[0],
        evals={"val": mnist_small[1]},
        options=loop.LoopOptions(batch_size=B, num_epochs=3, best_metric="val_loss",
                                 best_mode="min"),
        hooks=[FinalEvaluation({"test": splits["val"]}, from_best=True)], mesh=mesh,
    )  # fmt: skip
    assert list(tmp_path.iterdir()) == []  # no file written anywhere under the cwd
    # The caller's state was not donated: its arrays are readable and unchanged.
    for a, b in zip(before, _leaves(state)):
        np.testing.assert_array_equal(a, b)
    assert result.finished and int(result.state.step) == 30
    losses = [r["val_loss"] for r in result.history]
    best_step = result.history[int(np.argmin(losses))]["step"]
    assert int(result.best_state.step) == best_step
    # The best state is a copy, still valid after the run: evaluating it gives its record.
    again = loop.evaluate(result.best_state, es, splits["val"], B, mesh, "val")
    assert again["val_loss"] == pytest.approx(min(losses), rel=1e-6)
    assert result.final_metrics["test_loss"] == pytest.approx(min(losses), rel=1e-6)
    if best_step != 30:
        assert result.final_metrics["best_step"] == best_step


def test_calling_fit_again_in_memory_continues_from_the_given_state(mnist_small):
    mesh = parallel.make_mesh()
    state, ts, es, splits = setup(mnist_small, mesh)
    opts = loop.LoopOptions(batch_size=B, num_epochs=1)
    one = loop.fit(state=state, train_step=ts, train=splits["train"], options=opts, hooks=[])
    two = loop.fit(state=one.state, train_step=ts, train=splits["train"], options=opts,
                   hooks=[])  # fmt: skip
    # Step counts are the state's: a second call of 1 epoch has nothing left to do.
    assert int(two.state.step) == 10 and two.history == []
    for a, b in zip(_leaves(one.state), _leaves(two.state)):
        np.testing.assert_array_equal(a, b)
    zeroed = one.state.replace(step=jnp.zeros_like(one.state.step))
    three = loop.fit(state=zeroed, train_step=ts, train=splits["train"], options=opts, hooks=[])
    assert int(three.state.step) == 10
    assert any(not np.array_equal(a, b) for a, b in zip(_leaves(one.state), _leaves(three.state)))


def test_resume_can_be_refused(mnist_small, tmp_path):
    mesh = parallel.make_mesh()
    fit(mnist_small, mesh, tmp_path, epochs=1)
    state, ts, es, splits = setup(mnist_small, mesh)
    with pytest.raises(
        ValueError, match=r"already holds checkpoints \(step 10\) and resume is off"
    ):
        loop.fit(
            state=state, train_step=ts, train=splits["train"], workdir=tmp_path,
            options=loop.LoopOptions(batch_size=B, num_epochs=2), hooks=[],
            checkpoints=CheckpointOptions(resume=False),
        )  # fmt: skip


def _never(state, batch):
    raise AssertionError("the train step ran")


def test_best_metric_must_be_produced_by_the_evaluation(mnist_small, tmp_path):
    mesh = parallel.make_mesh()
    with pytest.raises(ValueError, match="best_metric='val_miou' is not among"):
        fit(mnist_small, mesh, None, epochs=1, best_metric="val_miou", hooks=[],
            train_step=_never)  # checked before the first step: nothing trains  # fmt: skip


def test_predict_applies_the_preprocessing_and_pads_the_last_batch(mnist_small):
    mesh = parallel.make_mesh()
    state, _, _, _ = setup(mnist_small, mesh)
    images = mnist_small[1]["image"][:37]
    pre = preprocess.image_preprocess(*preprocess.channel_stats(mnist_small[0]["image"]))
    logits = predict(state, images, preprocess=pre, batch_size=16)
    assert logits.shape == (37, 10) and logits.dtype == np.float32
    # Reference: the model applied to the whole stack at once, normalised by hand.
    mean, std = preprocess.channel_stats(mnist_small[0]["image"])
    x = (images.astype(np.float32) / 255.0 - mean) / np.maximum(std, 1e-8)
    variables = {"params": state.params, **state.model_state}
    ref = state.apply_fn(variables, jnp.asarray(x), train=False)
    np.testing.assert_allclose(logits, np.asarray(ref), rtol=1e-4, atol=1e-5)
    sharded = predict(state, images, preprocess=pre, batch_size=16, mesh=mesh)
    np.testing.assert_allclose(sharded, logits, rtol=1e-5, atol=1e-6)


def test_loop_options_reject_bad_values():
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        loop.LoopOptions(batch_size=0, num_epochs=1)
    with pytest.raises(ValueError, match="best_mode must be 'max' or 'min'"):
        loop.LoopOptions(batch_size=8, num_epochs=1, best_mode="maximum")


def test_default_hooks_write_files_only_with_a_workdir(tmp_path):
    assert {type(h).__name__ for h in loop.default_hooks()} == {
        "NonFinite", "Console", "ProgressBar", "StopOnSignal"}  # fmt: skip
    assert {type(h).__name__ for h in loop.default_hooks(tmp_path)} >= {
        "MetricsFile", "TensorBoard"}  # fmt: skip
    assert quiet_hooks()  # the tests' own list is the default one without output
