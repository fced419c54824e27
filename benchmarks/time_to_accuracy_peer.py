"""``time_to_accuracy.py --peer``: jaxdl and a peer recipe, each as whole processes.

Per seed, each side runs as its own process (``side_command``), timed from spawn to
exit by this process (``run_side``), the sides' order alternating by seed; the JSON
holds both sides' rows, the machine's facts, the medians and the ratio
(``time_to_accuracy_report.summarize_peers``).
"""

import collections
import datetime
import json
import os
import pathlib
import platform
import shlex
import subprocess
import sys
import tempfile
import threading
import time

from benchmarks import common
from benchmarks.speed_recipes import RECIPES
from benchmarks.time_to_accuracy_report import peer_table, summarize_peers

ROOT = pathlib.Path(__file__).resolve().parent.parent
PEERS = {"torch": "benchmarks.peers.torch_mnist_example"}  # peer -> module (MNIST only)


def side_command(args, side: str, seed: int, target: float, out: pathlib.Path) -> list[str]:
    """The command line of one side's process for one seed (run from the repository root)."""
    if side != "jaxdl":
        cmd = [sys.executable, "-m", PEERS[side], "--seed", str(seed), "--target", str(target)]
        cmd += ["--max_epochs", str(args.peer_epochs), "--out", str(out)]
        given = {"train_subset": args.train_subset, "test_subset": args.test_subset,
                 "data_dir": args.data_dir, "threads": args.peer_threads}  # fmt: skip
    else:
        cmd = [sys.executable, str(ROOT / "benchmarks" / "time_to_accuracy.py"), "--task"]
        cmd += [args.task, "--seeds", "1", "--first_seed", str(seed), "--target", str(target)]
        cmd += ["--out", str(out)]
        names = ("epochs", "eval_from", "dtype", "batch_size", "widths", "eval_batch",
                 "epoch_mode", "steps_per_dispatch", "train_subset", "test_subset",
                 "data_dir", "devices")  # fmt: skip
        given = {name: getattr(args, name) for name in names}
    return cmd + [a for k, v in given.items() if v is not None for a in (f"--{k}", str(v))]


def run_side(cmd: list[str], side: str, seed: int, out: pathlib.Path, timeout: float) -> dict:
    """Runs one side's process, echoing its output; its row (times, accuracies, facts)."""
    row = {"seed": seed, "framework": side, "command": shlex.join(cmd)}
    row["load_avg_1min_before"] = os.getloadavg()[0]
    tail: collections.deque = collections.deque(maxlen=30)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    for line in proc.stdout:
        print(f"[{side} seed {seed}] {line}", end="", flush=True)
        tail.append(line)
    row["returncode"] = proc.wait()
    row["process_wall_s"] = time.perf_counter() - t0  # spawn to exit
    timer.cancel()
    if row["returncode"] != 0 or not out.is_file():
        row.update(reached=False, error=f"exit code {row['returncode']}: " + "".join(tail))
        return row
    child = json.loads(out.read_text())
    if side == "jaxdl":
        r = child["rows"][0]
        row.update(process_s_at_target=r["process_s_at_target"], device=child["device"])
        row.update(params=child["params"], config=child["config"], data=child["data"])
    else:
        r = child
        row["process_s_at_target"] = r["time_to_target_s"]  # the peer's clock: process age
        facts = ("params", "torch", "device", "threads", "interop_threads", "data", "recipe")
        row.update({k: child[k] for k in facts})
    for key in ("reached", "epochs_run", "final_accuracy", "best_accuracy", "history"):
        row[key] = r[key]
    row["time_to_target_process_s"] = row["process_wall_s"] if r["reached"] else None
    return row


def machine_facts() -> dict:
    """Cores, CPU model, OS and load of this machine (the devices: each side's row)."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            names = (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
            model = next(names, "")
    except OSError:
        pass
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(affinity) if affinity else None,
        "cpu_model": model,
        "platform": platform.platform(),
        "load_avg_start": os.getloadavg(),
    }


def compare_with_peer(args) -> dict:
    """``--peer``: per seed, jaxdl and the peer as whole processes (see the docstring)."""
    target = args.target if args.target is not None else RECIPES[args.task].target
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    out = args.out or ROOT / "benchmarks" / "results" / (
        f"tta-{args.task}-vs-{args.peer}-{common.today()}.json"
    )
    result = {
        "benchmark": "time_to_accuracy_vs_peer",
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": common.command_line(),
        "git_sha": common.git_sha(),
        "versions": common.package_versions((*common.BASE_PACKAGES, *common.PEER_PACKAGES)),
        "machine": machine_facts(),
        "config": {
            "task": args.task,
            "target": target,
            "peer": args.peer,
            "peer_recipe": PEERS[args.peer],
            "peer_epochs": args.peer_epochs,
            "seeds": seeds,
            "timing": "process_wall_s: each side's whole process, spawn to exit, timed by "
            "this process (the time to the target when reached); process_s_at_target: the "
            "side's own seconds from its process start to the evaluation that reached the "
            "target; the sides run one after the other, their order alternating by seed",
        },
        "rows": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for i, seed in enumerate(seeds):
            for side in ("jaxdl", args.peer)[:: 1 if i % 2 == 0 else -1]:
                path = pathlib.Path(tmp) / f"{side}-{seed}.json"
                cmd = side_command(args, side, seed, target, path)
                result["rows"].append(run_side(cmd, side, seed, path, args.timeout))
                result["summary"] = summarize_peers(result["rows"], args.peer)
                result["machine"]["load_avg_end"] = os.getloadavg()
                common.write_results(out, result, peer_table(result))
    print("\n" + peer_table(result) + f"\n\nwritten: {out}", flush=True)
    return result
