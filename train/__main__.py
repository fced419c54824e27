"""``python -m train --config train/configs/<task>.py --workdir runs/<name>``.

Thin entry point: parse flags and the ml_collections config (overrides such as
``--config.optimizer.learning_rate=0.05``), validate it, check the workdir, and run
the task. A run restarted with the same workdir resumes from its last checkpoint.
User errors (bad config, missing or corrupted data, unreadable checkpoints,
divergence) print one paragraph naming the problem and the fix, without a traceback
unless ``--debug`` is given.

Exit codes: 0 done (or paused at ``train.max_steps``); 1 divergence; 2 a user error;
143 (SIGTERM) or 130 (SIGINT): stopped by the signal after the current step, with a
checkpoint saved at that step; rerunning the same command resumes there.
"""

import importlib
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from jaxdl.training.hooks import TrainingInterruptedError

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to a config file.", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (checkpoints, metrics, plots).")
_OVERWRITE = flags.DEFINE_bool(
    "overwrite",
    False,
    "Start afresh over a different config's run in --workdir, deleting only the files "
    "jaxdl wrote there.",
)
_DEBUG = flags.DEFINE_bool("debug", False, "Show full tracebacks for errors.")
flags.mark_flags_as_required(["config", "workdir"])

# Errors that describe a problem with the user's input or run, not a bug.
# OSError: an unwritable or full disk, a path that is a file (the message names it).
USER_ERRORS = (ValueError, TypeError, KeyError, OSError, RuntimeError, FloatingPointError)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from train import workdir
    from train.validate import TASKS, validate

    try:
        config = _CONFIG.value
        validate(config)
        task = importlib.import_module(TASKS[config.task])
        if not any(a.startswith(("--verbosity", "-v")) for a in sys.argv[1:]):
            logging.set_verbosity(logging.WARNING)  # Orbax logs every file it writes at INFO
        # One process per workdir, held until the run ends (released by the OS if killed).
        with workdir.lock(_WORKDIR.value):
            path = workdir.prepare(_WORKDIR.value, config, _OVERWRITE.value)
            task.run(config, path)
    except TrainingInterruptedError as e:
        print(f"stopped: {e} Rerun the same command to resume.", file=sys.stderr)
        sys.exit(e.exit_code)
    except USER_ERRORS as e:
        if _DEBUG.value:
            raise
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(
            f"error ({type(e).__name__}): {message}\n(--debug shows the traceback)", file=sys.stderr
        )
        sys.exit(1 if isinstance(e, FloatingPointError) else 2)


def parse_flags(argv: list[str]) -> list[str]:
    """absl flag parsing with config-override errors (unknown keys, bad values) as one line."""
    try:
        return flags.FLAGS(argv)
    except Exception as e:  # noqa: BLE001 - flags, overrides and the config file are user input
        if "--debug" in argv:
            raise
        text = str(e.args[0] if e.args else e).replace("\\'", "'").replace("\\n", "\n")
        if "Traceback (most recent call last)" in text:  # get_config raised: keep its error
            head, _, tail = text.partition("Traceback (most recent call last)")
            text = f"{head.strip()} {tail.strip().splitlines()[-1]}"
        if isinstance(e, SyntaxError):  # the config file does not parse
            text = f"{e.msg} in {e.filename}, line {e.lineno}"
        text = " ".join(text.split())
        print(
            f"error: bad flag or config override ({type(e).__name__}: {text}). Valid config "
            "keys are listed in train/configs/defaults.py.",
            file=sys.stderr,
        )
        sys.exit(2)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
