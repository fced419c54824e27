"""Tests that kill mutants of jaxdl.optim.alias which the other tests let survive.

Found by ``python -m mutation.run --modules optim/alias`` (docs/testing.md). They pin
the optimizers that `create` builds by name (SGD, momentum, both Nesterov forms, Adam,
AdamW) over several steps with non-default and default hyperparameters, the coupled
decay and its mask, zero-coefficient terms left out of the chain, `all_together`'s
adaptive step and gradient noise, and the error messages word for word. References:
the update formulas of COURSE.md (and Adam's, Kingma & Ba; AdamW's, Loshchilov &
Hutter) in float64 NumPy, optax's own transformations for the state layout, and
messages written out by hand.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl.optim import all_together, create, create_clipping

W0 = {"kernel": np.array([[0.5, -1.0], [2.0, 0.25]]), "bias": np.array([1.0, -0.5])}
GRADS = [  # a different gradient at every step, so that the moments' rates matter
    {"kernel": np.array([[1.0, -2.0], [0.5, 3.0]]), "bias": np.array([0.5, -1.0])},
    {"kernel": np.array([[-0.5, 1.0], [2.0, -1.0]]), "bias": np.array([2.0, 0.25])},
    {"kernel": np.array([[0.25, 0.5], [-1.5, 0.5]]), "bias": np.array([-1.0, 1.5])},
]
KERNEL_ONLY = {"kernel": 1.0, "bias": 0.0}  # what the default mask (decay_mask) decays
EVERY_LEAF = {"kernel": 1.0, "bias": 1.0}  # mask=None


def _raises(error, message):
    return pytest.raises(error, match=f"^{re.escape(message)}$")


def _reference(kind, lr, rho=0.0, kappa=0.0, decayed=KERNEL_ONLY, b1=0.9, b2=0.999, eps=1e-8):
    """The updates of three steps, float64, from the formulas (params follow the updates)."""
    out = []
    for name in ("kernel", "bias"):
        w, k = W0[name].copy(), kappa * decayed[name]
        v, m, s = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
        ups = []
        for t, grads in enumerate(GRADS, start=1):
            g = grads[name]
            if kind == "sgd":  # W <- W - gamma (g + kappa W)
                u = -lr * (g + k * w)
            elif kind == "momentum":  # V <- gamma (g + kappa W) + rho V; W <- W - V
                v = lr * (g + k * w) + rho * v
                u = -v
            elif kind == "nesterov":  # params are U: U <- U - gamma (g + kappa U) - rho V
                d = lr * (g + k * w)
                v = d + rho * v
                u = -d - rho * v
            elif kind == "nesterov_lookahead":  # gradient and decay at U = W - rho V
                v = lr * (g + k * (w - rho * v)) + rho * v
                u = -v
            elif kind in ("adam", "adamw"):  # coupled: decay in the gradient; decoupled: after
                h = g + k * w if kind == "adam" else g
                m = b1 * m + (1 - b1) * h
                s = b2 * s + (1 - b2) * h**2
                step = (m / (1 - b1**t)) / (np.sqrt(s / (1 - b2**t)) + eps)
                u = -lr * (step + (k * w if kind == "adamw" else 0.0))
            elif kind == "all_together_adaptive":  # b1 = 0, h at U = W - rho V:
                # V <- gamma h / (sqrt(s_hat) + eps) + rho V; W <- W - V
                h = g + k * (w - rho * v)
                s = b2 * s + (1 - b2) * h**2
                v = lr * h / (np.sqrt(s / (1 - b2**t)) + eps) + rho * v
                u = -v
            ups.append(u)
            w = w + u
        out.append(ups)
    return [{"kernel": k, "bias": b} for k, b in zip(*out)]


def _run(tx, params=W0):
    params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), params)
    state = tx.init(params)
    ups = []
    for grads in GRADS:  # fixed gradients: where they were taken does not matter here
        u, state = tx.update(jax.tree.map(jnp.asarray, grads), state, params)
        ups.append(u)
        params = optax.apply_updates(params, u)
    return ups


def _check(ups, expected, rtol=2e-5, atol=1e-6):
    for u, e in zip(ups, expected, strict=True):
        for name in ("kernel", "bias"):
            np.testing.assert_allclose(np.asarray(u[name]), e[name], rtol=rtol, atol=atol)


MOMENTUMS = ["sgd", "momentum", "nesterov", "nesterov_lookahead"]


@pytest.mark.parametrize("name", MOMENTUMS)
def test_create_with_rho_decay_and_default_mask(name):
    kwargs = {} if name == "sgd" else {"rho": 0.5}
    tx = create(name, 0.1, weight_decay=0.2, **kwargs)
    _check(_run(tx), _reference(name, 0.1, rho=0.5, kappa=0.2, decayed=KERNEL_ONLY))


@pytest.mark.parametrize("name", MOMENTUMS)
def test_create_with_decay_of_every_leaf(name):  # mask=None reaches add_weight_decay
    kwargs = {} if name == "sgd" else {"rho": 0.25}
    tx = create(name, 0.05, weight_decay=0.3, mask=None, **kwargs)
    _check(_run(tx), _reference(name, 0.05, rho=0.25, kappa=0.3, decayed=EVERY_LEAF))


@pytest.mark.parametrize("name", MOMENTUMS)
def test_create_defaults_have_no_decay_and_rho_09(name):
    _check(_run(create(name, 0.1)), _reference(name, 0.1, rho=0.9, kappa=0.0))


@pytest.mark.parametrize("name", MOMENTUMS[1:])
def test_create_with_rho_and_no_decay(name):
    _check(_run(create(name, 0.1, rho=0.5)), _reference(name, 0.1, rho=0.5))


def _mask_never_called(params):
    raise AssertionError("the mask of a zero weight decay was consulted")


@pytest.mark.parametrize("name", [*MOMENTUMS, "adam", "all_together"])
def test_a_zero_decay_is_left_out_and_its_mask_never_called(name):
    # A Python zero drops the term (all_together's docstring): no decay transformation,
    # so the mask is neither called at init nor at update.
    params = {"kernel": jnp.ones((2, 2)), "bias": jnp.zeros(2)}
    grads = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}
    extra = {"noise_sigma0": 0} if name == "all_together" else {}
    tx = create(name, 0.1, weight_decay=0, mask=_mask_never_called, **extra)
    _, state = tx.update(grads, tx.init(params), params)
    tx.update(grads, state, params)


@pytest.mark.parametrize(
    "name, reference",
    [("sgd", lambda: optax.sgd(0.1)), ("adam", lambda: optax.adam(0.1))],
)
def test_no_clipping_and_no_decay_give_the_plain_optax_state(name, reference):
    # clipping="none" adds no identity to the chain; zero decay adds no decay state.
    params = {"kernel": jnp.ones((2, 2)), "bias": jnp.zeros(2)}
    expected = jax.tree.structure(reference().init(params))
    for tx in (create(name, 0.1), create(name, 0.1, clipping="none")):
        assert jax.tree.structure(tx.init(params)) == expected


def test_clipping_before_the_optimizer_changes_the_update():
    tx = create("sgd", 0.5, clipping="global_norm", clipping_kwargs={"max_norm": 1.0})
    u, _ = tx.update(jnp.array([3.0, 4.0]), tx.init(jnp.zeros(2)), jnp.zeros(2))
    np.testing.assert_allclose(u, [-0.3, -0.4], rtol=1e-6)  # -0.5 * (3, 4) / 5


def test_adam_defaults():
    _check(_run(create("adam", 0.01)), _reference("adam", 0.01))


def test_adam_with_every_hyperparameter_and_coupled_decay():
    tx = create("adam", 0.02, b1=0.5, b2=0.8, eps=0.1, weight_decay=0.3)
    expected = _reference("adam", 0.02, kappa=0.3, b1=0.5, b2=0.8, eps=0.1)
    _check(_run(tx), expected)


def test_adamw_defaults_decay_kernels_by_1e_4():
    # The decay term is 2.5e-5 to 2e-4 of the update here (float32 Adam: about 7e-6),
    # so no atol; the bias (|W| >= 0.5) is not decayed (default mask).
    expected = _reference("adamw", 0.01, kappa=1e-4)
    _check(_run(create("adamw", 0.01)), expected, rtol=2e-5, atol=0.0)


def test_adamw_with_every_hyperparameter_and_mask_none():
    tx = create("adamw", 0.02, b1=0.5, b2=0.8, eps=0.1, weight_decay=0.3, mask=None)
    expected = _reference("adamw", 0.02, kappa=0.3, decayed=EVERY_LEAF, b1=0.5, b2=0.8, eps=0.1)
    _check(_run(tx), expected)


def test_all_together_adaptive_with_b2_eps_and_decay():
    tx = all_together(0.05, rho=0.5, weight_decay=0.2, noise_sigma0=0, adaptive=True,
                      b2=0.8, eps=0.1)  # fmt: skip
    expected = _reference("all_together_adaptive", 0.05, rho=0.5, kappa=0.2, b2=0.8, eps=0.1)
    _check(_run(tx), expected)


def test_all_together_noise_default_sigma0_and_passed_kappa():
    # rho = 0, no decay, rate 1, zero gradient: the update is minus the noise, whose
    # standard deviation is sigma_t = sigma0 / (1 + t)^kappa (COURSE.md), default 0.01.
    n = 20000
    tx = all_together(1.0, rho=0.0, weight_decay=0, noise_kappa=2.0, key=0)
    params = jnp.zeros(n)
    state = tx.init(params)
    for sigma in (0.01, 0.01 / 2.0**2):
        u, state = tx.update(jnp.zeros(n), state, params)
        assert float(jnp.std(u)) == pytest.approx(sigma, rel=0.05)


def test_all_together_error_messages():
    message = "adaptive and lookahead must be bools."
    with _raises(TypeError, message):
        all_together(0.1, noise_sigma0=0, adaptive=1)
    with _raises(TypeError, message):
        all_together(0.1, noise_sigma0=0, lookahead=1)
    with _raises(ValueError,
                 "all_together adds gradient noise (noise_sigma0=0.01): pass "
                 "key=jax.random.key(seed) or an int seed, or noise_sigma0=0 to disable it "
                 "(under optax.inject_hyperparams, a zero drops the noise only if "
                 "'noise_sigma0' is in static_args)."):  # fmt: skip
        all_together(0.1)
    with _raises(TypeError,
                 "all_together's gradient noise needs key=jax.random.key(seed) (a typed "
                 "key), a legacy jax.random.PRNGKey(seed) (uint32[2]) or an int seed; got "
                 "1.5 (for a batch of keys, jax.vmap the factory)."):  # fmt: skip
        all_together(0.1, key=1.5)


def test_unknown_names_are_refused_word_for_word():
    with _raises(ValueError,
                 "Unknown optimizer 'sgdd'; valid names: ['adam', 'adamw', 'all_together', "
                 "'all_together_adaptive', 'momentum', 'nesterov', 'nesterov_lookahead', "
                 "'sgd']."):  # fmt: skip
        create("sgdd", 0.1)
    with _raises(ValueError,
                 "Unknown clipping 'global'; valid names: ['global_norm', 'none', "
                 "'running_average']."):  # fmt: skip
        create_clipping("global")
