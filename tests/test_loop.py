"""The training loop: 1 vs 8 devices, exact resume, single compilation, divergence."""

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import data, models
from jaxdl.data import loader, preprocess
from jaxdl.training import checkpoint, guards, loop, parallel, restarts, steps
from jaxdl.training.early_stopping import EarlyStopping
from jaxdl.training.state import TrainState

B = 64


@pytest.fixture(scope="module")
def mnist_small():
    train = data.load("mnist", "train[:640]").data
    val = data.load("mnist", "test[:200]").data
    return train, val


def _setup(mnist_small, mesh, tx=None, model=None):
    train, val = mnist_small
    model = model or models.create("mlp", depth=1, width=32)
    tx = tx or optax.sgd(0.1, momentum=0.9)
    pre = preprocess.image_preprocess(*preprocess.channel_stats(train["image"]))
    train_step, eval_step = steps.classification_steps(pre)
    state = parallel.create_sharded(
        lambda: TrainState.create(
            model=model, tx=tx, rng=jax.random.PRNGKey(0), example_input=jnp.zeros((1, 28, 28, 1))
        ),
        mesh,
    )
    splits = {k: loader.to_device(v, mesh) for k, v in (("train", train), ("val", val))}
    return state, train_step, eval_step, splits


def _fit(mnist_small, mesh, workdir, epochs=2, max_steps=None, train_step=None, loop_kw=None, **kw):
    state, ts, es, splits = _setup(mnist_small, mesh, **kw)
    return loop.fit(
        state=state,
        train_step=train_step or ts,
        eval_step=es,
        train=splits["train"],
        evals={"val": splits["val"]},
        final_evals={"test": splits["val"]},
        options=loop.LoopOptions(
            batch_size=B,
            num_epochs=epochs,
            log_every_steps=4,
            max_steps=max_steps,
            progress=False,
            **(loop_kw or {}),
        ),
        workdir=workdir,
        data_key=jax.random.PRNGKey(1),
        mesh=mesh,
    )


def _leaves(state):
    return [np.asarray(x) for x in jax.tree.leaves(state.params)]


def test_one_device_and_eight_devices_give_the_same_numbers(mnist_small, tmp_path):
    assert jax.device_count() == 8
    one = _fit(mnist_small, parallel.make_mesh(jax.devices()[:1]), tmp_path / "one")
    eight = _fit(mnist_small, parallel.make_mesh(), tmp_path / "eight")
    # Same math, different reduction order across devices: float32 round-off only.
    for a, b in zip(one.history, eight.history):
        np.testing.assert_allclose(a["val_loss"], b["val_loss"], rtol=1e-5)
    for a, b in zip(_leaves(one.state), _leaves(eight.state)):
        np.testing.assert_allclose(a, b, atol=2e-5)
    assert one.final_metrics["test_accuracy"] == pytest.approx(
        eight.final_metrics["test_accuracy"], abs=1 / 200
    )


def test_resume_gives_identical_parameters(mnist_small, tmp_path):
    mesh = parallel.make_mesh()
    straight = _fit(mnist_small, mesh, tmp_path / "straight", epochs=3)
    # Interrupted mid-epoch 2 (step 15 of 30), then restarted with the same workdir.
    first = _fit(mnist_small, mesh, tmp_path / "resumed", epochs=3, max_steps=15)
    assert not first.finished and int(first.state.step) == 15
    second = _fit(mnist_small, mesh, tmp_path / "resumed", epochs=3)
    assert second.finished and int(second.state.step) == 30
    for a, b in zip(_leaves(straight.state), _leaves(second.state)):
        np.testing.assert_array_equal(a, b)
    assert straight.history == second.history
    assert straight.final_metrics == second.final_metrics
    lines = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    rows = [json.loads(x) for x in lines]
    steps_logged = [r["step"] for r in rows if "train_loss" in r]
    assert steps_logged == sorted(steps_logged) and len(steps_logged) == len(set(steps_logged))
    for name in ("curves.png", "tensorboard"):
        assert (tmp_path / "resumed" / name).exists()


def test_train_step_compiles_once(mnist_small, tmp_path):
    mesh = parallel.make_mesh()
    _, ts, _, _ = _setup(mnist_small, mesh)
    counted = chex.assert_max_traces(ts, n=1)
    _fit(mnist_small, mesh, tmp_path, epochs=2, train_step=counted)


def test_divergence_stops_and_keeps_last_good_checkpoint(mnist_small, tmp_path):
    mesh = parallel.make_mesh()
    _, ts, _, _ = _setup(mnist_small, mesh)

    def poisoned(state, batch):  # loss becomes NaN from step 13 on (epoch 2)
        new_state, metrics = ts(state, batch)
        bad = state.step >= 12
        metrics["loss"] = jnp.where(bad, jnp.nan, metrics["loss"])
        params = jax.tree.map(lambda p: jnp.where(bad, jnp.nan, p), new_state.params)
        return new_state.replace(params=params), metrics

    expected = r"at step 13\. The last good checkpoint is step 10"
    with pytest.raises(loop.DivergenceError, match=expected):
        _fit(mnist_small, mesh, tmp_path, epochs=3, train_step=poisoned)
    state, _, _, _ = _setup(mnist_small, mesh)
    restored, meta = checkpoint.Checkpointer(tmp_path / "checkpoints").restore_latest(state)
    assert int(restored.step) == 10
    chex.assert_tree_all_finite(restored.params)
    assert len(meta["history"]) == 1


def _impossible_to_improve(patience):
    # min_delta = 1 on accuracy: no evaluation after the first can count as better.
    return EarlyStopping(monitor="val_accuracy", mode="max", patience=patience, min_delta=1.0)


def test_early_stopping_stops_keeps_best_and_stays_stopped(mnist_small, tmp_path):
    mesh = parallel.make_mesh()
    kw = {"early_stopping": _impossible_to_improve(1), "final_from_best": True}
    result = _fit(mnist_small, mesh, tmp_path, epochs=5, loop_kw=kw)
    assert result.finished and len(result.history) == 2  # best at epoch 1, stop at epoch 2
    assert int(result.state.step) == 20 and result.final_metrics["best_step"] == 10
    # The final test metrics are those of the best (epoch-1) weights.
    state, _, es, splits = _setup(mnist_small, mesh)
    best, _ = checkpoint.Checkpointer(tmp_path / "checkpoints").restore(state, 10)
    expected = loop.evaluate(best, es, splits["val"], B, mesh, "test")
    assert result.final_metrics["test_accuracy"] == expected["test_accuracy"]
    again = _fit(mnist_small, mesh, tmp_path, epochs=5, loop_kw=kw)  # rerun: nothing to do
    assert int(again.state.step) == 20 and len(again.history) == 2


def test_restart_from_best_restores_weights_and_optimizer_and_decays_rate(mnist_small, tmp_path):
    mesh = parallel.make_mesh()
    kw = {
        "early_stopping": _impossible_to_improve(2),
        "restart_patience": 1,
        "max_restarts": 1,
        "restart_decay": 0.25,
    }
    tx = restarts.with_restarts(optax.sgd(0.1, momentum=0.9))
    result = _fit(mnist_small, mesh, tmp_path, epochs=6, loop_kw=kw, tx=tx)
    # eval 1 best; eval 2 plateau -> restart from step 10; eval 3, 4 plateau -> stop.
    assert [r.get("restart_from_step") for r in result.history] == [None, 10, None, None]
    assert int(result.state.step) == 40
    state, _, _, _ = _setup(mnist_small, mesh, tx=tx)
    ckpt = checkpoint.Checkpointer(tmp_path / "checkpoints")
    at_best, _ = ckpt.restore(state, 10)
    after_restart, meta = ckpt.restore(state, 20)
    for a, b in zip(_leaves(at_best), _leaves(after_restart)):
        np.testing.assert_array_equal(a, b)
    chex.assert_trees_all_equal(at_best.opt_state.inner, after_restart.opt_state.inner)
    assert float(after_restart.opt_state.scale) == 0.25 and meta["restarts"] == 1
    assert int(after_restart.step) == 20  # the step (and data order) keeps going forward


def test_loop_options_reject_inconsistent_early_stopping():
    es = EarlyStopping(monitor="val_loss", mode="min", patience=2)
    with pytest.raises(ValueError, match="set best_metric and best_mode"):
        loop.LoopOptions(batch_size=8, num_epochs=1, early_stopping=es)
    with pytest.raises(ValueError, match="needs early_stopping"):
        loop.LoopOptions(batch_size=8, num_epochs=1, restart_patience=1)


def test_skip_nonfinite_keeps_state_counts_and_bounds_skips(mnist_small, tmp_path):
    mesh = parallel.make_mesh()
    _, ts, _, _ = _setup(mnist_small, mesh)

    def poisoned(state, batch):  # gradients blow up at steps 13 and 14 only
        new_state, metrics = ts(state, batch)
        bad = (state.step == 12) | (state.step == 13)
        metrics["grad_norm"] = jnp.where(bad, jnp.inf, metrics["grad_norm"])
        params = jax.tree.map(lambda p: jnp.where(bad, jnp.nan, p), new_state.params)
        return new_state.replace(params=params), metrics

    guarded = guards.skip_nonfinite(poisoned)
    result = _fit(
        mnist_small, mesh, tmp_path / "ok", 3, train_step=guarded, loop_kw={"max_skipped_steps": 2}
    )
    assert result.finished
    chex.assert_tree_all_finite(result.state.params)
    rows = [json.loads(x) for x in (tmp_path / "ok" / "metrics.jsonl").read_text().splitlines()]
    assert sum(r.get("train_skipped_steps", 0) for r in rows) == 2
    with pytest.raises(loop.DivergenceError, match="2 updates were skipped"):
        _fit(
            mnist_small,
            mesh,
            tmp_path / "no",
            3,
            train_step=guarded,
            loop_kw={"max_skipped_steps": 1},
        )
