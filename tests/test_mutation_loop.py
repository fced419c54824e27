"""``jaxdl.training.loop.fit``: what its mutation run (mutmut, docs/testing.md) showed no
test checked: the data key, the data-parallel sharding of each batch, the donation of the
state, a streamed split with K steps per dispatch, and the streamed split's refusal of an
epoch order.

test_loop_scan's tiny linearly separable task on an MLP: 88 examples of 6 features,
batches of 8 (11 steps per epoch), so each run compiles in a second or two.
"""

import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_loop_scan import DATA, TRAIN_STEP, Windows, state

from jaxdl.data.loader import StreamedSplit
from jaxdl.sharding import host_local_batch_to_global, make_mesh
from jaxdl.training.loop import LoopOptions, fit
from jaxdl.training.run import Hook

N, B = len(DATA["label"]), 8


def run(train=DATA, epochs=2, k=1, train_step=TRAIN_STEP, hooks=(), **kwargs):
    options = LoopOptions(batch_size=B, num_epochs=epochs, log_every_steps=4, steps_per_dispatch=k)
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

    def eval_batches(self, batch_size):
        raise AssertionError("not evaluated here")


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
