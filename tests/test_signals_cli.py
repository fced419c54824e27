"""SIGTERM / SIGINT on a real ``python -m train`` process: a checkpoint at the current
step, one line on stderr, the documented exit code, and a bit-identical resume."""

import json
import signal
import subprocess
import time

import pytest

from reliability import fault_injection as fi

CONFIG = "train/configs/mnist_mlp.py"
SHORT = [*fi.TINY, "--config.train.num_epochs=3"]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_signal_stops_cleanly_and_the_rerun_resumes_bit_identically(tmp_path, signum):
    ref = subprocess.run(fi._command(CONFIG, SHORT, tmp_path / "ref"), cwd=fi.ROOT,
                         env=fi._env(None), capture_output=True, timeout=600)  # fmt: skip
    assert ref.returncode == 0, ref.stderr.decode()[-2000:]
    run_dir = tmp_path / "cut"
    run_dir.mkdir()
    phase = run_dir / "phase.txt"
    cmd = fi._command(CONFIG, SHORT, run_dir)
    proc = subprocess.Popen(
        cmd,
        cwd=fi.ROOT,
        env=fi._env(phase),  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:  # wait for the second epoch
        text = phase.read_text().split() if phase.exists() else []
        if len(text) == 2 and text[0] == "train" and int(text[1]) > 40:
            break
        time.sleep(0.01)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    err = err.decode()
    assert proc.returncode == 128 + signum, err[-2000:]
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"stopped: {signal.Signals(signum).name}: training stopped at step ")
    step = int(last.split("at step ")[1].split(".")[0])
    assert f"The saved checkpoint is step {step} in " in last and step < 96
    assert fi.workdirs.checkpoint_steps(run_dir)[-1] == step
    again = subprocess.run(cmd, cwd=fi.ROOT, env=fi._env(None), capture_output=True, timeout=600)
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    assert f"Resuming from checkpoint step {step}" in again.stdout.decode()
    got = json.loads((run_dir / "summary.json").read_text())
    expected = json.loads((tmp_path / "ref" / "summary.json").read_text())
    assert got["params_sha256"] == expected["params_sha256"]
    assert got["test_accuracy"] == expected["test_accuracy"]
