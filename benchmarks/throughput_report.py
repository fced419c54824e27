"""The derived columns and the markdown table of ``benchmarks/throughput.py``'s results.

Pure functions of the result dict: MFU from the step's FLOPs and the measured peak, the
jaxdl / PyTorch ratios, the parameter-count check between the two frameworks.
"""

from benchmarks import common

TORCH_MODES = ("eager", "compile")

COLUMNS = [
    ("model", "model", "str"),
    ("framework", "framework", "str"),
    ("mode", "mode", "str"),
    ("dtype", "dtype", "str"),
    ("batch", "batch_size", "int"),
    ("image", "image_shape", "shape"),
    ("params", "params", "int"),
    ("compile s", "compile_s", "s"),
    ("step ms", "median_step_s", "ms"),
    ("images/s", "images_per_s", "rate"),
    ("MFU", "mfu", "pct"),
    ("peak GiB", "peak_bytes_in_use", "gib"),
    ("XLA GiB", "xla_memory_bytes", "gib"),
    ("vs eager", "ratio_vs_torch_eager", "ratio"),
    ("vs compile", "ratio_vs_torch_compile", "ratio"),
    ("note", "note", "str"),
]


def derive(result: dict) -> None:
    """Fills MFU, jaxdl/torch ratios, parameter checks and table notes into ``result``."""
    peaks = {k: v.get("flops_per_s") for k, v in result.get("peak_flops", {}).items()}
    rows, warns = result["rows"], []
    jax_rows = {(r["model"], r["dtype"]): r for r in rows if r["framework"] == "jaxdl"}
    for r in rows:
        r["mfu"], peak = None, peaks.get(r["dtype"])
        ours = jax_rows.get((r["model"], r["dtype"]))
        ok = "error" not in r and r.get("median_step_s")
        if r["framework"] == "jaxdl" and ok and r.get("flops_per_step_per_device") and peak:
            r["mfu"] = r["flops_per_step_per_device"] / r["median_step_s"] / peak
        if r["framework"] == "torch" and ok and ours and ours.get("flops_per_step") and peak:
            r["mfu"] = ours["flops_per_step"] / r["median_step_s"] / peak  # same model FLOPs
        r["note"] = r.get("error", "")[:90]
        if r["framework"] == "torch" and ours and "error" not in r and "params" in ours:
            r["params_match"] = r["params"] == ours["params"]
            if not r["params_match"]:
                r["note"] = f"params differ from jaxdl's {ours['params']:,} ({r['impl']})"
                warns.append(
                    f"{r['model']}: torch {r['params']:,} params vs jaxdl {ours['params']:,}"
                )
    torch_rows = {(r["model"], r["dtype"], r["mode"]): r for r in rows if r["framework"] == "torch"}
    for r in jax_rows.values():
        for mode in TORCH_MODES:
            peer = torch_rows.get((r["model"], r["dtype"], mode), {})
            ok = peer.get("images_per_s") and r.get("images_per_s")
            r[f"ratio_vs_torch_{mode}"] = r["images_per_s"] / peer["images_per_s"] if ok else None
        if r.get("devices", 1) > 1 and torch_rows:
            warns.append(f"{r['model']}: jaxdl ran on {r['devices']} devices, torch on 1")
    result["warnings"] = sorted(set(warns))


def table(result: dict) -> str:
    """The markdown table of a result, headed by device, peaks and SHA."""
    dev, peaks = result.get("device", {}), result.get("peak_flops", {})
    peak_txt = ", ".join(
        f"{k} {v['flops_per_s'] / 1e12:.1f} TFLOP/s (n={v['n']})"
        for k, v in peaks.items()
        if v.get("flops_per_s")
    )
    head = (
        f"Throughput on {dev.get('device_count')} x {dev.get('device_kind')} "
        f"({dev.get('platform')}); measured peak {peak_txt or 'n/a'}; "
        f"jax {result['versions'].get('jax')}, torch {result['versions'].get('torch')}; "
        f"git {result['git_sha'][:12]}; {result['config']['timing']}"
    )
    warn = "".join(f"\n- warning: {w}" for w in result.get("warnings", []))
    return (
        head
        + "\n\n"
        + common.markdown_table(result["rows"], COLUMNS)
        + ("\n" + warn if warn else "")
    )
