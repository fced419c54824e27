"""The summary over seeds and the markdown table of ``benchmarks/time_to_accuracy.py``.

Pure functions of the result dict: mean, spread and median of the times to the target
(over the seeds that reached it) and of the final accuracies; one table row per seed.
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


def summarize_seeds(rows: list[dict]) -> dict:
    """Mean, stdev, median, min, max of the times (reached seeds) and of final accuracies."""

    def stats(values):
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

    times = [r["time_to_target_s"] for r in rows if r["reached"]]
    return {
        "seeds": len(rows),
        "reached": len(times),
        "time_to_target_s": stats(times),
        "final_accuracy": stats([r["final_accuracy"] for r in rows]),
        "wall_s": stats([r["wall_s"] for r in rows]),
    }


def table(result: dict) -> str:
    """Markdown: a header line (device, recipe, summary) and one row per seed."""
    s, dev = result["summary"], result["device"]
    t, a = s["time_to_target_s"], s["final_accuracy"]
    time_txt = f"{t['mean']:.3f} +- {t['stdev']:.3f} s (median {t['median']:.3f})" if t else "never"
    head = (
        f"Time to {100 * result['config']['target']:.2f}% on {result['config']['task']} "
        f"({result['data']['train_size']} train / {result['data']['test_size']} test), "
        f"{dev['device_count']} x {dev['device_kind']}, {result['config']['dtype']}: "
        f"{s['reached']}/{s['seeds']} seeds reached it, time {time_txt}; final accuracy "
        f"{100 * a['mean']:.2f} +- {100 * a['stdev']:.2f}%; compile {result['compile_s']:.1f} s "
        f"(excluded); jax {result['versions'].get('jax')}; git {result['git_sha'][:12]}"
    )
    return head + "\n\n" + common.markdown_table(result["rows"], COLUMNS)
