"""Device-resident loader: determinism, coverage, padding mask, sharding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.data import loader, preprocess
from jaxdl.training import parallel


@pytest.fixture(scope="module")
def mesh():
    return parallel.make_mesh()


def _split(n, mesh):
    arrays = {"image": np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1), "label": np.arange(n)}
    return loader.to_device(arrays, mesh)


def test_epoch_permutation_deterministic_and_changes_per_epoch():
    key = jax.random.PRNGKey(3)
    p0 = np.asarray(loader.epoch_permutation(key, 0, 100))
    np.testing.assert_array_equal(p0, np.asarray(loader.epoch_permutation(key, 0, 100)))
    p1 = np.asarray(loader.epoch_permutation(key, 1, 100))
    assert sorted(p0.tolist()) == list(range(100))
    assert not np.array_equal(p0, p1)


def test_train_batches_cover_epoch_without_repeats_and_are_sharded(mesh):
    split = _split(100, mesh)
    perm = loader.epoch_permutation(jax.random.PRNGKey(0), 0, split.size)
    spe = loader.steps_per_epoch(split.size, 16)
    assert spe == 6  # the last 4 examples are dropped this epoch
    fn = jax.jit(lambda a, p, i: loader.train_batch(a, p, i, 16, mesh))
    seen = []
    for i in range(spe):
        batch = fn(split.arrays, perm, jnp.int32(i))
        assert batch["label"].shape == (16,)
        assert batch["label"].sharding.spec == parallel.data_sharding(mesh).spec
        np.testing.assert_array_equal(batch["image"][:, 0, 0, 0], batch["label"])
        seen.extend(np.asarray(batch["label"]).tolist())
    assert len(set(seen)) == 96
    np.testing.assert_array_equal(seen, np.asarray(perm)[:96])


def test_eval_batches_pad_with_mask(mesh):
    split = _split(20, mesh)
    assert loader.num_eval_batches(20, 8) == 3
    last = jax.jit(lambda a, i: loader.eval_batch(a, i, 8, 20, mesh))(split.arrays, jnp.int32(2))
    np.testing.assert_array_equal(last["mask"], [1, 1, 1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(last["label"][:4], [16, 17, 18, 19])


def test_errors_are_clear(mesh):
    with pytest.raises(ValueError, match="fewer than one batch"):
        loader.steps_per_epoch(10, 16)
    with pytest.raises(ValueError, match="same length"):
        loader.to_device({"image": np.zeros((3, 1)), "label": np.zeros(4)}, mesh)
    with pytest.raises(ValueError, match="multiple of the 8 devices"):
        parallel.check_batch_size(12, mesh)


def test_pad_and_channel_stats_against_numpy():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (5, 28, 28, 1), dtype=np.uint8)
    padded = preprocess.pad_to(imgs, 32)
    assert padded.shape == (5, 32, 32, 1)
    np.testing.assert_array_equal(padded[:, 2:30, 2:30], imgs)
    assert padded[:, :2].sum() == 0 and padded[:, 30:].sum() == 0
    mean, std = preprocess.channel_stats(imgs)
    ref = imgs.astype(np.float64) / 255.0
    np.testing.assert_allclose(mean, [ref.mean()], rtol=1e-12)
    np.testing.assert_allclose(std, [ref.std()], rtol=1e-9)
    pre = preprocess.image_preprocess(mean, std)
    out = pre({"image": jnp.asarray(imgs)}, jax.random.PRNGKey(0), False)["image"]
    np.testing.assert_allclose(out, (ref - ref.mean()) / ref.std(), atol=1e-5)
