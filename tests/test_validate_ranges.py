"""The value ranges of the config (train/validate_ranges.py), checked by ``validate``
in-process: property-based out-of-range and in-range numbers for every rule."""

import math

import ml_collections
import pytest
from absl import flags
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ml_collections import config_flags

from train.configs import defaults
from train.validate import ConfigError, _flatten, validate
from train.validate_ranges import ANY_FINITE, RANGES, Range

SCHEMA = _flatten(defaults.get_config())
NUMERIC = {k: v for k, v in SCHEMA.items() if type(v) in (int, float)}
FLOAT_KEYS = sorted(k for k, v in NUMERIC.items() if type(v) is float)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# In-range values that other keys bound (tested by their cross rules): kept within them.
CAPS = {"data.image_size": 256, "data.eval_resize": None}
FLOORS = {"data.eval_resize": 224}


def _config(**values) -> ml_collections.ConfigDict:
    """The defaults (with a warm-up rate, so any warm-up length is valid) and ``values``."""
    c = defaults.get_config()
    c.optimizer.warmup_learning_rate = 0.01
    for key, value in values.items():
        *path, name = key.split(".")
        node = c
        for part in path:
            node = node[part]
        node[name] = value
    return c


def _refused(key: str, value) -> str:
    with pytest.raises(ConfigError) as e:
        validate(_config(**{key: value}))
    message = str(e.value)
    assert "\n" not in message and key in message
    return message


def _outside(key: str, rule: Range) -> st.SearchStrategy:
    is_int = type(SCHEMA[key]) is int
    sides = []
    if rule.lo is not None:
        if is_int:
            below = st.integers(max_value=int(rule.lo) - (0 if rule.lo_open else 1))
        else:
            below = st.floats(max_value=rule.lo, exclude_max=not rule.lo_open, allow_nan=False)
        sides.append(below)
    if rule.hi is not None:
        if is_int:
            above = st.integers(min_value=int(rule.hi) + (0 if rule.hi_open else 1))
        else:
            above = st.floats(min_value=rule.hi, exclude_min=not rule.hi_open, allow_nan=False)
        sides.append(above)
    return st.one_of(*sides).filter(lambda v: math.isfinite(v) and v not in rule)  # -0.0


def _inside(key: str, rule: Range) -> st.SearchStrategy:
    lo = FLOORS.get(key, rule.lo)
    hi = CAPS.get(key, rule.hi if rule.hi is not None else 1e6)
    hi = 10**6 if hi is None else hi
    if type(SCHEMA[key]) is int:
        lo_int = int(lo) + (1 if rule.lo_open and lo == rule.lo else 0)
        hi_int = int(hi) - (1 if rule.hi_open and hi == rule.hi else 0)
        return st.one_of(st.integers(lo_int, hi_int), st.sampled_from(rule.also or (lo_int,)))
    return st.floats(
        lo,
        hi,
        exclude_min=rule.lo_open and lo == rule.lo,
        exclude_max=rule.hi_open and hi == rule.hi,
    ).filter(lambda v: v in rule)


def test_every_numeric_key_of_the_defaults_has_a_rule():
    assert set(NUMERIC) == set(RANGES) | ANY_FINITE
    for key, rule in RANGES.items():
        assert SCHEMA[key] in rule, f"the default of {key} is outside its own range"


@PROPERTY
@given(
    st.sampled_from(sorted(RANGES)).flatmap(lambda k: st.tuples(st.just(k), _outside(k, RANGES[k])))
)
def test_a_value_out_of_range_is_refused_naming_key_value_range_and_fix(key_value):
    key, value = key_value
    message = _refused(key, value)
    assert f"must be {RANGES[key]}" in message and repr(value) in message
    assert f"Fix: choose a value {RANGES[key]} for --config.{key}" in message


@PROPERTY
@given(
    st.sampled_from(sorted(RANGES)).flatmap(lambda k: st.tuples(st.just(k), _inside(k, RANGES[k])))
)
def test_a_value_in_range_is_accepted(key_value):
    key, value = key_value
    validate(_config(**{key: value}))


@PROPERTY
@given(st.sampled_from(FLOAT_KEYS), st.sampled_from([math.nan, math.inf, -math.inf]))
def test_nan_and_inf_are_refused_for_every_float_key(key, value):
    assert "must be a finite number" in _refused(key, value)


@PROPERTY
@given(st.floats(allow_nan=True, allow_infinity=True).filter(lambda r: not 0 <= r < 1))
def test_dropout_rates_outside_zero_one_are_refused(rate):
    c = _config()
    c.model.kwargs = ml_collections.ConfigDict({"dropout_rate": rate, "input_dropout_rate": 0.1})
    with pytest.raises(ConfigError, match=r"model\.kwargs\.dropout_rate must be"):
        validate(c)


@PROPERTY
@given(st.text(min_size=1, max_size=20))
def test_best_metric_must_be_a_metric_of_the_task(name):
    valid = {"val_loss", "val_accuracy", "val_top5_accuracy"}
    c = _config(**{"train.best_metric": name})
    if name in valid:
        validate(c)
    else:
        with pytest.raises(ConfigError, match="choose one of val_loss, val_accuracy"):
            validate(c)


@pytest.mark.parametrize(
    ("values", "ok", "bad"),
    [
        ({"multitask.tasks": "label,parity:0.5"}, "val_parity_accuracy", "val_parity_acc"),
        ({"task": "segmentation", "data.name": "cracks"}, "val_iou_crack", "val_iou_cracks"),
        (
            {"task": "segmentation", "data.name": "cracks"},
            "val_dice_background",
            "val_top5_accuracy",
        ),
        ({"task": "segmentation", "data.name": "seg_folder:/x"}, "val_iou_road", "val_iou_"),
        (
            {"task": "segmentation", "data.name": "tfds:oxford_iiit_pet"},
            "val_iou_pet",
            "val_iou_cat",
        ),
        ({"task": "gan", "model.name": "dcgan"}, "anything", None),  # GANs do not rank
    ],
)
def test_best_metric_names_of_each_task(values, ok, bad):
    validate(_config(**values, **{"train.best_metric": ok}))
    if bad is not None:
        with pytest.raises(ConfigError, match="is not a metric of task"):
            validate(_config(**values, **{"train.best_metric": bad}))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"optimizer.warmup_epochs": 2, "optimizer.warmup_learning_rate": 0.0}, "warm-up"),
        ({"data.eval_resize": 100}, "eval_resize=100 must be >= data.image_size=224"),
        ({"data.train_crop": "scale_jitter", "data.scale_range": (128, 512)}, "S_min"),
        ({"data.scale_range": (1, 2, 3)}, "two integers"),
        ({"data.classes": (1, 1.5)}, "integer labels"),
        ({"segmentation.class_weights": (0.0, 0.0)}, "not all 0"),
        ({"task": "segmentation", "segmentation.ce_weight": 0.0}, "both 0"),
        ({"data.name": "cracks", "segmentation.image_size": 15}, ">= 16"),
        ({"data.name": "tfds:oxford_iiit_pet", "segmentation.image_size": 0}, ">= 1"),
        ({"task": "gan", "model.name": "dcgan", "gan.d_steps": 3}, "multiple of gan.d_steps"),
        ({"task": "gan", "model.name": "dcgan", "gan.l1_weight": 1.0}, "conditional GAN"),
        ({"train.batch_size": True}, "must be int, got True"),
    ],
)
def test_rules_between_keys(values, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as e:
        validate(_config(**values))
    assert "\n" not in str(e.value)


def test_a_missing_or_broken_config_file_is_one_line(tmp_path):
    argv = ["train", f"--config={tmp_path / 'nope.py'}"]
    fv = flags.FlagValues()
    holder = config_flags.DEFINE_config_file("config", None, "", flag_values=fv, sys_argv=argv)
    fv(argv)  # ml_collections defers the missing file's error to the config's first use
    with pytest.raises(ConfigError, match=r"Cannot load the --config file .*nope\.py") as e:
        validate(holder.value)
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="get_config\\(\\) returned NoneType"):
        validate(None)
