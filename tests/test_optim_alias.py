"""The "all together" chain against a float64 numpy reference; config-name factories.

all_together: V <- gamma_t (g(P) + kappa P + n_t) + rho V, W <- W - V, P = W - rho V,
n_t ~ N(0, sigma_t^2) (the draws are taken from add_gradient_noise with the same key,
whose distribution is checked in test_optim_noise); adaptive: the bracket divided by
sqrt(v_hat) + eps with Adam's bias-corrected second moment of the bracket.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxdl.optim as jo

N_STEPS = 25
RHO, KAPPA, SIGMA0, NOISE_KAPPA, B2, EPS = 0.9, 0.05, 0.3, 0.55, 0.999, 1e-8
_rng = np.random.default_rng(0)
TARGET = {"kernel": _rng.normal(size=(3, 2)), "bias": _rng.normal(size=(2,))}
INIT = {"kernel": _rng.normal(size=(3, 2)), "bias": _rng.normal(size=(2,))}
MASK = {"kernel": 1.0, "bias": 0.0}  # default decay mask: kernels only


def loss(p):
    return sum(jnp.sum(0.5 * (p[k] - jnp.asarray(TARGET[k], jnp.float32)) ** 2) for k in p)


def gamma_np(t):
    return 0.1 / (1.0 + 0.5 * (t // 5))


def gamma_jax():
    return jo.time_based_decay(0.1, 0.5, steps_per_epoch=5)


def noise_draws(key):
    """The noise sequence n_t that a noise transform with this key adds."""
    tx = jo.add_gradient_noise(SIGMA0, NOISE_KAPPA, key=key)
    zeros = jax.tree.map(lambda x: jnp.zeros(x.shape, jnp.float32), INIT)
    state, out = tx.init(zeros), []
    for _ in range(N_STEPS):
        n, state = tx.update(zeros, state)
        out.append({k: np.asarray(v, np.float64) for k, v in n.items()})
    return out


def reference(adaptive, noise, kappa=KAPPA):
    w = dict(INIT)
    vel = {k: np.zeros_like(x) for k, x in w.items()}
    sq = {k: np.zeros_like(x) for k, x in w.items()}
    out = []
    for t in range(N_STEPS):
        p = {k: w[k] - RHO * vel[k] for k in w}  # look-ahead point
        d = {k: (p[k] - TARGET[k]) + kappa * MASK[k] * p[k] + noise[t][k] for k in w}
        if adaptive:
            sq = {k: B2 * sq[k] + (1 - B2) * d[k] ** 2 for k in w}
            d = {k: d[k] / (np.sqrt(sq[k] / (1 - B2 ** (t + 1))) + EPS) for k in w}
        vel = {k: gamma_np(t) * d[k] + RHO * vel[k] for k in w}
        w = {k: w[k] - vel[k] for k in w}
        out.append((w, vel))
    return out


def run(*txs):
    """N_STEPS train steps of each transformation from INIT; one jitted step advances
    them all (one compilation). The params after every step, one list per
    transformation."""

    @jax.jit
    def step(carries):
        out = []
        for tx, (p, s) in zip(txs, carries):
            updates, s = tx.update(jax.grad(loss)(jo.evaluation_point(s, p)), s, p)
            out.append((optax.apply_updates(p, updates), s))
        return out

    p = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), INIT)
    carries, out = [(p, tx.init(p)) for tx in txs], []
    for _ in range(N_STEPS):
        carries = step(carries)
        out.append([{k: np.asarray(v, np.float64) for k, v in p.items()} for p, _ in carries])
    return [list(trajectory) for trajectory in zip(*out)]


def make(adaptive, lookahead, key=11):
    return jo.all_together(
        gamma_jax(),
        rho=RHO,
        weight_decay=KAPPA,
        noise_sigma0=SIGMA0,
        noise_kappa=NOISE_KAPPA,
        adaptive=adaptive,
        key=key,
        lookahead=lookahead,
        b2=B2,
        eps=EPS,
    )


@pytest.mark.parametrize("adaptive", [False, True])
def test_all_together_matches_reference_in_both_forms(adaptive):
    ref = reference(adaptive, noise_draws(11))
    lookahead, reformulated = run(make(adaptive, lookahead=True), make(adaptive, lookahead=False))
    for t, (w, vel) in enumerate(ref):
        for k in w:
            np.testing.assert_allclose(
                lookahead[t][k], w[k], rtol=1e-4, atol=2e-5, err_msg=f"W {k} t={t}"
            )
            # Reformulated form: its params are U = W - rho V.
            u = w[k] - RHO * vel[k]
            np.testing.assert_allclose(
                reformulated[t][k], u, rtol=1e-4, atol=2e-5, err_msg=f"U {k} t={t}"
            )


def test_reference_terms_all_matter():
    """Guards the test above: dropping the noise or the decay changes the reference."""
    noise = noise_draws(11)
    full = reference(False, noise)[-1][0]["kernel"]
    quiet = reference(False, [{k: 0 * v for k, v in n.items()} for n in noise])[-1][0]["kernel"]
    assert not np.allclose(full, quiet, rtol=1e-3)
    undecayed = reference(False, noise, kappa=0.0)[-1][0]["kernel"]
    assert not np.allclose(full, undecayed, rtol=1e-3)


def test_all_together_without_extras_is_nesterov_lookahead():
    plain, nesterov = run(
        jo.all_together(gamma_jax(), weight_decay=0.0, noise_sigma0=0.0),
        jo.nesterov_lookahead(gamma_jax()),
    )
    np.testing.assert_allclose(plain[-1]["kernel"], nesterov[-1]["kernel"], rtol=1e-6)


def test_all_together_needs_key_for_noise():
    with pytest.raises(ValueError, match="key"):
        jo.all_together(0.1)
    jo.all_together(0.1, noise_sigma0=0.0)  # no noise, no key needed


def test_create_matches_factories():
    assert isinstance(jo.create("all_together_adaptive", 1e-4, key=0), optax.GradientTransformation)
    adaptive_state = jo.create("all_together_adaptive", 1e-4, key=0).init(INIT)
    assert any(
        isinstance(x, optax.ScaleByAdamState)
        for x in jax.tree.leaves(
            adaptive_state, is_leaf=lambda x: isinstance(x, optax.ScaleByAdamState)
        )
    )
    # Clipping by name goes first, on the raw gradient.
    clipped, manual, plain = run(
        jo.create("nesterov", 0.1, clipping="global_norm", clipping_kwargs={"max_norm": 0.5}),
        optax.chain(optax.clip_by_global_norm(0.5), jo.nesterov(0.1)),
        jo.create("nesterov", 0.1),
    )
    np.testing.assert_allclose(clipped[-1]["kernel"], manual[-1]["kernel"], rtol=1e-6)
    assert not np.allclose(plain[-1]["kernel"], clipped[-1]["kernel"], rtol=1e-3)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: jo.create("rmsprop", 0.1), "valid names"),
        (lambda: jo.create("sgd", 0.1, rho=0.9), r"valid keyword arguments: \['weight_decay'"),
        (lambda: jo.create("adam", 0.1, beta1=0.9), "b1"),
        (lambda: jo.create("momentum", 0.1, clipping="norm"), "valid names"),
        (lambda: jo.create("momentum", 0.1, clipping="global_norm"), "max_norm"),
        (lambda: jo.create_clipping("running_average", tau=1.0), "decay"),
        (lambda: jo.create("all_together", 0.1, key=0, rho=1.5), "rho"),
    ],
)
def test_create_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_all_together_under_inject_hyperparams():
    """Hyperparameters can live in the state (e.g. to decay the rate on a restart)."""
    inject = optax.inject_hyperparams(jo.all_together, static_args=("key", "mask"))
    injected = inject(learning_rate=0.05, weight_decay=KAPPA, noise_sigma0=SIGMA0, key=3)
    direct, injected = run(
        jo.all_together(0.05, weight_decay=KAPPA, noise_sigma0=SIGMA0, key=3), injected
    )
    np.testing.assert_allclose(injected[-1]["kernel"], direct[-1]["kernel"], rtol=1e-5)
    # Forgetting "mask" in static_args would make optax call the mask with the step
    # count (it takes callables for schedules) and silently drop the decay: an error.
    forgot = optax.inject_hyperparams(jo.all_together, static_args=("key",))(0.05, key=3)
    with pytest.raises(TypeError, match="static_args"):
        forgot.init(INIT)
