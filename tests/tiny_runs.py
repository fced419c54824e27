"""A tiny MNIST classification run shared by the loop and hook tests (not a test module)."""

import jax
import jax.numpy as jnp
import optax

from jaxdl import data, models
from jaxdl.data import loader, preprocess
from jaxdl.training import loop, parallel, steps
from jaxdl.training.console import ProgressBar
from jaxdl.training.hooks import NonFinite
from jaxdl.training.state import TrainState
from jaxdl.training.writers import MetricsFile, TensorBoard

B = 64  # 640 training examples: 10 steps per epoch


def mnist_small():
    """640 training and 200 validation MNIST digits (numpy dicts)."""
    train = data.load("mnist", "train[:640]").data
    val = data.load("mnist", "test[:200]").data
    return train, val


def _build(mnist, mesh, tx, model):
    """(state, train_step, eval_step, device splits) of an MLP on ``mnist``."""
    train, val = mnist
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


# Set-ups shared by the tests of a module (each module calls ``forget`` when it ends):
# ``loop.fit`` trains a copy of the state it is given (the caller's stays valid) and
# reuses the compiled evaluation per ``eval_step``, so sharing them saves tracing and
# compiling the same initial state and evaluation in every test; every fit still starts
# from the same initial parameters (PRNGKey(0)).
_SETUPS: dict = {}


def setup(mnist, mesh, tx=None, model=None):
    """(state, train_step, eval_step, device splits) of an MLP on ``mnist``, memoised per
    (data, mesh, optimizer, model) until ``forget()``."""
    key = (id(mnist), mesh, id(tx), id(model))
    if key not in _SETUPS:  # the value holds the keyed objects: their ids are not reused
        _SETUPS[key] = (_build(mnist, mesh, tx, model), (mnist, tx, model))
    return _SETUPS[key][0]


def forget():
    """Drops the memoised set-ups (a module's tests are done with them)."""
    _SETUPS.clear()


def quiet_hooks(max_skipped_steps=0):
    """The default hooks of a workdir run, without console output."""
    return [NonFinite(max_skipped_steps), ProgressBar(enabled=False), MetricsFile(), TensorBoard()]


def fit(mnist, mesh, workdir, epochs=2, max_steps=None, train_step=None, hooks=None,
        best_metric="val_accuracy", **kw):  # fmt: skip
    """``loop.fit`` of the tiny run: log every 4 steps, evaluate every epoch."""
    state, ts, es, splits = setup(mnist, mesh, **kw)
    return loop.fit(
        state=state,
        train_step=train_step or ts,
        eval_step=es,
        train=splits["train"],
        evals={"val": splits["val"]},
        options=loop.LoopOptions(
            batch_size=B,
            num_epochs=epochs,
            log_every_steps=4,
            max_steps=max_steps,
            best_metric=best_metric,
        ),
        hooks=quiet_hooks() if hooks is None else hooks,
        workdir=workdir,
        data_key=jax.random.PRNGKey(1),
        mesh=mesh,
    )
