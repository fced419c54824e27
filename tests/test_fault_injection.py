"""Small-scale fault injection: SIGKILL in each loop phase, damaged checkpoints, SIGTERM
and SIGINT, and two processes started together on one workdir."""

import pytest

from reliability import fault_injection


@pytest.mark.slow  # about nine `python -m train` processes (about 90 s of CPU)
def test_killed_four_times_resumes_to_bitwise_identical_parameters(tmp_path):
    overrides = [*fault_injection.TINY, "--config.train.num_epochs=6"]
    report = fault_injection.run(
        "train/configs/mnist_mlp.py", overrides, tmp_path, kills=4, corrupt_every=3
    )
    assert report["kills"] == 4
    assert report["by_phase"] == {"train": 2, "eval": 1, "checkpoint": 1}
    assert all(e["resume_was_committed"] for e in report["events"])
    assert report["corruptions_injected"] == report["corruptions_detected"] >= 1
    assert report["healed"]  # the damaged checkpoint was moved aside and saved again
    for g in report["graceful"]:  # SIGTERM, SIGINT: exit 128 + signal, one line, no step lost
        assert g["sent"] and g["exit_code"] == g["expected_exit_code"], g
        assert not g["traceback"] and g["checkpoint_saved"] and g["steps_lost"] == 0, g
    assert report["concurrent"]["one_refused_naming_the_holder"], report["concurrent"]
    assert report["final_exit_code"] == 0
    assert report["identical_params"] and report["identical_test_metrics"]
    assert report["passed"]
