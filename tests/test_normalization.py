"""BatchNorm/Dropout glue: train/eval switch and synchronized statistics on 1 vs 8 devices."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxdl.models import dcgan, mlp
from jaxdl.nn import layers
from jaxdl.nn import normalization as norm

# Hand values, as documented in docs/batchnorm.md ("Flax momentum 0.9, eps 1e-5") and in
# jaxdl.nn.layers (PyTorch's defaults: momentum 0.1, i.e. Flax's 0.9, and eps 1e-5);
# ../shared/COURSE.md gives no value. The networks below take the library's configured
# constants, so the float64 references check those against these hand values.
EPS = 1e-5
MOMENTUM = 0.9


class _Net(nn.Module):
    rate: float = 0.5

    @nn.compact
    def __call__(self, x, train: bool):
        h = nn.Dense(16, name="dense")(x)
        h = nn.BatchNorm(
            use_running_average=not train,
            momentum=layers.BN_MOMENTUM,
            epsilon=layers.BN_EPSILON,
        )(h)
        return nn.Dropout(self.rate, deterministic=not train)(nn.relu(h))


def _setup(batch=32):
    x, variables, scale, bias = _draw(batch)
    params, state = norm.split_variables(variables)
    # Non-trivial BN affine params so the reference exercises them.
    params["BatchNorm_0"] = {"scale": scale, "bias": bias}
    return x, params, state


@functools.partial(jax.jit, static_argnums=0)
def _draw(batch):
    """Inputs, init and BN affine draws: one compiled program (eagerly, every op compiles)."""
    x = jax.random.normal(jax.random.key(0), (batch, 8)) * 3.0 + 1.0  # non-standard stats
    variables = _Net().init(jax.random.key(1), x, train=False)
    scale = jax.random.uniform(jax.random.key(2), (16,), minval=0.5, maxval=2.0)
    return x, variables, scale, jax.random.normal(jax.random.key(3), (16,))


def _pre_bn(x, params):
    d = params["dense"]
    return np.asarray(x, np.float64) @ np.asarray(d["kernel"], np.float64) + np.asarray(
        d["bias"], np.float64
    )


def _bn(a, mean, var, params):
    bn = params["BatchNorm_0"]
    return np.asarray(bn["bias"], np.float64) + np.asarray(bn["scale"], np.float64) * (
        a - mean
    ) / np.sqrt(var + EPS)


@jax.jit
def _train_step(params, state, x, rng):
    return norm.apply_model(_Net().apply, params, state, x, train=True, rng=rng)


def test_train_mode_matches_numpy_and_is_inverted_dropout():
    x, params, state = _setup()
    y, new_state = _train_step(params, state, x, jax.random.key(7))
    a = _pre_bn(x, params)
    mean, var = a.mean(0), a.var(0)  # biased batch variance
    ref = np.maximum(_bn(a, mean, var, params), 0.0)
    y = np.asarray(y, np.float64)
    kept = y != 0
    # Inverted dropout: kept units are scaled by 1/(1 - rate) = 2; about half are kept.
    np.testing.assert_allclose(y[kept], 2.0 * ref[kept], rtol=1e-4, atol=1e-5)
    # About half of the units that ReLU lets through are dropped (rate 0.5).
    assert 0.35 < kept[ref > 1e-3].mean() < 0.65
    bs = new_state["batch_stats"]["BatchNorm_0"]
    np.testing.assert_allclose(bs["mean"], (1 - MOMENTUM) * mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bs["var"], MOMENTUM + (1 - MOMENTUM) * var, rtol=1e-4)


def test_eval_mode_uses_running_stats_and_no_dropout():
    x, params, state = _setup()
    _, state = _train_step(params, state, x, jax.random.key(7))  # non-trivial running stats
    y1, s1 = norm.apply_model(_Net().apply, params, state, x, train=False, rng=jax.random.key(1))
    y2, _ = norm.apply_model(_Net().apply, params, state, x, train=False, rng=jax.random.key(2))
    y3, _ = jax.jit(lambda p, s, x: norm.apply_model(_Net().apply, p, s, x, train=False))(
        params, state, x
    )
    np.testing.assert_array_equal(np.asarray(y1), np.asarray(y2))
    np.testing.assert_allclose(np.asarray(y1), np.asarray(y3), rtol=1e-6, atol=1e-6)
    assert s1 is state  # eval never touches batch_stats
    bs = state["batch_stats"]["BatchNorm_0"]
    ref = np.maximum(
        _bn(_pre_bn(x, params), np.asarray(bs["mean"], np.float64), np.asarray(bs["var"]), params),
        0.0,
    )
    np.testing.assert_allclose(np.asarray(y1, np.float64), ref, rtol=1e-4, atol=1e-5)


def test_bn_and_dropout_identical_on_1_and_8_devices():
    assert jax.device_count() == 8, "tests/conftest.py must force 8 CPU devices"
    x, params, state = _setup(batch=64)
    rng = jax.random.key(3)
    # 1 device.
    dev0 = jax.devices()[0]
    put1 = lambda t: jax.device_put(t, dev0)  # noqa: E731
    y1, s1 = _train_step(put1(params), put1(state), put1(x), rng)
    # 8 devices: batch sharded over 'data', variables replicated.
    mesh = jax.make_mesh((8,), ("data",))
    rep = NamedSharding(mesh, P())
    xs = jax.device_put(x, NamedSharding(mesh, P("data")))
    y8, s8 = _train_step(jax.device_put(params, rep), jax.device_put(state, rep), xs, rng)
    assert y8.sharding.spec[0] == "data" and len(y8.sharding.device_set) == 8
    np.testing.assert_allclose(np.asarray(y8), np.asarray(y1), rtol=1e-6, atol=1e-6)
    for a, b in zip(jax.tree_util.tree_leaves(s8), jax.tree_util.tree_leaves(s1)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)
    # Global (not per-shard) statistics: each shard's own mean differs from the global one.
    a = _pre_bn(x, params)
    global_mean = (1 - MOMENTUM) * a.mean(0)
    np.testing.assert_allclose(s8["batch_stats"]["BatchNorm_0"]["mean"], global_mean, atol=1e-5)
    assert np.abs((1 - MOMENTUM) * a[:8].mean(0) - global_mean).max() > 1e-2


def test_apply_model_without_state_and_errors():
    class NoBN(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool):
            return nn.Dropout(0.5, deterministic=not train)(x)

    params, state = norm.split_variables(NoBN().init(jax.random.key(0), jnp.ones(4), train=False))
    assert state == {}
    rng = jax.random.key(0)
    y, s = norm.apply_model(NoBN().apply, params, state, jnp.ones(1000), train=True, rng=rng)
    assert params == {} and s == {} and set(np.unique(np.asarray(y))) == {0.0, 2.0}


def test_library_batch_norm_layers_use_the_documented_momentum_and_eps():
    """ConvBN (every CNN here) against a float64 EMA/BN reference with the hand values.

    One output channel has a variance of the order of eps, so the output tells eps apart.
    """
    x = jax.random.normal(jax.random.key(4), (4, 3, 3, 2)) * 2.0 + 0.5
    layer = layers.ConvBN(3, 1, relu=False)  # 1x1 conv without bias, then BN
    init = jax.jit(lambda x: layer.init(jax.random.key(5), x, train=False))  # not op by op
    params, state = norm.split_variables(init(x))
    kernel = np.array([[1.0, -0.5, 0.003], [0.5, 2.0, 0.0]])  # [C_in, C_out]
    params["conv"]["kernel"] = jnp.asarray(kernel, jnp.float32)[None, None]
    params["bn"] = {"scale": jnp.array([1.5, 0.5, 2.0]), "bias": jnp.array([0.1, -0.2, 0.3])}
    y, new_state = jax.jit(
        lambda p, s, x: norm.apply_model(layer.apply, p, s, x, train=True, rng=None)
    )(params, state, x)
    a = np.asarray(x, np.float64).reshape(-1, 2) @ kernel  # [B*H*W, C_out]
    mean, var = a.mean(0), a.var(0)  # biased batch variance
    assert 1e-6 < var[2] < 1e-4  # comparable to eps
    scale, bias = np.array([1.5, 0.5, 2.0]), np.array([0.1, -0.2, 0.3])
    want = bias + scale * (a - mean) / np.sqrt(var + EPS)
    np.testing.assert_allclose(np.asarray(y, np.float64).reshape(-1, 3), want, rtol=2e-4, atol=2e-4)
    bs = new_state["batch_stats"]["bn"]
    # r <- m r + (1 - m) stat from the initial r = (0, 1), with m = 0.9.
    np.testing.assert_allclose(bs["mean"], (1 - MOMENTUM) * mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(bs["var"], MOMENTUM + (1 - MOMENTUM) * var, rtol=1e-5)
    # The GAN models' batch norm is configured alike (read from the module's fields).
    bn = dcgan.gan_batch_norm(train=True)
    assert (bn.momentum, bn.epsilon) == (MOMENTUM, EPS)


def test_mlp_batch_norm_uses_the_documented_momentum_and_eps():
    """The MLP's BN (docs/batchnorm.md) against the same float64 reference, one step."""
    x = jax.random.normal(jax.random.key(6), (8, 2)) * 3.0 - 1.0
    model = mlp.MLP(num_classes=2, depth=1, width=2, batch_norm=True)
    init = jax.jit(lambda x: model.init(jax.random.key(7), x, train=False))  # not op by op
    params, state = norm.split_variables(init(x))
    assert set(params) == {"Dense_0", "BatchNorm_0", "Dense_1"}  # no bias before BN
    assert set(params["Dense_0"]) == {"kernel"}
    kernel = np.array([[1.0, 0.002], [-0.5, 0.0]])  # unit 1: variance ~ eps
    params["Dense_0"]["kernel"] = jnp.asarray(kernel, jnp.float32)
    params["Dense_1"] = {"kernel": jnp.eye(2), "bias": jnp.zeros(2)}  # logits = relu(BN)
    y, new_state = jax.jit(
        lambda p, s, x: norm.apply_model(model.apply, p, s, x, train=True, rng=None)
    )(params, state, x)
    a = np.asarray(x, np.float64) @ kernel  # [B, width]
    mean, var = a.mean(0), a.var(0)
    assert 1e-6 < var[1] < 1e-4  # comparable to eps
    want = np.maximum((a - mean) / np.sqrt(var + EPS), 0.0)  # BN scale 1, bias 0 at init
    np.testing.assert_allclose(np.asarray(y, np.float64), want, rtol=2e-4, atol=2e-4)
    bs = new_state["batch_stats"]["BatchNorm_0"]
    np.testing.assert_allclose(bs["mean"], (1 - MOMENTUM) * mean, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(bs["var"], MOMENTUM + (1 - MOMENTUM) * var, rtol=1e-5)
