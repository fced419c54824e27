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

References:
  Goodfellow et al. Generative adversarial nets. NeurIPS 2014 (eq. 1 and section 3 on
  the non-saturating generator objective).
"""

from collections.abc import Callable

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
