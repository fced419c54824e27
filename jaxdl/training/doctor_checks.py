"""The course's best-practice checks (COURSE.md section 4) as small pure functions.

Each check returns a `Verdict` ``(name, passed, detail)``; ``detail`` carries the
numbers behind the verdict, so a printed line says why it passed or failed.
``python -m train.doctor`` runs them on a config's data, model and optimizer.

- data: ``check_finite`` (NaN/inf), ``check_value_range`` (pixels within [lo, hi] and
  not constant), ``check_labels`` (integer labels in [0, num_classes)),
  ``check_class_balance`` (max/min class count), ``check_normalization`` (per-channel
  mean ~0 and std ~1 of the preprocessed training images), ``check_overlap``
  (identical images in two splits, by SHA-1 of their bytes: training on test data).
- training: ``check_overfit`` (near-zero loss on a handful of examples: the model and
  the optimizer can learn at all), ``check_rate_sweep`` (the configured learning rate
  among the rates of a short range test that learn without diverging).
- tracking: ``check_history`` (divergence, a loss stuck from the start, and the
  train/validation gap of a run's ``metrics.jsonl``).

References:
  Karpathy. A recipe for training neural networks, 2019 (overfit one batch, check data).
  Smith. Cyclical learning rates for training neural networks. WACV 2017 (range test).
"""

import hashlib
import math
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "Verdict",
    "check_class_balance",
    "check_finite",
    "check_history",
    "check_labels",
    "check_normalization",
    "check_overfit",
    "check_overlap",
    "check_rate_sweep",
    "check_value_range",
    "content_hashes",
]


class Verdict(NamedTuple):
    """Outcome of one check: its name, pass/fail, and the numbers behind it."""

    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        """``PASS name: detail`` / ``FAIL name: detail``."""
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.detail}"


def check_finite(images: np.ndarray, name: str = "images") -> Verdict:
    """Fails when any value is NaN or +-inf (integer arrays always pass)."""
    x = np.asarray(images)
    if not np.issubdtype(x.dtype, np.floating):
        return Verdict(f"{name} finite", True, f"{x.dtype} values cannot be NaN/inf")
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1) if len(x) else np.zeros(0, bool)
    n = int(bad.sum())
    detail = f"{n} of {len(x)} examples hold NaN/inf"
    if n:
        detail += f" (first at index {int(np.argmax(bad))}); drop or repair them"
    return Verdict(f"{name} finite", n == 0, detail)


def check_value_range(
    images: np.ndarray, lo: float = 0.0, hi: float = 255.0, name: str = "images"
) -> Verdict:
    """Pixels within ``[lo, hi]`` (the raw uint8 scale) and not all equal (NaN ignored)."""
    x = np.asarray(images, np.float64)
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return Verdict(f"{name} range", False, "no finite value at all")
    vmin, vmax = float(finite.min()), float(finite.max())
    ok = lo <= vmin and vmax <= hi and vmax > vmin
    detail = f"min {vmin:g}, max {vmax:g} (expected within [{lo:g}, {hi:g}], not constant)"
    return Verdict(f"{name} range", ok, detail)


def check_labels(labels: np.ndarray, num_classes: int, name: str = "labels") -> Verdict:
    """Integer labels, all in ``[0, num_classes)``."""
    y = np.asarray(labels)
    if not np.issubdtype(y.dtype, np.integer):
        return Verdict(f"{name} range", False, f"labels are {y.dtype}, expected integers")
    bad = (y < 0) | (y >= num_classes)
    n = int(bad.sum())
    lo, hi = (int(y.min()), int(y.max())) if y.size else (0, -1)
    detail = f"min {lo}, max {hi}, {n} of {y.size} outside [0, {num_classes})"
    return Verdict(f"{name} range", n == 0, detail)


def check_class_balance(
    labels: np.ndarray, num_classes: int, max_ratio: float = 10.0, name: str = "train"
) -> Verdict:
    """Fails when the largest class has more than ``max_ratio`` x the smallest's examples.

    A class without examples gives ratio inf. Labels outside ``[0, num_classes)`` are
    ignored here (``check_labels`` reports them).
    """
    y = np.asarray(labels).astype(np.int64)
    y = y[(y >= 0) & (y < num_classes)]
    counts = np.bincount(y, minlength=num_classes)
    ratio = counts.max() / counts.min() if counts.min() > 0 else math.inf
    detail = (
        f"class counts min {counts.min()} (class {int(counts.argmin())}), max {counts.max()} "
        f"(class {int(counts.argmax())}), ratio {ratio:.2f} (threshold {max_ratio:g})"
    )
    return Verdict(f"{name} class balance", bool(ratio <= max_ratio), detail)


def check_normalization(
    inputs: np.ndarray, mean_tol: float = 0.1, std_tol: float = 0.1, name: str = "train"
) -> Verdict:
    """Per-channel mean within ``mean_tol`` of 0 and std within ``std_tol`` of 1.

    Args:
      inputs: the PREPROCESSED model inputs [N, H, W, C] (what the first layer sees).
    """
    x = np.asarray(inputs, np.float64).reshape(-1, np.shape(inputs)[-1])
    mean, std = x.mean(0), x.std(0)
    ok = bool(np.all(np.abs(mean) <= mean_tol) and np.all(np.abs(std - 1) <= std_tol))
    fmt = lambda v: "[" + ", ".join(f"{a:.3f}" for a in v) + "]"  # noqa: E731
    detail = (
        f"per-channel mean {fmt(mean)}, std {fmt(std)} "
        f"(expected |mean| <= {mean_tol:g}, |std - 1| <= {std_tol:g})"
    )
    return Verdict(f"{name} normalization", ok, detail)


def content_hashes(images: np.ndarray) -> list[str]:
    """SHA-1 hex digest of each example's bytes (dtype and shape-independent per row)."""
    x = np.ascontiguousarray(images)
    return [hashlib.sha1(row.tobytes()).hexdigest() for row in x.reshape(len(x), -1)]


def check_overlap(
    train_images: np.ndarray,
    other_images: np.ndarray,
    other: str = "test",
    max_fraction: float = 0.0,
) -> Verdict:
    """Fails when more than ``max_fraction`` of ``other``'s images also occur in train.

    Identity is the SHA-1 of the image bytes (exact duplicates; near-duplicates such
    as re-encoded or shifted copies are not caught).
    """
    seen = set(content_hashes(train_images))
    dup = [i for i, h in enumerate(content_hashes(other_images)) if h in seen]
    frac = len(dup) / max(len(other_images), 1)
    detail = (
        f"{len(dup)} of {len(other_images)} {other} images ({100 * frac:.2f}%) are byte-identical "
        f"to a training image (threshold {100 * max_fraction:g}%)"
    )
    if dup:
        detail += f"; first {other} indices {dup[:5]}"
    return Verdict(f"train/{other} overlap", frac <= max_fraction, detail)


def check_overfit(
    losses: Sequence[float],
    threshold: float = 0.05,
    examples: int = 20,
    steps: Sequence[int] | None = None,
) -> Verdict:
    """The loss on ``examples`` training examples must fall below ``threshold``.

    Args:
      losses: the loss on the tiny set, evaluated during training; the last decides.
      threshold: the loss to reach (0.05: about 95% probability on every true class).
      examples: size of the tiny set (reported).
      steps: the training step of each loss (default 0, 1, 2, ...).
    """
    losses = [float(v) for v in losses]
    if not losses:
        raise ValueError("check_overfit needs at least one loss value.")
    steps = list(range(len(losses))) if steps is None else [int(s) for s in steps]
    if len(steps) != len(losses):
        raise ValueError(f"{len(steps)} steps for {len(losses)} losses.")
    last, first = losses[-1], losses[0]
    ok = math.isfinite(last) and last < threshold
    hit = next((s for s, v in zip(steps, losses) if v < threshold), None)
    when = f", first below at step {hit}" if hit is not None else ""
    detail = (
        f"loss on {examples} examples {first:.4f} (step {steps[0]}) -> {last:.4f} "
        f"(step {steps[-1]}) (threshold {threshold:g}{when})"
    )
    if not ok:
        detail += "; the model/optimizer cannot fit a tiny set: check the rate, labels, loss"
    return Verdict("overfit tiny subset", ok, detail)


def check_rate_sweep(results: Iterable[Any], config_rate: float, chance_loss: float) -> Verdict:
    """The configured rate lies within the range of rates that learn without diverging.

    A rate is *stable* when it did not diverge and its final train loss is below
    ``chance_loss`` (``ln(num_classes)``, the loss of a uniform prediction). The
    suggested rate is the stable rate with the lowest final train loss.

    Args:
      results: objects with ``learning_rate``, ``diverged`` and ``train_loss``
        (``train.sweep.RateResult``).
      config_rate: the config's ``optimizer.learning_rate``.
      chance_loss: loss of a uniform prediction.
    """
    results = sorted(results, key=lambda r: r.learning_rate)
    stable = [
        r
        for r in results
        if not r.diverged and math.isfinite(r.train_loss) and r.train_loss < chance_loss
    ]
    table = ", ".join(
        f"{r.learning_rate:g}: {'diverged' if r.diverged else f'{r.train_loss:.3f}'}"
        for r in results
    )
    if not stable:
        return Verdict("learning-rate sweep", False, f"no rate learned ({table})")
    lo, hi = stable[0].learning_rate, stable[-1].learning_rate
    best = min(stable, key=lambda r: r.train_loss)
    ok = lo <= config_rate <= hi
    detail = (
        f"suggested {best.learning_rate:g}, stable range [{lo:g}, {hi:g}], config rate "
        f"{config_rate:g} {'inside' if ok else 'OUTSIDE'} (final train loss per rate: {table})"
    )
    return Verdict("learning-rate sweep", ok, detail)


def _series(records: Sequence[dict], key: str) -> list[tuple[int, float]]:
    out = []
    for r in records:
        v = r.get(key)
        if isinstance(v, str):  # the writer stores NaN/inf as strings
            v = float(v) if v.lower() in ("nan", "inf", "-inf") else None
        if isinstance(v, int | float) and not isinstance(v, bool):
            out.append((int(r.get("step", 0)), float(v)))
    return out


def check_history(
    records: Sequence[dict],
    stuck_fraction: float = 0.9,
    max_gap: float = 0.1,
    val_rise: float = 0.2,
) -> list[Verdict]:
    """Divergence, a stuck loss and the train/validation gap of a metrics history.

    - divergence: a NaN/inf train loss, or a final train loss above the first one;
    - plateau: the lowest train loss never fell below ``stuck_fraction`` x the first
      (the loss is stuck from the start: rate too low, dead units, bad labels);
    - train/val gap: final train accuracy minus final val accuracy above ``max_gap``,
      or a final val loss more than ``val_rise`` (relative) above its minimum
      (overfitting: stop earlier or regularize).

    Args:
      records: rows of a ``metrics.jsonl`` (``jaxdl.training.writers.read_jsonl``).
    """
    train = _series(records, "train_loss")
    if not train:
        return [Verdict("loss history", False, "no train_loss record: not a training workdir?")]
    losses = np.array([v for _, v in train])
    out = []
    nonfinite = [s for s, v in train if not math.isfinite(v)]
    first, last = losses[0], losses[-1]
    diverged = bool(nonfinite) or last > first
    detail = f"train loss {first:.4f} (step {train[0][0]}) -> {last:.4f} (step {train[-1][0]})"
    if nonfinite:
        detail += f"; NaN/inf at step {nonfinite[0]}"
    out.append(Verdict("loss divergence", not diverged, detail))
    low = float(np.nanmin(losses)) if np.isfinite(losses).any() else math.nan
    stuck = not low < stuck_fraction * first
    out.append(
        Verdict(
            "loss plateau",
            not stuck,
            f"lowest train loss {low:.4f} = {low / first:.2f} x the first "
            f"(stuck when >= {stuck_fraction:g})",
        )
    )
    train_acc, val_acc = _series(records, "train_accuracy"), _series(records, "val_accuracy")
    val_loss = _series(records, "val_loss")
    if val_acc and train_acc:
        gap = train_acc[-1][1] - val_acc[-1][1]
        vl = [v for _, v in val_loss]
        rise = vl[-1] / min(vl) - 1 if vl and min(vl) > 0 else 0.0
        ok = gap <= max_gap and rise <= val_rise
        out.append(
            Verdict(
                "train/val gap",
                ok,
                f"train accuracy {train_acc[-1][1]:.4f} - val accuracy {val_acc[-1][1]:.4f} = "
                f"{gap:.4f} (threshold {max_gap:g}); final val loss {100 * rise:.1f}% above "
                f"its minimum (threshold {100 * val_rise:g}%)",
            )
        )
    return out
