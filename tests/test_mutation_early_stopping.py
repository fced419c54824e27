"""Tests that kill mutants of jaxdl.training.early_stopping which the other tests let survive.

Found by ``python -m mutation.run --modules early_stopping`` (docs/testing.md). The run is
a stand-in holding only what the hooks touch; the expected values are written by hand.
"""

import re
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl.training.early_stopping import EarlyStop, EarlyStopping, RestartFromBest
from jaxdl.training.restarts import with_restarts
from jaxdl.training.state import TrainState


def _state(w: float) -> TrainState:
    tx = with_restarts(optax.sgd(0.1))
    params = {"w": jnp.full((2,), w)}
    return TrainState(
        step=jnp.int32(0), params=params, model_state={}, opt_state=tx.init(params),
        rng=jax.random.key(0), apply_fn=None, tx=tx,
    )  # fmt: skip


def _run(hooks, step: int, state: TrainState, saved: dict[int, TrainState]):
    restored = []

    def restore(s):
        restored.append(s)
        return saved[s]

    return SimpleNamespace(
        hooks=hooks, step=step, state=state, restore=restore, restored=restored,
        scores={"val_loss": 1.0}, stop=False, stop_reason="",
        options=SimpleNamespace(best_metric="val_loss", best_mode="min"),
    )  # fmt: skip


def _hooks(patience=1, restart_patience=1, max_restarts=3, decay=0.5):
    stop = EarlyStop(EarlyStopping(monitor="val_loss", mode="min", patience=patience))
    return stop, RestartFromBest(stop, restart_patience, max_restarts, decay)


@pytest.mark.parametrize("patience, max_restarts", [(0, 1), (1, -1), (0, -1)])
def test_restart_rejects_patience_below_1_or_negative_max_restarts(patience, max_restarts):
    stop, _ = _hooks()
    msg = f"restart patience must be >= 1 and max_restarts >= 0, got {patience}, {max_restarts}."
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        RestartFromBest(stop, patience, max_restarts, 0.5)


def test_restart_accepts_zero_max_restarts_and_then_never_restarts():
    stop, restart = _hooks(max_restarts=0)
    run = _run([stop, restart], 5, _state(2.0), {})
    stop.state = stop.state._replace(best_value=0.1, best_step=1, num_bad=4)
    restart.on_eval(run, {})
    assert restart.restarts == 0 and run.restored == []


def test_restart_needs_its_early_stop_hook():
    stop, restart = _hooks()
    msg = "RestartFromBest needs its EarlyStop hook among the run's hooks."
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        restart.on_start(_run([restart], 0, _state(0.0), {}))


def test_restarts_go_back_to_the_best_step_count_up_and_clear_the_stop():
    stop, restart = _hooks(patience=1, restart_patience=2, max_restarts=3, decay=0.5)
    best = _state(1.0)
    run = _run([stop, restart], 0, _state(5.0), {3: best})
    for step, loss in [(3, 0.5), (4, 0.9), (5, 0.8)]:  # best at 3, then two bad ones
        run.step = step
        record = {"val_loss": loss}
        stop.on_eval(run, record)
        restart.on_eval(run, record)
    assert run.restored == [3] and record["restart_from_step"] == 3
    assert (run.stop, run.stop_reason, run.scores) == (False, "", None)
    np.testing.assert_array_equal(np.asarray(run.state.params["w"]), [1.0, 1.0])
    assert float(run.state.opt_state.scale) == 0.5 and int(run.state.opt_state.restarts) == 1
    for step, loss in [(6, 0.9), (7, 0.9)]:  # two more bad ones: the second restart
        run.step = step
        stop.on_eval(run, {"val_loss": loss})
        restart.on_eval(run, {"val_loss": loss})
    assert restart.restarts == 2 and run.restored == [3, 3]
    assert float(run.state.opt_state.scale) == 0.25


def test_restart_count_round_trips_through_the_state_dict():
    stop, restart = _hooks()
    restart.load_state_dict({"restarts": 2})
    assert restart.restarts == 2 and restart.state_dict() == {"restarts": 2}


@pytest.mark.parametrize("decay", [0.0, -0.5, 1.5, 2.0])
def test_restart_decay_must_be_in_0_1(decay):
    stop, _ = _hooks()
    msg = f"restart decay must be in (0, 1], got {decay}."
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        RestartFromBest(stop, 1, 1, decay)


def test_restart_decay_1_is_allowed():
    stop, _ = _hooks()
    assert RestartFromBest(stop, 1, 1, 1.0).decay == 1.0


@pytest.mark.parametrize(
    "kwargs, error, msg",
    [
        ({"monitor": ""}, TypeError, "monitor must be a non-empty metric name, got ''."),
        ({"mode": "lowest"}, ValueError, "mode must be 'max' or 'min', got 'lowest'."),
        ({"patience": -1}, ValueError, "patience must be an int >= 0, got -1."),
        ({"min_delta": -0.1}, ValueError, "min_delta must be a finite number >= 0, got -0.1."),
    ],
)
def test_rule_validation_messages(kwargs, error, msg):
    with pytest.raises(error, match=f"^{re.escape(msg)}$"):
        EarlyStopping(**kwargs).init()


def test_max_mode_needs_more_than_min_delta_to_improve():
    rule = EarlyStopping(monitor="val_accuracy", mode="max", patience=3, min_delta=0.25)
    assert not rule.improves(0.75, 0.5)  # exactly best + min_delta: not an improvement
    assert rule.improves(0.8, 0.5)
    assert not EarlyStopping(mode="max").improves(0.5, 0.5)  # a tie never improves
