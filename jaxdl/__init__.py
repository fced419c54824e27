"""jaxdl: the recipes of a graduate deep-learning course in JAX, Flax and Optax.

Subpackages: ``nn`` (units, initializers, layers, penalties), ``optim`` (optax
gradient transformations of the course), ``models`` (MLP to ResNet-152, U-Net,
GANs), ``data`` (readers, registry, device-resident loader, augmentation),
``training`` (state, step functions, the data-parallel loop, checkpoints) and
``viz`` (curves, filters, sample grids).
"""

__version__ = "0.1.0"
