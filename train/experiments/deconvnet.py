"""DeconvNet projections and first-layer filters of a ZFNet trained briefly on Fashion-MNIST.

The registry's ZFNet geometry (Zeiler & Fergus: 7x7/2 conv1, 5x5/2 conv2, LRN,
overlapping 3x3/2 max-pools) made narrow for a CPU: ``--widths`` filters
(32-64-96-96-64 instead of 96-256-384-384-256) and ``--hidden`` fc6/fc7 units, on
Fashion-MNIST zero-padded to 64x64 (ZFNet's geometry needs at least ~56 pixels),
trained through ``train.classification.run`` with Adam 1e-3 on ``--train_size``
images for ``--epochs`` epochs (no augmentation, dropout 0.5). Then, on the
first ``--probe_size`` test images:

- for each conv layer, the ``--features`` feature maps with the largest activations
  on the set; for each, the ``--top_k`` images that excite it most, the strongest
  activation projected back to pixels by ``jaxdl.viz.deconvnet.project`` next to the
  image patch of its receptive field (``docs/figures/deconv_conv<L>.png``; one row
  per feature map: projections left, patches right; grey = 0 in the projections);
- the first 32 of the 96 first-layer filters at initialization and at each kept
  checkpoint (``docs/figures/filters_zfnet_fashion_mnist.png``, by ``train.visualize``,
  which also writes the curves and the test confusion matrix into the workdir).

``--he_init`` trains with He's initialization instead of the paper's N(0, 0.01)
weights (figures ``deconv_he_conv<L>.png`` and ``filters_he_zfnet_fashion_mnist.png``);
``--dataset cifar10`` (with ``--data_dir ../shared/data/cifar10_jpeg``) trains on
CIFAR-10 (32x32 RGB, padded to 64x64; figures ``deconv_cifar10_conv<L>.png`` and
``filters_zfnet_cifar10.png``).

Run (about 8 minutes on 2 busy CPU cores; the run directory is reused when complete)::

  nice -n 10 python -m train.experiments.deconvnet --data_dir ../shared/data \\
      --workdir runs/deconvnet

References:
  Zeiler, Fergus. Visualizing and understanding convolutional networks. ECCV 2014.
"""

import argparse
import json
import shutil
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxdl.data import preprocess
from jaxdl.viz import deconvnet as dn
from jaxdl.viz.samples import image_grid, save_png
from train import build, classification, visualize
from train.configs import defaults
from train.workdir import prepare

ROOT = Path(__file__).resolve().parents[2]
WIDTHS = (32, 64, 96, 96, 64)  # filters of conv1..conv5 (ZFNet: 96, 256, 384, 384, 256)


def get_config(
    train_size: int,
    hidden: int,
    batch_size: int,
    widths: tuple[int, ...] = WIDTHS,
    epochs: int = 2,
    data_dir: str = "",
    paper_init: bool = True,
    dataset: str = "fashion_mnist",
) -> ml_collections.ConfigDict:
    """A narrow ZFNet on padded Fashion-MNIST, a short run."""
    c = defaults.get_config()
    c.data.name = dataset
    c.data.data_dir = data_dir
    c.data.train_split = f"train[:{train_size}]"
    c.data.val_split = "train[49000:]" if dataset == "cifar10" else "train[55000:56000]"
    c.data.test_split = "test[:2000]"
    c.data.pad_to = 64
    c.model.name = "zfnet"
    c.model.kwargs = ml_collections.ConfigDict({"hidden_features": hidden, "widths": tuple(widths)})
    c.model.kwargs.paper_init = paper_init
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-3
    c.train.batch_size = batch_size
    c.train.eval_batch_size = 250
    c.train.num_epochs = epochs
    c.train.log_every_steps = 25
    c.train.progress = False
    return c


def display_box(box: tuple[int, int, int, int], H: int, W: int) -> tuple[int, int, int, int]:
    """The receptive field, or the whole image along an axis where the field is larger."""
    top, left, bottom, right = box
    if bottom - top + 1 >= H:
        top, bottom = 0, H - 1
    if right - left + 1 >= W:
        left, right = 0, W - 1
    return top, left, bottom, right


def layer_panel(
    params,
    stages: tuple[dn.Stage, ...],
    kernel_sizes: list[int],
    inputs: np.ndarray,
    raw: np.ndarray,
    layer: int,
    feature_ids: list[int],
    maxima: np.ndarray,
    top_k: int,
) -> np.ndarray:
    """Rows ``[k projections | gap | k receptive-field patches]`` for each feature, uint8."""
    cells = []
    for f in feature_ids:
        top = np.argsort(-maxima[:, f], kind="stable")[:top_k]
        proj, _, pos = dn.project(params, stages, jnp.asarray(inputs[top]), layer, f)
        proj, pos = np.asarray(proj), [tuple(map(int, p)) for p in np.asarray(pos)]
        H, W = raw.shape[1:3]
        boxes = [
            display_box(dn.receptive_field(stages, kernel_sizes, layer, *p), H, W) for p in pos
        ]
        projs = [dn.to_uint8_signed(dn.crop_field(p, b)) for p, b in zip(proj, boxes)]
        patches = [dn.crop_field(raw[i], b) for i, b in zip(top, boxes)]
        blank = np.full_like(projs[0], 255)
        cells += projs + [blank] + patches
    return image_grid(np.stack(cells), ncols=2 * top_k + 1, pad=1, pad_value=255)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", default="runs/deconvnet")
    p.add_argument("--out", default=str(ROOT / "docs" / "figures"))
    p.add_argument("--data_dir", default="", help="folder holding the dataset")
    p.add_argument("--dataset", default="fashion_mnist", choices=("fashion_mnist", "cifar10"))
    p.add_argument("--train_size", type=int, default=12800)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--widths", default=",".join(map(str, WIDTHS)))
    p.add_argument("--he_init", action="store_true", help="He init instead of the paper's")
    p.add_argument("--probe_size", type=int, default=1000)
    p.add_argument("--features", type=int, default=4)
    p.add_argument("--top_k", type=int, default=6)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    widths = tuple(int(w) for w in args.widths.split(","))
    same = ("train_size", "hidden", "batch_size", "epochs", "data_dir", "dataset")
    cfg = get_config(widths=widths, paper_init=not args.he_init, **{k: vars(args)[k] for k in same})
    workdir = prepare(args.workdir, cfg, overwrite=False)
    summary_path = workdir / "summary.json"
    done = summary_path.exists() and json.loads(summary_path.read_text()).get("finished")
    if not done:
        classification.run(cfg, workdir)
    summary = json.loads(summary_path.read_text())
    out = Path(args.out)
    paths = visualize.visualize(workdir, cfg, split="test")  # curves, filters, confusion
    out.mkdir(parents=True, exist_ok=True)
    # Figure names: deconv_[cifar10_][he_]conv<L>.png, filters_[he_]zfnet_<dataset>.png.
    tag = ("cifar10_" if args.dataset == "cifar10" else "") + ("he_" if args.he_init else "")
    init = "he_" if args.he_init else ""
    shutil.copy(paths["filters"], out / f"filters_{init}zfnet_{args.dataset}.png")
    splits, names = build.load_splits(cfg.data)
    train = splits["train"]
    final = visualize.checkpoint_variables(workdir, None, [summary["steps"]])[summary["steps"]]
    model = build.model(cfg, len(names))
    stages = dn.alexnet_stages(model)
    kernel_sizes = [final.params[s.name]["conv"]["kernel"].shape[0] for s in stages]
    raw = splits["test"]["image"][: args.probe_size]  # uint8 [N, 64, 64, C]
    pre = preprocess.image_preprocess(*preprocess.channel_stats(train["image"]))
    inputs = np.asarray(pre({"image": jnp.asarray(raw)}, jax.random.PRNGKey(0), False)["image"])
    fwd = jax.jit(lambda x: [r.features.max((1, 2)) for r in dn.forward(final.params, stages, x)])
    chunks = [fwd(inputs[i : i + 250]) for i in range(0, len(inputs), 250)]
    maxima = [np.concatenate([np.asarray(c[layer]) for c in chunks]) for layer in range(5)]
    report = {"summary": summary, "layers": {}}
    for layer, s in enumerate(stages):
        strength = maxima[layer].max(0)  # [F]: strongest response of each map on the set
        chosen = [int(f) for f in np.argsort(-strength, kind="stable")[: args.features]]
        panel = layer_panel(
            final.params,
            stages,
            kernel_sizes,
            inputs,
            raw,
            layer,
            chosen,
            maxima[layer],
            args.top_k,
        )
        scale = max(1, 900 // panel.shape[1])
        save_png(panel, out / f"deconv_{tag}{s.name}.png", scale=scale)
        dead = int((strength <= 0).sum())
        box = dn.receptive_field(stages, kernel_sizes, layer, 0, 0)
        report["layers"][s.name] = {
            "features": chosen,
            "receptive_field": box[2] - box[0] + 1,
            "dead_maps": dead,
            "maps": int(len(strength)),
        }
        print(f"{s.name}: maps {chosen}, field {box[2] - box[0] + 1} px, {dead} dead maps")
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    report["pictures"] = {k: str(v) for k, v in paths.items()}
    (workdir / "deconv_report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
