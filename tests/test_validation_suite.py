"""Small-scale validation suite: corrupted dataset files give one clear error each."""

import pytest

from train import validation_suite

DATA_CASES = [c for c in validation_suite.CASES if c.setup is not None and "data" in str(c.extra)]


@pytest.mark.parametrize(
    "case", DATA_CASES[:2] + validation_suite.CASES[-4:-3], ids=lambda c: c.name
)
def test_corrupted_input_gives_a_clear_error(case, tmp_path):
    result = validation_suite.check(case, tmp_path)
    assert result["clear"], result
