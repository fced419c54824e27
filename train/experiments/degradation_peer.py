"""The first steps of CIFAR ResNets at He et al.'s rate, in jaxdl and in the PyTorch peer.

A check behind experiment 2 (``degradation.py``): at lr 0.1 the 56-layer residual net's
first minibatch losses jump far above ln 10 and it then sits on the chance plateau for
hundreds of steps. Is that this implementation or the recipe? Here both frameworks
train the same architecture (option-A CIFAR ResNet, BN after every conv, He-normal
convs, ``benchmarks/peers/torch_models.CifarResNet`` for PyTorch) on the same
minibatches of the JPEG CIFAR-10 copy (standardized per channel, no augmentation),
SGD momentum 0.9, weight decay 1e-4, each from its own seeded initial weights, and
the minibatch losses of the first ``--steps`` steps are tabulated.

Run (needs torch: ``pip install -e '.[peers]'``; about 5 minutes of this CPU)::

  nice -n 10 python -m train.experiments.degradation_peer

It writes the "degradation_peer" section of ``docs/cnn_zoo.md``.
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import data as jdata
from jaxdl import models, optim
from jaxdl.data import preprocess
from jaxdl.training.state import TrainState
from jaxdl.training.steps import classification_steps
from train import experiments as ex
from train.configs import cifar10_resnet20


def minibatches(args: argparse.Namespace) -> list[tuple[np.ndarray, np.ndarray]]:
    """``steps`` standardized (images [B, 32, 32, 3], labels [B]) batches, seeded order."""
    n = args.steps * args.batch_size
    d = jdata.load("cifar10", f"train[:{n}]", data_dir=args.data_dir).data
    mean, std = preprocess.channel_stats(d["image"])
    x = ((d["image"] / 255.0 - mean) / std).astype(np.float32)
    order = np.random.default_rng(args.seed).permutation(n).reshape(args.steps, -1)
    return [(x[i], d["label"][i].astype(np.int32)) for i in order]


def jaxdl_losses(model: str, batches, args: argparse.Namespace, seed: int) -> list[float]:
    """Minibatch losses of jaxdl's train step (the trainer's, without augmentation)."""
    tx = optim.create("momentum", args.learning_rate, rho=0.9, weight_decay=1e-4)
    state = TrainState.create(
        model=models.create(model, num_classes=10),
        tx=tx,
        rng=jax.random.PRNGKey(seed),
        example_input=jnp.zeros((1, 32, 32, 3)),
    )
    step = jax.jit(classification_steps(lambda b, key, train: b)[0])
    losses = []
    for x, y in batches:
        state, metrics = step(state, {"image": jnp.asarray(x), "label": jnp.asarray(y)})
        losses.append(float(metrics["loss"]))
    return losses


def torch_losses(model: str, batches, args: argparse.Namespace, seed: int) -> list[float]:
    """Minibatch losses of the PyTorch peer, He-normal (fan-in) convs as in jaxdl."""
    import torch

    from benchmarks.peers.torch_models import CifarResNet

    torch.manual_seed(seed)
    net = CifarResNet(depth=int(model.removeprefix("resnet")))
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
    opt = torch.optim.SGD(net.parameters(), lr=args.learning_rate, momentum=0.9, weight_decay=1e-4)
    net.train()
    losses = []
    for x, y in batches:
        logits = net(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous())
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y).long())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def report(runs: dict[tuple[str, str, int], list[float]], args: argparse.Namespace) -> str:
    """The markdown section: command, a summary row per run, and the first losses."""
    k = min(10, args.steps)
    rows = []
    for (model, framework, seed), losses in runs.items():
        summary = [ex.fmt(v) for v in (losses[0], max(losses), np.mean(losses[-k:]))]
        first = " ".join(f"{v:.1f}" for v in losses[:12])
        rows.append([model, framework, seed, *summary, first])
    header = ["model", "framework", "seed", "step-1 loss", "max loss", f"mean, last {k}"]
    header.append("first 12 losses")
    return "\n\n".join(
        [
            f"Command: `nice -n 10 python -m train.experiments.degradation_peer --steps "
            f"{args.steps} --batch_size {args.batch_size} --learning_rate "
            f"{args.learning_rate:g}` ({jax.devices()[0].platform.upper()}). Same "
            f"{args.steps} minibatches of {args.batch_size} for every run, lr "
            f"{args.learning_rate:g} from step 1, momentum 0.9, weight decay 1e-4, no "
            "augmentation; chance level is ln 10 = 2.303.",
            ex.markdown_table(header, rows),
        ]
    )


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["resnet20", "resnet56"])
    p.add_argument("--frameworks", nargs="+", default=["jaxdl", "torch"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch_size", type=int, default=128)
    p.add_argument("--learning_rate", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0, help="minibatch order")
    p.add_argument("--data_dir", default=cifar10_resnet20.CIFAR10_DIR)
    p.add_argument("--doc", default="docs/cnn_zoo.md")
    args = p.parse_args(argv)
    batches = minibatches(args)
    train = {"jaxdl": jaxdl_losses, "torch": torch_losses}
    runs = {}
    for model in args.models:
        for framework in args.frameworks:
            for seed in args.seeds:
                t0 = time.perf_counter()
                runs[model, framework, seed] = train[framework](model, batches, args, seed)
                losses = runs[model, framework, seed]
                print(
                    f"{model} {framework} seed {seed}: max {max(losses):.2f}, last "
                    f"{losses[-1]:.3f} ({time.perf_counter() - t0:.0f} s)",
                    flush=True,
                )
    ex.write_section(args.doc, "degradation_peer", report(runs, args))
    return runs


if __name__ == "__main__":
    main()
