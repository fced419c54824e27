"""GAN losses (Goodfellow et al. 2014), named as in the course.

All on the discriminator's LOGITS ``l`` with
``D = sigmoid(l)`` and computed through ``softplus`` so they stay finite however
confident D is (``log sigmoid(l) = -softplus(-l)``, ``log(1 - sigmoid(l)) = -softplus(l)``):

- ``discriminator_loss``: D maximises ``mean log D(x) + mean log(1 - D(G(z)))``; the
  loss minimised is its negative, ``mean softplus(-l_real) + mean softplus(l_fake)``.
- ``generator_loss_minimax``: G minimises ``mean log(1 - D(G(z))) = -mean softplus(l_fake)``.
  Its gradient ``-sigmoid(l_fake)`` vanishes when D confidently rejects the fakes
  (``l_fake -> -inf``), i.e. early in training: the generator saturates.
- ``generator_loss_non_saturating``: G maximises ``log D(G(z))``, i.e. minimises
  ``mean softplus(-l_fake)``; gradient ``-(1 - sigmoid(l_fake)) -> -1`` in the same regime.

Logits may be per image ``[B]``/``[B, 1]`` or per patch ``[B, h, w, 1]`` (PatchGAN): the
means run over every logit.

Regulariser of D: ``r1_penalty``, ``gamma/2 E_x ||grad_x D(x)||^2`` on REAL images
(Mescheder et al. 2018), D(x) being D's logit (summed over patches); ``gan_steps``
adds its gradient to D's, lazily every k steps as in StyleGAN2.

References:
  Goodfellow et al. Generative adversarial nets. NeurIPS 2014 (eq. 1 and section 3 on
  the non-saturating generator objective).
  Mescheder, Geiger, Nowozin. Which training methods for GANs do actually converge?
  ICML 2018 (eq. 9, the R1 penalty).
  Karras et al. Analyzing and improving the image quality of StyleGAN. CVPR 2020,
  section 3.1 (lazy regularisation).
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


def example_mean(x: jax.Array) -> jax.Array:
    """Mean over every axis but the batch axis, float32 [B] (per-image or per-patch logits)."""
    return x.astype(jnp.float32).reshape(x.shape[0], -1).mean(axis=1)


def per_example_d_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """``-log D(x) - log(1 - D(G(z)))`` per example, [B] float32 (summed for set metrics)."""
    return example_mean(jax.nn.softplus(-real_logits.astype(jnp.float32))) + example_mean(
        jax.nn.softplus(fake_logits.astype(jnp.float32))
    )


def discriminator_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """``-[mean log D(x) + mean log(1 - D(G(z)))]`` on logits (scalar, float32).

    Args:
      real_logits: D's logits on real images, [B] or [B, ...] (per patch).
      fake_logits: D's logits on generated images, same layout.

    Returns:
      The loss D minimises (the negative of the course's objective it maximises).

    Example:
      >>> import jax.numpy as jnp
      >>> loss = discriminator_loss(jnp.array([5.0]), jnp.array([-5.0]))  # 2 softplus(-5)
      >>> round(float(loss), 4)
      0.0134
    """
    return per_example_d_loss(real_logits, fake_logits).mean()


def generator_loss_minimax(fake_logits: jax.Array) -> jax.Array:
    """The minimax generator loss ``mean log(1 - D(G(z))) = -mean softplus(l)``.

    Saturates: ``d/dl = -sigmoid(l) -> 0`` when D rejects the fakes (``l -> -inf``).

    Example:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> fake = jnp.array([-10.0])  # D confidently rejects the fake
      >>> f"{float(generator_loss_minimax(fake)):.2e}"
      '-4.54e-05'
      >>> f"{float(jax.grad(generator_loss_minimax)(fake)[0]):.2e}"
      '-4.54e-05'
    """
    return example_mean(-jax.nn.softplus(fake_logits.astype(jnp.float32))).mean()


def generator_loss_non_saturating(fake_logits: jax.Array) -> jax.Array:
    """The non-saturating generator loss ``-mean log D(G(z)) = mean softplus(-l)``.

    ``d/dl = -(1 - sigmoid(l)) -> -1`` when D rejects the fakes: strong early gradients.

    Example:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> fake = jnp.array([-10.0])
      >>> round(float(generator_loss_non_saturating(fake)), 4)
      10.0
      >>> round(float(jax.grad(generator_loss_non_saturating)(fake)[0]), 4)
      -1.0
    """
    return example_mean(jax.nn.softplus(-fake_logits.astype(jnp.float32))).mean()


GENERATOR_LOSSES: dict[str, Callable[[jax.Array], jax.Array]] = {
    "minimax": generator_loss_minimax,
    "non_saturating": generator_loss_non_saturating,
}


def generator_loss(name: str) -> Callable[[jax.Array], jax.Array]:
    """The generator loss called ``name`` (``'minimax'`` or ``'non_saturating'``)."""
    if name not in GENERATOR_LOSSES:
        raise ValueError(
            f"Unknown generator loss {name!r}; use one of {sorted(GENERATOR_LOSSES)} "
            "(config key gan.loss)."
        )
    return GENERATOR_LOSSES[name]


def r1_penalty(
    logits_fn: Callable[[jax.Array], Any], real: jax.Array, gamma: float, has_aux: bool = False
) -> tuple[jax.Array, Any]:
    """The R1 penalty ``gamma/2 * E_x ||grad_x D(x)||^2`` on real images.

    ``D(x)`` is the discriminator's LOGIT for image x (per-patch logits are summed); the
    gradient is taken of ``sum_i D(x_i)`` with respect to the whole batch, which is each
    image's own gradient when D treats examples independently (no batch-norm coupling in
    evaluation; in training mode, BN's batch statistics add the cross-example terms of
    the function D actually computes). The penalty is differentiable in D's parameters
    (double backpropagation), so adding it to D's loss regularises D.

    Args:
      logits_fn: ``x -> logits`` [B, ...], or ``x -> (logits, aux)`` with ``has_aux``.
      real: real images [B, H, W, C] (D's view of them).
      gamma: the weight (StyleGAN2's gamma; 0 gives 0).
      has_aux: ``logits_fn`` also returns auxiliary data (e.g. updated BN statistics).

    Returns:
      ``(penalty, logits)``, or ``(penalty, (logits, aux))`` with ``has_aux``: the
      scalar float32 penalty and D's output on ``real`` (the same forward pass).

    Example:
      >>> w = jnp.array([3.0, 4.0])  # D(x) = x . w: gradient w, ||w||^2 = 25
      >>> penalty, logits = r1_penalty(lambda x: x @ w, jnp.ones((5, 2)), gamma=2.0)
      >>> float(penalty), logits.shape  # 2/2 * 25
      (25.0, (5,))
    """

    def total(x):
        out = logits_fn(x)
        logits, aux = out if has_aux else (out, None)
        return jnp.sum(logits.astype(jnp.float32)), (logits, aux)

    (_, (logits, aux)), grad = jax.value_and_grad(total, has_aux=True)(real)
    grad = grad.astype(jnp.float32).reshape(grad.shape[0], -1)  # [B, H * W * C]
    penalty = 0.5 * gamma * jnp.mean(jnp.sum(grad * grad, axis=1))
    return penalty, ((logits, aux) if has_aux else logits)
