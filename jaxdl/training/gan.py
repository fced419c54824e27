"""GAN training: the two-player train state and the step functions of ``fit``.

Losses: ``jaxdl.training.gan_losses`` (re-exported here).

One ``train_step`` = one discriminator update then one generator update, with two
optax optimizers (``GANState`` holds both players). The generator's forward pass is
done once per step with ``jax.vjp``: D is updated on the (stopped) fakes, then the
generator loss is differentiated with respect to the fake images under the UPDATED D
and pulled back through the saved generator pass (the alternation of Goodfellow's
algorithm 1 with k=1, as in the reference implementations). D sees the real and the
fake batch in two separate calls, so its batch norm normalises each with its own
statistics (Radford et al.'s setting); D's running statistics are updated in its own
step only. Conditional GANs (pix2pix) feed ``batch['condition']`` to G instead of
``z`` and show D the pair ``concat([condition, image])``; ``l1_weight`` adds
``lambda mean|y - G(x)|`` to the generator loss. ``r1_gamma > 0`` adds the R1 penalty
``gamma/2 E||grad_x D(x)||^2`` on the real batch to D's loss, lazily: every ``r1_every``
steps, multiplied by ``r1_every`` (StyleGAN2), in a pass of its own whose gradient is
added to the loss's. A StyleGAN generator's moving average ``w_avg`` lives in its model
state and is updated by its training passes; ``generate(..., psi=...)`` truncates.

Images are in [-1, 1] inside the steps (``to_model_range``), matching G's tanh output.

References:
  Goodfellow et al. Generative adversarial nets. NeurIPS 2014 (eq. 1, algorithm 1, and
  section 3 on the non-saturating generator objective).
  Radford, Metz, Chintala. Unsupervised representation learning with deep convolutional
  generative adversarial networks. ICLR 2016 (arXiv:1511.06434).
  Isola, Zhu, Zhou, Efros. Image-to-image translation with conditional adversarial
  networks. CVPR 2017 (arXiv:1611.07004), eq. 4 (L1 weight lambda = 100).
  Mescheder, Geiger, Nowozin. Which training methods for GANs do actually converge?
  ICML 2018 (R1); Karras et al. StyleGAN2, CVPR 2020, section 3.1 (lazy regularisation).
"""

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxdl.nn.normalization import split_variables
from jaxdl.training.gan_losses import (
    GENERATOR_LOSSES,
    discriminator_loss,
    example_mean,
    generator_loss,
    generator_loss_minimax,
    generator_loss_non_saturating,
    per_example_d_loss,
    r1_penalty,
)
from jaxdl.training.metrics import Average

__all__ = [
    "example_inputs",
    "GENERATOR_LOSSES",
    "GANState",
    "discriminator_loss",
    "gan_steps",
    "generator_loss",
    "generator_loss_minimax",
    "generator_loss_non_saturating",
    "generate",
    "model_rngs",
    "r1_penalty",
    "to_model_range",
    "to_uint8",
]

Batch = dict[str, jax.Array]


def to_model_range(images: jax.Array, dtype: Any = jnp.float32) -> jax.Array:
    """uint8 [0, 255] -> [-1, 1] (the range of a tanh generator), in ``dtype``."""
    return (images.astype(jnp.float32) / 127.5 - 1.0).astype(dtype)


def to_uint8(x: Any) -> Any:
    """[-1, 1] -> uint8 [0, 255], clipped (numpy or jax arrays)."""
    xp = jnp if isinstance(x, jax.Array) else np
    return xp.clip(xp.round((x.astype(xp.float32) + 1.0) * 127.5), 0, 255).astype(xp.uint8)


def model_rngs(key: jax.Array) -> dict[str, jax.Array]:
    """The RNG streams a generator/discriminator may use: ``'noise'`` (StyleGAN's
    per-pixel noise and style mixing) and ``'dropout'`` (pix2pix, the MLP GAN's D)."""
    noise, dropout = jax.random.split(key)
    return {"noise": noise, "dropout": dropout}


def example_inputs(
    image_shape: tuple[int, ...],
    latent_dim: int,
    condition_shape: tuple[int, ...] | None = None,
    dtype: Any = jnp.float32,
) -> tuple[jax.Array, jax.Array]:
    """Zero example inputs ``(g_input, d_input)`` of ``GANState.create``.

    An unconditional G takes ``z`` [1, latent_dim]; pix2pix's G takes the condition
    image and its D the condition and the image stacked on channels.

    Example:
      >>> g, d = example_inputs((8, 8, 3), 16, condition_shape=(8, 8, 1))
      >>> g.shape, d.shape
      ((1, 8, 8, 1), (1, 8, 8, 4))
    """
    if condition_shape is None:
        return jnp.zeros((1, latent_dim), dtype), jnp.zeros((1, *image_shape), dtype)
    d_shape = (1, *image_shape[:2], image_shape[2] + condition_shape[2])
    return jnp.zeros((1, *condition_shape), dtype), jnp.zeros(d_shape, dtype)


def _apply(apply_fn, params, model_state, x, train, key, **kwargs):
    """Applies a model with its model state; returns ``(out, new_model_state)``."""
    variables = {"params": params, **model_state}
    rngs = model_rngs(key)
    if train and model_state:
        out, updates = apply_fn(
            variables, x, train=True, rngs=rngs, mutable=list(model_state), **kwargs
        )
        return out, {**model_state, **updates}
    return apply_fn(variables, x, train=train, rngs=rngs, **kwargs), model_state


class GANState(struct.PyTreeNode):
    """Both players' parameters, model state (BN statistics) and optimizer states.

    ``step`` and ``rng`` play the roles of ``TrainState``'s (per-step key
    ``fold_in(rng, step)``), so ``jaxdl.training.loop.fit`` trains it unchanged and
    checkpoints it whole. The apply functions and optimizers are static.
    """

    step: jax.Array
    g_params: Any
    d_params: Any
    g_model_state: Any
    d_model_state: Any
    g_opt_state: Any
    d_opt_state: Any
    rng: jax.Array
    g_apply: Callable = struct.field(pytree_node=False)
    d_apply: Callable = struct.field(pytree_node=False)
    g_tx: optax.GradientTransformation = struct.field(pytree_node=False)
    d_tx: optax.GradientTransformation = struct.field(pytree_node=False)

    @classmethod
    def create(
        cls,
        *,
        generator: nn.Module,
        discriminator: nn.Module,
        g_tx: optax.GradientTransformation,
        d_tx: optax.GradientTransformation,
        rng: jax.Array,
        g_input: jax.Array,
        d_input: jax.Array,
    ) -> "GANState":
        """Initialises both players at step 0.

        Args:
          generator: Flax module ``G(g_input, train=...)``.
          discriminator: Flax module ``D(d_input, train=...)`` returning logits.
          g_tx: the generator's optimizer.
          d_tx: the discriminator's optimizer.
          rng: PRNG key (split into the two init keys and the step key).
          g_input: example generator input, e.g. ``z`` [1, latent_dim] or a condition image.
          d_input: example discriminator input, e.g. [1, H, W, C].

        Returns:
          A ``GANState``.

        Example:
          >>> from jaxdl.models.gan import MLPDiscriminator, MLPGenerator
          >>> g = MLPGenerator(image_shape=(4, 4, 1), hidden=(8,))
          >>> d = MLPDiscriminator(hidden=(8,), maxout_pieces=0)
          >>> s = GANState.create(generator=g, discriminator=d, g_tx=optax.adam(2e-4, 0.5),
          ...     d_tx=optax.adam(2e-4, 0.5), rng=jax.random.PRNGKey(0),
          ...     g_input=jnp.zeros((1, 2)), d_input=jnp.zeros((1, 4, 4, 1)))
          >>> s.generate(jnp.zeros((3, 2)), jax.random.PRNGKey(1)).shape
          (3, 4, 4, 1)
        """
        g_key, d_key, step_key = jax.random.split(rng, 3)
        init_g = generator.init({"params": g_key, **model_rngs(g_key)}, g_input, train=False)
        init_d = discriminator.init({"params": d_key, **model_rngs(d_key)}, d_input, train=False)
        g_params, g_model_state = split_variables(init_g)
        d_params, d_model_state = split_variables(init_d)
        return cls(
            step=jnp.zeros((), jnp.int32),
            g_params=g_params,
            d_params=d_params,
            g_model_state=g_model_state,
            d_model_state=d_model_state,
            g_opt_state=g_tx.init(g_params),
            d_opt_state=d_tx.init(d_params),
            rng=step_key,
            g_apply=generator.apply,
            d_apply=discriminator.apply,
            g_tx=g_tx,
            d_tx=d_tx,
        )

    def step_key(self) -> jax.Array:
        """The PRNG key of the current step: ``fold_in(rng, step)``."""
        return jax.random.fold_in(self.rng, self.step)

    def generate(
        self, g_input: jax.Array, key: jax.Array, train: bool = False, psi: float = 1.0
    ) -> jax.Array:
        """``G(g_input)`` in [-1, 1] (eval mode: BN running statistics), float32.

        ``psi`` != 1 applies StyleGAN's truncation trick (``jaxdl.models.stylegan.truncate``)
        towards the generator's tracked ``w_avg``; other generators have none.
        """
        kwargs = {}
        if psi != 1:
            if "w_avg" not in self.g_model_state:
                raise ValueError(
                    f"truncation psi={psi} needs a generator that tracks w_avg (StyleGAN); "
                    "use psi=1 for this one."
                )
            kwargs["psi"] = psi
        out, _ = _apply(
            self.g_apply, self.g_params, self.g_model_state, g_input, train, key, **kwargs
        )
        return out.astype(jnp.float32)


def gan_steps(
    *,
    latent_dim: int = 100,
    loss: str = "non_saturating",
    conditional: bool = False,
    l1_weight: float = 0.0,
    d_steps: int = 1,
    r1_gamma: float = 0.0,
    r1_every: int = 1,
    dtype: Any = jnp.float32,
    eval_seed: int = 0,
) -> tuple[Callable, Callable]:
    """Builds the GAN ``train_step`` and ``eval_step`` for ``jaxdl.training.loop.fit``.

    Batches hold uint8 ``'image'`` (the real/target images) and, when ``conditional``,
    uint8 ``'condition'`` (G's input image); both are mapped to [-1, 1] on device.

    Args:
      latent_dim: size of ``z ~ N(0, I)`` (unconditional GANs).
      loss: generator loss, ``'non_saturating'`` or ``'minimax'``.
      conditional: pix2pix-style: ``G(condition)`` and ``D(concat(condition, image))``.
      l1_weight: weight of ``mean|image - G(condition)|`` in G's loss (pix2pix: 100).
      d_steps: Goodfellow's k, discriminator updates per step: the real batch is split
        into ``d_steps`` equal parts, each met with fresh fakes; G is then updated once
        on the last part's fakes (batch ``B / d_steps``).
      r1_gamma: weight gamma of the R1 penalty ``gamma/2 E||grad_x D(x)||^2`` on the
        real images, added to D's loss (0 = off; StyleGAN2 uses 0.01-10 by dataset).
      r1_every: lazy regularisation: the penalty is computed only at the steps that
        are multiples of ``r1_every``, multiplied by ``r1_every`` (StyleGAN2: 16), so
        its average weight stays gamma (with ``d_steps`` > 1: in each D update of
        such a step).
      dtype: compute dtype of the model inputs.
      eval_seed: seed of the evaluation latents; with ``batch['index']`` present, the
        latent of example i is ``N(0, I)`` drawn from ``fold_in(key(eval_seed), i)``, so
        evaluation draws the same fakes whatever the batch size or device count.

    Returns:
      ``(train_step, eval_step)``. Training metrics: ``loss`` (D's adversarial loss),
      ``g_loss`` (adversarial part), ``l1`` (conditional), ``d_real``/``d_fake`` (mean D
      output), ``d_accuracy`` (D's accuracy on real+fake) and, with ``r1_gamma > 0``,
      ``r1`` (the term added to D's loss at this step: ``r1_every`` times the penalty
      on the lazy steps, 0 between them, so its mean over steps estimates the penalty).
      Evaluation averages the same per example.

    Example:
      >>> train_step, eval_step = gan_steps(latent_dim=64, loss="non_saturating")
    """
    g_loss_fn = generator_loss(loss)
    if d_steps < 1:
        raise ValueError(f"d_steps must be >= 1, got {d_steps}.")
    if l1_weight and not conditional:
        raise ValueError("l1_weight needs a conditional GAN (a target image for G's output).")
    if r1_gamma < 0 or int(r1_every) != r1_every or r1_every < 1:
        raise ValueError(
            f"r1_gamma must be >= 0 and r1_every an integer >= 1, got {r1_gamma}, {r1_every}."
        )

    def prepare(batch):
        out = {"image": to_model_range(batch["image"], dtype)}  # [B, H, W, C]
        if conditional:
            out["condition"] = to_model_range(batch["condition"], dtype)
        return out

    def d_view(cond, images):
        # What D judges: the image, or the (input, output) pair for a conditional GAN.
        return jnp.concatenate([cond, images.astype(cond.dtype)], -1) if conditional else images

    def g_input(cond, key, n):
        return cond if conditional else jax.random.normal(key, (n, latent_dim), dtype)

    def generator_pass(state, cond, key, n):
        """``G(input)`` in train mode, with the pull-back of its parameters (``jax.vjp``)."""
        kz, kg = jax.random.split(key)
        g_in = g_input(cond, kz, n)
        return jax.vjp(
            lambda gp: _apply(state.g_apply, gp, state.g_model_state, g_in, True, kg),
            state.g_params,
            has_aux=True,
        )

    def r1_term(state, d_params, d_ms, real, cond, key):
        """``(r1_every * r1_penalty, its gradient in D's parameters)`` at the lazy steps.

        A pass of its own (StyleGAN2's separate regularisation pass), with the loss's
        real-pass key and model state, so it regularises the very function the loss
        sees; its gradient is added to the loss's. ``lax.cond`` wraps this whole
        computation rather than sitting inside the loss's gradient: differentiating
        through a ``cond`` made every step ~2.6x slower on CPU (measured).
        """

        def term(dp):
            def logits(x):
                return _apply(state.d_apply, dp, d_ms, d_view(cond, x), True, key)[0]

            return r1_every * r1_penalty(logits, real, r1_gamma)[0]

        return jax.value_and_grad(term)(d_params)

    def d_update(state, d, real, cond, fake, key):
        """One discriminator step on a real batch and (stopped) fakes; ``d`` = (params,
        opt_state, model_state)."""
        d_params, d_opt, d_ms = d
        kr, kf = jax.random.split(key)
        fake = jax.lax.stop_gradient(fake)

        def d_loss_fn(dp):
            lr, ms = _apply(state.d_apply, dp, d_ms, d_view(cond, real), True, kr)
            lf, ms = _apply(state.d_apply, dp, ms, d_view(cond, fake), True, kf)
            return discriminator_loss(lr, lf), (lr, lf, ms)

        (loss, (lr, lf, new_ms)), grads = jax.value_and_grad(d_loss_fn, has_aux=True)(d_params)
        r1 = jnp.zeros((), jnp.float32)
        if r1_gamma:
            args = (state, d_params, d_ms, real, cond, kr)
            if r1_every == 1:
                r1, r1_grads = r1_term(*args)
            else:
                skip = (r1, jax.tree.map(jnp.zeros_like, d_params))
                lazy_step = state.step % r1_every == 0
                r1, r1_grads = jax.lax.cond(lazy_step, lambda: r1_term(*args), lambda: skip)
            grads = jax.tree.map(jnp.add, grads, r1_grads)
        updates, d_opt = state.d_tx.update(grads, d_opt, d_params)
        return (optax.apply_updates(d_params, updates), d_opt, new_ms), loss, r1, lr, lf, grads

    def train_step(state: GANState, batch: Batch) -> tuple[GANState, dict[str, jax.Array]]:
        data = prepare(batch)
        real, cond = data["image"], data.get("condition")  # [B, H, W, C]
        part = real.shape[0] // d_steps
        if part * d_steps != real.shape[0]:
            raise ValueError(f"batch size {real.shape[0]} is not divisible by d_steps={d_steps}.")
        keys = jax.random.split(state.step_key(), 2 * d_steps + 1)
        d = (state.d_params, state.d_opt_state, state.d_model_state)
        for k in range(d_steps):  # Goodfellow's k discriminator steps, fresh data each
            real_k = real[k * part : (k + 1) * part]
            cond_k = None if cond is None else cond[k * part : (k + 1) * part]
            # The last generator pass is kept (vjp) for G's update after D's.
            fake, g_vjp, g_ms = generator_pass(state, cond_k, keys[2 * k], part)
            d, d_loss, r1, lr, lf, d_grads = d_update(
                state, d, real_k, cond_k, fake, keys[2 * k + 1]
            )
        d_params, d_opt, d_ms = d

        def g_objective(fake_images):
            logits, _ = _apply(
                state.d_apply, d_params, d_ms, d_view(cond_k, fake_images), True, keys[-1]
            )
            adv = g_loss_fn(logits)
            l1 = jnp.mean(jnp.abs(fake_images.astype(jnp.float32) - real_k.astype(jnp.float32)))
            return adv + l1_weight * l1 if l1_weight else adv, (adv, l1)

        # dLoss/dfake under the UPDATED D, pulled back through the saved generator pass.
        (_, (g_adv, l1)), d_fake_images = jax.value_and_grad(g_objective, has_aux=True)(fake)
        (g_grads,) = g_vjp(d_fake_images.astype(fake.dtype))
        g_updates, g_opt = state.g_tx.update(g_grads, state.g_opt_state, state.g_params)
        new_state = state.replace(
            step=state.step + 1,
            g_params=optax.apply_updates(state.g_params, g_updates),
            d_params=d_params,
            g_model_state=g_ms,
            d_model_state=d_ms,
            g_opt_state=g_opt,
            d_opt_state=d_opt,
        )
        metrics = {
            "loss": d_loss,
            "g_loss": g_adv,
            "d_real": jnp.mean(jax.nn.sigmoid(lr.astype(jnp.float32))),
            "d_fake": jnp.mean(jax.nn.sigmoid(lf.astype(jnp.float32))),
            "d_accuracy": 0.5 * (jnp.mean(lr > 0) + jnp.mean(lf < 0)),
            "g_grad_norm": optax.global_norm(g_grads),
            "d_grad_norm": optax.global_norm(d_grads),
            # The loop stops on a non-finite loss or grad_norm (jaxdl.training.guards).
            "grad_norm": optax.global_norm((g_grads, d_grads)),
        }
        if conditional:
            metrics["l1"] = l1
        if r1_gamma:
            metrics["r1"] = r1
        return new_state, metrics

    def eval_step(state: GANState, batch: Batch) -> dict[str, Average]:
        data = prepare(batch)
        real, cond = data["image"], data.get("condition")
        base = jax.random.PRNGKey(eval_seed)
        if conditional:
            g_in = cond
        elif "index" in batch:
            g_in = jax.vmap(
                lambda i: jax.random.normal(jax.random.fold_in(base, i), (latent_dim,))
            )(batch["index"]).astype(dtype)  # [B, latent_dim]
        else:
            g_in = jax.random.normal(base, (real.shape[0], latent_dim), dtype)
        fake = state.generate(g_in, base).astype(dtype)
        lr, _ = _apply(
            state.d_apply, state.d_params, state.d_model_state, d_view(cond, real), False, base
        )
        lf, _ = _apply(
            state.d_apply, state.d_params, state.d_model_state, d_view(cond, fake), False, base
        )
        acc = 0.5 * (example_mean(lr > 0) + example_mean(lf < 0))

        def mean(values):  # over the real examples (mask 0 on the last batch's padding)
            return Average.from_model_output(values, mask=batch["mask"])

        metrics = {
            "loss": mean(per_example_d_loss(lr, lf)),
            "g_loss": mean(_g_terms(g_loss_fn, lf)),
            "d_accuracy": mean(acc),
        }
        if conditional:
            metrics["l1"] = mean(example_mean(jnp.abs(fake - real)))
        return metrics

    return train_step, eval_step


def _g_terms(g_loss_fn, logits):
    """Per-example generator loss [B] (the loss applied to each example's logits)."""
    return jax.vmap(lambda l: g_loss_fn(l[None]))(logits)


@functools.partial(jax.jit, static_argnames="psi")
def _generate_batch(state: GANState, inputs: jax.Array, key: jax.Array, psi: float) -> jax.Array:
    return state.generate(inputs, key, psi=psi)


def generate(
    state: GANState, inputs: np.ndarray, key: jax.Array, batch_size: int = 250, psi: float = 1.0
) -> np.ndarray:
    """``G(inputs)`` in eval mode, batch by batch: float32 numpy in [-1, 1].

    Batch i uses ``fold_in(key, i)`` for the generator's noise (StyleGAN); the last batch
    is padded so one shape is compiled. Fewer than ``batch_size`` inputs are one batch of
    their own size (padding 24 pix2pix images at 256 x 256 to 250 exhausted 24 GiB).

    Args:
      state: a trained ``GANState``.
      inputs: latents [N, latent_dim] or condition images in [-1, 1] [N, H, W, C].
      key: PRNG key of the noise inputs.
      batch_size: images per call.
      psi: StyleGAN's truncation factor (1 = none; other generators need 1).

    Returns:
      [N, H, W, C] images.

    Example:
      >>> from jaxdl.models.gan import MLPDiscriminator, MLPGenerator
      >>> state = GANState.create(
      ...     generator=MLPGenerator(image_shape=(4, 4, 1), hidden=(8,)),
      ...     discriminator=MLPDiscriminator(hidden=(8,), maxout_pieces=0),
      ...     g_tx=optax.sgd(0.1), d_tx=optax.sgd(0.1), rng=jax.random.PRNGKey(0),
      ...     g_input=jnp.zeros((1, 2)), d_input=jnp.zeros((1, 4, 4, 1)))
      >>> z = np.random.default_rng(0).standard_normal((5, 2), np.float32)
      >>> images = generate(state, z, jax.random.PRNGKey(0), batch_size=4)
      >>> images.shape, bool(np.abs(images).max() <= 1.0)
      ((5, 4, 4, 1), True)
    """
    inputs = np.asarray(inputs, np.float32)
    batch_size = min(batch_size, len(inputs))
    out = []
    for i, start in enumerate(range(0, len(inputs), batch_size)):
        chunk = inputs[start : start + batch_size]
        real = len(chunk)
        if real < batch_size:
            chunk = np.concatenate([chunk, np.repeat(chunk[:1], batch_size - real, 0)])
        batch_key = jax.random.fold_in(key, i)
        out.append(np.asarray(_generate_batch(state, chunk, batch_key, float(psi)))[:real])
    return np.concatenate(out)
