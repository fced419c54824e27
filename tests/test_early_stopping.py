"""Early stopping: decisions on hand-computed sequences, JSON round trip, errors."""

import json
import math

import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.training.early_stopping import EarlyStopping, EarlyStoppingState


def _run(rule, values, state=None, first_step=0):
    state = rule.init() if state is None else state
    decisions = []
    for i, value in enumerate(values):
        state, is_best, stop = rule.update(
            state, {rule.monitor: value, "other": 0.0}, first_step + i
        )
        decisions.append((is_best, stop))
    return state, decisions


def test_min_mode_patience():
    rule = EarlyStopping(monitor="val_loss", mode="min", patience=2)
    state, decisions = _run(rule, [1.0, 0.8, 0.9, 0.7, 0.75, 0.71, 0.72])
    assert [d[0] for d in decisions] == [True, True, False, True, False, False, False]
    assert [d[1] for d in decisions] == [False, False, False, False, False, True, True]
    assert state == EarlyStoppingState(best_value=0.7, best_step=3, num_bad=3)


def test_max_mode_and_min_delta():
    rule = EarlyStopping(monitor="val_acc", mode="max", patience=1, min_delta=0.01)
    # 0.905 is not better than 0.9 by more than 0.01; 0.92 is.
    state, decisions = _run(rule, [0.9, 0.905, 0.92, 0.925])
    assert decisions == [(True, False), (False, True), (True, False), (False, True)]
    assert state.best_value == pytest.approx(0.92) and state.best_step == 2


def test_min_delta_boundary_and_patience_zero():
    rule = EarlyStopping(mode="min", patience=0, min_delta=0.1)
    _, decisions = _run(rule, [1.0, 0.9, 0.85])  # 0.9 is exactly best - min_delta
    assert decisions == [(True, False), (False, True), (True, False)]


def test_nan_never_improves():
    rule = EarlyStopping(patience=2)
    state, decisions = _run(rule, [math.nan, 1.0, math.nan, math.nan])
    assert decisions == [(False, False), (True, False), (False, False), (False, True)]
    assert state.best_value == 1.0


def test_accepts_device_scalars_and_bare_values():
    rule = EarlyStopping(patience=3)
    state, is_best, _ = rule.update(rule.init(), {"val_loss": jnp.float32(0.5)}, 10)
    state, is_best2, _ = rule.update(state, np.float64(0.4), 20)
    assert is_best and is_best2 and state.best_step == 20
    assert isinstance(state.best_value, float)


def test_json_round_trip_resumes_identically():
    rule = EarlyStopping(patience=3, min_delta=0.01)
    values = [1.0, 0.9, 0.95, 0.92, 0.5, 0.6, 0.7, 0.8]
    full_state, full = _run(rule, values)
    mid_state, first = _run(rule, values[:3])
    restored = EarlyStoppingState.from_dict(json.loads(json.dumps(mid_state.to_dict())))
    assert restored == mid_state
    end_state, rest = _run(rule, values[3:], restored, first_step=3)
    assert first + rest == full and end_state == full_state
    fresh = EarlyStoppingState.from_dict(json.loads(json.dumps(rule.init().to_dict())))
    assert fresh == EarlyStoppingState(None, -1, 0)


@pytest.mark.parametrize(
    "rule, err",
    [
        (EarlyStopping(mode="minimum"), ValueError),
        (EarlyStopping(patience=-1), ValueError),
        (EarlyStopping(patience=1.5), ValueError),
        (EarlyStopping(min_delta=-0.1), ValueError),
        (EarlyStopping(monitor=""), TypeError),
    ],
)
def test_bad_configuration(rule, err):
    with pytest.raises(err):
        rule.init()


def test_missing_monitor_and_bad_dict():
    rule = EarlyStopping(monitor="val_error")
    with pytest.raises(KeyError, match="val_loss"):
        rule.update(rule.init(), {"val_loss": 0.1}, 0)
    with pytest.raises(ValueError, match="keys"):
        EarlyStoppingState.from_dict({"best_value": 1.0})
