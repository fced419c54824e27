"""``python -m train --config train/configs/<task>.py --workdir runs/<name>``.

Thin entry point: parse flags and the ml_collections config, validate it, check the
workdir, and run the task. A run restarted with the same workdir resumes from its last
checkpoint. User errors (bad config, missing or corrupted data, unreadable
checkpoints, divergence) print one paragraph naming the problem and the fix, without a
traceback unless ``--debug`` is given.

The command line accepts:

- ``--config PATH`` (required): a config module, e.g. ``train/configs/mnist_mlp.py``.
- ``--workdir DIR`` (required): the run's folder (checkpoints, metrics, pictures).
- ``--config.<key>=<value>``, ``--config.<dict>.<key>=<value>``: overrides of the config
  and of its free-form keyword dicts, as ``train.cli`` describes
  (``--config.optimizer.learning_rate=0.05``, ``--config.optimizer.kwargs.key=0``).
- ``--overwrite``: start afresh over another config's run in ``--workdir``.
- ``--debug``: show full tracebacks.

Exit codes: 0 done (or paused at ``train.max_steps``); 1 divergence; 2 a user error;
143 (SIGTERM) or 130 (SIGINT): stopped by the signal after the current step, with a
checkpoint saved at that step; rerunning the same command resumes there.
"""

import importlib
import sys

from absl import app, flags

from jaxdl.training.hooks import TrainingInterruptedError
from train import cli
from train import workdir as workdirs
from train.validate import TASKS, validate


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines the command line's flags in ``flag_values`` (absl's global ones by default)."""
    cli.define_config(flag_values)
    flags.DEFINE_string(
        "workdir", None, "Run directory (checkpoints, metrics, plots).", flag_values=flag_values
    )
    flags.DEFINE_bool(
        "overwrite",
        False,
        "Start afresh over a different config's run in --workdir, deleting only the files "
        "jaxdl wrote there.",
        flag_values=flag_values,
    )
    flags.mark_flag_as_required("workdir", flag_values=flag_values)


def main(argv: list[str], flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Validates the parsed config and runs its task in ``--workdir``; exits on errors."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    with cli.user_errors(flag_values.debug):
        try:
            config = flag_values.config
            validate(config)
            task = importlib.import_module(TASKS[config.task])
            cli.quiet_logging()
            # One process per workdir, held until the run ends (released by the OS if killed).
            with workdirs.lock(flag_values.workdir) as workdir:
                task.run(config, workdirs.prepare(workdir, config, flag_values.overwrite))
        except TrainingInterruptedError as e:
            print(f"stopped: {e} Rerun the same command to resume.", file=sys.stderr)
            sys.exit(e.exit_code)


if __name__ == "__main__":
    define_flags()  # here, not at import: importing this module defines no global flags
    app.run(main, flags_parser=cli.parse_flags)
