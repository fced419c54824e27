"""A 2x512 ReLU MLP with dropout on MNIST, He initialisation, SGD with Nesterov momentum."""

import ml_collections

from train.configs import defaults


def get_config() -> ml_collections.ConfigDict:
    """MLP on MNIST."""
    c = defaults.get_config()
    c.data.name = "mnist"
    c.data.train_split = "train[:55000]"
    c.data.val_split = "train[55000:]"
    c.model.name = "mlp"
    c.model.kwargs = ml_collections.ConfigDict(
        {"depth": 2, "width": 512, "activation": "relu", "dropout_rate": 0.5}
    )
    c.optimizer.name = "nesterov"
    c.optimizer.learning_rate = 0.05
    c.optimizer.schedule = "exponential"
    c.optimizer.schedule_kwargs = ml_collections.ConfigDict({"kappa": 0.1})
    c.train.num_epochs = 10
    return c
