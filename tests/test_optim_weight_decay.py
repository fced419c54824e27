"""Weight decay: the default mask, coupled (course) and decoupled (AdamW) forms.

References are float64 numpy: coupled W <- W - gamma (g + kappa W) (also through
momentum's velocity); decoupled W <- W - gamma (m_hat / (sqrt(v_hat) + eps) + kappa W).
Biases are never decayed by the default mask.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxdl.optim as jo

N_STEPS = 25
KAPPA = 0.1
_rng = np.random.default_rng(0)
TARGET = {"kernel": _rng.normal(size=(3, 2)), "bias": _rng.normal(size=(2,))}
INIT = {"kernel": _rng.normal(size=(3, 2)), "bias": _rng.normal(size=(2,))}


def loss(p):
    return sum(0.5 * jnp.sum((p[k] - jnp.asarray(TARGET[k], jnp.float32)) ** 2) for k in p)


def grad_np(p):
    return {k: p[k] - TARGET[k] for k in p}


def run(tx):
    step = jax.jit(
        lambda p, s: (lambda u_s: (optax.apply_updates(p, u_s[0]), u_s[1]))(
            tx.update(jax.grad(loss)(jo.evaluation_point(s, p)), s, p)
        )
    )
    p = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), INIT)
    s, out = tx.init(p), []
    for _ in range(N_STEPS):
        p, s = step(p, s)
        out.append({k: np.asarray(v, np.float64) for k, v in p.items()})
    return out


def decayed(k):
    return KAPPA if k == "kernel" else 0.0  # the default mask: kernels only


class _Net(nn.Module):
    @nn.compact
    def __call__(self, x, ids):
        x = nn.Conv(4, (3, 3))(x)  # [B, H, W, 4]
        x = nn.BatchNorm(use_running_average=True)(x)
        x = nn.LayerNorm()(x.reshape(x.shape[0], -1))
        return nn.Dense(2)(x) + nn.Embed(5, 2)(ids)


def test_decay_mask_on_flax_model():
    variables = jax.eval_shape(
        _Net().init, jax.random.key(0), jnp.ones((1, 4, 4, 1)), jnp.zeros((1,), jnp.int32)
    )
    mask = jo.decay_mask(variables["params"])
    assert mask == {
        "Conv_0": {"kernel": True, "bias": False},
        "BatchNorm_0": {"scale": False, "bias": False},
        "LayerNorm_0": {"scale": False, "bias": False},
        "Dense_0": {"kernel": True, "bias": False},
        "Embed_0": {"embedding": True},
    }
    # By rank too: a 1-d "weight" (e.g. a learned per-channel slope) is left alone,
    # and a 2-d leaf named like a normalization parameter is too.
    assert jo.decay_mask({"w": jnp.ones(3), "scale": jnp.ones((2, 2)), "m": jnp.ones((2, 2))}) == {
        "w": False,
        "scale": False,
        "m": True,
    }


def test_coupled_sgd_matches_reference():
    gamma, w = 0.1, dict(INIT)
    got = run(optax.chain(jo.add_weight_decay(KAPPA), optax.sgd(gamma)))
    for t in range(N_STEPS):
        g = grad_np(w)
        w = {k: w[k] - gamma * (g[k] + decayed(k) * w[k]) for k in w}
        for k in w:
            np.testing.assert_allclose(got[t][k], w[k], rtol=1e-5, atol=1e-6, err_msg=f"{k} t={t}")
    # The decay acted on the kernel only: the bias follows undecayed SGD exactly.
    plain = run(optax.sgd(gamma))[-1]
    np.testing.assert_allclose(got[-1]["bias"], plain["bias"], rtol=1e-6)
    assert not np.allclose(got[-1]["kernel"], plain["kernel"], rtol=1e-2)


@pytest.mark.parametrize("name", ["momentum", "nesterov_lookahead"])
def test_coupled_in_velocity_matches_reference(name):
    """V <- gamma (g(P) + kappa P) + rho V at P = W (momentum) or W - rho V (look-ahead)."""
    gamma, rho = 0.05, 0.9
    got = run(jo.create(name, gamma, rho=rho, weight_decay=KAPPA))
    w, v = dict(INIT), {k: np.zeros_like(x) for k, x in INIT.items()}
    for t in range(N_STEPS):
        p = w if name == "momentum" else {k: w[k] - rho * v[k] for k in w}
        g = grad_np(p)
        v = {k: gamma * (g[k] + decayed(k) * p[k]) + rho * v[k] for k in w}
        w = {k: w[k] - v[k] for k in w}
        for k in w:
            np.testing.assert_allclose(got[t][k], w[k], rtol=1e-5, atol=1e-6, err_msg=f"{k} t={t}")


def test_decoupled_adamw_matches_reference():
    gamma, b1, b2, eps = 0.05, 0.9, 0.999, 1e-8
    got = run(jo.adamw(gamma, weight_decay=KAPPA))
    w = dict(INIT)
    m = {k: np.zeros_like(x) for k, x in w.items()}
    v = {k: np.zeros_like(x) for k, x in w.items()}
    for t in range(1, N_STEPS + 1):
        g = grad_np(w)
        m = {k: b1 * m[k] + (1 - b1) * g[k] for k in w}
        v = {k: b2 * v[k] + (1 - b2) * g[k] ** 2 for k in w}
        w = {
            k: w[k]
            - gamma
            * ((m[k] / (1 - b1**t)) / (np.sqrt(v[k] / (1 - b2**t)) + eps) + decayed(k) * w[k])
            for k in w
        }
        for k in w:
            np.testing.assert_allclose(got[t - 1][k], w[k], rtol=1e-4, atol=1e-5, err_msg=f"{k}")
    # Coupled L2 inside Adam is a different algorithm.
    coupled = run(jo.create("adam", gamma, weight_decay=KAPPA))[-1]["kernel"]
    assert not np.allclose(coupled, got[-1]["kernel"], rtol=1e-3)


def test_negative_kappa_rejected():
    with pytest.raises(ValueError, match="kappa"):
        jo.add_weight_decay(-1e-4)
    with pytest.raises(ValueError, match="kappa"):
        jo.adamw(1e-3, weight_decay=-1.0)
