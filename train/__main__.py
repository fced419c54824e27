"""``python -m train --config train/configs/<task>.py --workdir runs/<name>``.

Thin entry point: parse flags and the ml_collections config (overrides such as
``--config.optimizer.learning_rate=0.05``), validate it, and run the task. A run
restarted with the same workdir resumes from its last checkpoint.
"""

import sys

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to a config file.", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (checkpoints, metrics, plots).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    import importlib

    from train.validate import TASKS, validate

    config = _CONFIG.value
    validate(config)
    task = importlib.import_module(TASKS[config.task])
    if not any(a.startswith(("--verbosity", "-v")) for a in sys.argv[1:]):
        logging.set_verbosity(logging.WARNING)  # Orbax logs every file it writes at INFO
    task.run(config, _WORKDIR.value)


if __name__ == "__main__":
    app.run(main)
