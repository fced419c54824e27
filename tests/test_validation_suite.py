"""Small-scale validation suite: corrupted dataset files give one clear error each, and
every config value the suite tries in-process is refused with one clear line."""

import pytest

from reliability import validation_suite
from train import validate_ranges

BY_NAME = {c.name: c for c in validation_suite.CASES}
# A few cases through `python -m train` (about 10 s each); the suite runs them all.
SUBPROCESS = ["IDX with bad magic", "truncated IDX", "image folder without images"]
IN_PROCESS = [c for c in validation_suite.CASES if not c.process]


@pytest.mark.parametrize("name", SUBPROCESS)
def test_corrupted_input_gives_a_clear_error(name, tmp_path):
    result = validation_suite.check(BY_NAME[name], tmp_path)
    assert result["clear"], result


@pytest.mark.parametrize("case", IN_PROCESS, ids=lambda c: c.name)
def test_bad_config_value_is_refused_in_one_line(case, tmp_path):
    result = validation_suite.check(case, tmp_path)
    assert result["clear"], result
    assert result["mode"] == "in-process" and result["exit"] == 2


def test_the_suite_covers_every_range_rule_with_distinct_cases():
    assert len(BY_NAME) == len(validation_suite.CASES) >= 50
    overridden = {a.split("=")[0] for c in IN_PROCESS for a in c.args}
    missing = [k for k in validate_ranges.RANGES if f"--config.{k}" not in overridden]
    assert not missing, f"range rules without an in-process case: {missing}"


def test_an_accepted_value_is_not_a_clear_error(tmp_path):
    case = validation_suite.Case("fine", ["--config.loss.l2=0.5"], "l2", process=False)
    result = validation_suite.check(case, tmp_path)
    assert not result["clear"] and result["exit"] == 0
