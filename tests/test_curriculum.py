"""Curriculum learning: pacing closed forms, sampling statistics, resume, config path, errors."""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from jaxdl import data, models
from jaxdl.data import curriculum as cur
from jaxdl.data import loader, preprocess
from jaxdl.training import inference, loop, parallel, steps
from jaxdl.training.state import TrainState
from jaxdl.training.store import CheckpointOptions
from jaxdl.training.writers import MetricsFile, read_jsonl
from train import classification, workdir
from train import curriculum as train_cur
from train.configs import mnist_mlp
from train.validate import ConfigError, validate

# ---------------------------------------------------------------- pacing functions


def _linear(t, T, c0):
    return np.array([1.0 if T == 0 else min(1.0, c0 + (1 - c0) * ti / T) for ti in t])


def _root(t, T, c0):
    return np.array(
        [1.0 if T == 0 else min(1.0, math.sqrt(c0**2 + (1 - c0**2) * min(ti / T, 1))) for ti in t]
    )


@pytest.mark.parametrize(("start", "full_at", "total"), [(0.2, 0.5, 100), (0.05, 1.0, 37)])
def test_linear_and_root_pacing_match_their_closed_forms(start, full_at, total):
    t = np.arange(total + 5)
    T = round(full_at * total)
    np.testing.assert_allclose(
        cur.pacing_fraction("linear", t, total, start, full_at), _linear(t, T, start), rtol=1e-12
    )
    np.testing.assert_allclose(
        cur.pacing_fraction("root", t, total, start, full_at), _root(t, T, start), rtol=1e-12
    )


def test_exponential_pacing_is_the_doubling_step_function():
    # start 0.2, doubling: 0.2, 0.4, 0.8, then 1; K = 3 stages of T/3 = 50/3 steps each.
    t = np.arange(60)
    want = np.where(t < 50 / 3, 0.2, np.where(t < 100 / 3, 0.4, np.where(t < 50, 0.8, 1.0)))
    np.testing.assert_allclose(cur.pacing_fraction("exponential", t, 100, 0.2, 0.5), want)
    # start 0.25 = 2^-2: two stages, the second one already full.
    g = cur.pacing_fraction("exponential", np.array([0, 9, 10, 19, 20, 99]), 100, 0.25, 0.2)
    np.testing.assert_allclose(g, [0.25, 0.25, 0.5, 0.5, 1.0, 1.0])


@pytest.mark.parametrize("pacing", cur.PACINGS)
def test_every_pacing_starts_at_start_grows_and_is_full_at_full_at(pacing):
    t = np.arange(201)
    g = cur.pacing_fraction(pacing, t, 200, 0.1, 0.6)
    assert g[0] == pytest.approx(0.1)
    assert np.all(np.diff(g) >= 0)
    assert np.all(g[120:] == 1.0) and g[119] < 1.0
    assert np.all(cur.pacing_fraction(pacing, t, 200, 0.3, 0.0) == 1.0)  # full_at 0: no curriculum


def test_pool_sizes_are_ceil_of_g_n_clipped_to_one_batch_and_n():
    t = np.arange(100)
    n = cur.pool_sizes("linear", t, 100, 60000, 128, 0.2, 0.5)
    g = _linear(t, 50, 0.2)
    want = np.array([min(60000, max(128, math.ceil(round(x * 60000, 6)))) for x in g])
    np.testing.assert_array_equal(n, want)
    assert n[0] == 12000  # not 12001 from 0.2 * 60000's round-off
    tiny = cur.pool_sizes("root", t, 100, 1000, 128, 0.01, 1.0)
    assert tiny[0] == 128 and tiny.max() <= 1000 and tiny[-1] > 990


def test_difficulty_ranks_sort_easiest_first_with_stable_ties():
    scores = np.array([3.0, 1.0, 2.0, 1.0, 0.5, 3.0])
    np.testing.assert_array_equal(cur.difficulty_ranks(scores), [4, 1, 3, 2, 0, 5])
    with pytest.raises(ValueError, match="finite"):
        cur.difficulty_ranks(np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="1-D"):
        cur.difficulty_ranks(np.ones((3, 2)))


def test_class_balanced_scores_keep_every_prefix_proportional_and_classes_easy_first():
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1, 2], [30, 20, 10])
    rng.shuffle(labels)
    scores = labels * 10.0 + rng.random(60)  # class 0 all easier than 1, 1 than 2
    ranking = cur.difficulty_ranks(cur.class_balanced_scores(scores, labels))
    assert sorted(ranking.tolist()) == list(range(60))
    for k in range(1, 61):
        counts = np.bincount(labels[ranking[:k]], minlength=3)
        assert np.all(np.abs(counts - k * np.array([30, 20, 10]) / 60) <= 1.5), (k, counts)
    for c in range(3):  # inside a class: ascending score
        assert np.all(np.diff(scores[ranking[labels[ranking] == c]]) > 0)
    # A plain ranking of the same scores puts every class-0 example first.
    assert set(labels[cur.difficulty_ranks(scores)[:30]]) == {0}


# ---------------------------------------------------------------- sampling


def _rank_of(ranking):
    inv = np.empty_like(ranking)
    inv[ranking] = np.arange(len(ranking))
    return inv


def test_batches_hold_distinct_allowed_ranks_uniformly_distributed():
    N, B, S, n = 200, 10, 400, 50
    ranking = np.random.default_rng(0).permutation(N).astype(np.int32)
    sizes = np.full(S, n, np.int32)
    sizes[::7] = B  # some steps allow exactly one batch: it must be all of it
    idx = np.asarray(cur.sample_epoch(jax.random.PRNGKey(3), 0, jnp.asarray(ranking), sizes, B))
    ranks = _rank_of(ranking)[idx].reshape(S, B)
    for s in range(S):
        assert len(set(ranks[s])) == B  # without replacement within a batch
        assert ranks[s].max() < sizes[s]
    np.testing.assert_array_equal(
        np.sort(ranks[::7], axis=1), np.tile(np.arange(B), (S // 7 + 1, 1))
    )
    # Uniform over the pool: chi-square over the n ranks of the size-n steps (df = 49,
    # mean 49, sd ~ 10; without replacement inside a batch the spread is a bit smaller).
    full = ranks[sizes == n]
    counts = np.bincount(full.ravel(), minlength=n)
    expected = full.size / n
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    assert 15 < chi2 < 110, chi2


def test_curriculum_order_grows_to_the_whole_split_and_is_a_pure_function_of_key_epoch():
    N, B = 300, 10
    spe = N // B
    ranking = np.random.default_rng(1).permutation(N).astype(np.int32)
    order = cur.curriculum_order(
        ranking, batch_size=B, steps_per_epoch=spe, total_steps=4 * spe, pacing="linear",
        start=0.1, full_at=0.5,
    )  # fmt: skip
    key = jax.random.PRNGKey(7)
    inv = _rank_of(ranking)
    epochs = [np.asarray(order(key, e)) for e in range(4)]
    for e, idx in enumerate(epochs):
        assert idx.shape == (spe * B,) and idx.dtype == np.int32
        ranks = inv[idx].reshape(spe, B)
        t = e * spe + np.arange(spe)
        allowed = [min(N, max(B, math.ceil(round(g * N, 6)))) for g in _linear(t, 2 * spe, 0.1)]
        assert np.all(ranks.max(axis=1) < np.array(allowed))
    assert inv[epochs[0][:B]].max() < 30  # step 0: the easiest 10% only
    last = inv[np.concatenate(epochs[2:])]
    assert last.max() >= N - 5 and len(np.unique(last)) > 0.85 * N  # the whole split in play
    # Pure function of (key, epoch): the same twice, different for another epoch or key.
    np.testing.assert_array_equal(np.asarray(order(key, 2)), epochs[2])
    assert not np.array_equal(epochs[2], epochs[3])
    assert not np.array_equal(np.asarray(order(jax.random.PRNGKey(8), 2)), epochs[2])


# ---------------------------------------------------------------- the loop


@pytest.fixture(scope="module")
def mnist_small():
    train = data.load("mnist", "train[:640]").data
    train = {"image": train["image"], "label": train["label"], "index": np.arange(640)}
    return train


# The three fits of the resume test share one initial state, train step and device split
# (``loop.fit`` trains a copy of the given state): built once, not traced and compiled
# again per fit. Each fit still starts from the same PRNGKey(0) parameters.
_SETUPS = {}


@pytest.fixture(scope="module", autouse=True)
def _forget_setups():
    yield
    _SETUPS.clear()


def _setup(train, record):
    """(mesh, state, train_step, device split) of ``_fit``, memoised per (data, record)."""
    key = (id(train), record)
    if key in _SETUPS:
        return _SETUPS[key][0]
    mesh = parallel.make_mesh()
    pre = preprocess.image_preprocess(*preprocess.channel_stats(train["image"]))
    train_step, eval_step = steps.classification_steps(pre)
    if record:  # the batch's highest example index, logged every step

        def train_step(s, b, inner=train_step):
            s, m = inner(s, b)
            return s, {**m, "max_index": jnp.max(b["index"]).astype(jnp.float32)}

    state = parallel.create_sharded(
        lambda: TrainState.create(
            model=models.create("mlp", depth=1, width=16),
            tx=optax.sgd(0.05, momentum=0.9),
            rng=jax.random.PRNGKey(0),
            example_input=jnp.zeros((1, 28, 28, 1)),
        ),
        mesh,
    )
    split = loader.to_device(train, mesh)
    _SETUPS[key] = ((mesh, state, train_step, split), train)  # holds train: its id stays
    return _SETUPS[key][0]


def _fit(train, workdir, order, max_steps=None, record=False):
    mesh, state, train_step, split = _setup(train, record)
    return loop.fit(
        state=state, train_step=train_step, train=split,
        options=loop.LoopOptions(
            batch_size=64, num_epochs=2, log_every_steps=1, max_steps=max_steps),
        hooks=[MetricsFile()], checkpoints=CheckpointOptions(async_save=False),
        workdir=workdir, data_key=jax.random.PRNGKey(1), mesh=mesh, epoch_order=order,
    )  # fmt: skip


def test_fit_follows_the_curriculum_and_resumes_exactly(mnist_small, tmp_path):
    # Ranking = example index: batch t may only hold examples < n_t.
    ranking = np.arange(640, dtype=np.int32)
    order = cur.curriculum_order(
        ranking, batch_size=64, steps_per_epoch=10, total_steps=20, pacing="root", start=0.1,
        full_at=0.8,
    )  # fmt: skip
    full = _fit(mnist_small, tmp_path / "full", order, record=True)
    rows = [r for r in read_jsonl(tmp_path / "full" / "metrics.jsonl") if "train_max_index" in r]
    assert [r["step"] for r in rows] == list(range(1, 21))
    allowed = [min(640, max(64, math.ceil(round(g * 640, 6)))) for g in _root(range(20), 16, 0.1)]
    assert all(r["train_max_index"] < a for r, a in zip(rows, allowed))
    assert rows[0]["train_max_index"] < 64 and rows[-1]["train_max_index"] > 500
    # Interrupted after 7 steps (mid-epoch), then resumed: the same parameters, bit for bit.
    _fit(mnist_small, tmp_path / "cut", order, record=True, max_steps=7)
    resumed = _fit(mnist_small, tmp_path / "cut", order, record=True)
    for a, b in zip(jax.tree.leaves(full.state.params), jax.tree.leaves(resumed.state.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# ---------------------------------------------------------------- config path


def test_per_example_losses_match_a_float64_softmax_cross_entropy():
    rng = np.random.default_rng(0)
    N, D, K = 37, 12, 5  # 37 = 2 full batches of 16 and a padded one
    x = rng.integers(0, 256, (N, 2, 2, 3)).astype(np.uint8)
    labels = rng.integers(0, K, N).astype(np.int32)
    w = rng.normal(size=(D, K)).astype(np.float32)
    mesh = parallel.make_mesh()
    split = loader.to_device({"image": x, "label": labels}, mesh)

    def apply_fn(variables, images, train):
        return images.reshape(images.shape[0], -1) @ variables["params"]["w"]

    pre = preprocess.image_preprocess(np.zeros(3), np.ones(3))
    got = inference.per_example_losses(apply_fn, ({"w": w}, {}), pre, split, 16, mesh)
    z = (x.reshape(N, -1).astype(np.float64) / 255.0) @ w.astype(np.float64)
    want = np.log(np.exp(z).sum(1)) - z[np.arange(N), labels]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def _tiny_config(score="", **cur_kw):
    c = mnist_mlp.get_config()
    c.data.train_split = c.data.val_split = "train[:512]"  # val loss = mean training loss
    c.data.test_split = "test[:256]"
    c.model.kwargs = ml_collections.ConfigDict({"depth": 1, "width": 16})
    c.train.batch_size, c.train.eval_batch_size, c.train.num_epochs = 64, 128, 2
    c.train.log_every_steps, c.train.progress = 8, False
    c.data.curriculum.score = score
    for k, v in cur_kw.items():
        c.data.curriculum[k] = v
    return c


@pytest.mark.slow  # a reference run then a curriculum run (default suite: under 10 min)
def test_run_with_a_reference_run_scores_its_per_example_loss(tmp_path):
    ref_dir = workdir.prepare(tmp_path / "ref", _tiny_config(), overwrite=False)  # config.json
    ref = classification.run(_tiny_config(), ref_dir)
    cfg = _tiny_config(str(tmp_path / "ref"), pacing="exponential", start=0.25)
    validate(cfg)
    result = classification.run(cfg, tmp_path / "cur")
    scores = np.load(tmp_path / "cur" / train_cur.SCORES_FILE)
    assert scores.shape == (512,) and np.all(scores >= 0)
    # The scores are the reference's per-example loss: their mean is its val loss on
    # the same 512 examples, computed by the loop's own evaluation.
    assert scores.mean() == pytest.approx(ref.history[-1]["val_loss"], rel=1e-5)
    assert result.finished and result.final_metrics["test_accuracy"] > 0.5
    other = _tiny_config(str(tmp_path / "ref"))
    other.data.train_split = "train[:448]"
    with pytest.raises(ValueError, match="data.train_split='train\\[:512\\]'"):
        classification.run(other, tmp_path / "other")


def test_bad_curriculum_configs_fail_with_clear_messages(tmp_path):
    def fails(cfg, match, err=ValueError):
        with pytest.raises(err, match=match):
            train_cur.check(cfg)

    np.save(tmp_path / "s.npy", np.ones(10))
    good = str(tmp_path / "s.npy")
    fails(_tiny_config(good, pacing="cosine"), "Unknown curriculum pacing 'cosine'")
    fails(_tiny_config(good, start=0.0), r"start=0.0 must be in \(0, 1\]")
    fails(_tiny_config(good, full_at=1.5), r"full_at=1.5 must be in \[0, 1\]")
    fails(_tiny_config(str(tmp_path / "no.npy")), "no such file", FileNotFoundError)
    fails(_tiny_config(str(tmp_path)), "without config.json", FileNotFoundError)
    fails(_tiny_config(str(tmp_path / "nowhere")), "neither a .npy file", FileNotFoundError)
    streamed = _tiny_config(good)
    streamed.data.name = "imagenet2012"
    fails(streamed, "streamed")
    with pytest.raises(ConfigError, match="pacing"):
        validate(_tiny_config(good, pacing="cosine"))
    with pytest.raises(ValueError, match="shape \\(10,\\).*512 examples"):
        train_cur.load_scores(tmp_path / "s.npy", 512)
    with pytest.raises(ValueError, match="shape \\(10,\\).*512 examples"):
        classification.run(_tiny_config(good), tmp_path / "run")
    np.save(tmp_path / "nan.npy", np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="finite"):
        train_cur.load_scores(tmp_path / "nan.npy", 2)


@pytest.mark.heavy  # an experiment script: 7 orders x 1 seed of a tiny MLP run (~21 s)
def test_experiment_writes_its_section_and_figures(tmp_path):
    from train.experiments import curriculum as experiment

    docs = tmp_path / "docs"
    results = experiment.main(
        ["--datasets", "mnist", "--seeds", "0", "--train", "600", "--epochs", "2",
         "--batch", "96", "--data_dir", "", "--compile_cache", "", "--workdir",
         str(tmp_path / "runs"), "--docs", str(docs)]
    )  # fmt: skip
    runs = results["mnist"]["runs"]
    assert list(runs) == list(experiment.ARMS) and all(len(r) == 1 for r in runs.values())
    text = (docs / "curriculum.md").read_text()
    assert "generated: curriculum_2ep begin" in text and "| MNIST | random ranking |" in text
    for name in ("curriculum_curves_2ep", "curriculum_pacing", "curriculum_mnist_easy_hard"):
        assert (docs / "figures" / f"{name}.png").stat().st_size > 1000
    scores = np.load(tmp_path / "runs" / "mnist" / "anti-curriculum.npy")
    reference = np.load(tmp_path / "runs" / "mnist" / "curriculum_seed0" / train_cur.SCORES_FILE)
    np.testing.assert_array_equal(scores, -reference)
