"""Top-5 accuracy at the rank boundary: the label ranked exactly 5th counts, 6th does not.

Logits are built so that the rank of the label (0 = best) is chosen by hand for every
example, in particular 4 (5th) and 5 (6th); the reference counts in float64 numpy how
many scores beat the label's.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl.training import steps
from jaxdl.training.metrics import compute_metrics, top_k_accuracy
from jaxdl.training.state import TrainState

NUM_CLASSES = 12
# Rank of the label in each example (0 = highest score); ranks 4 and 5 are the boundary.
RANKS = np.array([4, 5, 4, 5, 0, 11, 4, 5, 3, 6, 5, 4, 1, 5])


def _ranked_logits(ranks, num_classes, seed=0):
    """Distinct scores where the label of example i has exactly ``ranks[i]`` scores above it."""
    rng = np.random.default_rng(seed)
    b = len(ranks)
    labels = rng.integers(0, num_classes, b)
    logits = np.zeros((b, num_classes), np.float32)
    for i, r in enumerate(ranks):
        order = rng.permutation(np.delete(np.arange(num_classes), labels[i]))  # the others
        # Class order by decreasing score: r others, the label, the remaining others.
        ranked = np.concatenate([order[:r], [labels[i]], order[r:]])
        logits[i, ranked] = np.linspace(3.0, -2.5, num_classes)  # distinct, decreasing
    return logits, labels


def _np_rank(logits, labels):
    x = np.asarray(logits, np.float64)
    return (x > x[np.arange(len(x)), labels][:, None]).sum(1)


def test_ranked_logits_helper_puts_the_label_at_the_requested_rank():
    logits, labels = _ranked_logits(RANKS, NUM_CLASSES)
    np.testing.assert_array_equal(_np_rank(logits, labels), RANKS)


def test_top_k_accuracy_k5_counts_rank_5_and_not_rank_6():
    logits, labels = _ranked_logits(RANKS, NUM_CLASSES)
    got = np.asarray(top_k_accuracy(jnp.asarray(logits), jnp.asarray(labels), k=5))
    want = (_np_rank(logits, labels) < 5).astype(np.float64)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got[RANKS == 4], 1.0)  # exactly 5th: a top-5 hit
    np.testing.assert_array_equal(got[RANKS == 5], 0.0)  # exactly 6th: a miss


class _Logits(nn.Module):
    """The input rows are the logits (plus a zero bias, so that there is a params tree)."""

    @nn.compact
    def __call__(self, x, train=False):
        bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
        return x + bias


def test_eval_step_top5_accuracy_on_12_classes_at_the_rank_boundary():
    logits, labels = _ranked_logits(RANKS, NUM_CLASSES, seed=1)
    mask = np.ones(len(RANKS), np.float32)
    mask[-2:] = 0.0  # padding: a rank-1 hit and a rank-5 miss that must not count
    state = TrainState.create(
        model=_Logits(),
        tx=optax.sgd(0.0),
        rng=jax.random.PRNGKey(0),
        example_input=jnp.zeros((1, NUM_CLASSES)),
    )
    _, eval_step = steps.classification_steps(lambda batch, key, train: batch)
    batch = {"image": jnp.asarray(logits), "label": jnp.asarray(labels), "mask": mask}
    means = compute_metrics(jax.jit(eval_step)(state, batch))
    real = mask.astype(bool)
    rank = _np_rank(logits, labels)[real]
    want_top5 = (rank < 5).mean()  # 6 hits of 12 real examples
    want_top1 = (rank < 1).mean()
    assert want_top5 != (rank < 4).mean()  # the data tell top-5 from top-4 ...
    assert want_top5 != (rank < 6).mean()  # ... and from top-6
    np.testing.assert_allclose(means["top5_accuracy"], want_top5, rtol=1e-6)
    np.testing.assert_allclose(means["accuracy"], want_top1, rtol=1e-6)
