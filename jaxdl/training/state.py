"""The train state: everything a step reads and writes, as one pytree.

``step``, ``params``, ``model_state`` (non-trainable collections such as
``batch_stats``), ``opt_state`` and ``rng`` are pytree leaves (checkpointed);
``apply_fn`` and ``tx`` are static (rebuilt from the config on restart).
Per-step randomness is ``fold_in(rng, step)``, so a restored state replays the
exact same random numbers.
"""

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxdl.nn.normalization import split_variables


class TrainState(struct.PyTreeNode):
    """Pure training state (see module docstring)."""

    step: jax.Array
    params: Any
    model_state: Any
    opt_state: Any
    rng: jax.Array
    apply_fn: Callable = struct.field(pytree_node=False)
    tx: optax.GradientTransformation = struct.field(pytree_node=False)

    @classmethod
    def create(
        cls,
        *,
        model: nn.Module,
        tx: optax.GradientTransformation,
        rng: jax.Array,
        example_input: jax.Array,
    ) -> "TrainState":
        """Initialises parameters, model state and optimizer state.

        Args:
          model: a Flax module taking ``(x, train=...)``.
          tx: the optax optimizer.
          rng: PRNG key; split into an init key and the state's step key.
          example_input: an array with the input's shape and dtype, e.g. [1, H, W, C].

        Returns:
          A ``TrainState`` at step 0.

        Example:
          >>> from jaxdl.models import create
          >>> state = TrainState.create(model=create("mlp", num_classes=3, depth=1, width=8),
          ...     tx=optax.adam(1e-3), rng=jax.random.PRNGKey(0), example_input=jnp.zeros((1, 4)))
          >>> int(state.step), state.params["Dense_0"]["kernel"].shape
          (0, (4, 8))
        """
        init_key, dropout_key, step_key = jax.random.split(rng, 3)
        variables = model.init(
            {"params": init_key, "dropout": dropout_key}, example_input, train=False
        )
        params, model_state = split_variables(variables)
        return cls(
            step=jnp.zeros((), jnp.int32),
            params=params,
            model_state=model_state,
            opt_state=tx.init(params),
            rng=step_key,
            apply_fn=model.apply,
            tx=tx,
        )

    def step_key(self) -> jax.Array:
        """The PRNG key of the current step: ``fold_in(rng, step)``."""
        return jax.random.fold_in(self.rng, self.step)
