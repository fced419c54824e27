"""Worker processes of the benchmark suites: one row per process, its result as a JSON line.

A row that crashes, hangs or leaves the accelerator in a bad state must not take the
suite with it, so the orchestrators (``throughput.py``) run each measurement as
``python script --_worker JSON(task)`` and read back the line it prints after
``WORKER_MARK``. The worker starts in its own session so that a timeout can kill its
whole process group. Measuring caveat (benchmarks/NOTES.md, "Measuring"): with the
kernel's autogroup scheduling a new session is its own scheduling group, so a niced
background job on the same machine no longer yields to it.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys

from benchmarks.common import ROOT

WORKER_MARK = "@@BENCHMARK_RESULT@@ "  # prefixes the JSON line a worker process prints


def run_worker(script: str | os.PathLike, task: dict, timeout: float) -> dict:
    """Runs ``python script --_worker JSON(task)`` and returns the dict the worker printed.

    The worker must print one line ``WORKER_MARK + json`` with its result. It runs in
    its own process group, killed whole (torch.compile's compiler workers included) on
    timeout or when this process is interrupted; a crash, a timeout or a missing
    result line becomes ``{'error': ...}`` with the tail of the worker's stderr.
    """
    cmd = [sys.executable, str(pathlib.Path(script).resolve()), "--_worker", json.dumps(task)]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"error": f"timeout: worker killed after {timeout:.0f} s"}
    except BaseException:  # interrupted (Ctrl-C, SIGTERM as SystemExit): leave no worker behind
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    for line in reversed(out.splitlines()):
        if line.startswith(WORKER_MARK):
            return json.loads(line[len(WORKER_MARK) :])
    tail = " ".join(err.strip().splitlines()[-6:])[-800:]
    return {"error": f"worker exited with code {proc.returncode} without a result: {tail}"}


def exit_on_sigterm() -> None:
    """Turns SIGTERM (e.g. from ``timeout``) into ``SystemExit``, so cleanups run."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
