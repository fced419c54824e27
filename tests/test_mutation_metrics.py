"""Tests that kill mutants of jaxdl.training.metrics which the other tests let survive.

Found by ``python -m mutation.run --modules metrics`` (docs/testing.md). References are
hand-computed values and the exact error messages of the contract.
"""

import re

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from clu.metrics import Average, Metric

from jaxdl.training.metrics import (
    compute_metrics,
    confusion_matrix,
    merge_metrics,
    top_k_accuracy,
    top_k_error,
)


@flax.struct.dataclass
class _TwoValues(Metric):
    """A metric whose compute() is a dict, like per-class IoUs."""

    a: jnp.ndarray
    b: jnp.ndarray

    def merge(self, other):
        return type(self)(self.a + other.a, self.b + other.b)

    def compute(self):
        return {"a": self.a, "b": self.b / 2}


def test_compute_metrics_expands_dict_valued_metrics_with_and_without_prefix():
    metrics = {
        "iou": _TwoValues(jnp.float32(3.0), jnp.float32(5.0)),
        "loss": Average.from_model_output(jnp.array([1.0, 4.0])),
    }
    assert compute_metrics(metrics) == {"a": 3.0, "b": 2.5, "loss": 2.5}
    assert compute_metrics(metrics, "val") == {"val_a": 3.0, "val_b": 2.5, "val_loss": 2.5}


def test_top_k_default_is_top_1():
    logits = jnp.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    labels = jnp.array([2, 0])  # 2 is second best in row 0, 0 is best in row 1
    np.testing.assert_array_equal(np.asarray(top_k_accuracy(logits, labels)), [0.0, 1.0])
    np.testing.assert_array_equal(np.asarray(top_k_error(logits, labels)), [1.0, 0.0])


@pytest.mark.parametrize("k", [True, 2.0, "2", 0, 4])
def test_top_k_rejects_a_k_that_is_not_an_int_in_range(k):
    msg = f"k must be a Python int in [1, num_classes=3], got {k!r}."
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        top_k_accuracy(jnp.zeros((2, 3)), jnp.array([0, 1]), k)


def test_top_k_shape_errors_name_the_shapes():
    msg = (
        "logits must be [B, num_classes], got shape (2, 3, 1); "
        "flatten extra axes (e.g. pixels) into the batch axis first."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        top_k_accuracy(jnp.zeros((2, 3, 1)), jnp.array([0, 1]), 1)
    msg = (
        "labels must be integer class indices of shape [B]=(2,), got (2, 3); "
        "convert one-hot labels with argmax(-1)."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        top_k_accuracy(jnp.zeros((2, 3)), jnp.zeros((2, 3), jnp.int32), 1)


def test_confusion_matrix_weight_shape_error_names_the_shapes():
    msg = "weights must be [B]=(3,), got (2,)."
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        confusion_matrix(jnp.array([0, 1, 1]), jnp.array([0, 0, 1]), 2, weights=jnp.ones(2))


def test_merge_metrics_error_names_both_sides():
    one = Average.from_model_output(jnp.ones(2))
    a, b = {"loss": one, "acc": one}, {"loss": one}
    msg = "Cannot merge metrics with different names: ['acc', 'loss'] vs ['loss']."
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        merge_metrics(a, b)


def test_float32_outputs_even_with_x64_enabled():
    """The documented float32 results do not follow JAX's default float dtype."""
    with jax.enable_x64(True):
        labels, preds = jnp.array([0, 1, 1]), jnp.array([0, 0, 1])
        weights = jnp.array([1.0, 0.5, 2.0], jnp.float64)
        cm = confusion_matrix(labels, preds, 2, weights=weights)
        assert cm.dtype == jnp.float32 and confusion_matrix(labels, preds, 2).dtype == jnp.float32
        np.testing.assert_array_equal(np.asarray(cm), [[1.0, 0.0], [0.5, 2.0]])
        assert top_k_accuracy(jnp.zeros((2, 3)), jnp.array([0, 1]), 1).dtype == jnp.float32
