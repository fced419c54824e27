"""The train step every jaxdl benchmark row times, and its synthetic input.

One definition shared by ``throughput.py`` (the rows), ``profile_step.py`` (the
profile of the same step) and ``--fill_mfu`` (its FLOPs, lowered from shapes): the
project's classification step (``jaxdl.training.steps.classification_steps``) with
SGD momentum 0.9, on float images already on the device.
"""

from benchmarks import common


def input_spec(name: str, image_size: int | None) -> tuple[tuple[int, int, int], int]:
    """(H, W, C) and class count of ``name``'s synthetic batch.

    ImageNet-scale models (native side >= 224) get 1000 classes and, when
    ``image_size`` is given, that side instead (quick runs); the MNIST/CIFAR models
    keep their native input (LeNet-5 is defined for 32x32 only) and 10 classes.
    """
    from benchmarks.bench_models import input_shape

    h, w, c = input_shape(name)
    if h < 224:
        return (h, w, c), 10
    if image_size is not None:
        h = w = image_size
    return (h, w, c), 1000


def OPTIMIZER():  # noqa: N802 - the benchmark's fixed optimizer, as a constant factory
    """SGD with momentum 0.9, the optimizer of every jaxdl and PyTorch row."""
    import optax

    return optax.sgd(0.01, momentum=0.9)


def synthetic_inputs(
    name: str,
    dtype: str,
    batch_size: int,
    image_shape: tuple[int, int, int],
    num_classes: int,
    seed: int = 0,
    mesh=None,
):
    """``(state, batch)`` of ``name``'s timed step: fresh weights, `OPTIMIZER`, a random batch.

    Sharded over ``mesh`` when given (state by ``parallel.create_sharded``, batch over
    the data axis); pure otherwise, so ``jax.eval_shape`` of it gives the shapes alone.
    """
    import jax
    import jax.numpy as jnp

    from benchmarks.bench_models import create
    from jaxdl.training import parallel
    from jaxdl.training.state import TrainState

    model = create(name, num_classes=num_classes, dtype=jnp.dtype(dtype))
    h, w, c = image_shape
    k_init, k_x, k_y = jax.random.split(jax.random.PRNGKey(seed), 3)

    def make_state():
        example = jnp.zeros((1, h, w, c), jnp.float32)
        return TrainState.create(model=model, tx=OPTIMIZER(), rng=k_init, example_input=example)

    def make_batch():
        return {
            "image": jax.random.normal(k_x, (batch_size, h, w, c), jnp.float32),  # [B, H, W, C]
            "label": jax.random.randint(k_y, (batch_size,), 0, num_classes, jnp.int32),
        }

    if mesh is None:
        return make_state(), make_batch()
    batch = jax.jit(make_batch, out_shardings=parallel.data_sharding(mesh))()
    return parallel.create_sharded(make_state, mesh), batch


def synthetic_train_step(compute_dtype):
    """The project's classification train step on synthetic float inputs (cast only)."""
    from jaxdl.training.steps import classification_steps

    def preprocess(b, key, train):
        del key, train  # synthetic inputs: no augmentation, no normalisation
        return {**b, "image": b["image"].astype(compute_dtype)}

    return classification_steps(preprocess)[0]


def program_flops(row: dict) -> float | None:
    """FLOPs per device of one jaxdl row's train step, lowered from shapes only (CPU)."""
    import jax
    import jax.numpy as jnp

    spec = (row["model"], row["dtype"], row["batch_size"], tuple(row["image_shape"]))
    state, batch = jax.eval_shape(lambda: synthetic_inputs(*spec, row["num_classes"]))
    step = synthetic_train_step(jnp.dtype(row["dtype"]))
    return common.xla_flops(step, state, batch, num_devices=row.get("devices", 1))
