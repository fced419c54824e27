"""The summaries over seeds and the markdown tables of ``benchmarks/time_to_accuracy.py``.

Pure functions of the result dict: mean, spread and median of the times to the target
(over the seeds that reached it) and of the final accuracies; one table row per seed,
or with ``--peer`` one row per seed and side, the medians of both sides and their ratio.
"""

import statistics

from benchmarks import common

COLUMNS = [
    ("seed", "seed", "str"),
    ("time to target s", "time_to_target_s", "s3"),
    ("epochs", "epochs_run", "str"),
    ("final accuracy", "final_accuracy", "pct2"),
    ("best accuracy", "best_accuracy", "pct2"),
    ("train images/s", "train_images_per_s", "rate"),
]
PEER_COLUMNS = [
    ("seed", "seed", "str"),
    ("framework", "framework", "str"),
    ("process to target s", "time_to_target_process_s", "s"),
    ("target at s (own clock)", "process_s_at_target", "s"),
    ("epochs", "epochs_run", "str"),
    ("final accuracy", "final_accuracy", "pct2"),
    ("load before", "load_avg_1min_before", "s"),
]


def stats(values: list[float]) -> dict | None:
    """Mean, stdev, median, min, max and count of ``values`` (None when empty)."""
    if not values:
        return None
    return {
        "mean": statistics.fmean(values),
        "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def summarize_seeds(rows: list[dict]) -> dict:
    """Mean, stdev, median, min, max of the times (reached seeds) and of final accuracies."""
    times = [r["time_to_target_s"] for r in rows if r["reached"]]
    return {
        "seeds": len(rows),
        "reached": len(times),
        "time_to_target_s": stats(times),
        "final_accuracy": stats([r["final_accuracy"] for r in rows]),
        "wall_s": stats([r["wall_s"] for r in rows]),
    }


def summarize_peers(rows: list[dict], peer: str) -> dict:
    """Per side: runs, reached, stats of the whole-process times to the target and of the
    sides' own times at the target (reached runs), final accuracies; the ratios of the
    medians, peer / jaxdl (above 1: jaxdl reached the target sooner)."""
    summary: dict = {}
    for side in ("jaxdl", peer):
        mine = [r for r in rows if r["framework"] == side]
        done = [r for r in mine if r.get("reached")]
        summary[side] = {
            "runs": len(mine),
            "reached": len(done),
            "failed": sum("error" in r for r in mine),
            "time_to_target_process_s": stats([r["time_to_target_process_s"] for r in done]),
            "process_s_at_target": stats([r["process_s_at_target"] for r in done]),
            "final_accuracy": stats([r["final_accuracy"] for r in mine if "error" not in r]),
        }
    for key in ("time_to_target_process_s", "process_s_at_target"):
        ours, theirs = summary["jaxdl"][key], summary[peer][key]
        ratio = theirs["median"] / ours["median"] if ours and theirs else None
        summary[f"ratio_{peer}_over_jaxdl_{key}"] = ratio
    return summary


def table(result: dict) -> str:
    """Markdown: a header line (device, recipe, summary) and one row per seed."""
    s, dev = result["summary"], result["device"]
    t, a = s["time_to_target_s"], s["final_accuracy"]
    time_txt = f"{t['mean']:.3f} +- {t['stdev']:.3f} s (median {t['median']:.3f})" if t else "never"
    compile_txt = (
        f"compile {result['compile_s']:.1f} s (excluded)"
        if "compile_s" in result  # results of the loop before fit (AOT-compiled)
        else f"compilation included, {result['config'].get('steps_per_dispatch')} steps per "
        "dispatch"
    )
    head = (
        f"Time to {100 * result['config']['target']:.2f}% on {result['config']['task']} "
        f"({result['data']['train_size']} train / {result['data']['test_size']} test), "
        f"{dev['device_count']} x {dev['device_kind']}, {result['config']['dtype']}: "
        f"{s['reached']}/{s['seeds']} seeds reached it, time {time_txt}; final accuracy "
        f"{100 * a['mean']:.2f} +- {100 * a['stdev']:.2f}%; {compile_txt}; "
        f"jax {result['versions'].get('jax')}; git {result['git_sha'][:12]}"
    )
    return head + "\n\n" + common.markdown_table(result["rows"], COLUMNS)


def peer_table(result: dict) -> str:
    """Markdown: both sides' medians and their ratio, then one row per seed and side."""
    cfg, s, m = result["config"], result["summary"], result["machine"]
    peer = cfg["peer"]

    def median(side, key):
        st = s[side][key]
        return f"{st['median']:.1f} s" if st else "never"

    ratio = s[f"ratio_{peer}_over_jaxdl_time_to_target_process_s"]
    device = next((r["device"] for r in result["rows"] if "device" in r), {})
    head = (
        f"Time to {100 * cfg['target']:.2f}% on {cfg['task']}, whole processes, one after "
        f"the other: jaxdl {s['jaxdl']['reached']}/{s['jaxdl']['runs']} reached it, median "
        f"{median('jaxdl', 'time_to_target_process_s')}; {peer} {s[peer]['reached']}/"
        f"{s[peer]['runs']}, median {median(peer, 'time_to_target_process_s')}; ratio "
        f"{peer} / jaxdl {'-' if ratio is None else f'{ratio:.2f}x'}. Machine: "
        f"{m['cpus_usable']} usable cores ({m['cpu_model'] or 'unknown CPU'}), jaxdl on "
        f"{device.get('device_count', '?')} x {device.get('device_kind', '?')}; load "
        f"{m['load_avg_start'][0]:.1f} at the start; git {result['git_sha'][:12]}"
    )
    return head + "\n\n" + common.markdown_table(result["rows"], PEER_COLUMNS)
