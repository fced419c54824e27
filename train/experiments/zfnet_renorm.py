"""How often ZFNet's filter renormalization acts: the fraction of conv filters projected.

Trains the CPU-sized ZFNet of ``train/configs/fashion_mnist_zfnet_renorm.py`` (SGD
momentum 0.9, lr 1e-2, radius 0.1) for a few hundred steps and, at every step, counts
per layer the filters whose RMS after the optimizer's update exceeds the radius (those
``renormalize_filters`` scales back). Prints one table row per conv layer.

  python -m train.experiments.zfnet_renorm --data_dir ../shared/data --steps 200
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import models, optim
from jaxdl.data import preprocess
from jaxdl.training.steps import cross_entropy
from train import experiments as ex
from train.build import load_splits
from train.configs import fashion_mnist_zfnet_renorm

LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")


def make_step(model, inner, radius, pre):
    renorm = optim.renormalize_filters(radius)

    def loss_fn(params, batch, key):
        logits = model.apply({"params": params}, batch["image"], train=True, rngs={"dropout": key})
        return cross_entropy(logits, batch["label"]).mean()

    @jax.jit
    def step(params, opt_state, batch, key):
        batch = pre(batch, key, True)
        loss, grads = jax.value_and_grad(loss_fn)(params, batch, key)
        updates, opt_state = inner.update(grads, opt_state, params)
        after = optax.apply_updates(params, updates)  # before the projection
        exceeded = {n: optim.filter_rms(after[n]["conv"]["kernel"]) > radius for n in LAYERS}
        updates, _ = renorm.update(updates, renorm.init(params), params)
        return optax.apply_updates(params, updates), opt_state, loss, exceeded

    return step


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_dir", default="")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--paper_init", action="store_true", help="N(0, 0.01) weights (the paper)")
    args = p.parse_args(argv)
    c = fashion_mnist_zfnet_renorm.get_config()
    c.data.data_dir, c.data.val_split, c.data.test_split = args.data_dir, "", ""
    c.data.train_split = f"train[:{args.steps * args.batch}]"
    train = load_splits(c.data)[0]["train"]
    model = models.create(c.model.name, num_classes=10, paper_init=args.paper_init,
                          **c.model.kwargs.to_dict())  # fmt: skip
    pre = preprocess.image_preprocess(*preprocess.channel_stats(train["image"]))
    params = model.init(jax.random.key(0), jnp.zeros((1, 64, 64, 1)), train=False)["params"]
    inner = optim.create(c.optimizer.name, c.optimizer.learning_rate, **c.optimizer.kwargs)
    step = make_step(model, inner, c.optimizer.renormalize_filters, pre)
    opt_state, counts, losses, t0 = inner.init(params), [], [], time.perf_counter()
    for i in range(args.steps):
        sl = slice(i * args.batch, (i + 1) * args.batch)
        batch = {"image": train["image"][sl], "label": train["label"][sl]}
        params, opt_state, loss, exceeded = step(params, opt_state, batch, jax.random.key(i))
        counts.append({n: np.asarray(v) for n, v in exceeded.items()})
        losses.append(float(loss))
    print(f"{args.steps} steps of batch {args.batch}, paper_init={args.paper_init}, "
          f"{time.perf_counter() - t0:.0f} s; train loss first 10 {np.mean(losses[:10]):.3f}, "
          f"last 10 {np.mean(losses[-10:]):.3f}")  # fmt: skip
    rows = []
    for n in LAYERS:
        hits = np.stack([c[n] for c in counts])  # [steps, filters]
        shares = (hits[0].mean(), hits.mean(), hits[-50:].mean(), hits.any(0).mean())
        rows.append([n, hits.shape[1], *(f"{x:.1%}" for x in shares)])
    header = ["layer", "filters", "projected at step 1", "mean per step", "last 50 steps", "ever"]
    print(ex.markdown_table(header, rows))


if __name__ == "__main__":
    main()
