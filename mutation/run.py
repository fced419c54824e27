"""Run mutmut over jaxdl's core, one module at a time, and tabulate the results per package.

    python -m mutation.run                       # every module of mutation/core.toml
    python -m mutation.run --modules metrics clipping   # modules whose path contains these
    python -m mutation.run --list                # the configured core and its tests
    python -m mutation.run --report              # the tables of the last runs

Each module runs in its own copy of the repository (``--workdir``, default
``/tmp/jaxdl-mutation/<module>``; mutmut only writes under the copy's ``mutants/``), with
``only_mutate`` set to the module and the test subset of mutation/core.toml; the shared
settings come from [tool.mutmut] in pyproject.toml. A copy that exists is reused, and
mutmut then retests only the mutants without a result (``--fresh`` starts over);
``--survivors-of <earlier workdir>`` retests only that run's survivors, with the tests
mutation/core.toml lists now (the "after" figures of docs/testing.md). All
runs share one persistent JAX compilation cache (``<workdir>/.jax_cache``). The results
are merged into ``<workdir>/summary.json`` and ``<workdir>/summary.md``: per module and
per package, mutants generated / killed / survived / without tests, the wall time, and
each survivor's diff.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
CORE = Path(__file__).resolve().parent / "core.toml"
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "venv", ".jax_cache", "mutants", "runs", "__pycache__", ".pytest_cache",
    ".ruff_cache", ".hypothesis", ".whl", ".devdata", "*.egg-info",
)  # fmt: skip


def load_core() -> list[dict]:
    """The modules of mutation/core.toml: ``{"path": ..., "tests": [...]}``, in run order."""
    modules = tomllib.loads(CORE.read_text())["module"]
    for m in modules:
        if not (ROOT / m["path"]).is_file():
            raise SystemExit(f"mutation/core.toml: no module {m['path']}")
        missing = [t for t in m["tests"] if not (ROOT / t).exists()]
        if missing:
            raise SystemExit(f"mutation/core.toml: {m['path']}: no tests {missing}")
    return modules


def package(path: str) -> str:
    """``jaxdl/training/metrics.py`` -> ``training``, ``jaxdl/data/augment/crops.py`` -> ``data``"""
    return Path(path).parts[1]


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v)  # strings, numbers and lists of strings are valid TOML as JSON


def module_pyproject(module: dict) -> str:
    """The repository's pyproject.toml with [tool.mutmut] narrowed to one module."""
    text = (ROOT / "pyproject.toml").read_text()
    settings = tomllib.loads(text)["tool"]["mutmut"]
    settings["only_mutate"] = [module["path"]]
    settings["pytest_add_cli_args_test_selection"] = [*module["tests"], module["path"]]
    body = re.sub(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", "", text).rstrip("\n")
    table = "\n".join(f"{k} = {_toml_value(v)}" for k, v in settings.items())
    return f"{body}\n\n[tool.mutmut]\n{table}\n"


def prepare_copy(module: dict, work: Path, fresh: bool) -> None:
    if fresh and work.exists():
        shutil.rmtree(work)
    if not work.exists():
        shutil.copytree(ROOT, work, ignore=COPY_IGNORE)
    else:  # keep mutants/ (mutmut's results); refresh sources and tests
        for name in ("jaxdl", "tests", "mutation", "train", "benchmarks"):
            shutil.copytree(ROOT / name, work / name, ignore=COPY_IGNORE, dirs_exist_ok=True)
        shutil.copy2(ROOT / "conftest.py", work / "conftest.py")
    (work / "pyproject.toml").write_text(module_pyproject(module))


def mutmut(work: Path, *args: str, log=None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("mutmut")
    return subprocess.run(
        [str(exe), *args], cwd=work, text=True, stdout=log or subprocess.PIPE,
        stderr=subprocess.STDOUT, check=False,
    )  # fmt: skip


def collect(work: Path, killed_before: set[str] = frozenset()) -> dict:
    """Counts and survivors of a finished (or interrupted) run, from mutmut's own records.

    ``killed_before``: mutants a ``--survivors-of`` run did not retest, killed by the
    earlier run (its tests are still in the subset, so they stay killed).
    """
    listing = mutmut(work, "results", "--all", "true").stdout
    status = dict(re.findall(r"^\s+(\S+): (.+)$", listing, flags=re.M))
    for name in killed_before & {n for n, s in status.items() if s == "not checked"}:
        status[name] = "killed"
    count = Counter(status.values())
    survivors = {
        name: {"status": s, "diff": mutmut(work, "show", name).stdout.split("\n", 1)[-1].strip()}
        for name, s in status.items()
        if s in ("survived", "no tests")
    }
    return {
        "all": sorted(status),
        "generated": len(status),
        "killed": count["killed"] + count["timeout"] + count["caught by type check"],
        "survived": count["survived"],
        "no_tests": count["no tests"],
        "not_checked": count["not checked"],
        "other": count["suspicious"] + count["segfault"] + count["check was interrupted by user"],
        "survivors": survivors,
    }


def survival(r: dict) -> float:
    return 100.0 * (r["survived"] + r["no_tests"]) / max(r["generated"], 1)


def tables(results: dict) -> str:
    keys = ("generated", "killed", "survived", "no_tests")
    by_pkg: dict[str, dict] = {}
    for path, r in results.items():
        p = by_pkg.setdefault(package(path), dict.fromkeys(keys, 0) | {"wall_s": 0.0})
        for k in keys:
            p[k] += r[k]
        p["wall_s"] += r["wall_s"]
    head = "| {} | generated | killed | survived | no tests | survival % | wall s |\n"
    head += "|---|---|---|---|---|---|---|\n"
    row = "| {} | {generated} | {killed} | {survived} | {no_tests} | {:.1f} | {wall_s:.0f} |\n"
    out = head.format("package")
    for name, p in sorted(by_pkg.items()):
        out += row.format(name, survival(p), **p)
    total = {k: sum(p[k] for p in by_pkg.values()) for k in (*keys, "wall_s")}
    out += row.format("**total**", survival(total), **total)
    out += "\n" + head.format("module")
    for path, r in results.items():
        out += row.format(path, survival(r), **r)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--modules", nargs="*", help="run the modules whose path contains one of these")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/jaxdl-mutation"))
    ap.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--fresh", action="store_true", help="drop earlier copies and results")
    ap.add_argument(
        "--survivors-of",
        type=Path,
        metavar="WORKDIR",
        help="retest only the survivors of an earlier run's workdir (after adding tests)",
    )
    ap.add_argument("--until", help="start no module after this UTC time (HH:MM)")
    ap.add_argument("--mutants", nargs="*", default=[], help="only these (mutmut's names, * globs)")
    ap.add_argument("--list", action="store_true", help="print the configured core and exit")
    ap.add_argument("--report", action="store_true", help="print the workdir's summary and exit")
    args = ap.parse_args(argv)

    core = load_core()
    if args.modules:
        core = [m for m in core if any(s in m["path"] for s in args.modules)]
    if args.list:
        for m in core:
            print(m["path"], "<-", " ".join(m["tests"]))
        return

    args.workdir.mkdir(parents=True, exist_ok=True)
    # Every mutant runs its tests in a new process: keep every compiled program (not only
    # those over conftest's 0.2 s), so that only the programs a mutant changes compile.
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(args.workdir / ".jax_cache")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    summary_path = args.workdir / "summary.json"
    summary = {}
    for m in [] if args.report else core:
        if args.until and datetime.now(timezone.utc).strftime("%H:%M") >= args.until:
            print(f"-- {args.until} UTC passed: {m['path']} and the modules after it not run")
            break
        work = args.workdir / m["path"].removesuffix(".py").replace("/", ".")
        prepare_copy(m, work, args.fresh)
        print(f"== {m['path']} ({len(m['tests'])} test files) in {work}", flush=True)
        t0 = time.monotonic()
        names, killed_before = list(args.mutants), set()
        if args.survivors_of:
            before = json.loads((args.survivors_of / "summary.json").read_text())[m["path"]]
            names = list(before["survivors"])
            killed_before = set(before["all"]) - set(names)
        with open(work / "mutmut-run.log", "w") as log:
            run_args = ["run", "--max-children", str(args.max_children), *names]
            rc = mutmut(work, *run_args, log=log).returncode
        wall = time.monotonic() - t0
        if not (work / "mutants" / "mutmut-stats.json").exists():
            print(f"   mutmut failed (exit {rc}); see {work / 'mutmut-run.log'}", flush=True)
            continue
        r = collect(work, killed_before) | {
            "wall_s": round(wall, 1),
            "exit_code": rc,
            "tests": m["tests"],
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "mutmut": version("mutmut"),
        }
        # re-read: another run may have added modules to the same workdir meanwhile
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        summary[m["path"]] = r
        summary_path.write_text(json.dumps(summary, indent=2))
        print(
            f"   {r['generated']} generated, {r['killed']} killed, {r['survived']} survived,"
            f" {r['no_tests']} without tests ({survival(r):.1f}%) in {wall:.0f} s",
            flush=True,
        )

    summary = json.loads(summary_path.read_text()) if summary_path.exists() else summary
    text = tables(summary)
    lines = [f"- `{n}` ({s['status']})\n```diff\n{s['diff']}\n```" for r in summary.values()
             for n, s in r["survivors"].items()]  # fmt: skip
    (args.workdir / "summary.md").write_text(text + "\n## Survivors\n\n" + "\n".join(lines) + "\n")
    print(text)


if __name__ == "__main__":
    main()
