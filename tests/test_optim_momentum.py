"""Momentum and both Nesterov forms against float64 numpy references of the course.

Course: momentum V <- gamma_t g(W) + rho V; Nesterov V <- gamma_t g(W - rho V) + rho V;
W <- W - V. The reformulated Nesterov tracks U = W - rho V. Checked on a quadratic and
on a small tanh MLP, with a constant rate and with a schedule (gamma_t inside V).
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxdl.optim as jo

N_STEPS = 30
RHO = 0.9
RTOL, ATOL = 1e-4, 1e-5  # float32 implementation vs float64 reference over 30 steps

# ---------------------------------------------------------------- problems (numpy + jax)
_rng = np.random.default_rng(0)
_M = _rng.normal(size=(5, 5))
A = _M @ _M.T / 5 + 0.5 * np.eye(5)  # SPD
C = _rng.normal(size=5)
D = _rng.uniform(0.5, 2.0, size=(2, 3))  # diagonal curvature of the second leaf
X = _rng.normal(size=(8, 3))
Y = _rng.normal(size=(8, 2))


def quad_loss(p):
    r = p["w"] - jnp.asarray(C, jnp.float32)
    return 0.5 * r @ jnp.asarray(A, jnp.float32) @ r + 0.5 * jnp.sum(
        jnp.asarray(D, jnp.float32) * p["m"] ** 2
    )


def quad_grad_np(p):
    return {"w": A @ (p["w"] - C), "m": D * p["m"]}


def quad_init():
    return {"w": np.zeros(5), "m": np.ones((2, 3))}


def mlp_loss(p):
    h = jnp.tanh(jnp.asarray(X, jnp.float32) @ p["w1"] + p["b1"])  # [B, 5]
    out = h @ p["w2"] + p["b2"]  # [B, 2]
    return 0.5 * jnp.mean(jnp.sum((out - jnp.asarray(Y, jnp.float32)) ** 2, axis=-1))


def mlp_grad_np(p):
    """Hand-written backprop of mlp_loss in float64."""
    h = np.tanh(X @ p["w1"] + p["b1"])
    d_out = (h @ p["w2"] + p["b2"] - Y) / X.shape[0]  # [B, 2]
    dh = d_out @ p["w2"].T * (1.0 - h**2)  # [B, 5]
    return {"w1": X.T @ dh, "b1": dh.sum(0), "w2": h.T @ d_out, "b2": d_out.sum(0)}


def mlp_init():
    r = np.random.default_rng(1)
    return {
        "w1": r.normal(size=(3, 5)) / np.sqrt(3),
        "b1": np.zeros(5),
        "w2": r.normal(size=(5, 2)) / np.sqrt(5),
        "b2": np.zeros(2),
    }


PROBLEMS = {
    "quadratic": (quad_loss, quad_grad_np, quad_init),
    "mlp": (mlp_loss, mlp_grad_np, mlp_init),
}


def gamma_np(kind, t):
    """The rates in float64: constant, or time-based decay 0.1 / (1 + 0.3 (t // 4))."""
    return 0.05 if kind == "constant" else 0.1 / (1.0 + 0.3 * (t // 4))


def gamma_jax(kind):
    return 0.05 if kind == "constant" else jo.time_based_decay(0.1, 0.3, steps_per_epoch=4)


# ---------------------------------------------------------------- references (float64)
def tmap(f, *trees):
    return {k: f(*(t[k] for t in trees)) for k in trees[0]}


def ref_momentum(grad, w, kind):
    v, out = tmap(np.zeros_like, w), []
    for t in range(N_STEPS):
        g = grad(w)
        lr = gamma_np(kind, t)
        v = {k: lr * g[k] + RHO * v[k] for k in g}
        w = tmap(lambda w, v: w - v, w, v)
        out.append((w, v))
    return out


def ref_nesterov_lookahead(grad, w, kind):
    v, out = tmap(np.zeros_like, w), []
    for t in range(N_STEPS):
        g = grad(tmap(lambda w, v: w - RHO * v, w, v))
        lr = gamma_np(kind, t)
        v = {k: lr * g[k] + RHO * v[k] for k in g}
        w = tmap(lambda w, v: w - v, w, v)
        out.append((w, v))
    return out


def ref_nesterov_reformulated(grad, u, kind):
    v, out = tmap(np.zeros_like, u), []
    for t in range(N_STEPS):
        g = grad(u)
        lr = gamma_np(kind, t)
        v = {k: lr * g[k] + RHO * v[k] for k in g}
        u = {k: u[k] - lr * g[k] - RHO * v[k] for k in g}
        out.append((u, v))
    return out


# ---------------------------------------------------------------- the jax train loop
def run(tx, loss, params):
    """The lead's train step: gradient at evaluation_point, update with the params."""

    @jax.jit
    def step(params, state):
        grads = jax.grad(loss)(jo.evaluation_point(state, params))
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), params)
    state, out = tx.init(params), []
    for _ in range(N_STEPS):
        params, state = step(params, state)
        out.append((params, state))
    return out


def assert_close(got, expected, msg=""):
    for k in expected:
        np.testing.assert_allclose(
            np.asarray(got[k], np.float64), expected[k], rtol=RTOL, atol=ATOL, err_msg=f"{msg} {k}"
        )


@pytest.mark.parametrize("kind", ["constant", "schedule"])
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_momentum_matches_reference(problem, kind):
    loss, grad, init = PROBLEMS[problem]
    ref = ref_momentum(grad, init(), kind)
    got = run(jo.momentum(gamma_jax(kind), RHO), loss, init())
    for t, ((w, v), (p, state)) in enumerate(zip(ref, got)):
        assert_close(p, w, f"t={t}")
        assert_close(jax.tree.map(lambda x: -x, state[1].trace), v, f"velocity t={t}")


@pytest.mark.parametrize("kind", ["constant", "schedule"])
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_nesterov_forms_match_reference_and_each_other(problem, kind):
    loss, grad, init = PROBLEMS[problem]
    ref_w = ref_nesterov_lookahead(grad, init(), kind)
    ref_u = ref_nesterov_reformulated(grad, init(), kind)
    got_w = run(jo.nesterov_lookahead(gamma_jax(kind), RHO), loss, init())
    got_u = run(jo.nesterov(gamma_jax(kind), RHO), loss, init())
    for t in range(N_STEPS):
        (w, v), (u, v_u) = ref_w[t], ref_u[t]
        # The change of variables itself, in float64: U = W - rho V, same velocity.
        assert_close(u, tmap(lambda w, v: w - RHO * v, w, v), f"reference mapping t={t}")
        assert_close(v_u, v, f"reference velocity t={t}")
        # Literal look-ahead form: params W_t and velocity V_t.
        p, state = got_w[t]
        assert isinstance(state, jo.LookaheadVelocityState)
        assert_close(p, w, f"lookahead W t={t}")
        assert_close(state.velocity, v, f"lookahead V t={t}")
        # Reformulated drop-in optimizer: its params are U_t.
        assert_close(got_u[t][0], u, f"reformulated U t={t}")
        # And the two implementations agree through evaluation_point.
        chex.assert_trees_all_close(
            jo.evaluation_point(state, p), got_u[t][0], rtol=1e-5, atol=1e-6
        )


def test_forms_differ_from_plain_momentum():
    """Guards the tests above: Nesterov, momentum and optax's sgd differ on these problems."""
    loss, grad, init = PROBLEMS["quadratic"]
    nes = ref_nesterov_lookahead(grad, init(), "schedule")[-1][0]
    mom = ref_momentum(grad, init(), "schedule")[-1][0]
    assert not np.allclose(nes["w"], mom["w"], rtol=1e-3)
    # With a schedule optax.sgd scales AFTER the trace: not the course's form.
    sgd = run(optax.sgd(gamma_jax("schedule"), momentum=RHO), loss, init())[-1][0]
    assert not np.allclose(np.asarray(sgd["w"]), mom["w"], rtol=1e-3)


def test_constant_rate_nesterov_equals_optax_sgd():
    loss, _, init = PROBLEMS["mlp"]
    ours = run(jo.nesterov(0.05, RHO), loss, init())[-1][0]
    theirs = run(optax.sgd(0.05, momentum=RHO, nesterov=True), loss, init())[-1][0]
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), ours, theirs)


def test_evaluation_point_identity_and_errors():
    params = {"w": jnp.ones(3)}
    for tx in (jo.momentum(0.1), jo.nesterov(0.1), optax.adam(1e-3)):
        assert jo.evaluation_point(tx.init(params), params) is params
    two = optax.chain(jo.nesterov_lookahead(0.1), jo.nesterov_lookahead(0.1))
    with pytest.raises(ValueError, match="ambiguous"):
        jo.evaluation_point(two.init(params), params)
    tx = jo.nesterov_lookahead(0.1)
    with pytest.raises(ValueError, match="needs params"):
        tx.update(params, tx.init(params))
    # Found anywhere in a nested state tree (inside a chain, inside inject_hyperparams).
    wrapped = optax.chain(optax.clip_by_global_norm(1.0), jo.nesterov_lookahead(0.1, rho=0.5))
    state = wrapped.init(params)
    state = (state[0], state[1]._replace(velocity={"w": jnp.full(3, 2.0)}))
    np.testing.assert_allclose(jo.evaluation_point(state, params)["w"], np.zeros(3))
    injected = optax.inject_hyperparams(jo.nesterov_lookahead)(learning_rate=0.1, rho=0.5)
    state = injected.init(params)
    _, state = injected.update(params, state, params)  # V_1 = 0.1 * 1
    np.testing.assert_allclose(jo.evaluation_point(state, params)["w"], np.full(3, 0.95))


@pytest.mark.parametrize("rho", [1.0, -0.1])
def test_rho_validation(rho):
    for factory in (jo.momentum, jo.nesterov, jo.nesterov_lookahead):
        with pytest.raises(ValueError, match="rho"):
            factory(0.1, rho=rho)
    with pytest.raises(ValueError, match="learning_rate"):
        jo.momentum(-0.1)
