"""The loop's hooks, each on a tiny MNIST run: what it does, and that resume stays exact."""

import json
import os
import signal

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import tiny_runs
from tiny_runs import B, fit, quiet_hooks, setup

from jaxdl.training import checkpoint, guards, hooks, loop, parallel, restarts
from jaxdl.training.console import Console, ProgressBar
from jaxdl.training.early_stopping import EarlyStop, EarlyStopping, RestartFromBest
from jaxdl.training.writers import read_jsonl
from jaxdl.viz.hooks import Curves


@pytest.fixture(scope="module")
def mnist_small():
    return tiny_runs.mnist_small()


@pytest.fixture(scope="module")
def mesh():
    return parallel.make_mesh()


@pytest.fixture(scope="module", autouse=True)
def _forget_setups():
    yield
    tiny_runs.forget()


def _leaves(state):
    return [np.asarray(x) for x in jax.tree.leaves(state.params)]


def _impossible_to_improve(patience):
    # min_delta = 1 on accuracy: no evaluation after the first can count as better.
    return EarlyStop(
        EarlyStopping(monitor="val_accuracy", mode="max", patience=patience, min_delta=1.0)
    )


def test_nonfinite_stops_and_keeps_the_last_good_checkpoint(mnist_small, mesh, tmp_path):
    _, ts, _, _ = setup(mnist_small, mesh)

    def poisoned(state, batch):  # loss becomes NaN from step 13 on (epoch 2)
        new_state, metrics = ts(state, batch)
        bad = state.step >= 12
        metrics["loss"] = jnp.where(bad, jnp.nan, metrics["loss"])
        params = jax.tree.map(lambda p: jnp.where(bad, jnp.nan, p), new_state.params)
        return new_state.replace(params=params), metrics

    expected = r"at step 13\. The last good checkpoint is step 10"
    with pytest.raises(loop.DivergenceError, match=expected):
        fit(mnist_small, mesh, tmp_path, epochs=3, train_step=poisoned)
    state, _, _, _ = setup(mnist_small, mesh)
    restored, meta = checkpoint.Checkpointer(tmp_path / "checkpoints").restore_latest(state)
    assert int(restored.step) == 10
    chex.assert_tree_all_finite(restored.params)
    assert len(meta["history"]) == 1
    # The writers ran before the guard: the NaN window is in metrics.jsonl.
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert rows[-1]["step"] == 16 and rows[-1]["train_loss"] == "nan"


def test_nonfinite_counts_skipped_steps_and_bounds_them(mnist_small, mesh, tmp_path):
    _, ts, _, _ = setup(mnist_small, mesh)

    def poisoned(state, batch):  # gradients blow up at steps 13 and 14 only
        new_state, metrics = ts(state, batch)
        bad = (state.step == 12) | (state.step == 13)
        metrics["grad_norm"] = jnp.where(bad, jnp.inf, metrics["grad_norm"])
        params = jax.tree.map(lambda p: jnp.where(bad, jnp.nan, p), new_state.params)
        return new_state.replace(params=params), metrics

    guarded = guards.skip_nonfinite(poisoned)
    ok = fit(mnist_small, mesh, tmp_path / "ok", 3, train_step=guarded, hooks=quiet_hooks(2))
    assert ok.finished
    chex.assert_tree_all_finite(ok.state.params)
    rows = read_jsonl(tmp_path / "ok" / "metrics.jsonl")
    assert sum(r.get("train_skipped_steps", 0) for r in rows) == 2
    with pytest.raises(loop.DivergenceError, match="2 updates were skipped"):
        fit(mnist_small, mesh, tmp_path / "no", 3, train_step=guarded, hooks=quiet_hooks(1))


def test_early_stop_keeps_the_best_weights_and_stays_stopped(mnist_small, mesh, tmp_path):
    state, _, es, splits = setup(mnist_small, mesh)

    def run():
        final = hooks.FinalEvaluation({"test": splits["val"]}, from_best=True)
        return fit(mnist_small, mesh, tmp_path, epochs=5,
                   hooks=[*quiet_hooks(), _impossible_to_improve(1), final])  # fmt: skip

    result = run()
    assert result.finished and len(result.history) == 2  # best at epoch 1, stop at epoch 2
    assert "did not improve" in result.stop_reason
    assert int(result.state.step) == 20 and result.final_metrics["best_step"] == 10
    # The final test metrics are those of the best (epoch-1) weights.
    best, _ = checkpoint.Checkpointer(tmp_path / "checkpoints").restore(state, 10)
    expected = loop.evaluate(best, es, splits["val"], B, mesh, "test")
    assert result.final_metrics["test_accuracy"] == expected["test_accuracy"]
    for a, b in zip(_leaves(best), _leaves(result.best_state)):
        np.testing.assert_array_equal(a, b)
    again = run()  # rerun: nothing to do
    assert int(again.state.step) == 20 and len(again.history) == 2


def test_early_stop_must_monitor_the_ranking_metric(mnist_small, mesh):
    rule = EarlyStopping(monitor="val_loss", mode="min", patience=2)
    with pytest.raises(ValueError, match="set best_metric and best_mode"):
        fit(mnist_small, mesh, None, epochs=1, hooks=[EarlyStop(rule)])


def test_restart_from_best_restores_weights_and_optimizer_and_decays_rate(
    mnist_small, mesh, tmp_path
):
    stop = _impossible_to_improve(2)
    restart = RestartFromBest(stop, patience=1, max_restarts=1, decay=0.25)
    tx = restarts.with_restarts(optax.sgd(0.1, momentum=0.9))
    result = fit(
        mnist_small, mesh, tmp_path, epochs=6, tx=tx, hooks=[*quiet_hooks(), restart, stop]
    )  # fmt: skip (order comes from .order)
    # eval 1 best; eval 2 plateau -> restart from step 10; eval 3, 4 plateau -> stop.
    assert [r.get("restart_from_step") for r in result.history] == [None, 10, None, None]
    assert int(result.state.step) == 40
    state, _, _, _ = setup(mnist_small, mesh, tx=tx)
    ckpt = checkpoint.Checkpointer(tmp_path / "checkpoints")
    at_best, _ = ckpt.restore(state, 10)
    after_restart, meta = ckpt.restore(state, 20)
    for a, b in zip(_leaves(at_best), _leaves(after_restart)):
        np.testing.assert_array_equal(a, b)
    chex.assert_trees_all_equal(at_best.opt_state.inner, after_restart.opt_state.inner)
    assert float(after_restart.opt_state.scale) == 0.25
    assert meta["hooks"]["RestartFromBest"] == {"restarts": 1}
    assert int(after_restart.step) == 20  # the step (and data order) keeps going forward


def test_restart_needs_its_early_stop_hook(mnist_small, mesh):
    restart = RestartFromBest(_impossible_to_improve(2), patience=1, max_restarts=1, decay=0.5)
    with pytest.raises(ValueError, match="needs its EarlyStop hook"):
        fit(mnist_small, mesh, None, epochs=1, hooks=[restart])


def test_resume_is_bit_identical_with_hooks_that_carry_state(mnist_small, mesh, tmp_path):
    _, ts, _, _ = setup(mnist_small, mesh)

    def sometimes_bad(state, batch):  # steps 3 and 17 blow up and are skipped
        new_state, metrics = ts(state, batch)
        bad = (state.step == 2) | (state.step == 16)
        metrics["loss"] = jnp.where(bad, jnp.inf, metrics["loss"])
        return new_state, metrics

    guarded = guards.skip_nonfinite(sometimes_bad)

    def hooks_():
        es = EarlyStop(EarlyStopping(monitor="val_accuracy", mode="max", patience=10))
        return [*quiet_hooks(max_skipped_steps=5), es]

    straight = fit(mnist_small, mesh, tmp_path / "a", 4, train_step=guarded, hooks=hooks_())
    paused = fit(mnist_small, mesh, tmp_path / "b", 4, max_steps=15, train_step=guarded,
                 hooks=hooks_())  # fmt: skip
    assert not paused.finished
    resumed_hooks = hooks_()
    resumed = fit(mnist_small, mesh, tmp_path / "b", 4, train_step=guarded, hooks=resumed_hooks)
    for a, b in zip(_leaves(straight.state), _leaves(resumed.state)):
        np.testing.assert_array_equal(a, b)
    assert straight.history == resumed.history
    assert resumed_hooks[0].skipped == 2  # the step-3 skip came back from the checkpoint
    assert resumed_hooks[-1].state.best_step == straight.history[-1]["best_step"]
    # The evaluation rows of both metrics.jsonl files agree (a pause flushes a shorter
    # train window at step 15, so the train rows' windows differ there).
    evals = [[r for r in read_jsonl(tmp_path / d / "metrics.jsonl") if "epoch" in r] for d in "ab"]
    assert len(evals[0]) == 4 and evals[0] == evals[1]


def test_console_prints_one_line_per_evaluation(mnist_small, mesh, capsys):
    _, _, _, splits = setup(mnist_small, mesh)
    final = hooks.FinalEvaluation({"test": splits["val"]})
    fit(mnist_small, mesh, None, epochs=2, hooks=[Console(), ProgressBar(), final])
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert len(lines) == 3, out
    for epoch, line in enumerate(lines[:2], start=1):
        assert line.startswith(f"epoch {epoch}/2 | step {10 * epoch} | train loss ")
        assert " accuracy " in line and " | val loss " in line and "img/s" in line
        assert line.endswith(" s")
    assert lines[2].startswith("final (step 20): ") and " test_loss " in lines[2]
    assert err == ""  # stderr is not a terminal here: no progress bar


def test_progress_bar_when_asked(mnist_small, mesh, capsys):
    fit(mnist_small, mesh, None, epochs=1, hooks=[ProgressBar(enabled=True)])
    assert "10/10" in capsys.readouterr().err


def test_learning_rate_is_logged_with_the_metrics(mnist_small, mesh, tmp_path):
    schedule = optax.exponential_decay(0.1, transition_steps=1, decay_rate=0.9)
    tx = optax.sgd(schedule)
    fit(mnist_small, mesh, tmp_path, epochs=2, tx=tx,
        hooks=[*quiet_hooks(), hooks.LearningRate(schedule)])  # fmt: skip
    rows = [r for r in read_jsonl(tmp_path / "metrics.jsonl") if "train_loss" in r]
    assert [r["step"] for r in rows] == [4, 8, 10, 12, 16, 20]
    for r in rows:  # the rate of the last update of the window, in float64
        assert r["learning_rate"] == pytest.approx(0.1 * 0.9 ** (r["step"] - 1), rel=1e-6)


def test_learning_rate_of_injected_hyperparameters_and_restarts(mnist_small, mesh, tmp_path):
    tx = restarts.with_restarts(optax.inject_hyperparams(optax.sgd)(learning_rate=0.05))
    fit(mnist_small, mesh, tmp_path, epochs=1, tx=tx, hooks=[*quiet_hooks(), hooks.LearningRate()])
    rows = [r for r in read_jsonl(tmp_path / "metrics.jsonl") if "train_loss" in r]
    assert rows and all(r["learning_rate"] == pytest.approx(0.05) for r in rows)


def test_curves_and_phase_marks(mnist_small, mesh, tmp_path):
    marks = tmp_path / "phase.txt"
    fit(mnist_small, mesh, None, epochs=1,
        hooks=[Curves(tmp_path / "c.png"), hooks.PhaseMarks(marks)])  # fmt: skip
    assert (tmp_path / "c.png").stat().st_size > 1000
    assert marks.read_text() == "final 10\n"


class _HalveRateAndCountOnEval(hooks.Hook):
    """A user's hook: a custom metric at each evaluation, and a run-time rate change."""

    def __init__(self):
        self.evals = 0

    def on_eval(self, run, record):
        self.evals += 1
        record["val_error"] = 1.0 - record["val_accuracy"]
        opt_state = run.state.opt_state
        lr = opt_state.hyperparams["learning_rate"]
        opt_state.hyperparams["learning_rate"] = lr * 0.5
        run.state = run.state.replace(opt_state=opt_state)

    def state_dict(self):
        return {"evals": self.evals}

    def load_state_dict(self, state):
        self.evals = state["evals"]


def test_a_user_hook_adds_a_metric_and_changes_a_hyperparameter(mnist_small, mesh, tmp_path):
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    mine = _HalveRateAndCountOnEval()
    result = fit(mnist_small, mesh, tmp_path, epochs=3, tx=tx,
                 hooks=[*quiet_hooks(), hooks.LearningRate(), mine])  # fmt: skip
    assert [r["val_error"] for r in result.history] == [
        pytest.approx(1.0 - r["val_accuracy"]) for r in result.history]  # fmt: skip
    rates = {r["step"]: r["learning_rate"] for r in read_jsonl(tmp_path / "metrics.jsonl")
             if "learning_rate" in r}  # fmt: skip
    # The rate applied in epoch e is 0.1 / 2^(e - 1): the change takes effect at once.
    assert rates[8] == pytest.approx(0.1) and rates[16] == pytest.approx(0.05)
    assert rates[24] == pytest.approx(0.025)
    meta = checkpoint.Checkpointer(tmp_path / "checkpoints").restore_raw(30)[1]
    assert meta["hooks"]["_HalveRateAndCountOnEval"] == {"evals": 3}


def test_stateful_hooks_need_distinct_names(mnist_small, mesh):
    with pytest.raises(ValueError, match="distinct names"):
        fit(mnist_small, mesh, None, epochs=1, hooks=[hooks.NonFinite(), hooks.NonFinite()])


def test_writers_need_a_workdir_or_a_path(mnist_small, mesh):
    from jaxdl.training.writers import MetricsFile

    with pytest.raises(ValueError, match="MetricsFile writes into the run's workdir"):
        fit(mnist_small, mesh, None, epochs=1, hooks=[MetricsFile()])


def test_metrics_file_in_memory_with_a_path(mnist_small, mesh, tmp_path):
    from jaxdl.training.writers import MetricsFile

    fit(mnist_small, mesh, None, epochs=1, hooks=[MetricsFile(tmp_path / "m.jsonl")])
    rows = read_jsonl(tmp_path / "m.jsonl")
    assert [r["step"] for r in rows] == [4, 8, 10, 10] and json.dumps(rows)


class _SignalAt(hooks.Hook):
    """Sends ``signum`` to this process at the first log at or after ``step`` (the
    handler runs at once: the step just done is the one saved)."""

    def __init__(self, step, signum):
        self.step, self.signum, self.sent = step, signum, False

    def on_log(self, run, logs):
        if run.step >= self.step and not self.sent:
            self.sent = True
            os.kill(os.getpid(), self.signum)


@pytest.fixture(scope="module")
def straight(mnist_small, mesh, tmp_path_factory):
    """The uninterrupted 2-epoch run both signals' resumed runs are compared with."""
    return fit(mnist_small, mesh, tmp_path_factory.mktemp("straight"), epochs=2)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_a_signal_saves_at_the_current_step_and_the_rerun_resumes_exactly(
    mnist_small, mesh, tmp_path, signum, straight
):
    before = signal.getsignal(signum)
    hooks_ = [*quiet_hooks(), hooks.StopOnSignal(), _SignalAt(4, signum)]
    with pytest.raises(hooks.TrainingInterruptedError, match=r"training stopped at step 4\. "
                       r"The saved checkpoint is step 4") as info:  # fmt: skip
        fit(mnist_small, mesh, tmp_path / "cut", epochs=2, hooks=hooks_)
    assert info.value.exit_code == 128 + signum and info.value.step == 4
    assert signal.getsignal(signum) is before  # the previous handler is back
    assert checkpoint.Checkpointer(tmp_path / "cut" / "checkpoints").all_steps() == [4]
    resumed = fit(mnist_small, mesh, tmp_path / "cut", epochs=2)
    for a, b in zip(_leaves(straight.state), _leaves(resumed.state)):
        np.testing.assert_array_equal(a, b)
    assert straight.history == resumed.history


def test_training_health_says_when_a_finished_run_did_not_train(mnist_small, mesh, capsys):
    ok = fit(mnist_small, mesh, None, epochs=1, hooks=[hooks.TrainingHealth()])
    assert ok.finished and ok.warnings == []
    frozen = fit(mnist_small, mesh, None, epochs=1, tx=optax.sgd(0.0),
                 hooks=[hooks.TrainingHealth(), Console()])  # fmt: skip
    assert frozen.finished and len(frozen.warnings) == 1
    assert frozen.warnings[0].startswith("the run did not train: its training loss went from")
    assert "warning: the run did not train" in capsys.readouterr().out
