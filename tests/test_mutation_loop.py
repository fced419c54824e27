"""``jaxdl.training.loop.fit``: what its mutation run (mutmut, docs/testing.md) showed no
test checked: the data key, the data-parallel sharding of each batch, the donation of the
state, no copy between devices at each dispatch, a streamed split with K steps per
dispatch, the streamed split's refusal of an epoch order, the default hooks, and the
ranking of checkpoints (``run.scores``, ``best_metric``) with and without evaluations.

test_loop_scan's tiny linearly separable task on an MLP: 88 examples of 6 features,
batches of 8 (11 steps per epoch), so each run compiles in a second or two.
"""

import json
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_loop_scan import DATA, EVAL_STEP, TRAIN_STEP, Windows, state

from jaxdl.data.loader import StreamedSplit
from jaxdl.sharding import host_local_batch_to_global, make_mesh, replicated
from jaxdl.training.loop import LoopOptions, fit
from jaxdl.training.run import Hook

N, B = len(DATA["label"]), 8
UNKNOWN_METRIC = (  # fit's refusal of best_metric="val_acc", streamed or not
    "best_metric='val_acc' is not among the evaluation's metrics ['val_accuracy', "
    "'val_loss', 'val_top5_accuracy']; pick one of them."
)


def tracing(traced):
    """TRAIN_STEP, appending the state's step to ``traced`` each time it is traced."""

    def step(s, batch):
        traced.append(s.step)
        return TRAIN_STEP(s, batch)

    return step


def run(train=DATA, epochs=2, k=1, train_step=TRAIN_STEP, hooks=(), best_metric=None, **kwargs):
    options = LoopOptions(
        batch_size=B, num_epochs=epochs, log_every_steps=4, steps_per_dispatch=k,
        best_metric=best_metric,
    )  # fmt: skip
    return fit(
        state=state(), train_step=train_step, train=train, options=options, hooks=list(hooks),
        mesh=make_mesh(), **kwargs,
    )  # fmt: skip


def leaves(result):
    return [np.asarray(x) for x in jax.tree.leaves(result.state.params)]


def test_the_data_key_orders_the_epochs():
    default, zero = run(), run(data_key=jax.random.PRNGKey(0))
    other = run(data_key=jax.random.PRNGKey(1))
    for a, b in zip(leaves(default), leaves(zero), strict=True):
        np.testing.assert_array_equal(a, b)  # the documented default: PRNGKey(0)
    assert any(not np.array_equal(a, b) for a, b in zip(leaves(default), leaves(other)))


def test_each_batch_is_split_over_the_data_axis():
    """Data parallelism: inside the step, each of the 8 devices holds B / 8 examples (a
    replicated batch would give every device the whole batch: the same numbers, 8 times
    the work)."""
    seen = []

    def step(s, batch):
        jax.debug.inspect_array_sharding(batch["image"], callback=seen.append)
        return TRAIN_STEP(s, batch)

    run(epochs=1, train_step=step)
    assert seen and all(s.shard_shape((B, 6)) == (B // 8, 6) for s in seen), seen


@pytest.mark.parametrize("k", [1, 3])
def test_no_dispatch_copies_between_devices(k):
    """Given a state and data on the mesh, the loop keeps everything there: the training
    and evaluation splits are placed on the mesh once, the epoch's order once per epoch,
    and the step index comes from the host. Each of them left on the default device
    would be copied to every device at every dispatch (for the splits: the whole data)."""
    mesh = make_mesh()
    options = LoopOptions(batch_size=B, num_epochs=2, log_every_steps=4, steps_per_dispatch=k)
    with jax.transfer_guard_device_to_device("disallow"):
        result = fit(
            state=jax.device_put(state(), replicated(mesh)), train_step=TRAIN_STEP,
            eval_step=EVAL_STEP, train=DATA, evals={"val": DATA}, options=options, hooks=[],
            mesh=mesh,
        )  # fmt: skip
    assert int(result.state.step) == 22 and [h["step"] for h in result.history] == [11, 22]


def test_a_state_off_the_mesh_compiles_the_step_once():
    """The steps' outputs live on the mesh; a state given elsewhere (here: built on the
    default device) must be placed there first, or the second dispatch traces and compiles
    the step again."""
    traced = []
    result = run(epochs=2, train_step=tracing(traced))
    assert int(result.state.step) == 22 and len(traced) == 1


def test_evaluation_splits_need_an_eval_step():
    with pytest.raises(ValueError) as e:
        run(evals={"val": DATA})
    assert str(e.value) == "fit was given evaluation splits but no eval_step to evaluate them."


def test_without_hooks_the_default_hooks_run_and_write_into_the_workdir(tmp_path, capsys):
    options = LoopOptions(batch_size=B, num_epochs=2, log_every_steps=4)
    fit(
        state=state(), train_step=TRAIN_STEP, eval_step=EVAL_STEP, train=DATA,
        evals={"val": DATA}, options=options, workdir=tmp_path, mesh=make_mesh(),
    )  # fmt: skip
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines if "val_loss" in x] == [11, 22]
    assert list((tmp_path / "tensorboard").iterdir())  # event files
    printed = capsys.readouterr().out.splitlines()  # Console's line per evaluation
    assert [x.split(" | ")[:2] for x in printed] == [["epoch 1/2", "step 11"],
                                                     ["epoch 2/2", "step 22"]]  # fmt: skip


class Scores(Hook):
    """``run.scores`` as each evaluation leaves it to the hooks."""

    name = "scores"

    def __init__(self):
        self.seen = []

    def on_eval(self, run, record):
        self.seen.append(run.scores)


def test_an_evaluation_ranks_its_checkpoint_only_with_a_best_metric():
    """``run.scores`` is None (not a candidate) without ``best_metric``, and the record's
    metrics with it; with no evaluation splits there is nothing to rank, and no best."""
    unranked, ranked = Scores(), Scores()
    run(epochs=1, eval_step=EVAL_STEP, evals={"val": DATA}, hooks=[unranked])
    ranked_run = run(
        epochs=1, eval_step=EVAL_STEP, evals={"val": DATA}, hooks=[ranked],
        best_metric="val_loss",
    )  # fmt: skip
    assert unranked.seen == [None]
    record = ranked_run.history[0]
    assert ranked.seen == [{k: v for k, v in record.items() if k != "step"}]
    assert ranked_run.best_state is not None
    alone = run(epochs=1, best_metric="val_loss")  # no evals: the option has nothing to rank
    assert alone.finished and alone.best_state is None
    assert alone.history == [{"step": 11, "epoch": 1}]


class KeepsOldState(Hook):
    """At each log, the parameters of the log before must have been donated (deleted)."""

    name = "keeps_old_state"

    def __init__(self):
        self.previous, self.checked = None, 0

    def on_log(self, run, logs):
        if self.previous is not None:
            assert all(x.is_deleted() for x in self.previous)
            self.checked += 1
        self.previous = jax.tree.leaves(run.state.params)


@pytest.mark.parametrize("k", [1, 3])
def test_each_dispatch_donates_the_state_and_nothing_else(k):
    """The step reuses the state's buffers (one copy of the state in memory, as the
    docstring says); donating anything else (the data) would only warn and waste."""
    hook = KeepsOldState()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run(epochs=2, k=k, hooks=[hook])
    assert int(result.state.step) == 22 and hook.checked >= 4
    assert not [w for w in caught if "donated buffers were not usable" in str(w.message)]


class Throughput(Hook):
    """Each window's images per second, and the time between this hook's calls."""

    name = "throughput"

    def __init__(self):
        self.called, self.rates = [], []

    def on_log(self, run, logs):
        self.called.append(time.perf_counter())
        self.rates.append((logs["images_per_second"], len(run.window["values"]["loss"])))


def test_images_per_second_is_the_windows_images_over_its_time():
    """The loop times a window from the end of the previous log to this one, inside the
    interval between two calls of a hook: images / that time is at least images / the
    hook's interval (whatever the machine's load)."""
    hook = Throughput()
    run(epochs=2, hooks=[hook])
    assert len(hook.rates) >= 4
    for (rate, n), start, end in zip(hook.rates[1:], hook.called, hook.called[1:]):
        assert n * B / (end - start) <= rate < float("inf")


def test_a_clock_that_did_not_move_gives_rates_of_zero(monkeypatch):
    """A window or a run timed at 0 s (a coarse clock) reports 0 images and steps per
    second, not a division by zero."""
    monkeypatch.setattr(time, "perf_counter", lambda: 0.0)
    hook = Throughput()
    result = run(epochs=1, hooks=[hook])
    assert [rate for rate, _ in hook.rates] == [0.0, 0.0, 0.0]  # steps 4, 8 and 11
    assert result.wall_time == 0.0 and result.steps_per_second == 0.0


class Logs(Hook):
    name = "logs"

    def __init__(self):
        self.logs, self.losses = [], []

    def on_log(self, run, logs):
        self.logs.append(logs)
        self.losses.append(np.asarray(run.window["values"]["loss"], np.float64))


def test_skipped_steps_are_left_out_of_the_window_and_a_window_of_them_logs_nan():
    """A step reporting ``skipped = 1`` (as ``guards.skip_nonfinite`` does) is counted, and
    left out of the window's means; a window of skipped steps only logs NaN, quietly."""

    def step(s, batch):  # steps 1, 2 and 4 are kept; 3 and every step after 4 are skipped
        new, metrics = TRAIN_STEP(s, batch)
        return new, {**metrics, "skipped": ((s.step == 2) | (s.step >= 4)).astype(jnp.int32)}

    hook = Logs()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no mean of an empty slice
        run(epochs=1, train_step=step, hooks=[hook])
    first, later = hook.logs[0], hook.logs[1:]
    assert first["train_skipped_steps"] == 1
    np.testing.assert_allclose(first["train_loss"], hook.losses[0][[0, 1, 3]].mean(), rtol=1e-6)
    assert later and all(np.isnan(g["train_loss"]) for g in later)
    assert [g["train_skipped_steps"] for g in later] == [4, 3]  # steps 5-8, 9-11


class Stream(StreamedSplit):
    """DATA in a fixed order per epoch (epoch e: rolled by e), built on the host."""

    size = N

    def __init__(self, mesh):
        self.mesh = mesh

    def batches(self, epoch, start, batch_size):
        data = {k: np.roll(v, epoch, axis=0) for k, v in DATA.items()}
        for i in range(start, N // batch_size):
            batch = {k: v[i * batch_size : (i + 1) * batch_size] for k, v in data.items()}
            yield host_local_batch_to_global(batch, self.mesh)

    def eval_batches(self, batch_size):  # N is a multiple of the batch size: no padding
        for i in range(N // batch_size):
            batch = {k: v[i * batch_size : (i + 1) * batch_size] for k, v in DATA.items()}
            batch["mask"] = np.ones(batch_size, np.float32)
            yield host_local_batch_to_global(batch, self.mesh)


def test_a_streamed_split_takes_one_step_per_dispatch_whatever_k():
    """A streamed split feeds one host batch per step: ``steps_per_dispatch`` cannot apply,
    and the run must count, log and train exactly as with K = 1."""
    mesh = make_mesh()
    one, three = Windows(), Windows()
    a = run(train=Stream(mesh), k=1, hooks=[one])
    b = run(train=Stream(mesh), k=3, hooks=[three])
    assert int(a.state.step) == int(b.state.step) == 2 * (N // B)
    assert one.steps == three.steps == list(range(1, 23))  # every step, in order, once
    np.testing.assert_array_equal(one.losses, three.losses)
    for x, y in zip(leaves(a), leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_a_streamed_split_refuses_an_epoch_order():
    message = (
        "epoch_order (e.g. a curriculum) needs a device-resident training split; a "
        "streamed split orders its data itself."
    )
    with pytest.raises(ValueError) as e:
        run(train=Stream(make_mesh()), epoch_order=lambda key, epoch: None)
    assert str(e.value) == message


def test_a_streamed_evaluation_without_the_best_metric_stops_at_its_first_evaluation():
    """A streamed split's metric names are only known once it is evaluated (no shapes to
    trace beforehand): a ``best_metric`` it does not produce is refused there, naming the
    metrics it does produce."""
    hook = Scores()
    with pytest.raises(ValueError) as e:
        run(epochs=1, eval_step=EVAL_STEP, evals={"val": Stream(make_mesh())}, hooks=[hook],
            best_metric="val_acc")  # fmt: skip
    assert str(e.value) == UNKNOWN_METRIC and hook.seen == []


def test_a_state_leaf_already_on_the_mesh_keeps_its_sharding():
    """fit places the state on the mesh first (``_on_mesh``): a leaf off the mesh, on one
    device or on another mesh, is replicated over it; a leaf already on the mesh is left as
    it is, so that a state the user sharded (here over the data axis) stays sharded."""
    from jax.sharding import NamedSharding, PartitionSpec

    from jaxdl.training.loop import _on_mesh

    mesh, other = make_mesh(), make_mesh(jax.devices()[:4])
    sharded = jax.device_put(jnp.arange(16.0), NamedSharding(mesh, PartitionSpec("data")))
    elsewhere = jax.device_put(jnp.ones(3), replicated(other))
    placed = _on_mesh({"sharded": sharded, "elsewhere": elsewhere, "host": np.zeros(2)}, mesh)
    assert placed["sharded"] is sharded
    for name in ("elsewhere", "host"):
        assert placed[name].sharding.mesh == mesh, name
        assert placed[name].sharding.is_fully_replicated, name


def test_steps_per_second_counts_this_calls_steps_over_its_wall_time(monkeypatch):
    """``steps_per_second`` is the steps this call ran (from the state's step 5 to 22) over
    its wall time, the clock's difference; a fake clock that starts at 1000 s and ticks 1 us
    per reading keeps the wall time under 1 s, which still gives a rate."""
    ticks = iter(range(10**9))
    monkeypatch.setattr(time, "perf_counter", lambda: 1000.0 + 1e-6 * next(ticks))
    options = LoopOptions(batch_size=B, num_epochs=2, log_every_steps=4)
    start = state().replace(step=jnp.asarray(5, jnp.int32))
    result = fit(state=start, train_step=TRAIN_STEP, train=DATA, options=options, hooks=[],
                 mesh=make_mesh())  # fmt: skip
    assert int(result.state.step) == 22
    assert 0.0 < result.wall_time < 1.0
    assert result.steps_per_second == pytest.approx(17 / result.wall_time, rel=1e-12)


def test_the_hooks_see_the_error_that_ended_the_run():
    """An exception inside the loop reaches the caller, and ``run.error`` holds it while
    the hooks' ``on_end`` runs (so that a hook can tell a failed run from a finished one)."""

    class Fails(Hook):
        name = "fails"

        def on_log(self, run, logs):
            raise RuntimeError("boom")

    class Sees(Hook):
        name = "sees"
        error = "on_end not called"

        def on_end(self, run):
            self.error = run.error

    sees = Sees()
    with pytest.raises(RuntimeError, match="boom") as caught:
        run(epochs=1, hooks=[Fails(), sees])
    assert sees.error is caught.value


def test_a_best_metric_the_evaluation_lacks_is_refused_before_training():
    """With a device-resident split the metric names come from the evaluation's shapes,
    so a ``best_metric`` it does not produce is refused before any step, in the same
    words as the streamed case above."""
    traced = []
    with pytest.raises(ValueError) as e:
        run(epochs=1, train_step=tracing(traced), eval_step=EVAL_STEP, evals={"val": DATA},
            best_metric="val_acc")  # fmt: skip
    assert str(e.value) == UNKNOWN_METRIC and traced == []
