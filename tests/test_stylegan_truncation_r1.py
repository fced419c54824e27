"""StyleGAN's truncation trick and the R1 penalty against float64 numpy references.

- ``truncate``: ``w_avg + psi (w - w_avg)``, and the generator's ``psi`` argument;
- ``update_w_avg`` and the generator's ``w_avg`` collection: a hand-computed moving average;
- ``r1_penalty``: ``gamma/2 E||grad_x D(x)||^2`` on a one-hidden-layer tanh discriminator
  with known weights, its input gradient and its parameter gradient written out by hand;
- lazy R1 in ``gan_steps``: only at the steps that are multiples of k, scaled by k.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl.models.gan import MLPGenerator
from jaxdl.models.stylegan import StyleGenerator, truncate, update_w_avg
from jaxdl.training import gan as G
from jaxdl.training.gan_losses import r1_penalty
from train.configs import fashion_mnist_stylegan
from train.validate import ConfigError, validate

RNGS = {"params": jax.random.PRNGKey(0), "noise": jax.random.PRNGKey(1)}


# --- the truncation trick -------------------------------------------------------------


@pytest.mark.parametrize("psi", [0.0, 0.5, 0.7, -1.0])
def test_truncate_matches_the_float64_formula(psi):
    rng = np.random.default_rng(0)
    w, w_avg = rng.normal(size=(4, 3, 8)), rng.normal(size=8)  # [B, num_ws, w_dim], [w_dim]
    want = w_avg + psi * (w - w_avg)  # float64
    got = truncate(jnp.asarray(w, jnp.float32), jnp.asarray(w_avg, jnp.float32), psi)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6, atol=1e-6)
    traced = jax.jit(truncate)(jnp.asarray(w, jnp.float32), jnp.asarray(w_avg, jnp.float32), psi)
    np.testing.assert_allclose(np.asarray(traced), want, rtol=1e-6, atol=1e-6)


def test_truncate_with_psi_one_is_the_identity():
    w = jnp.asarray(np.random.default_rng(1).normal(size=(5, 8)), jnp.float32)
    assert truncate(w, jnp.full((8,), 3.7), 1.0) is w  # exactly, no rounding


def test_w_avg_update_matches_a_hand_computation():
    w = np.array([[1.0, -2.0, 4.0], [3.0, 0.0, -1.0]])  # batch mean (2, -1, 1.5)
    w_avg = np.array([0.5, 0.5, -0.5])
    got = update_w_avg(jnp.asarray(w_avg), jnp.asarray(w), 0.9)
    want = [0.9 * 0.5 + 0.1 * 2.0, 0.9 * 0.5 + 0.1 * -1.0, 0.9 * -0.5 + 0.1 * 1.5]
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


def test_stylegan_tracks_w_avg_in_training_and_truncates_when_sampling():
    beta, B = 0.8, 5
    kw = dict(latent_dim=6, w_dim=4, mapping_lr_mul=1.0, base_width=2, max_width=2)
    g = StyleGenerator((8, 8, 1), mixing_prob=0, w_avg_beta=beta, **kw)
    z = jax.random.normal(jax.random.PRNGKey(2), (B, 6))
    # Random N(0, 1) variables of init's shapes (eval_shape: init is not compiled).
    rng = np.random.default_rng(3)
    shapes = jax.eval_shape(lambda: g.init(RNGS, z))
    v = jax.tree.map(lambda s: jnp.asarray(rng.normal(size=s.shape), s.dtype), shapes)
    start = np.array([0.3, -0.2, 0.1, 0.0])  # a non-zero average
    v = {**v, "w_avg": {"w_avg": jnp.asarray(start, jnp.float32)}}

    def synth(v, w):  # images of per-example latents w [B, w_dim], every layer
        return g.apply(
            v, jnp.broadcast_to(w[:, None], (B, g.num_ws, 4)), noise=False, method="synthesize"
        )

    @jax.jit  # one compiled program: eager Flax dispatch is slow on a busy CPU
    def run(v, z, w_half):
        w = g.apply(v, z, method="map")  # [B, w_dim]
        _, trained = g.apply(v, z, train=True, noise=False, mutable=["w_avg"], rngs=RNGS)
        _, evaluated = g.apply(v, z, noise=False, mutable=["w_avg"])
        return {
            "w": w,
            "w_avg": trained["w_avg"]["w_avg"],
            "w_avg_eval": evaluated["w_avg"]["w_avg"],
            "eval": g.apply(v, z, noise=False),
            "psi1": g.apply(v, z, noise=False, psi=1.0),
            "psi05": g.apply(v, z, noise=False, psi=0.5),
            "psi0": g.apply(v, z, noise=False, psi=0.0),
            "synth": synth(v, w),
            "synth_half": synth(v, w_half),
        }

    w = np.asarray(jax.jit(lambda v, z: g.apply(v, z, method="map"))(v, z), np.float64)
    half = start + 0.5 * (w - start)  # the truncation formula in float64
    o = run(v, z, jnp.asarray(half, jnp.float32))
    # Training pass: w_avg <- beta w_avg + (1 - beta) mean_batch(w).
    np.testing.assert_allclose(o["w_avg"], beta * start + (1 - beta) * w.mean(0), rtol=1e-5)
    np.testing.assert_array_equal(o["w_avg_eval"], np.float32(start))  # evaluation: unchanged
    np.testing.assert_array_equal(o["psi1"], o["eval"])  # psi = 1: no truncation at all
    np.testing.assert_allclose(o["eval"], o["synth"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(o["psi05"], o["synth_half"], rtol=1e-4, atol=1e-5)
    psi0 = np.asarray(o["psi0"])  # every latent -> w_avg: one image
    np.testing.assert_allclose(psi0, np.broadcast_to(psi0[:1], psi0.shape), atol=1e-6)
    assert np.abs(w[0] - w[1]).max() > 0.1  # distinct latents,
    assert float(np.abs(o["eval"][0] - o["eval"][1]).max()) > 1e-3  # distinct images


def test_generate_with_psi_needs_a_generator_that_tracks_w_avg():
    # Shapes only: the check comes before any computation.
    state = jax.eval_shape(
        lambda: G.GANState.create(
            generator=MLPGenerator(image_shape=(4, 4, 1), hidden=(4,)),
            discriminator=TanhDiscriminator(),
            g_tx=optax.sgd(0.1),
            d_tx=optax.sgd(0.1),
            rng=jax.random.PRNGKey(0),
            g_input=jnp.zeros((1, 2)),
            d_input=jnp.zeros((1, 4, 4, 1)),
        )
    )
    with pytest.raises(ValueError, match="w_avg"):
        state.generate(jnp.zeros((2, 2)), jax.random.PRNGKey(0), psi=0.7)


# --- the R1 penalty -------------------------------------------------------------------


class TanhDiscriminator(nn.Module):
    """``D(x) = v . tanh(W flatten(x) + b)``: one logit per image [B, 1]."""

    hidden: int = 3

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        h = jnp.tanh(nn.Dense(self.hidden, name="hidden")(x.reshape(x.shape[0], -1)))
        return nn.Dense(1, use_bias=False, name="out")(h)  # [B, 1]


def _known_params(n_in, hidden=3, seed=0):
    rng = np.random.default_rng(seed)
    W, b, v = rng.normal(size=(n_in, hidden)) * 0.5, rng.normal(size=hidden), rng.normal(size=3)
    params = {
        "hidden": {"kernel": jnp.asarray(W, jnp.float32), "bias": jnp.asarray(b, jnp.float32)},
        "out": {"kernel": jnp.asarray(v[:, None], jnp.float32)},
    }
    return params, (W, b, v)


def _np_r1(x, W, b, v, gamma):
    """float64: grad_x D = W (v * (1 - tanh^2(x W + b))) per image; penalty and dP/dv."""
    x = x.reshape(len(x), -1)
    s = 1.0 - np.tanh(x @ W + b) ** 2  # [B, hidden]
    grad = (v * s) @ W.T  # [B, n_in]
    penalty = 0.5 * gamma * np.mean(np.sum(grad**2, axis=1))
    # P = gamma/2 mean_i ||W (v * s_i)||^2  =>  dP/dv = gamma mean_i s_i * (W^T W (v * s_i))
    d_v = gamma * np.mean(s * ((v * s) @ (W.T @ W)), axis=0)
    return penalty, grad, d_v


def test_r1_penalty_matches_a_float64_reference_on_a_tiny_discriminator():
    x = np.random.default_rng(1).uniform(-1, 1, size=(4, 4, 4, 1))
    params, (W, b, v) = _known_params(16)
    d, gamma = TanhDiscriminator(), 0.7
    want, grad, d_v = _np_r1(x, W, b, v, gamma)

    def penalty(p):
        return r1_penalty(lambda im: d.apply({"params": p}, im), jnp.asarray(x, jnp.float32), gamma)

    (got, logits), grads = jax.jit(jax.value_and_grad(penalty, has_aux=True))(params)
    np.testing.assert_allclose(float(got), want, rtol=1e-5)
    np.testing.assert_allclose(logits[:, 0], np.tanh(x.reshape(4, -1) @ W + b) @ v, rtol=1e-5)
    # Double backpropagation: the penalty's gradient in D's output weights.
    np.testing.assert_allclose(grads["out"]["kernel"][:, 0], d_v, rtol=1e-4, atol=1e-6)
    # The input gradient itself, by central finite differences of D in float64.
    eps, D = 1e-6, lambda x: np.tanh(x.reshape(len(x), -1) @ W + b) @ v
    e = np.zeros_like(x)
    e[2, 1, 3, 0] = eps
    np.testing.assert_allclose((D(x + e) - D(x - e))[2] / (2 * eps), grad[2, 1 * 4 + 3], rtol=1e-6)
    # gamma = 0: no penalty; has_aux passes the auxiliary output through.
    zero, (_, aux) = r1_penalty(lambda im: (im.sum(1), "aux"), jnp.ones((2, 3)), 0.0, True)
    assert float(zero) == 0.0 and aux == "aux"


def test_lazy_r1_applies_only_at_multiples_of_k_scaled_by_k():
    k, gamma, lr = 4, 0.5, 0.1
    state = G.GANState.create(
        generator=MLPGenerator(image_shape=(4, 4, 1), hidden=(4,)),
        discriminator=TanhDiscriminator(),
        g_tx=optax.sgd(lr),
        d_tx=optax.sgd(lr),  # linear in the gradient: the R1 share of D's update is exact
        rng=jax.random.PRNGKey(0),
        g_input=jnp.zeros((1, 2)),
        d_input=jnp.zeros((1, 4, 4, 1)),
    )
    params, (W, b, v) = _known_params(16)
    state = state.replace(d_params=params)
    images = np.random.default_rng(2).integers(0, 256, size=(8, 4, 4, 1), dtype=np.uint8)
    batch = {"image": jnp.asarray(images)}
    lazy, _ = G.gan_steps(latent_dim=2, r1_gamma=gamma, r1_every=k)
    plain, _ = G.gan_steps(latent_dim=2)

    @jax.jit
    def both(state):
        s_r1, m_r1 = lazy(state, batch)
        s_plain, m_plain = plain(state, batch)
        return m_r1["r1"], s_r1.d_params["out"]["kernel"] - s_plain.d_params["out"]["kernel"]

    penalty, _, d_v = _np_r1(images / 127.5 - 1.0, W, b, v, gamma)  # images in [-1, 1]
    for step in range(2 * k + 1):
        r1, delta = both(state.replace(step=jnp.asarray(step, jnp.int32)))
        if step % k == 0:
            np.testing.assert_allclose(float(r1), k * penalty, rtol=1e-4)
            np.testing.assert_allclose(delta[:, 0], -lr * k * d_v, rtol=1e-3, atol=1e-7)
        else:  # between lazy steps: no penalty, the same D update as without R1
            assert float(r1) == 0.0
            # The two programs may round D's update differently: a few float32 ulps of a
            # kernel of order 1 (1.2e-7 seen), against an R1 share of 2.5e-3 or more.
            np.testing.assert_allclose(delta, 0.0, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="r1_every"):
        G.gan_steps(r1_gamma=1.0, r1_every=0)


# --- the config keys ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"r1_gamma": -1.0}, "gan.r1_gamma must be >= 0"),
        ({"r1_every": 0}, "gan.r1_every must be >= 1"),
        ({"w_avg_beta": 1.0}, "gan.w_avg_beta must be in [0, 1)"),
        ({"truncation_psi": (1.0, 1.5)}, "numbers in [-1, 1]"),
    ],
)
def test_bad_r1_and_truncation_keys_are_refused_in_one_line(values, message):
    c = fashion_mnist_stylegan.get_config()
    for key, value in values.items():
        c.gan[key] = value
    with pytest.raises(ConfigError) as e:
        validate(c)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_truncation_psi_needs_a_stylegan_and_the_stylegan_config_is_valid():
    c = fashion_mnist_stylegan.get_config()
    validate(c)
    assert tuple(c.gan.truncation_psi) == (1.0, 0.7, 0.5)
    c.model.name = "dcgan"
    c.gan.generator = type(c.gan.generator)({"base_width": 8})
    with pytest.raises(ConfigError, match="needs model 'stylegan'"):
        validate(c)
