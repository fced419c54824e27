"""Classifier-FID: the Frechet distance vs float64 references; features of a real CNN."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import data as jdata
from jaxdl.data import preprocess
from jaxdl.models import create
from jaxdl.training import fid


def _stats(mean, cov):
    return fid.FeatureStats(np.asarray(mean, float), np.asarray(cov, float), 100)


def test_frechet_distance_diagonal_closed_form():
    # Commuting (diagonal) covariances: Tr sqrt(S1 S2) = sum sqrt(s1 s2).
    m1, m2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, -1.0, 0.5])
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([3.0, 0.2, 0.5])
    want = np.sum((m1 - m2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    got = fid.frechet_distance(_stats(m1, np.diag(s1)), _stats(m2, np.diag(s2)))
    assert got == pytest.approx(want, rel=1e-10)


def test_frechet_distance_general_covariances_vs_eigenvalues():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = A @ A.T + 0.1 * np.eye(5), B @ B.T + 0.1 * np.eye(5)
    m1, m2 = rng.normal(size=5), rng.normal(size=5)
    # S1 S2 is similar to S1^1/2 S2 S1^1/2 (SPD): its eigenvalues are real and positive,
    # and Tr sqrtm(S1 S2) is the sum of their square roots.
    tr_sqrt = np.sum(np.sqrt(np.linalg.eigvals(s1 @ s2).real))
    want = np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert fid.frechet_distance(_stats(m1, s1), _stats(m2, s2)) == pytest.approx(want, rel=1e-9)
    assert fid.frechet_distance(_stats(m1, s1), _stats(m1, s1)) == pytest.approx(0, abs=1e-8)


def test_feature_stats_are_numpy_mean_and_unbiased_covariance():
    f = np.random.default_rng(1).normal(size=(50, 4))
    st = fid.feature_stats(f)
    np.testing.assert_allclose(st.mean, f.mean(0))
    np.testing.assert_allclose(st.cov, np.cov(f, rowvar=False))
    with pytest.raises(ValueError, match="N >= 2"):
        fid.feature_stats(f[:1])


def test_classifier_fid_is_zero_against_itself_and_grows_with_noise():
    images = jdata.load("mnist", "test[:600]").data["image"]  # [600, 28, 28, 1] uint8
    model = create("lenet5", num_classes=10)
    variables = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 1)), train=False)
    feats = fid.classifier_features(
        model.apply,
        variables,
        "F6",
        *preprocess.channel_stats(images),
        pad_to=32,
        batch_size=256,  # 600 = 2 full batches + a padded one
    )
    f = feats(images)
    assert f.shape == (600, 84) and f.dtype == np.float64
    ref = fid.feature_stats(f)
    assert fid.classifier_fid(feats, images, ref) == pytest.approx(0.0, abs=1e-6)
    # The padded last batch gives the same features as a direct forward pass.
    np.testing.assert_allclose(feats(images[512:]), f[512:], rtol=1e-5, atol=1e-6)
    rng = np.random.default_rng(0)
    scores = []
    for sigma in (10, 40, 100):
        noisy = np.clip(images + rng.normal(0, sigma, images.shape), 0, 255).astype(np.uint8)
        scores.append(fid.classifier_fid(feats, noisy, ref))
    assert 0 < scores[0] < scores[1] < scores[2], scores
    with pytest.raises(TypeError, match="uint8"):
        feats(images.astype(np.float32))
