"""Tests that kill mutants of jaxdl.data.splits which the other tests let survive.

Found by ``python -m mutation.run --modules data/splits`` (docs/testing.md). They pin
the edges of the bounds (``0``, ``0%``, ``-n``, ``-100%``, ``100%`` allowed; ``-101%``
and ``101%`` refused), how a bound is written back (``5`` vs ``5%``) and the exact
error messages. References: the module docstring's rule (a percent ``p`` of ``n`` is
``floor(n * p / 100)``, ``p < 0`` meaning ``p + 100``; a negative index counts from
the end) worked out by hand, and the messages written out word for word.
"""

import re

import pytest

from jaxdl.data.splits import Bound, SplitSlice, parse_split

_EXAMPLES = "'train', 'test', 'train[:90%]', 'train[90%:]', 'train[:1000]', 'test[10:20]'"


@pytest.mark.parametrize(
    "spec, start, stop",
    [
        ("train[0%:]", 0, 10),  # 0% is the first example, not 100%
        ("train[0:5]", 0, 5),  # index 0 is the first example, not n
        ("train[-10:]", 0, 10),  # -n is allowed: the first example
        ("train[-100%:]", 0, 10),  # -100% -> 0%: floor(10 * 0 / 100) = 0
        ("train[:100%]", 0, 10),  # 100% -> floor(10 * 100 / 100) = 10
        ("train[-100%:100%]", 0, 10),
        ("train[0%:30%]", 0, 3),
    ],
)
def test_bounds_at_the_edges(spec, start, stop):
    assert parse_split(spec)[0].indices(10) == slice(start, stop)


@pytest.mark.parametrize(
    "spec, text",
    [
        ("train[-101%:]", "-101%"),  # the start bound
        ("train[:101%]", "101%"),  # the stop bound
        ("extra+train[5:101%]", "101%"),  # the whole string is quoted
    ],
)
def test_a_percent_bound_past_100_is_refused_word_for_word(spec, text):
    msg = f"Invalid split {spec!r}: percent bound {text} is outside [-100%, 100%]."
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        parse_split(spec)


def test_bounds_are_written_back_as_given():
    assert str(Bound(5, False)) == "5"
    assert str(Bound(-3, False)) == "-3"
    assert str(Bound(90, True)) == "90%"
    assert str(SplitSlice("test", Bound(10, False), Bound(-20, False))) == "test[10:-20]"
    assert [str(p) for p in parse_split("a[3:]+b[:-7]")] == ["a[3:]", "b[:-7]"]


def test_indices_errors_word_for_word():
    msg = "Split 'train[:20]': index 20 is outside a split of 10 examples (split 'train' has 10)."
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        parse_split("train[:20]")[0].indices(10)
    msg = "Split 'train[-11:]': index -11 is outside a split of 10 examples (split 'train' has 10)."
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        parse_split("train[-11:]")[0].indices(10)
    msg = (
        "Split 'train[5:5]' selects no example of the 10 in 'train' "
        "(start 5 >= stop 5); check the bounds."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        parse_split("train[5:5]")[0].indices(10)


@pytest.mark.parametrize("spec, name", [(5, "int"), (["train"], "list"), (b"train", "bytes")])
def test_a_spec_that_is_not_a_string_is_named_word_for_word(spec, name):
    msg = f"A split must be a string such as {_EXAMPLES}; got {name}."
    with pytest.raises(TypeError, match=f"^{re.escape(msg)}$"):
        parse_split(spec)
