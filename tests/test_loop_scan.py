"""``fit`` with K steps per dispatch (``LoopOptions.steps_per_dispatch``, a ``lax.scan``
over K batches) trains exactly as K = 1: the same steps on the same batches, the same
per-step metrics in every log window, the same evaluations, the same pause and resume.

Stated tolerance: parameters and metrics agree to rtol 1e-6 (the scanned program may
round differently from the one-step program; on XLA:CPU they came out bit-identical).
"""

import jax
import numpy as np
import optax
import pytest

from jaxdl.models import create
from jaxdl.training import steps
from jaxdl.training.loop import LoopOptions, fit
from jaxdl.training.run import Hook
from jaxdl.training.state import TrainState

RTOL = 1e-6
rng = np.random.default_rng(0)
X = rng.normal(size=(88, 6)).astype(np.float32)  # 88 / 8 = 11 steps per epoch: not a multiple of K
DATA = {"image": X, "label": (X[:, 0] + X[:, 1] > 0).astype(np.int32)}
TRAIN_STEP, EVAL_STEP = steps.classification_steps(lambda b, k, t: b)


class Windows(Hook):
    """Every log window's per-step losses and first step, and the steps it logged at."""

    name = "windows"

    def __init__(self):
        self.steps, self.losses, self.at, self.dispatches = [], [], [], []

    def on_log(self, run, logs):
        self.at.append(run.step)
        self.dispatches += run.window["dispatches"]
        n = len(run.window["values"]["loss"])
        self.steps += list(range(run.window["first_step"], run.window["first_step"] + n))
        self.losses += list(run.window["values"]["loss"])


def state():
    model = create("mlp", num_classes=2, depth=1, width=8)
    return TrainState.create(
        model=model, tx=optax.sgd(0.3, 0.9), rng=jax.random.PRNGKey(0), example_input=X[:1]
    )


def train(k, workdir=None, max_steps=None, log_every=5):
    hook = Windows()
    options = LoopOptions(
        batch_size=8,
        num_epochs=3,
        log_every_steps=log_every,
        max_steps=max_steps,
        steps_per_dispatch=k,
    )
    result = fit(
        state=state(),
        train_step=TRAIN_STEP,
        eval_step=EVAL_STEP,
        train=DATA,
        evals={"val": DATA},
        options=options,
        hooks=[hook],
        workdir=workdir,
        mesh=jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",)),  # not at import: no backend
    )
    return result, hook


def dispatches(k, log_every=5, start=0, max_steps=None, steps_per_epoch=11, total=33):
    """The documented schedule: K steps in one dispatch unless one of the first K - 1 of
    them ends an epoch, a log window or the call (``max_steps``); else one step."""
    sizes, s, end = [], start, total if max_steps is None else max_steps
    while s < end:
        inside = range(s + 1, s + k)
        ok = all(t % log_every and t % steps_per_epoch and t != max_steps for t in inside)
        sizes.append(k if k > 1 and ok else 1)
        s += sizes[-1]
    return sizes


def assert_same(a, b):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=RTOL), a, b)


@pytest.fixture(scope="module")
def one_by_one():
    return train(1)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_k_steps_per_dispatch_equal_one_step_per_dispatch(one_by_one, k, monkeypatch):
    ref, ref_windows = one_by_one
    scans, scan = [], jax.lax.scan
    monkeypatch.setattr(jax.lax, "scan", lambda f, s, xs: scans.append(len(xs)) or scan(f, s, xs))
    got, windows = train(k)
    assert scans and set(scans) == {k}  # the K-step program was built (and nothing else)
    assert int(got.state.step) == int(ref.state.step) == 33
    assert_same(got.state.params, ref.state.params)
    assert windows.steps == ref_windows.steps == list(range(1, 34))  # every step, in order
    assert windows.at == ref_windows.at == [5, 10, 11, 15, 20, 22, 25, 30, 33]  # logs, epoch ends
    assert ref_windows.dispatches == [1] * 33 and windows.dispatches == dispatches(k)
    assert k in windows.dispatches
    np.testing.assert_allclose(windows.losses, ref_windows.losses, rtol=RTOL)
    assert [h["step"] for h in got.history] == [h["step"] for h in ref.history] == [11, 22, 33]
    for g, r in zip(got.history, ref.history, strict=True):
        np.testing.assert_allclose(g["val_loss"], r["val_loss"], rtol=RTOL)


def test_an_epoch_of_exactly_k_steps_is_one_dispatch(one_by_one, monkeypatch):
    ref, _ = one_by_one
    scans, scan = [], jax.lax.scan
    monkeypatch.setattr(jax.lax, "scan", lambda f, s, xs: scans.append(len(xs)) or scan(f, s, xs))
    got, windows = train(11, log_every=11)
    assert scans == [11] and windows.at == [11, 22, 33]  # one K-step program, nothing else
    assert windows.dispatches == [11, 11, 11]
    assert windows.steps == list(range(1, 34))
    assert_same(got.state.params, ref.state.params)


def test_pause_at_max_steps_and_resume_with_k_steps(one_by_one, tmp_path, capsys):
    ref, _ = one_by_one
    paused, before = train(4, tmp_path, max_steps=9)  # steps 6-9: one dispatch
    assert int(paused.state.step) == 9 and not paused.finished
    assert before.dispatches == dispatches(4, max_steps=9) == [4, 1, 4]
    capsys.readouterr()
    resumed, windows = train(4, tmp_path)
    message = f"Resuming from checkpoint step 9 in {tmp_path / 'checkpoints'}"
    assert capsys.readouterr().out.splitlines() == [message]
    assert windows.dispatches == dispatches(4, start=9)
    assert resumed.finished and windows.steps == list(range(10, 34))
    assert_same(resumed.state.params, ref.state.params)


def test_steps_per_dispatch_must_be_positive():
    with pytest.raises(ValueError, match="steps_per_dispatch must be >= 1"):
        LoopOptions(batch_size=8, num_epochs=1, steps_per_dispatch=0)
