"""Experiment 4: flip test-time augmentation and a K-model ensemble from finished runs.

Loads the latest checkpoint of each run directory (``python -m train`` workdirs of one
architecture and one dataset, trained with different seeds), and reports the test
top-1 error of

  - each model alone, and with flip TTA: ``p = (softmax f(x) + softmax f(flip x)) / 2``;
  - the ensemble of all K: ``p = 1/K sum_k softmax f_k(x)`` (members ``vmap``-ed over
    their stacked variables), with and without flip TTA,

using ``jaxdl.training.evaluation`` (probabilities averaged, batches sharded over the
mesh's ``'data'`` axis, variables replicated). Inputs are standardised with the
training split's per-channel statistics, exactly as in training.

  python -m train.experiments.tta_ensemble runs/r20_s0 runs/r20_s1 runs/r20_s2 \\
      --doc docs/cnn_zoo.md

References:
  Krizhevsky, Sutskever, Hinton. ImageNet classification with deep convolutional
  neural networks. NeurIPS 2012 (sec. 4.1 test-time views, sec. 6 ensembles).
"""

import argparse
import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxdl.data import preprocess
from jaxdl.nn.normalization import apply_model
from jaxdl.training import evaluation, parallel
from train import build
from train import experiments as ex
from train.run_dir import read_config, read_variables


def evaluate_runs(workdirs: list[str | Path], role: str = "test", batch_size: int = 1000) -> dict:
    """Top-1 errors of every run, with/without flip TTA, and of their ensemble.

    Returns:
      ``{"runs": [{"workdir", "error", "error_flip"}], "ensemble_error",
      "ensemble_error_flip", "examples"}``.
    """
    workdirs = [Path(w) for w in workdirs]
    configs = [read_config(w) for w in workdirs]
    data_cfgs = {json.dumps(c.data.to_dict(), sort_keys=True) for c in configs}
    archs = {(c.model.name, json.dumps(c.model.kwargs.to_dict(), sort_keys=True)) for c in configs}
    if len(data_cfgs) > 1 or len(archs) > 1:
        raise ValueError("All runs must share one data config and one architecture to ensemble.")
    cfg = configs[0]
    splits, class_names = build.load_splits(cfg.data)
    if role not in splits:
        raise ValueError(f"The runs' config has no {role!r} split (data.{role}_split is empty).")
    mesh = parallel.make_mesh()
    parallel.check_batch_size(batch_size, mesh)
    model = build.model(cfg, num_classes=len(class_names))
    members = [read_variables(w, mesh=mesh) for w in workdirs]
    stats = preprocess.channel_stats(splits["train"]["image"])
    pre = preprocess.image_preprocess(*stats, None, jnp.dtype(cfg.model.dtype))

    def logits_of(v, x):
        return apply_model(model.apply, v[0], v[1], x, train=False)[0]

    stacked = evaluation.stack_variables(members)

    @jax.jit
    def batch_errors(variables, stacked, images, labels, weights):
        def top1(scores):  # logits or probabilities, [B, classes]
            return evaluation.top_k_errors(scores, labels, (1,), weights)["top1_error"]

        x = pre({"image": images}, jax.random.PRNGKey(0), False)["image"]  # [B, H, W, C]
        views = evaluation.flip_views(x)  # [2, B, H, W, C]
        out = {}
        for k, v in enumerate(variables):
            flip = evaluation.tta_probabilities(lambda z, v=v: logits_of(v, z), views)
            out[f"run{k}"], out[f"run{k}_flip"] = top1(logits_of(v, x)), top1(flip)
        ens = evaluation.ensemble_probabilities(logits_of, stacked, x)
        ens_flip = evaluation.average_probabilities(
            [jnp.log(evaluation.ensemble_probabilities(logits_of, stacked, z)) for z in views]
        )
        out["ensemble"], out["ensemble_flip"] = top1(ens), top1(ens_flip)
        return jax.tree.map(lambda e: e * jnp.sum(weights), out)  # error sums

    data = splits[role]
    n = len(data["label"])
    sharding = NamedSharding(mesh, P("data"))
    totals: dict[str, float] = {}
    for start in range(0, n, batch_size):
        idx = np.arange(start, start + batch_size)
        weights = (idx < n).astype(np.float32)  # the last batch is padded with example 0
        idx = np.where(idx < n, idx, 0)
        batch = [data["image"][idx], data["label"][idx], weights]
        images, labels, w = (jax.device_put(a, sharding) for a in batch)
        sums = jax.device_get(batch_errors(members, stacked, images, labels, w))
        for k, v in sums.items():
            totals[k] = totals.get(k, 0.0) + float(v)
    runs = [
        {
            "workdir": str(w),
            "error": totals[f"run{k}"] / n,
            "error_flip": totals[f"run{k}_flip"] / n,
        }
        for k, w in enumerate(workdirs)
    ]
    return {
        "runs": runs,
        "ensemble_error": totals["ensemble"] / n,
        "ensemble_error_flip": totals["ensemble_flip"] / n,
        "examples": n,
        "role": role,
    }


def report(result: dict[str, Any], command: str) -> str:
    """The markdown table of ``evaluate_runs``' result."""
    rows = [[Path(r["workdir"]).name, f"{100 * r['error']:.2f}", f"{100 * r['error_flip']:.2f}"]
            for r in result["runs"]]  # fmt: skip
    rows.append(
        [f"ensemble of {len(result['runs'])}", f"{100 * result['ensemble_error']:.2f}"]
        + [f"{100 * result['ensemble_error_flip']:.2f}"]
    )
    table = ex.markdown_table(["model", "top-1 error %", "with flip TTA %"], rows)
    return f"Command: `{command}` ({result['examples']:,} {result['role']} images).\n\n{table}"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workdirs", nargs="+", help="finished run directories (one per seed)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--batch_size", type=int, default=1000)
    p.add_argument("--doc", default="", help="write the table into this markdown file")
    args = p.parse_args(argv)
    result = evaluate_runs(args.workdirs, args.split, args.batch_size)
    command = "python -m train.experiments.tta_ensemble " + " ".join(args.workdirs)
    text = report(result, command)
    print(text)
    if args.doc:
        ex.write_section(args.doc, "tta_ensemble", text, "Experiment 4: flip TTA and an ensemble")
    return result


if __name__ == "__main__":
    main()
