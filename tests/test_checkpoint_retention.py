"""Which checkpoints are kept: the last ``max_to_keep`` plus the best by a metric.

More ranked checkpoints are saved than ``max_to_keep``, in both ranking directions, and
after every save the steps on disk are compared with a hand-computed set: the most
recent ``max_to_keep`` steps and the best-ranked step so far. The best step's restored
state is the one saved at that step. ``MemoryStore`` (in-memory runs) keeps the best
state only, in both directions.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl.training import checkpoint
from jaxdl.training.state import TrainState
from jaxdl.training.store import MemoryStore

MAX_TO_KEEP = 2
STEPS = [10, 20, 30, 40, 50, 60]
# (best_mode, metric values at STEPS, best step): the best is never among the last two
# steps, and the worst value is the last one, so ranking in the wrong direction keeps
# a different set of steps.
CASES = [
    ("max", [0.3, 0.9, 0.5, 0.2, 0.4, 0.1], 20),
    ("min", [0.5, 0.7, 0.1, 0.6, 0.8, 0.9], 30),
]


def _state(step: int) -> TrainState:
    """A tiny train state whose every leaf depends on ``step``."""
    params = {"w": jnp.full((2, 3), float(step)), "b": jnp.arange(3.0) + step}
    tx = optax.sgd(0.1, momentum=0.9)
    return TrainState(
        step=jnp.asarray(step, jnp.int32),
        params=params,
        model_state={},
        opt_state=tx.init(params),
        rng=jax.random.PRNGKey(step),
        apply_fn=None,
        tx=tx,
    )


def _expected_kept(steps, values, mode):
    """Hand reference: the last MAX_TO_KEEP steps and the best-so-far step (ties: first)."""
    pick = max if mode == "max" else min
    best = steps[values.index(pick(values))]
    return sorted(set(steps[-MAX_TO_KEEP:]) | {best}), best


def _assert_state_equal(got: TrainState, want: TrainState):
    assert int(got.step) == int(want.step)
    for a, b in zip(jax.tree.leaves(got.params), jax.tree.leaves(want.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(jax.tree.leaves(got.opt_state), jax.tree.leaves(want.opt_state), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(got.rng), np.asarray(want.rng))


@pytest.mark.parametrize("mode, values, best", CASES)
def test_checkpointer_keeps_the_latest_two_and_the_best_in_both_directions(
    tmp_path, mode, values, best
):
    ckpt = checkpoint.Checkpointer(
        tmp_path / "ckpt",
        max_to_keep=MAX_TO_KEEP,
        best_metric="val",
        best_mode=mode,
        async_save=False,
    )
    try:
        for i, (step, value) in enumerate(zip(STEPS, values)):
            ckpt.save(step, _state(step), {"i": i}, metrics={"val": value})
            want_steps, want_best = _expected_kept(STEPS[: i + 1], values[: i + 1], mode)
            assert ckpt.all_steps() == want_steps, f"after saving step {step}"
            assert ckpt.best_step() == want_best, f"after saving step {step}"
        assert ckpt.best_step() == best and ckpt.latest_step() == STEPS[-1]
        assert ckpt.all_steps() == sorted({best, *STEPS[-MAX_TO_KEEP:]})
        restored, meta = ckpt.restore(_state(0), best)
        _assert_state_equal(restored, _state(best))
        assert meta["i"] == STEPS.index(best)
        latest, meta = ckpt.restore_latest(_state(0))
        _assert_state_equal(latest, _state(STEPS[-1]))
    finally:
        ckpt.close()


def test_checkpointer_without_metrics_keeps_only_the_most_recent(tmp_path):
    ckpt = checkpoint.Checkpointer(
        tmp_path / "ckpt", max_to_keep=MAX_TO_KEEP, best_metric="val", async_save=False
    )
    try:
        ckpt.save(10, _state(10), {}, metrics={"val": 0.9})  # the best, ranked
        for step in (20, 30, 40):  # unranked: kept only while among the last two
            ckpt.save(step, _state(step), {})
        assert ckpt.all_steps() == [10, 30, 40]
    finally:
        ckpt.close()


@pytest.mark.parametrize("mode, values, best", CASES)
def test_memory_store_keeps_the_best_state_in_both_directions(mode, values, best):
    store = MemoryStore(best_metric="val", best_mode=mode)
    for i, (step, value) in enumerate(zip(STEPS, values)):
        store.save(step, _state(step), {"i": i}, {"val": value})
        assert store.best_step() == _expected_kept(STEPS[: i + 1], values[: i + 1], mode)[1]
        assert store.latest_step() == step
    assert store.best_step() == best
    restored, meta = store.restore(None, best)
    _assert_state_equal(restored, _state(best))
    assert meta == {"i": STEPS.index(best)}
    with pytest.raises(checkpoint.CheckpointError, match="only its best"):
        store.restore(None, STEPS[-1])


@pytest.mark.parametrize("mode", ["max", "min"])
def test_memory_store_ties_keep_the_first_and_the_copy_is_private(mode):
    store = MemoryStore(best_metric="val", best_mode=mode)
    w = np.zeros(3)
    store.save(1, {"w": w}, {}, {"val": 0.5})
    w += 7.0  # the caller's buffer changes after the save
    store.save(2, {"w": w}, {}, {"val": 0.5})  # a tie is not an improvement
    assert store.best_step() == 1
    np.testing.assert_array_equal(store.restore(None, 1)[0]["w"], np.zeros(3))
