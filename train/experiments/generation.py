"""Image generation on Fashion-MNIST and MNIST: Gaussian model vs MLP GAN vs DCGAN vs StyleGAN.

Every model is one config of the ``gan`` task (``train/configs``), trained by the
project's loop through ``train.gan.run`` (the Gaussian model is fitted in closed form):

- Fashion-MNIST: ``fashion_mnist_gaussian``, ``fashion_mnist_gan`` (MLP GAN),
  ``fashion_mnist_dcgan``, ``fashion_mnist_stylegan`` (and ``_r1``, with the R1
  penalty), ``pix2pix_edges``;
- MNIST: ``mnist_gaussian``, ``mnist_gan``, ``mnist_dcgan``.

Outputs: the classifier-FID table (mean +- std over 3 sets of 5,000 samples, against
the test split's LeNet-5 features, next to 5,000 real training images scored the same
way) with parameter counts and training times; sample grids; the Gaussian model's
eigen-images; DCGAN latent interpolations (linear and spherical) and latent
arithmetic; StyleGAN style mixing and the truncation trick (classifier-FID and
samples at each ``gan.truncation_psi``); nearest-training-neighbour panels; pix2pix
edges -> image results. Run (about 20-25 minutes on 2 busy CPU cores)::

  nice -n 10 python -m train.experiments.generation --data_dir ../shared/data

Rerunning reuses finished runs in ``--runs`` (only the figures and FID are redone);
a changed config retrains that model. It writes ``docs/generation.md`` (the generated
section) and ``docs/figures/gen_*.png``.

References:
  Goodfellow et al. Generative adversarial nets. NeurIPS 2014.
  Radford, Metz, Chintala. DCGAN. ICLR 2016 (sections 6.1, 6.3).
  Karras, Laine, Aila. A style-based generator architecture for GANs. CVPR 2019 (fig. 3).
  Isola, Zhu, Zhou, Efros. Image-to-image translation with conditional adversarial
  networks. CVPR 2017.
  Heusel et al. GANs trained by a two time-scale update rule ... NeurIPS 2017 (FID).
"""

import argparse
import importlib
import os
import shutil
import time
from pathlib import Path

import jax
import numpy as np

from jaxdl.training.gan import generate, to_uint8
from jaxdl.viz import samples as viz
from train import experiments as ex
from train import gan as runner
from train import workdir as workdirs

DOCS = Path(__file__).resolve().parents[2] / "docs"
FIGURES = DOCS / "figures"
RUNS = {
    "fashion_mnist": [
        ("Gaussian", "fashion_mnist_gaussian"),
        ("MLP GAN", "fashion_mnist_gan"),
        ("DCGAN", "fashion_mnist_dcgan"),
        ("StyleGAN", "fashion_mnist_stylegan"),
        ("StyleGAN + R1", "fashion_mnist_stylegan_r1"),
        ("pix2pix (edges -> image)", "pix2pix_edges"),
    ],
    "mnist": [
        ("Gaussian", "mnist_gaussian"),
        ("MLP GAN", "mnist_gan"),
        ("DCGAN", "mnist_dcgan"),
    ],
}
SHORT = {"fashion_mnist": "fmnist", "mnist": "mnist"}
GROUP = 20  # latents averaged per arithmetic operand
# Latent arithmetic on Fashion-MNIST (class names of the FID classifier): each adds to
# C the difference A - B, e.g. the shaft of an ankle boot over a sneaker.
ARITHMETIC = {
    "fashion_mnist": [("Ankle boot", "Sneaker", "Sandal"), ("Pullover", "T-shirt/top", "Dress")]
}

SKELETON = ex.skeleton("Image generation")


def train_all(runs_dir: Path, only: set[str] | None, steps: int = 0) -> dict:
    """Runs every config (reusing finished runs).

    Returns:
      ``{(dataset, label): (config module, config, GenerationResult)}``.
    """
    results = {}
    for dataset, entries in RUNS.items():
        for label, module in entries:
            if only and module not in only:
                continue
            cfg = importlib.import_module(f"train.configs.{module}").get_config()
            cfg.train.progress = False
            if steps:  # a smoke run: `steps` steps, no classifier-FID
                cfg.train.max_steps, cfg.gan.fid_classifier = steps, ""
            cfg.gan.fid_workdir = str((runs_dir / f"fid_{dataset}").absolute())
            path = workdirs.prepare(runs_dir / module, cfg, overwrite=True)
            t0 = time.perf_counter()
            print(f"== {dataset} {label} ({module})", flush=True)
            results[(dataset, label)] = (module, cfg, runner.run(cfg, path))
            print(f"   done in {time.perf_counter() - t0:.0f} s", flush=True)
    return results


def _copy(src: Path, name: str) -> str:
    FIGURES.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, FIGURES / name)
    return f"figures/{name}"


def latent_figures(res, dataset: str, latent_dim: int) -> dict[str, str]:
    """DCGAN interpolation (lerp and slerp) and latent arithmetic grids."""
    out, tag = {}, SHORT[dataset]
    state, scorer = res.state, res.scorer
    key = jax.random.PRNGKey(7)
    z = np.asarray(jax.random.normal(key, (8, latent_dim)))
    rows = []
    for method in ("lerp", "slerp"):
        zs = viz.interpolation_latents(z[:4], z[4:], steps=10, method=method)
        rows.append(to_uint8(generate(state, zs, key)))
    viz.save_grid(np.concatenate(rows), FIGURES / f"gen_{tag}_dcgan_interpolation.png", 10)
    out["interpolation"] = f"figures/gen_{tag}_dcgan_interpolation.png"
    if scorer is None or dataset not in ARITHMETIC:
        return out
    # Latent groups: samples the FID classifier labels with each class. Radford et al.
    # averaged 3 exemplars per concept; this 2-epoch DCGAN needs more (GROUP) for a stable
    # class direction. Averages of Gaussian latents shrink towards the origin, where G saw
    # few latents, so every decoded vector is rescaled to the typical norm sqrt(dim).
    pool = np.asarray(jax.random.normal(jax.random.PRNGKey(8), (4000, latent_dim)))
    labels = scorer.predict(to_uint8(generate(state, pool, key)))
    names = list(scorer.class_names)
    radius = np.sqrt(latent_dim)

    def shell(v):
        return (radius * v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)

    lines, cells = [], []
    for a, b, c in ARITHMETIC[dataset]:
        groups = [pool[labels == names.index(n)][:GROUP] for n in (a, b, c)]
        if min(len(g) for g in groups) < 3:
            lines.append(f"- {a} - {b} + {c}: too few samples of a class, skipped")
            continue
        result = viz.latent_arithmetic([(1, groups[0]), (-1, groups[1]), (1, groups[2])])
        rng = np.random.default_rng(0)
        noisy = result + rng.uniform(-0.25, 0.25, (5, latent_dim)).astype(np.float32)
        means = np.stack([g.mean(0) for g in groups])
        row = shell(np.concatenate([means, result[None], noisy]))
        imgs = to_uint8(generate(state, row, key))
        got = scorer.predict(imgs[3:])
        cells.append(imgs)
        share = np.mean(got == names.index(c)), np.mean(got == names.index(a))
        lines.append(
            f"- mean({a}) - mean({b}) + mean({c}): the 6 decoded results are classified "
            + ", ".join(names[i] for i in got)
            + f" ({share[0]:.0%} {c}, {share[1]:.0%} {a})"
        )
    if cells:
        viz.save_grid(np.concatenate(cells), FIGURES / f"gen_{tag}_dcgan_arithmetic.png", 9)
        out["arithmetic"] = f"figures/gen_{tag}_dcgan_arithmetic.png"
    out["arithmetic_text"] = "\n".join(lines)
    return out


def style_mixing_figure(res, tag: str, name: str, latent_dim: int) -> str:
    """Karras et al.'s fig. 3: rows take coarse styles from A, columns fine ones from B."""
    state = res.state
    variables = {"params": state.g_params, **state.g_model_state}
    za = np.asarray(jax.random.normal(jax.random.PRNGKey(11), (4, latent_dim)))
    zb = np.asarray(jax.random.normal(jax.random.PRNGKey(12), (6, latent_dim)))
    wa = state.g_apply(variables, za, method="map")
    wb = state.g_apply(variables, zb, method="map")
    n_ws = 8  # 32x32: 4x4 conv, 2 per level at 8, 16, 32, toRGB
    synth = jax.jit(lambda ws: state.g_apply(variables, ws, noise=False, method="synthesize"))
    top = to_uint8(np.asarray(synth(np.repeat(wb[:, None], n_ws, 1))))
    cells = [np.full_like(top[:1], 255), top]
    for i in range(len(za)):
        ws = np.repeat(np.asarray(wa[i])[None, None], n_ws, 1).repeat(len(zb), 0)
        ws[:, 3:] = np.asarray(wb)[:, None]  # styles from 16x16 on come from B
        alone = np.repeat(np.asarray(wa[i : i + 1])[:, None], n_ws, 1)  # A's own image
        cells += [to_uint8(np.asarray(synth(alone))), to_uint8(np.asarray(synth(ws)))]
    viz.save_grid(np.concatenate(cells), FIGURES / f"gen_{tag}_{name}_mixing.png", 7)
    return f"figures/gen_{tag}_{name}_mixing.png"


def neighbour_figure(res, tag: str, model: str, latent_dim: int) -> str:
    """8 samples, each followed by its 4 nearest training images (pixel L2)."""
    key = jax.random.PRNGKey(21)
    if res.state is None:
        from jaxdl.models import gaussian

        imgs = to_uint8(gaussian.sample(res.gaussian_model, key, 8))
    else:
        z = np.asarray(jax.random.normal(key, (8, latent_dim)))
        imgs = to_uint8(generate(res.state, z, key))
    train = res.splits["train"]["image"]
    name = f"gen_{tag}_{model}_neighbours.png"
    viz.save_png(viz.neighbour_panel(imgs, train, k=4), FIGURES / name, scale=2)
    return f"figures/{name}"


def truncation_section(results: dict, runs_dir: Path) -> str:
    """The truncation trick's table (classifier-FID per psi) and its sample grids."""
    parts = []
    for (dataset, label), (module, cfg, res) in results.items():
        entries = res.summary.get("truncation")
        if not entries:
            continue
        tag, name = SHORT[dataset], _figure_name(cfg)
        n = cfg.gan.fid_seeds
        rows = [[f"{e['psi']:g}", _fmt_fid(e)] for e in entries]
        parts += [
            f"**{dataset}: {label}, truncation trick** `w' = w_avg + psi (w - w_avg)` "
            f"(w_avg: moving average of w, beta {cfg.gan.w_avg_beta}; every psi scored on "
            f"the same {n} x {cfg.gan.fid_samples} latents and noise, one trained model)",
            "",
            ex.markdown_table(
                ["psi", f"classifier-FID (mean ± std, {n} x {cfg.gan.fid_samples})"], rows
            ),
            "",
        ]
        cells = []
        for e in entries:
            psi = f"{e['psi']:g}"
            figure = _copy(runs_dir / module / e["samples"], f"gen_{tag}_{name}_psi{psi}.png")
            cells.append(f"![psi {psi}]({figure})")
        parts += [
            ex.markdown_table([f"psi = {e['psi']:g}" for e in entries], [cells]),
            "",
            f"(the same {cfg.gan.num_samples} latents in every grid)",
            "",
        ]
    return "\n".join(parts)


def _figure_name(cfg) -> str:
    """Figure-name stem of a run: the model, ``_r1`` when it trains with R1."""
    return cfg.model.name + ("_r1" if cfg.gan.r1_gamma else "")


def _fmt_fid(s: dict) -> str:
    if "classifier_fid" not in s:
        return "-"
    return f"{s['classifier_fid']:.2f} ± {s['classifier_fid_std']:.2f}"


def report(results: dict, figures: dict, wall: float, cmd: str, truncation: str = "") -> str:
    """The generated markdown section."""
    rows = []
    for (dataset, label), (_, cfg, res) in results.items():
        s = res.summary
        if "components" in s:  # the Gaussian model, fitted in closed form
            params, steps = f"{s['components']} components", "closed form"
        else:
            params = f"{s['g_params']:,} / {s['d_params']:,}"
            steps = f"{s['steps']} ({cfg.train.batch_size})"
        real = f"{s['real_train_fid']:.2f}" if "real_train_fid" in s else "-"
        rows.append([dataset, label, params, steps, f"{s['train_wall_s']:.0f}", _fmt_fid(s), real])
    header = ["dataset", "model", "params G / D", "steps (batch)", "train s"]
    header += ["classifier-FID (mean ± std, 3 x 5000)", "real train images"]
    table = ex.markdown_table(header, rows)
    parts = [
        f"Command: `{cmd}` (this invocation {wall / 60:.1f} min, CPU, {jax.device_count()} "
        f"device(s), JAX {jax.__version__}; finished runs are reused, and 'train s' is each "
        "run's training time when it trained).",
        "",
        table,
        "",
    ]
    for (dataset, _), (_, _, res) in results.items():
        s = res.summary
        if "test_bits_per_dim" in s:
            parts.append(
                f"- {dataset} Gaussian: {s['components']} components, held-out log-likelihood "
                f"{s['test_log_likelihood_nats']:.1f} nats/image = {s['test_bits_per_dim']:.3f} "
                "bits/pixel (probabilistic PCA density)."
            )
        if "test_l1" in s:
            parts.append(
                f"- {dataset} pix2pix: test L1 |G(edges) - image| = {s['test_l1']:.4f} "
                "(pixels in [-1, 1]); FID from one set (G is deterministic in eval mode)."
            )
    parts.append("")
    if truncation:
        parts += [truncation, ""]
    for title, path in figures.items():
        if path.endswith(".png"):
            parts += [f"**{title}**", "", f"![{title}]({path})", ""]
        else:
            parts += [path, ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_dir", default="", help="folder holding fashion_mnist/ (and mnist/)")
    p.add_argument("--runs", default="runs/generation", help="run directories")
    p.add_argument("--only", default="", help="comma-separated config modules to (re)run")
    p.add_argument("--docs", type=Path, default=DOCS, help="folder of generation.md, figures/")
    p.add_argument("--steps", type=int, default=0, help="N steps per model, no FID (smoke run)")
    args = p.parse_args(argv)
    global FIGURES  # where the figure helpers write
    FIGURES = args.docs / "figures"
    if args.data_dir:
        os.environ["JAXDL_DATA_DIR"] = str(Path(args.data_dir).absolute())
    t0 = time.perf_counter()
    only = {m for m in args.only.split(",") if m} or None
    results = train_all(Path(args.runs), only, args.steps)
    figures: dict[str, str] = {}
    for (dataset, label), (module, cfg, res) in results.items():
        tag = SHORT[dataset]
        model, name = cfg.model.name, _figure_name(cfg)
        latent = cfg.gan.latent_dim
        figures[f"{dataset}: {label} samples"] = _copy(
            Path(args.runs) / module / "samples.png", f"gen_{tag}_{name}_samples.png"
        )
        if model == "gaussian":
            figures[f"{dataset}: Gaussian mean and first 32 eigen-images"] = _copy(
                Path(args.runs) / module / "eigen_images.png", f"gen_{tag}_gaussian_eigen.png"
            )
        if model != "pix2pix":
            figures[f"{dataset}: {label} samples and their 4 nearest training images"] = (
                neighbour_figure(res, tag, name, latent)
            )
        if model == "dcgan":
            lat = latent_figures(res, dataset, latent)
            figures[f"{dataset}: DCGAN interpolation (4 rows lerp, then 4 rows slerp)"] = lat[
                "interpolation"
            ]
            if "arithmetic" in lat:
                figures[
                    f"{dataset}: DCGAN latent arithmetic (mean A, mean B, mean C, A - B + C, "
                    "5 noisy variants; 20 latents per mean, rescaled to norm sqrt(100))"
                ] = lat["arithmetic"]
                figures[f"{dataset}: arithmetic, classified"] = lat["arithmetic_text"]
        if model == "stylegan":
            figures[
                f"{dataset}: {label} style mixing (top: B; left: A; cells: A's 4x4-8x8 "
                "styles, B's from 16x16 on)"
            ] = style_mixing_figure(res, tag, name, latent)
    wall = time.perf_counter() - t0
    cmd = "nice -n 10 python -m train.experiments.generation --data_dir ../shared/data"
    truncation = truncation_section(results, Path(args.runs))
    text = report(results, figures, wall, cmd, truncation)
    path = ex.write_generated(args.docs / "generation.md", text, SKELETON)
    print(f"wrote {path} ({wall / 60:.1f} min)")


if __name__ == "__main__":
    main()
