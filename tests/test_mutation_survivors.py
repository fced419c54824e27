"""Mutants that survived the suite, killed where a run meets them: in ``loop.fit``.

The unit tests of each piece live beside it (``test_top5_accuracy``,
``test_checkpoint_retention``, ``test_restarts_compound``, ``test_random_crop_offsets``,
``test_fid_reference``). The tests here run the real loop with its real hooks on a toy
problem whose every number is known by hand: the train step is one plain-SGD step on the
gradient ``1`` (so the weights after ``s`` steps at rate ``r`` are ``w0 - r * s``), and
the validation "score" is read from a hand table indexed by the state's step, so the
best evaluation is chosen by the test. The references are those hand tables, never the
code under test.

Killed mutants (checked by hand on a scratch copy, see the docstrings):
- checkpoint ranking in the wrong direction (Orbax's ``BestN(reverse=...)``, the
  manager's ``best_mode``, ``MemoryStore``'s comparison), as ``final_from_best`` sees it;
- a restart compounding the decay from the best checkpoint's scale instead of the
  current one, in ``restart_from`` or in the ``RestartFromBest`` hook (which the unit
  test of ``restart_from`` cannot see), and a logged learning rate without the restart
  multiplier (``LearningRate``).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl.training import hooks, loop, restarts
from jaxdl.training.checkpoint import Checkpointer
from jaxdl.training.early_stopping import EarlyStop, EarlyStopping, RestartFromBest
from jaxdl.training.metrics import Average
from jaxdl.training.run import Hook, LoopOptions
from jaxdl.training.state import TrainState
from jaxdl.training.store import CheckpointOptions

N, B = 16, 8  # 2 steps per epoch
SPE = N // B
W0 = np.array([1.0, -2.0, 3.0])
LR = 0.1


def _state(tx) -> TrainState:
    params = {"w": jnp.asarray(W0, jnp.float32)}
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        model_state={},
        opt_state=tx.init(params),
        rng=jax.random.PRNGKey(0),
        apply_fn=None,
        tx=tx,
    )


def _train_step(state, batch):
    """One optimizer step on the gradient 1 (whatever the batch)."""
    grads = jax.tree.map(jnp.ones_like, state.params)
    updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    new = state.replace(
        step=state.step + 1, params=optax.apply_updates(state.params, updates), opt_state=opt_state
    )
    return new, {"loss": jnp.mean(batch["x"]) + jnp.sum(new.params["w"])}


def _eval_step_of(scores_by_step):
    """Eval step: ``score`` from the hand table at the state's step, ``w0`` its weight 0."""
    table = jnp.asarray(scores_by_step, jnp.float32)

    def eval_step(state, batch):
        ones = jnp.ones(batch["x"].shape[0], jnp.float32)
        return {
            "score": Average.from_model_output(table[state.step] * ones, mask=batch["mask"]),
            "w0": Average.from_model_output(state.params["w"][0] * ones, mask=batch["mask"]),
        }

    return eval_step


def _fit(tx, scores_by_step, epochs, mode, hook_list, workdir=None, max_to_keep=3):
    data = {"x": np.zeros((N, 1), np.float32)}
    return loop.fit(
        state=_state(tx),
        train_step=_train_step,
        eval_step=_eval_step_of(scores_by_step),
        train=data,
        evals={"val": data},
        options=LoopOptions(
            batch_size=B,
            num_epochs=epochs,
            log_every_steps=1,
            best_metric="val_score",
            best_mode=mode,
        ),
        hooks=hook_list,
        workdir=workdir,
        checkpoints=CheckpointOptions(max_to_keep=max_to_keep, async_save=False),
    )


# (best_mode, validation score after each of 6 epochs, best step): the best is never
# among the last two evaluations and the last is the worst, so ranking in the wrong
# direction keeps (and evaluates) another step.
RANKED = [
    ("max", [0.3, 0.9, 0.5, 0.2, 0.4, 0.1], 4),
    ("min", [0.5, 0.7, 0.1, 0.6, 0.8, 0.9], 6),
]


@pytest.mark.parametrize("on_disk", [True, False], ids=["checkpointer", "memory"])
@pytest.mark.parametrize("mode, scores, best", RANKED)
def test_final_from_best_with_more_ranked_saves_than_max_to_keep(
    tmp_path, mode, scores, best, on_disk
):
    """Kills: best-checkpoint ranking in the wrong direction (retention or best step).

    Six ranked evaluations with ``max_to_keep=2``, in both modes, on disk (Orbax) and in
    memory (``MemoryStore``). Mutants checked: ``BestN(reverse=best_mode == "max")``,
    the manager's ``best_mode`` swapped, ``MemoryStore``'s ``>``/``<`` swapped.
    """
    by_step = np.zeros(SPE * len(scores) + 1)
    by_step[SPE::SPE] = scores  # the evaluation after epoch e runs at step 2 e
    final = hooks.FinalEvaluation({"test": {"x": np.zeros((N, 1), np.float32)}}, from_best=True)
    workdir = tmp_path / "run" if on_disk else None
    result = _fit(optax.sgd(LR), by_step, len(scores), mode, [final], workdir, max_to_keep=2)
    last = SPE * len(scores)
    assert result.finished and int(result.state.step) == last
    # The final evaluation is that of the best weights: w0 - LR * best (hand values).
    assert result.final_metrics["best_step"] == best
    assert result.final_metrics["test_score"] == pytest.approx(by_step[best], rel=1e-6)
    assert result.final_metrics["test_w0"] == pytest.approx(W0[0] - LR * best, rel=1e-6)
    np.testing.assert_allclose(result.best_state.params["w"], W0 - LR * best, rtol=1e-6)
    assert int(result.best_state.step) == best
    if on_disk:  # kept: the last two steps and the best one
        ckpt = Checkpointer(workdir / "checkpoints", max_to_keep=2, best_metric="val_score")
        try:
            assert ckpt.all_steps() == sorted({best, last - SPE, last})
        finally:
            ckpt.close()


class _Recorder(Hook):
    """Runs after every other hook: what the loop logged and the state after each eval."""

    order = 100

    def __init__(self):
        self.rates, self.evals = {}, []

    def on_log(self, run, logs):
        self.rates[run.step] = logs["learning_rate"]

    def on_eval(self, run, record):
        opt = run.state.opt_state
        w = np.asarray(run.state.params["w"], np.float64)
        self.evals.append(
            (run.step, float(opt.scale), int(opt.restarts), record.get("restart_from_step"), w)
        )


def test_restarts_through_the_hooks_compound_from_the_current_scale():
    """Kills: a restart whose decay compounds from the best checkpoint's scale.

    Mutants checked: ``restart_from`` giving ``best.opt_state.scale * decay``;
    ``RestartFromBest`` handing ``restart_from`` the best state's optimizer state as the
    current one; ``LearningRate`` logging the rate without ``rate_scale``. Three
    restarts; the second and third go back to a best saved at scale 0.5 after the first
    restart, while the current scale is 0.5 and then 0.25: the hand table gives 0.25 and
    0.125, the mutant 0.25 and 0.25.
    """
    # Validation score after epochs 1..6 (steps 2, 4, ..., 12); max mode.
    scores = [0.5, 0.4, 0.8, 0.6, 0.7, 0.65]
    by_step = np.zeros(13)
    by_step[2::2] = scores
    stop = EarlyStop(EarlyStopping(monitor="val_score", mode="max", patience=10))
    restart = RestartFromBest(stop, patience=1, max_restarts=3, decay=0.5)
    recorder = _Recorder()
    rate = hooks.LearningRate(optax.constant_schedule(LR))
    tx = restarts.with_restarts(optax.sgd(LR))
    result = _fit(tx, by_step, 6, "max", [stop, restart, rate, recorder])
    assert result.finished and int(result.state.step) == 12
    # Hand table, eval by eval: (step, scale, restarts, restarted from, w - w0).
    #  2: first eval, the best (scale 1, two steps of LR)
    #  4: worse -> restart 1 from step 2: scale 1 * 0.5, weights of step 2
    #  6: new best, two steps at 0.5 from w0 - 0.2 (saved at scale 0.5)
    #  8: worse -> restart 2 from step 6: scale 0.5 (current) * 0.5
    # 10: worse -> restart 3 from step 6: scale 0.25 (current) * 0.5; best's is 0.5
    # 12: worse, no restart left: two steps at 0.125 from w0 - 0.3
    want = [
        (2, 1.0, 0, None, -0.2),
        (4, 0.5, 1, 2, -0.2),
        (6, 0.5, 1, None, -0.3),
        (8, 0.25, 2, 6, -0.3),
        (10, 0.125, 3, 6, -0.3),
        (12, 0.125, 3, None, -0.325),
    ]
    assert len(recorder.evals) == len(want)
    for got, (step, scale, count, source, shift) in zip(recorder.evals, want, strict=True):
        assert got[:4] == (step, pytest.approx(scale, rel=1e-7), count, source), got[:4]
        np.testing.assert_allclose(got[4], W0 + shift, rtol=1e-6, err_msg=f"step {step}")
    # The learning rate logged at every step: LR times the scale that step ran with.
    scale_of_step = [1.0] * 4 + [0.5] * 4 + [0.25] * 2 + [0.125] * 2  # steps 1..12
    want_rates = {s: LR * scale for s, scale in enumerate(scale_of_step, start=1)}
    assert recorder.rates == pytest.approx(want_rates, rel=1e-7)
