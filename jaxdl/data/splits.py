"""Split strings: ``'train'``, ``'train[:90%]'``, ``'test[10:20]'``, ``'train+extra'``.

A split string names one or more base splits joined by ``+``, each optionally sliced
with ``[START:STOP]``. A bound is an integer (an example index, negative counts from
the end, as in Python) or an integer percent in ``[-100, 100]``. Slices are contiguous
in the order the examples are stored, so they are deterministic: ``train[:90%]`` and
``train[90%:]`` always partition ``train`` exactly. A percent bound ``p`` of ``n``
examples is the index ``floor(n * p / 100)`` (``p < 0`` means ``p + 100``), the same
rule for both ends, which is what makes the two halves complementary.

Unlike Python slicing, an absolute bound past the end, or a slice that selects nothing,
is an error: either is almost always a mistake in a validation split.

Example:
  >>> [s.name for s in parse_split("train[:90%]+extra")]
  ['train', 'extra']
  >>> parse_split("train[90%:]")[0].indices(1000)
  slice(900, 1000, None)
"""

import re
from typing import NamedTuple

__all__ = ["Bound", "SplitSlice", "parse_split"]

_EXAMPLES = "'train', 'test', 'train[:90%]', 'train[90%:]', 'train[:1000]', 'test[10:20]'"
_BOUND = r"\s*(-?\d+%?)?\s*"
_PART = re.compile(rf"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[{_BOUND}:{_BOUND}\])?\s*$")


class Bound(NamedTuple):
    """One end of a slice: an example index, or a percent of the split's size."""

    value: int
    percent: bool

    def resolve(self, n: int) -> int:
        """The bound as an index in ``[0, n]`` for a split of ``n`` examples.

        Raises:
          ValueError: an absolute bound lies outside ``[-n, n]``.
        """
        if self.percent:
            p = self.value + 100 if self.value < 0 else self.value
            return (n * p) // 100
        if not -n <= self.value <= n:
            raise ValueError(f"index {self.value} is outside a split of {n} examples")
        return self.value + n if self.value < 0 else self.value

    def __str__(self) -> str:
        return f"{self.value}{'%' if self.percent else ''}"


class SplitSlice(NamedTuple):
    """One ``+``-separated part of a split string: a base split and an optional slice."""

    name: str  # base split, e.g. 'train'
    start: Bound | None = None  # None: from the first example
    stop: Bound | None = None  # None: to the last example

    def indices(self, n: int) -> slice:
        """Resolves the slice for a base split of ``n`` examples.

        Args:
          n: number of examples in the base split.

        Returns:
          A ``slice`` with non-negative ``start < stop <= n`` (step None).

        Raises:
          ValueError: a bound is out of range or the slice selects no example.

        Example:
          >>> SplitSlice("train", None, Bound(90, True)).indices(60000)
          slice(0, 54000, None)
        """
        try:
            start = 0 if self.start is None else self.start.resolve(n)
            stop = n if self.stop is None else self.stop.resolve(n)
        except ValueError as e:
            raise ValueError(f"Split {str(self)!r}: {e} (split {self.name!r} has {n}).") from e
        if start >= stop:
            raise ValueError(
                f"Split {str(self)!r} selects no example of the {n} in {self.name!r} "
                f"(start {start} >= stop {stop}); check the bounds."
            )
        return slice(start, stop)

    def __str__(self) -> str:
        if self.start is None and self.stop is None:
            return self.name
        a = "" if self.start is None else str(self.start)
        b = "" if self.stop is None else str(self.stop)
        return f"{self.name}[{a}:{b}]"


def _bound(text: str | None, spec: str) -> Bound | None:
    if text is None:
        return None
    percent = text.endswith("%")
    value = int(text.rstrip("%"))
    if percent and not -100 <= value <= 100:
        raise ValueError(f"Invalid split {spec!r}: percent bound {text} is outside [-100%, 100%].")
    return Bound(value, percent)


def parse_split(spec: str) -> list[SplitSlice]:
    """Parses a split string into its parts.

    Args:
      spec: e.g. ``'train'``, ``'train[:90%]'``, ``'test[10:20]'``, ``'train+extra[:50%]'``.

    Returns:
      One ``SplitSlice`` per ``+``-separated part, in order.

    Raises:
      TypeError: ``spec`` is not a string.
      ValueError: the string is malformed (the message shows valid examples).

    Example:
      >>> [str(p) for p in parse_split("train[:90%]+extra")]
      ['train[:90%]', 'extra']
    """
    if not isinstance(spec, str):
        raise TypeError(f"A split must be a string such as {_EXAMPLES}; got {type(spec).__name__}.")
    parts = []
    for text in spec.split("+"):
        m = _PART.match(text)
        if m is None:
            raise ValueError(
                f"Invalid split {spec!r}: cannot parse {text.strip()!r}. Expected NAME or "
                f"NAME[START:STOP] with integer or integer-percent bounds, parts joined by '+', "
                f"e.g. {_EXAMPLES}."
            )
        name, a, b = m.groups()
        parts.append(SplitSlice(name, _bound(a, spec), _bound(b, spec)))
    return parts
