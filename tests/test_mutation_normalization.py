"""Tests that kill mutants of jaxdl.nn.normalization which the other tests let survive.

Found by ``python -m mutation.run --modules nn/normalization`` (docs/testing.md). They pin
what ``apply_model`` passes to ``apply_fn`` in each of its three branches (eval, train
without model state, train with model state): ``train`` exactly ``False``/``True``, the
dropout key, the mutable collections and the extra keyword arguments. The reference is
the docstring's contract, checked on a recording ``apply_fn`` written here.
"""

import jax
import numpy as np
import pytest

from jaxdl.nn import normalization as norm


def _recording_apply(calls):
    def apply_fn(variables, *args, **kwargs):
        calls.append((variables, args, kwargs))
        out = "out"
        if "mutable" in kwargs:
            return out, {c: f"new {c}" for c in kwargs["mutable"]}
        return out

    return apply_fn


@pytest.mark.parametrize("train, state", [(False, {"batch_stats": "bs"}),
                                          (True, {}),
                                          (True, {"batch_stats": "bs"})])  # fmt: skip
def test_apply_fn_gets_train_exactly_and_the_extra_keywords(train, state):
    calls = []
    x = np.ones(2)
    rng = jax.random.key(0)
    out, new_state = norm.apply_model(
        _recording_apply(calls), "p", state, x, train=train, rng=rng, extra=7
    )
    assert out == "out" and len(calls) == 1
    variables, args, kwargs = calls[0]
    assert variables == {"params": "p", **state}
    assert args == (x,)
    assert kwargs["train"] is train
    assert kwargs["extra"] == 7
    if not train:
        assert set(kwargs) == {"train", "extra"} and new_state is state
    elif not state:
        assert set(kwargs) == {"train", "rngs", "extra"} and new_state is state
        assert kwargs["rngs"]["dropout"] is rng
    else:
        assert set(kwargs) == {"train", "rngs", "mutable", "extra"}
        assert kwargs["mutable"] == ["batch_stats"]
        assert new_state == {"batch_stats": "new batch_stats"}
