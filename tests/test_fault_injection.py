"""Small-scale fault injection: SIGKILL in each loop phase, plus a damaged checkpoint."""

import pytest

from train import fault_injection


@pytest.mark.slow  # four SIGKILLed `python -m train` processes (about 40 s of CPU)
def test_killed_four_times_resumes_to_bitwise_identical_parameters(tmp_path):
    overrides = [*fault_injection.TINY, "--config.train.num_epochs=4"]
    report = fault_injection.run(
        "train/configs/mnist_mlp.py", overrides, tmp_path, kills=4, corrupt_every=3
    )
    assert report["kills"] == 4
    assert report["by_phase"] == {"train": 2, "eval": 1, "checkpoint": 1}
    assert all(e["resume_was_committed"] for e in report["events"])
    assert report["corruptions_injected"] == 1 == report["corruptions_detected"]
    assert report["final_exit_code"] == 0
    assert report["identical_params"] and report["identical_test_metrics"]
    assert report["passed"]
