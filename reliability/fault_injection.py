"""Fault injection: SIGKILL ``python -m train`` again and again, resume, compare.

  python -m reliability.fault_injection --workdir runs/fault_injection --kills 10 \\
      [--config train/configs/mnist_mlp.py] [--override --config.train.num_epochs=12 ...]

First an uninterrupted reference run; then the same command is started, killed with
SIGKILL at a chosen point, and restarted, ``--kills`` times in a row, cycling the
kill point through the loop's phases (read from $JAXDL_PHASE_FILE, which the loop
writes): during training steps, during evaluation, and right after a checkpoint
save started (the write is then in flight in Orbax's background thread). The last
restart runs to completion. After every third kill the newest checkpoint is also
damaged (a flipped byte or a truncated file). Then the graceful faults: SIGTERM and
SIGINT during training (the run must exit with 128 + signal, print one line and no
traceback, and have saved a checkpoint at the step it stopped at: no step lost), the
newest checkpoint damaged once more (before the SIGTERM start, or the first start
after which two are committed) and two processes started together on the
workdir (one must be refused, naming the holder; the other continues past the damaged
checkpoint, which is moved aside and saved again). Pass when the final parameters
are bitwise identical (SHA-256 of every parameter) to the reference, test metrics
are equal, every restart resumed from a committed checkpoint step, no partial
checkpoint was ever picked up, every damaged checkpoint was reported by step and
skipped, and the graceful faults behaved as said. A summary table and a JSON report
are written to the workdir; the processes' stderr and the phase file go to logs/.
"""

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from train import experiment_dirs
from train import workdir as workdirs

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("train", "eval", "checkpoint")
# What the experiment writes into its workdir besides the runs reference/ and killed/.
OUTPUTS = ("report.json", "logs")
TINY = [
    "--config.data.train_split=train[:2048]",
    "--config.data.val_split=train[2048:2560]",
    "--config.data.test_split=test[:1000]",
    "--config.model.kwargs.width=64",
    "--config.model.kwargs.dropout_rate=0.0",
    "--config.train.batch_size=64",
    "--config.train.eval_batch_size=256",
    "--config.train.num_epochs=12",
    "--config.train.log_every_steps=8",
    "--config.train.progress=False",
]


def _command(config: str, overrides: list[str], workdir: Path) -> list[str]:
    return [sys.executable, "-m", "train", f"--config={config}", f"--workdir={workdir}", *overrides]


def _env(phase_file: Path | None) -> dict[str, str]:
    env = {**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")}
    env["PYTHONUNBUFFERED"] = "1"  # the "Resuming from" line must survive a SIGKILL
    env.pop("XLA_FLAGS", None)
    if phase_file is not None:
        env["JAXDL_PHASE_FILE"] = str(phase_file)
    return env


def _corrupt_latest(run_dir: Path, how: str) -> dict | None:
    """Flips a byte in (or truncates) the largest state file of the newest checkpoint.

    Only while an older committed checkpoint exists to fall back to (None otherwise: the
    damage is deferred). With every checkpoint damaged a run refuses to start, by design.
    Returns the damaged step, how, and the step the next start must fall back to.
    """
    steps = workdirs.checkpoint_steps(run_dir)
    if len(steps) < 2:
        return None
    damage(run_dir / "checkpoints" / str(steps[-1]), how)
    return {"step": steps[-1], "how": how, "fallback": steps[-2]}


def damage(step_dir: Path, how: str) -> None:
    """Flips a byte in (``'flip'``) or cuts in half (``'truncate'``) the largest state
    file of the checkpoint folder ``step_dir``."""
    files = [p for p in (step_dir / "state").rglob("*") if p.is_file()]
    victim = max(files, key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0x01
    else:
        data = data[: len(data) // 2]
    victim.write_bytes(bytes(data))


def _kill_at(
    cmd,
    phase_file: Path,
    target: str,
    rng: random.Random,
    min_step: int,
    timeout=300,
    sig=None,
    delay=None,
):
    """Starts ``cmd``, sends ``sig`` (SIGKILL) once the loop is in ``target`` past ``min_step``.

    The run folder is the ``--workdir`` of ``cmd``; stderr goes beside ``phase_file``.
    """
    sig = signal.SIGKILL if sig is None else sig
    run_dir = Path(next(a for a in cmd if a.startswith("--workdir="))[len("--workdir=") :])
    phase_file.unlink(missing_ok=True)
    stderr_path = phase_file.with_name(f"stderr_{time.time_ns()}.txt")
    stderr = stderr_path.open("w")
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=_env(phase_file), stdout=subprocess.PIPE, stderr=stderr
    )
    deadline = time.time() + timeout
    seen = None
    while time.time() < deadline and proc.poll() is None:
        try:
            phase, step = phase_file.read_text().split()
            seen = (phase, int(step))
        except (OSError, ValueError):
            seen = None
        # A "train" kill after progress waits for a later epoch, so the run moves on.
        if (
            seen
            and seen[0] == target
            and (seen[1] > min_step if (target == "train" and min_step) else seen[1] >= min_step)
        ):
            # train: somewhere inside the epoch; eval/checkpoint: right inside the phase.
            if delay is None:
                delay = rng.uniform(0.05, 0.6) if target == "train" else rng.uniform(0, 0.02)
            time.sleep(delay)
            break
        time.sleep(0.002)
    if proc.poll() is not None:
        out = proc.stdout.read().decode()
        return {"target": target, "killed": False, "exit": proc.returncode, "stdout": out}
    in_flight = _write_in_flight(run_dir)
    proc.send_signal(sig)
    out = proc.communicate()[0].decode()
    stderr.close()
    return {
        "target": target,
        "killed": True,
        "phase_at_kill": seen[0] if seen else None,
        "step_at_kill": seen[1] if seen else None,
        "checkpoint_write_in_flight": in_flight,
        "resumed_from": _resumed_step(out),
        "exit_code": proc.returncode,
        "stderr": stderr_path.read_text(),
    }


def _graceful(cmd, logs: Path, sig: int, run_dir: Path, min_step: int) -> dict:
    """SIGTERM / SIGINT during training: exit 128 + sig, one line, a checkpoint there."""
    # At once after a log past min_step: mid-epoch, well before a short run ends. Never
    # before step 1: a stop at step 0 has trained nothing and writes no checkpoint.
    event = _kill_at(cmd, logs / "phase.txt", "train", random.Random(sig), max(min_step, 1),
                     sig=sig, delay=0.0)  # fmt: skip
    event.pop("checkpoint_write_in_flight", None)
    err = event.pop("stderr", "")
    if not event["killed"] or event["exit_code"] == 0:  # the run was done before it acted
        return {"signal": signal.Signals(sig).name, "sent": False}
    last = err.strip().splitlines()[-1] if err.strip() else ""
    m = re.search(r"training stopped at step (\d+)", last)
    stopped = int(m.group(1)) if m else None
    return {
        "signal": signal.Signals(sig).name,
        "sent": True,
        "exit_code": event["exit_code"],
        "expected_exit_code": 128 + sig,
        "traceback": "Traceback" in err,
        "last_line": last,
        "stopped_at": stopped,
        "checkpoint_saved": stopped is not None and stopped in workdirs.checkpoint_steps(run_dir),
        "resumed_from": event["resumed_from"],
    }


def _concurrent(cmd, logs: Path) -> dict:
    """Two processes started together on one workdir: exactly one is refused at once."""
    procs = []
    for i in range(2):
        err = (logs / f"stderr_concurrent_{i}_{time.time_ns()}.txt").open("w")
        procs.append((subprocess.Popen(cmd, cwd=ROOT, env=_env(None), stdout=subprocess.PIPE,
                                       stderr=err), err))  # fmt: skip
    results = []
    for proc, err in procs:
        out = proc.communicate()[0].decode()
        err.close()
        text = Path(err.name).read_text()
        results.append({"exit_code": proc.returncode, "stdout": out, "stderr": text})
    refused = [r for r in results if r["exit_code"] == 2 and "in use by process" in r["stderr"]]
    ran = [r for r in results if r["exit_code"] == 0]
    return {
        "exit_codes": [r["exit_code"] for r in results],
        "one_refused_naming_the_holder": len(refused) == 1 and len(ran) == 1,
        "stderr": "".join(r["stderr"] for r in results),
        "resumed_from": _resumed_step(ran[0]["stdout"]) if ran else None,
    }


def _write_in_flight(run_dir: Path) -> bool:
    """Whether an orbax checkpoint write is under way in ``run_dir``.

    The process is still running and deletes old checkpoints meanwhile: ``os.walk``
    skips a directory that vanishes between listing and entering it (``rglob`` raised).
    """
    return any(
        ".orbax-checkpoint-tmp" in name
        for _, dirs, files in os.walk(run_dir)
        for name in dirs + files
    )


def _resumed_step(stdout: str) -> int | None:
    m = re.search(r"Resuming from checkpoint step (\d+)", stdout)
    return int(m.group(1)) if m else None


def steps_lost(graceful: list[dict], concurrent: dict, damaged_after: dict[int, dict]) -> None:
    """Sets each sent graceful stop's ``steps_lost``: where it stopped (or, when the
    harness damaged that checkpoint right after the stop, the fallback) minus where the
    next start resumed. Only a damage made after this stop counts: an earlier one of the
    same step number was healed (re-saved) by a start in between."""
    for i, (g, nxt) in enumerate(zip(graceful, [*graceful[1:], concurrent])):
        if g.get("sent") and g["stopped_at"] is not None:
            resumed = nxt.get("resumed_from")
            d = damaged_after.get(i)
            intact = d["fallback"] if d and d["step"] == g["stopped_at"] else g["stopped_at"]
            g["steps_lost"] = None if resumed is None else intact - resumed


def run(
    config: str,
    overrides: list[str],
    workdir: Path,
    kills: int,
    seed: int = 0,
    corrupt_every: int = 3,
) -> dict:
    """Runs the experiment; returns the report (also written to workdir/report.json).

    After every ``corrupt_every``-th kill the newest checkpoint is damaged (a flipped
    byte or a truncated file, alternately); a later restart must report it unreadable
    by step and fall back to an older one, and the final parameters must still match.
    """
    rng = random.Random(seed)
    # The older runs and report go (the runs must start afresh); files of yours stay.
    experiment_dirs.clear_experiment(workdir, "fault_injection", OUTPUTS)
    ref_dir, run_dir, logs = workdir / "reference", workdir / "killed", workdir / "logs"
    ref = subprocess.run(
        _command(config, overrides, ref_dir), cwd=ROOT, env=_env(None), capture_output=True
    )
    if ref.returncode:
        raise RuntimeError(f"reference run failed:\n{ref.stderr.decode()[-3000:]}")
    reference = json.loads((ref_dir / "summary.json").read_text())
    cmd = _command(config, overrides, run_dir)
    logs.mkdir(exist_ok=True)  # the phase file and each attempt's stderr
    events, min_step, corruptions, due = [], 0, [], False
    for i in range(kills):
        committed_before = set(workdirs.checkpoint_steps(run_dir))
        event = _kill_at(cmd, logs / "phase.txt", PHASES[i % len(PHASES)], rng, min_step)
        event.pop("stderr", None)
        event["committed_before"] = max(committed_before, default=None)
        event["resume_was_committed"] = (
            event.get("resumed_from") is None or event["resumed_from"] in committed_before
        )
        events.append(event)
        if not event["killed"]:
            break  # the run finished before this kill point: nothing left to kill
        min_step = max(min_step, event["step_at_kill"] or 0)
        # Due every corrupt_every kills; deferred until a committed checkpoint exists.
        due = due or bool(corrupt_every and (i + 1) % corrupt_every == 0)
        how = ("flip", "truncate")[len(corruptions) % 2]
        if due and (damaged := _corrupt_latest(run_dir, how)) is not None:
            corruptions.append(damaged)
            due = False
    # Damage the newest checkpoint once more, then continue: the next start falls back
    # past it and heals it. Before the SIGTERM start; if the kills left fewer than two
    # committed checkpoints, before the next start (after the two graceful stops there
    # are two). Not when the kills left the newest damaged already (a second flip of the
    # same byte would repair it).
    pending = max(workdirs.checkpoint_steps(run_dir), default=None) not in [
        c["step"] for c in corruptions
    ]
    graceful, damaged_after = [], {}  # graceful stop index -> the damage that followed it
    for sig in (signal.SIGTERM, signal.SIGINT, None):
        if pending and (damaged := _corrupt_latest(run_dir, "truncate")) is not None:
            corruptions.append(damaged)
            damaged_after[len(graceful) - 1] = damaged
            pending = False
        if sig is None:
            break
        graceful.append(_graceful(cmd, logs, sig, run_dir, min_step))
        min_step = max(min_step, graceful[-1].get("stopped_at") or 0)
    concurrent = _concurrent(cmd, logs)
    steps_lost(graceful, concurrent, damaged_after)
    final = subprocess.run(cmd, cwd=ROOT, env=_env(None), capture_output=True)
    text = "".join(p.read_text() for p in sorted(logs.glob("stderr_*.txt")))
    text += final.stderr.decode()
    for c in corruptions:
        c["detected"] = f"Checkpoint at step {c['step']} is unreadable" in text
    healed = "is unreadable" not in final.stderr.decode()  # the damaged one was replaced
    final_resumed = _resumed_step(final.stdout.decode())
    got = json.loads((run_dir / "summary.json").read_text()) if final.returncode == 0 else {}
    report = {
        "kills": sum(e["killed"] for e in events),
        "by_phase": {p: sum(e.get("phase_at_kill") == p for e in events) for p in PHASES},
        "kills_during_checkpoint_write": sum(
            bool(e.get("checkpoint_write_in_flight")) for e in events
        ),
        "resumes_from_committed_checkpoints": sum(e["resume_was_committed"] for e in events)
        + int(final_resumed is not None),
        "corruptions_injected": len(corruptions),
        "corruptions_detected": sum(c["detected"] for c in corruptions),
        "corruptions": corruptions,
        "final_exit_code": final.returncode,
        "identical_params": got.get("params_sha256") == reference["params_sha256"],
        "identical_test_metrics": all(
            got.get(k) == v for k, v in reference.items() if k.startswith("test_")
        ),
        "reference": {k: reference[k] for k in ("steps", "params_sha256", "test_accuracy")},
        "events": events,
        "graceful": graceful,
        "concurrent": {k: v for k, v in concurrent.items() if k != "stderr"},
        "healed": healed,
    }
    report["passed"] = (
        report["final_exit_code"] == 0
        and report["identical_params"]
        and report["identical_test_metrics"]
        and all(e["resume_was_committed"] for e in events)
        and all(c["detected"] for c in corruptions)
        and all(
            g["exit_code"] == g["expected_exit_code"]
            and not g["traceback"]
            and g["checkpoint_saved"]
            and g.get("steps_lost") == 0
            for g in graceful
            if g.get("sent")
        )
        and concurrent["one_refused_naming_the_holder"]
        and healed
    )
    (workdir / "report.json").write_text(json.dumps(report, indent=2))
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="train/configs/mnist_mlp.py")
    parser.add_argument("--workdir", default="runs/fault_injection", type=Path)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corrupt_every", type=int, default=3, help="0: never corrupt")
    parser.add_argument("--override", action="append", default=[], help="extra config flags")
    args = parser.parse_args(argv)
    report = run(
        args.config, TINY + args.override, args.workdir, args.kills, args.seed, args.corrupt_every
    )
    print("phase at kill     | step | ckpt write in flight | resumed from")
    for e in report["events"]:
        if e["killed"]:
            print(
                f"{e['phase_at_kill'] or '?':17s} | {e['step_at_kill']!s:4s} | "
                f"{e['checkpoint_write_in_flight']!s:20s} | {e['resumed_from']}"
            )
    print(
        f"runs killed: {report['kills']} ({report['by_phase']}; "
        f"{report['kills_during_checkpoint_write']} during a checkpoint write) | resumed from "
        f"committed checkpoints: {report['resumes_from_committed_checkpoints']} | corruptions "
        f"injected/detected: {report['corruptions_injected']}/{report['corruptions_detected']}"
        f" | final params "
        f"identical to the uninterrupted run: {report['identical_params']} | test metrics "
        f"identical: {report['identical_test_metrics']} | "
        f"{'PASSED' if report['passed'] else 'FAILED'}"
    )
    for g in report["graceful"]:
        if g.get("sent"):
            print(
                f"{g['signal']}: exit {g['exit_code']} (expected {g['expected_exit_code']}), "
                f"stopped at step {g['stopped_at']}, checkpoint there: {g['checkpoint_saved']}, "
                f"steps lost: {g.get('steps_lost')}, traceback: {g['traceback']}"
            )
    c = report["concurrent"]
    print(
        f"two processes at once: exit codes {c['exit_codes']}, one refused naming the holder: "
        f"{c['one_refused_naming_the_holder']} | damaged checkpoint healed: {report['healed']}"
    )
    sys.exit(0 if report["passed"] else 1)


if __name__ == "__main__":
    main()
