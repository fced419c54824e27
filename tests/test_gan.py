"""GAN losses vs float64 numpy, their saturation, the alternating step, and the runner."""

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from jaxdl.data.loader import to_device
from jaxdl.models.gan import MLPDiscriminator, MLPGenerator
from jaxdl.training import gan as G
from jaxdl.training import loop, parallel
from jaxdl.training.store import CheckpointOptions
from jaxdl.training.writers import MetricsFile


def _np_softplus(x):
    return np.logaddexp(0.0, x)  # log(1 + e^x), stable in float64


LOGITS_R = np.array([-3.0, -0.5, 0.0, 2.0, 40.0, -40.0])
LOGITS_F = np.array([1.5, -2.0, 0.3, -30.0, 35.0, 0.0])


def test_discriminator_loss_matches_numpy_reference():
    # -[mean log D(x) + mean log(1 - D(G(z)))], D = sigmoid(logit), in float64.
    d_real = 1 / (1 + np.exp(-LOGITS_R[:4]))
    d_fake = 1 / (1 + np.exp(-LOGITS_F[:4]))
    want = -(np.mean(np.log(d_real)) + np.mean(np.log(1 - d_fake)))
    got = G.discriminator_loss(jnp.asarray(LOGITS_R[:4]), jnp.asarray(LOGITS_F[:4]))
    np.testing.assert_allclose(float(got), want, rtol=1e-6)
    # Extreme logits: stable (a naive log(sigmoid) would give -inf / nan).
    want_all = np.mean(_np_softplus(-LOGITS_R)) + np.mean(_np_softplus(LOGITS_F))
    got_all = G.discriminator_loss(jnp.asarray(LOGITS_R), jnp.asarray(LOGITS_F))
    assert np.isfinite(float(got_all))
    np.testing.assert_allclose(float(got_all), want_all, rtol=1e-6)


def test_generator_losses_match_numpy_reference():
    d = 1 / (1 + np.exp(-LOGITS_F[:3]))
    np.testing.assert_allclose(
        float(G.generator_loss_minimax(jnp.asarray(LOGITS_F[:3]))),
        np.mean(np.log(1 - d)),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        float(G.generator_loss_non_saturating(jnp.asarray(LOGITS_F[:3]))),
        -np.mean(np.log(d)),
        rtol=1e-6,
    )
    for name, want in (
        ("minimax", -np.mean(_np_softplus(LOGITS_F))),
        ("non_saturating", np.mean(_np_softplus(-LOGITS_F))),
    ):
        got = G.generator_loss(name)(jnp.asarray(LOGITS_F))
        np.testing.assert_allclose(float(got), want, rtol=1e-6)


def test_patch_logits_average_over_every_patch():
    logits = jnp.asarray(np.linspace(-3, 3, 2 * 4 * 4).reshape(2, 4, 4, 1))
    np.testing.assert_allclose(
        float(G.generator_loss_non_saturating(logits)),
        np.mean(_np_softplus(-np.asarray(logits))),
        rtol=1e-6,
    )


def test_minimax_generator_gradient_vanishes_when_d_is_confident_non_saturating_does_not():
    # D confidently rejects the fakes: D(G(z)) = sigmoid(l) ~ 4.5e-5 ... 6.7e-3.
    logits = jnp.array([-10.0, -7.0, -5.0])
    n = logits.size
    g_mm = jax.grad(G.generator_loss_minimax)(logits)
    g_ns = jax.grad(G.generator_loss_non_saturating)(logits)
    sig = 1 / (1 + np.exp(-np.asarray(logits, np.float64)))
    np.testing.assert_allclose(np.asarray(g_mm), -sig / n, rtol=1e-5)  # d/dl log(1-s) = -s
    np.testing.assert_allclose(np.asarray(g_ns), -(1 - sig) / n, rtol=1e-5)
    assert np.max(np.abs(g_mm)) * n < 7e-3  # saturated: vanishing gradient
    assert np.min(np.abs(g_ns)) * n > 0.99  # non-saturating: ~1 per logit
    # When D is fooled (l >> 0) the roles flip: minimax is steep, non-saturating flat.
    g_mm_fooled = jax.grad(G.generator_loss_minimax)(jnp.array([8.0]))
    g_ns_fooled = jax.grad(G.generator_loss_non_saturating)(jnp.array([8.0]))
    assert abs(float(g_mm_fooled[0])) > 0.99 and abs(float(g_ns_fooled[0])) < 1e-3


def test_unknown_loss_and_bad_arguments_raise():
    with pytest.raises(ValueError, match="non_saturating"):
        G.generator_loss("wasserstein")
    with pytest.raises(ValueError, match="conditional"):
        G.gan_steps(l1_weight=100.0)
    with pytest.raises(ValueError, match="d_steps"):
        G.gan_steps(d_steps=0)


def test_uint8_range_round_trip():
    x = jnp.arange(256, dtype=jnp.uint8)
    np.testing.assert_array_equal(np.asarray(G.to_uint8(G.to_model_range(x))), np.arange(256))
    assert float(G.to_model_range(x).min()) == -1.0 and float(G.to_model_range(x).max()) == 1.0


class _TinyG(nn.Module):
    @nn.compact
    def __call__(self, x, train=False):  # condition image -> image (no BN, no dropout)
        return jnp.tanh(nn.Conv(1, (3, 3))(x))


class _TinyD(nn.Module):
    @nn.compact
    def __call__(self, x, train=False):
        return nn.Dense(1)(x.reshape(x.shape[0], -1))


def test_step_updates_d_then_g_against_the_updated_d():
    """One conditional step equals: SGD on D's loss, then SGD on G's loss under the NEW D."""
    lr, lam = 0.1, 100.0
    g, d = _TinyG(), _TinyD()
    state = G.GANState.create(
        generator=g,
        discriminator=d,
        g_tx=optax.sgd(lr),
        d_tx=optax.sgd(lr),
        rng=jax.random.PRNGKey(0),
        g_input=jnp.zeros((1, 6, 6, 1)),
        d_input=jnp.zeros((1, 6, 6, 2)),
    )
    rng = np.random.default_rng(0)
    batch = {
        "image": rng.integers(0, 256, (4, 6, 6, 1), dtype=np.uint8),
        "condition": rng.integers(0, 256, (4, 6, 6, 1), dtype=np.uint8),
    }
    train_step, _ = G.gan_steps(conditional=True, l1_weight=lam)
    new, metrics = jax.jit(train_step)(state, batch)

    real = batch["image"] / 127.5 - 1.0
    cond = batch["condition"] / 127.5 - 1.0

    def gen(gp):
        return g.apply({"params": gp}, cond)

    def d_loss(dp):
        lr_ = d.apply({"params": dp}, np.concatenate([cond, real], -1))
        lf_ = d.apply({"params": dp}, jnp.concatenate([cond, gen(state.g_params)], -1))
        return G.discriminator_loss(lr_, lf_)

    d1 = jax.tree.map(lambda p, q: p - lr * q, state.d_params, jax.grad(d_loss)(state.d_params))

    def g_loss(gp):
        fake = gen(gp)
        adv = G.generator_loss_non_saturating(
            d.apply({"params": d1}, jnp.concatenate([cond, fake], -1))
        )
        return adv + lam * jnp.mean(jnp.abs(fake - real))

    g1 = jax.tree.map(lambda p, q: p - lr * q, state.g_params, jax.grad(g_loss)(state.g_params))
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6), new.d_params, d1
    )
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6), new.g_params, g1
    )
    assert int(new.step) == 1 and np.isfinite(float(metrics["l1"]))
    np.testing.assert_allclose(float(metrics["loss"]), float(d_loss(state.d_params)), rtol=1e-5)


def _mlp_state(mesh, latent=8, shape=(8, 8, 1)):
    g = MLPGenerator(shape, hidden=(16,))
    d = MLPDiscriminator(hidden=(16,), maxout_pieces=2)
    return parallel.create_sharded(
        lambda: G.GANState.create(
            generator=g,
            discriminator=d,
            g_tx=optax.adam(2e-4, b1=0.5),
            d_tx=optax.adam(2e-4, b1=0.5),
            rng=jax.random.PRNGKey(1),
            g_input=jnp.zeros((1, latent)),
            d_input=jnp.zeros((1, *shape)),
        ),
        mesh,
    )


def test_fit_trains_a_gan_on_8_devices_and_evaluates_like_1_device(tmp_path):
    mesh = parallel.make_mesh()
    assert mesh.size == 8
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 8, 8, 1), dtype=np.uint8)
    train = to_device({"image": images}, mesh)
    val = to_device({"image": images[:20], "index": np.arange(20, dtype=np.int32)}, mesh)
    train_step, eval_step = G.gan_steps(latent_dim=8, d_steps=2)
    res = loop.fit(
        state=_mlp_state(mesh),
        train_step=train_step,
        eval_step=eval_step,
        train=train,
        evals={"val": val},
        options=loop.LoopOptions(batch_size=16, num_epochs=1, log_every_steps=2),
        hooks=[MetricsFile()],
        checkpoints=CheckpointOptions(async_save=False),
        workdir=tmp_path,
        data_key=jax.random.PRNGKey(0),
        mesh=mesh,
    )
    assert int(res.state.step) == 4
    rec = res.history[-1]
    for k in ("val_loss", "val_g_loss", "val_d_accuracy"):
        assert np.isfinite(rec[k]), k
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any("train_g_loss" in r and "train_d_real" in r for r in rows)
    # Evaluation latents depend on the example index only: the same on 1 device.
    one = parallel.make_mesh(jax.devices()[:1])
    val1 = to_device({"image": images[:20], "index": np.arange(20, dtype=np.int32)}, one)
    state1 = jax.device_put(res.state, parallel.replicated(one))
    ev8 = loop.evaluate(res.state, eval_step, val, 16, mesh, "val")
    ev1 = loop.evaluate(state1, eval_step, val1, 16, one, "val")
    for k in ev8:
        np.testing.assert_allclose(ev1[k], ev8[k], rtol=1e-4, atol=1e-6)


def _tiny_config(model: str) -> ml_collections.ConfigDict:
    from train.configs import fashion_mnist_dcgan

    c = fashion_mnist_dcgan.get_config()
    c.data.name = "mnist"  # embedded
    c.data.train_split = "train[:128]"
    c.data.test_split = "test[:64]"
    c.data.pad_to = 0
    c.model.name = model
    c.gan.latent_dim = 8
    c.gan.num_samples = 16
    c.gan.fid_classifier = ""
    c.gan.generator = ml_collections.ConfigDict({"hidden": (16,)})
    c.gan.discriminator = ml_collections.ConfigDict({"hidden": (16,), "maxout_pieces": 2})
    c.train.batch_size = 64
    c.train.eval_batch_size = 64
    c.train.num_epochs = 1
    c.train.progress = False
    return c


@pytest.mark.slow  # the GAN runner end to end (its steps are tested above)
def test_runner_trains_a_gan_and_fits_the_gaussian(tmp_path):
    from train import gan as runner
    from train.validate import validate

    c = _tiny_config("mlp_gan")
    validate(c)
    out = runner.run(c, tmp_path / "gan")
    assert out.summary["steps"] == 2 and out.summary["finished"]
    assert (tmp_path / "gan" / "samples.png").stat().st_size > 200
    assert json.loads((tmp_path / "gan" / "summary.json").read_text())["model"] == "mlp_gan"

    c = _tiny_config("gaussian")
    c.gan.generator = ml_collections.ConfigDict()
    c.gan.discriminator = ml_collections.ConfigDict()
    c.gan.gaussian_components = 20
    out = runner.run(c, tmp_path / "gauss")
    assert out.summary["components"] == 20 and np.isfinite(out.summary["test_bits_per_dim"])
    assert (tmp_path / "gauss" / "eigen_images.png").exists()

    c = _tiny_config("pix2pix")  # needs gan.condition: a clear error, before any work
    with pytest.raises(ValueError, match="sobel_edges"):
        validate(c)
