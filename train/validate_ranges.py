"""The value rules of the config keys: one rule per key, in one table.

``check(given)`` (called by ``train.validate.validate`` after the type checks) refuses
NaN/inf anywhere in the config, then each key of ``RANGES`` outside its range, each key
of ``CHOICES`` outside its choices (``train.best_mode`` from the library's
``BEST_MODES``), then the rules that tie keys together (``CROSS``). Every message is
one line naming the key, the value, the range and the fix. The library classes that
receive these values (``LoopOptions``, ``EarlyStopping``, ``Checkpointer``, ...) keep
their own argument checks; this table is the command line's boundary check, run before
any data is loaded or anything compiles.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from jaxdl.training.checkpoint import BEST_MODES


class ConfigError(ValueError):
    """A configuration key or value is invalid (``train.validate`` re-exports it)."""


SEED_LIMIT = 2**32  # jax.random.PRNGKey keeps a seed's low 32 bits: 2**32 repeats seed 0


@dataclass(frozen=True)
class Range:
    """``lo <= v <= hi`` (either bound optional, ``*_open`` excludes it), or a value of
    ``also`` (e.g. -1 = off); ``means`` says what the key is, for the message."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    also: tuple[int, ...] = ()
    means: str = ""

    def __contains__(self, v: Any) -> bool:
        if v != v:  # NaN
            return False
        if v in self.also:
            return True
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return self.hi is None or (v < self.hi if self.hi_open else v <= self.hi)

    def __str__(self) -> str:
        if self.lo is not None and self.hi is not None:
            left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
            text = f"in {left}{self.lo}, {self.hi}{right}"
        elif self.lo is not None:
            text = f"{'>' if self.lo_open else '>='} {self.lo}"
        else:
            text = f"{'<' if self.hi_open else '<='} {self.hi}"
        return " or ".join([*(str(a) for a in self.also), text])


def _at_least(lo: float, means: str = "", also: tuple[int, ...] = ()) -> Range:
    return Range(lo=lo, means=means, also=also)


def _positive(means: str) -> Range:
    return Range(lo=0, lo_open=True, means=means)


def _fraction(means: str) -> Range:  # a probability-like weight in [0, 1)
    return Range(lo=0, hi=1, hi_open=True, means=means)


_SEED = Range(lo=0, hi=SEED_LIMIT, hi_open=True, means="JAX keys keep the low 32 bits")
_DROPOUT = _fraction("it is the DROP probability; the course's keep probability p is 1 - rate")

RANGES: dict[str, Range] = {
    "seed": _SEED,
    "data.pad_to": _at_least(0, "square side to pad images to; 0 = keep"),
    "data.image_size": _at_least(1, "crop side of streamed datasets"),
    "data.eval_resize": _at_least(1, "evaluation shorter side before the centre crop"),
    "data.num_workers": _at_least(0, "grain worker processes; 0 = threads only"),
    "data.curriculum.start": Range(0, 1, lo_open=True, means="share of examples at step 0"),
    "data.curriculum.full_at": Range(0, 1, means="share of the steps until all examples"),
    "transfer.trunk_lr_factor": _at_least(
        0, "the trunk's learning rate over the head's; 0 freezes the trunk"
    ),
    "optimizer.learning_rate": _positive("the base learning rate"),
    "optimizer.warmup_epochs": _at_least(0, "epochs at warmup_learning_rate; 0 = none"),
    "optimizer.warmup_learning_rate": _at_least(0, "the rate held during the warm-up"),
    "optimizer.accumulate_steps": _at_least(0, "steps per update; 0 = full-batch GD"),
    "loss.l1": _at_least(0, "weight of the l1 penalty"),
    "loss.l2": _at_least(0, "weight kappa of the (kappa/2)||W||^2 penalty"),
    "loss.label_smoothing": _fraction("mass moved to the uniform distribution; 1 = no label"),
    "loss.aux_loss_weight": _at_least(0, "weight of each auxiliary classifier's loss"),
    "train.batch_size": _at_least(1, "examples per training step"),
    "train.eval_batch_size": _at_least(1, "examples per evaluation batch"),
    "train.num_epochs": _at_least(1, "passes over the training split"),
    "train.log_every_steps": _at_least(1, "steps between metric fetches"),
    "train.eval_every_epochs": _at_least(1, "epochs between evaluations and checkpoints"),
    "train.max_to_keep": _at_least(1, "checkpoints kept"),
    "train.max_steps": _at_least(1, "steps before pausing; -1 = all epochs", also=(-1,)),
    "train.early_stopping_patience": _at_least(
        0, "stalled evaluations before stopping; -1 = off", also=(-1,)
    ),
    "train.early_stopping_min_delta": _at_least(0, "smallest change counted as progress"),
    "train.restart_patience": _at_least(0, "stalled evaluations before a restart; 0 = off"),
    "train.max_restarts": _at_least(0, "restarts from the best checkpoint at most"),
    "train.restart_decay": Range(0, 1, lo_open=True, means="learning-rate factor per restart"),
    "train.max_skipped_steps": _at_least(0, "non-finite steps skipped before stopping"),
    "gan.latent_dim": _at_least(1, "size of the generator's noise input"),
    "gan.d_steps": _at_least(1, "discriminator updates per generator update"),
    "gan.g_learning_rate": _positive("the generator's Adam learning rate"),
    "gan.d_learning_rate": _positive("the discriminator's Adam learning rate"),
    "gan.beta1": _fraction("Adam's first-moment decay"),
    "gan.beta2": _fraction("Adam's second-moment decay"),
    "gan.l1_weight": _at_least(0, "weight of pix2pix's L1 term"),
    "gan.r1_gamma": _at_least(0, "weight gamma of the R1 penalty on real images; 0 = off"),
    "gan.r1_every": _at_least(1, "steps between lazy R1 penalties (scaled by it)"),
    "gan.w_avg_beta": _fraction("decay of StyleGAN's moving average of w"),
    "gan.edge_threshold": _fraction("Sobel threshold, a fraction of each image's largest edge"),
    "gan.gaussian_components": _at_least(0, "eigen-images kept; 0 = all"),
    "gan.num_samples": _at_least(1, "images in the sample grid"),
    "gan.fid_samples": _at_least(2, "generated images per FID estimate; a covariance needs 2"),
    "gan.fid_seeds": _at_least(1, "independent FID sample sets"),
    "segmentation.image_size": _at_least(0, "image side; 0 = keep a folder's size"),
    "segmentation.data_seed": _SEED,
    "segmentation.ce_weight": _at_least(0, "weight of the cross-entropy term"),
    "segmentation.dice_weight": _at_least(0, "weight of the soft Dice term"),
    "segmentation.num_pictures": _at_least(0, "examples drawn per evaluation; 0 = none"),
}
# Numeric keys whose every finite value is meaningful.
ANY_FINITE = {"optimizer.renormalize_filters"}  # <= 0 = off


def _fix(key: str, rule: Range | None, default: Any) -> str:
    want = f"a value {rule}" if rule is not None else "a finite value"
    known = f" (default {default!r})" if default is not None else ""
    return f"Fix: choose {want} for --config.{key}{known}."


def out_of_range(key: str, value: Any, rule: Range, default: Any = None) -> str:
    """The one-line message of ``key=value`` outside ``rule``."""
    means = f" ({rule.means})" if rule.means else ""
    return f"{key} must be {rule}{means}, got {value!r}. {_fix(key, rule, default)}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _plain(value: Any) -> Any:
    return value.to_dict() if hasattr(value, "to_dict") else value


def _numbers(key: str, value: Any) -> Iterator[tuple[str, Any]]:
    """``(key, number)`` for every number in ``value`` (nested dicts, lists, tuples)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(f"{key}.{k}", v)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _numbers(f"{key}[{i}]", v)
    elif _is_number(value):
        yield key, value


# The keys with a few allowed strings (the library's own tables where it has one).
CHOICES: dict[str, tuple[str, ...]] = {
    "model.dtype": ("float32", "bfloat16"),
    "train.best_mode": BEST_MODES,
    "train.on_nonfinite": ("stop", "skip"),  # skip: train.build.guard
    "gan.condition": ("", "sobel_edges", "mask", "paired"),  # pix2pix's input: train.build
}


def check(given: dict[str, Any], schema: dict[str, Any]) -> str | None:
    """The message of the first value out of range in the flat config ``given``, or None.

    ``schema`` is the flat ``defaults.get_config()`` (for the defaults in the fixes).
    """
    for key, value in given.items():
        for where, number in _numbers(key, _plain(value)):
            if not math.isfinite(number):
                name = where.split("[")[0]
                rule = _DROPOUT if name.endswith("dropout_rate") else RANGES.get(name)
                return (
                    f"{where} must be a finite number, got {number!r} (NaN and inf are "
                    f"refused). {_fix(name, rule, schema.get(name))}"
                )
    for key, rule in RANGES.items():
        if key in given and given[key] not in rule:
            return out_of_range(key, given[key], rule, schema.get(key))
    for key, allowed in CHOICES.items():
        if key in given and given[key] not in allowed:
            return f"{key} must be {' or '.join(map(repr, allowed))}, got {given[key]!r}."
    for key, rate in _plain(given.get("model.kwargs", {})).items():
        if key.endswith("dropout_rate") and not (_is_number(rate) and rate in _DROPOUT):
            return out_of_range(f"model.kwargs.{key}", rate, _DROPOUT, 0.0)
    for rule in CROSS:
        message = rule(given)
        if message:
            return message
    return None


def _warmup(g: dict[str, Any]) -> str | None:
    if g.get("optimizer.warmup_epochs", 0) > 0 and g.get("optimizer.warmup_learning_rate") <= 0:
        return (
            f"optimizer.warmup_learning_rate must be > 0 while optimizer.warmup_epochs="
            f"{g['optimizer.warmup_epochs']} (the rate held during the warm-up), got "
            f"{g['optimizer.warmup_learning_rate']!r}. Fix: set it (He et al.: a tenth of "
            "the learning rate), or set optimizer.warmup_epochs=0."
        )
    return None


def _streamed_crops(g: dict[str, Any]) -> str | None:
    size, scales = g.get("data.image_size", 224), tuple(g.get("data.scale_range", (256, 512)))
    if len(scales) != 2 or not all(_is_number(s) and isinstance(s, int) for s in scales):
        return (
            f"data.scale_range must be two integers (S_min, S_max), got {scales!r}. Fix: "
            "e.g. --config.data.scale_range='(256, 512)'."
        )
    if not 1 <= scales[0] <= scales[1]:
        return (
            f"data.scale_range must satisfy 1 <= S_min <= S_max (shorter sides of scale "
            f"jittering), got {scales!r}. Fix: e.g. --config.data.scale_range='(256, 512)'."
        )
    if g.get("data.train_crop") == "scale_jitter" and scales[0] < size:
        return (
            f"data.scale_range={scales!r}: S_min must be >= data.image_size={size} (the "
            "crop is taken from the rescaled image). Fix: raise S_min or lower data.image_size."
        )
    if g.get("data.eval_resize", size) < size:
        return (
            f"data.eval_resize={g['data.eval_resize']} must be >= data.image_size={size} (the "
            "centre crop is taken from the resized image). Fix: raise data.eval_resize."
        )
    return None


def _classes(g: dict[str, Any]) -> str | None:
    classes = tuple(g.get("data.classes", ()))
    if not all(_is_number(c) and isinstance(c, int) and c >= 0 for c in classes):
        return (
            f"data.classes must be integer labels >= 0 of the dataset, got {classes!r}. Fix: "
            "e.g. --config.data.classes='(5, 6, 7, 8, 9)', or () for all classes."
        )
    return None


def _gan(g: dict[str, Any]) -> str | None:
    if g.get("task") != "gan":
        return None
    batch, k = g.get("train.batch_size", 1), g.get("gan.d_steps", 1)
    if batch % k:
        return (
            f"train.batch_size={batch} must be a multiple of gan.d_steps={k} (each "
            "discriminator update takes an equal part of the batch). Fix: change either."
        )
    cond, data = g.get("gan.condition", ""), str(g.get("data.name", ""))
    if (cond == "paired") != data.startswith("paired_folder:"):
        return (
            "gan.condition='paired' goes with data.name='paired_folder:<root>' and only with "
            f"it; got condition {cond!r} and data.name {data!r}."
        )
    if g.get("gan.l1_weight", 0) > 0 and not g.get("gan.condition"):
        return (
            f"gan.l1_weight={g['gan.l1_weight']} needs a conditional GAN (a target image for "
            "G's output): set gan.condition (pix2pix), or gan.l1_weight=0."
        )
    return _truncation(g)


def _truncation(g: dict[str, Any]) -> str | None:
    psis = g.get("gan.truncation_psi", ())
    if not isinstance(psis, (list, tuple)) or not all(_is_number(p) and -1 <= p <= 1 for p in psis):
        return (
            f"gan.truncation_psi must be a tuple of numbers in [-1, 1] (1 = no truncation, "
            f"0 = the average w), got {psis!r}. Fix: e.g. "
            "--config.gan.truncation_psi='(1.0, 0.7, 0.5)', or () for none."
        )
    if psis and g.get("model.name") != "stylegan":
        return (
            f"gan.truncation_psi={tuple(psis)!r} needs model 'stylegan' (the truncation "
            f"trick moves StyleGAN's w towards its average), got {g.get('model.name')!r}. "
            "Fix: --config.gan.truncation_psi='()'."
        )
    return None


def _segmentation(g: dict[str, Any]) -> str | None:
    name, size = str(g.get("data.name", "")), g.get("segmentation.image_size", 64)
    smallest = 16 if name == "cracks" else 1 if name.startswith("tfds:") else 0
    if size < smallest:
        return (
            f"segmentation.image_size must be >= {smallest} for data.name={name!r} (the "
            f"side of the images it makes), got {size}. Fix: e.g. "
            "--config.segmentation.image_size=64."
        )
    weights = tuple(g.get("segmentation.class_weights", ()))
    if weights and (not all(map(_is_number, weights)) or min(weights) < 0 or max(weights) <= 0):
        return (
            f"segmentation.class_weights must be numbers >= 0, one per class, not all 0, got "
            f"{weights!r}. Fix: e.g. '(1.0, 5.0)', or () for equal weights."
        )
    pictures, batch = g.get("segmentation.num_pictures", 0), g.get("train.eval_batch_size", 1)
    if g.get("task") == "segmentation" and pictures > batch:
        return (
            f"segmentation.num_pictures={pictures} must be <= train.eval_batch_size={batch} "
            "(the pictures come from the first evaluation batch). Fix: lower it."
        )
    no_loss = g.get("segmentation.ce_weight", 1) == g.get("segmentation.dice_weight", 0) == 0
    if g.get("task") == "segmentation" and no_loss:
        return (
            "segmentation.ce_weight and segmentation.dice_weight are both 0: the loss would "
            "be 0. Fix: set either > 0 (default ce_weight=1.0)."
        )
    return None


# Rules between keys (each returns its message, or None).
CROSS = (_warmup, _streamed_crops, _classes, _gan, _segmentation)
