"""What the command-line programs of train/ share: the config flag with its overrides,
user errors as one line, and quiet logging.

``python -m train``, ``train.doctor``, ``train.sweep`` and ``train.visualize`` parse
``--config PATH`` and its overrides the same way (``parse_flags``):

- ``--config.<key>=<value>`` overrides a key of ``train/configs/defaults.py``, nested
  keys with dots; the value is parsed as the key's type (ml_collections'
  ``config_flags``); ``--config.<key> <value>`` works too.
- ``--config.<dict>.<key>=<value>`` sets a key of a free-form keyword dict
  (``train.validate.FREE_FORM``: ``model.kwargs``, ``optimizer.kwargs``,
  ``optimizer.schedule_kwargs``, ``optimizer.clip_kwargs``, ``gan.generator``,
  ``gan.discriminator``), whether or not the config file sets it:
  ``--config.optimizer.clip=global_norm --config.optimizer.clip_kwargs.max_norm=1.0``,
  ``--config.model.kwargs.head=rbf``, ``"--config.optimizer.schedule_kwargs.milestones=(6, 9)"``.
  A key the config file sets keeps its type; a new one takes a Python literal, else the
  string (``head=rbf`` -> ``'rbf'``). Also ``--config.<dict>.<key> <value>``, and
  ``--config.<dict>.<key>`` / ``--noconfig.<dict>.<key>`` for True / False. The keys
  are one level deep (they are keyword arguments); a whole dict at once:
  ``--config.model.kwargs='{"width": 32}'``, given before any of its keys.

Errors of the user's input (``USER_ERRORS``) print one line naming the problem and exit
with status 2 (``user_errors``); ``--debug`` shows the traceback instead.
"""

import ast
import contextlib
import re
import sys
from collections.abc import Iterator
from typing import Any
from unittest import mock

import ml_collections
from absl import flags, logging
from ml_collections import config_flags
from ml_collections.config_flags import tuple_parser

from train.validate import FREE_FORM

# Errors that describe a problem with the user's input or run, not a bug.
# OSError: an unwritable or full disk, a path that is a file (the message names it).
USER_ERRORS = (ValueError, TypeError, KeyError, OSError, RuntimeError, FloatingPointError)

# --config.<free-form dict>.<key>[=<value>] (and --noconfig.<dict>.<key>); longest
# dict paths first, so that one dict path is never read as a prefix of another.
_DICTS = "|".join(re.escape(p) for p in sorted(FREE_FORM, key=len, reverse=True))
_FREE_KEY = re.compile(rf"-{{1,2}}(?P<no>no)?config\.(?P<dict>{_DICTS})\.(?P<key>[^=]+)(?:=|$)")
_CONFIG_ARG = re.compile(r"-{1,2}config\.(?P<path>[^=]+)")

# How config_flags parses an override of an existing key, by the key's current type.
_PARSERS = {
    bool: flags.BooleanParser(),
    int: flags.IntegerParser(),
    float: flags.FloatParser(),
    str: flags.ArgumentParser(),
    tuple: tuple_parser.TupleParser(),
}


def split_free_form(argv: list[str]) -> tuple[list[str], list[tuple[str, str, str]]]:
    """Takes the keys of free-form dicts (``train.validate.FREE_FORM``) out of ``argv``.

    config_flags refuses to override a key the loaded config does not have; these are
    set by ``apply_free_form`` after absl has parsed the rest. Arguments after ``--``
    are left alone.

    Args:
      argv: the command line, program name first.

    Returns:
      ``(rest, overrides)``: ``argv`` without them, and ``(dict path, key, value text)``
      in command-line order (``'True'`` / ``'False'`` for the bare and ``--no`` forms).

    Raises:
      ValueError: a dotted key inside a free-form dict, or a whole dict given after
        one of its keys (it would replace that key).

    Example:
      >>> split_free_form(["train", "--config.optimizer.kwargs.key=0", "--config.seed=1"])
      (['train', '--config.seed=1'], [('optimizer.kwargs', 'key', '0')])
      >>> split_free_form(["train", "--config.model.kwargs.head", "rbf"])[1]
      [('model.kwargs', 'head', 'rbf')]
    """
    rest, overrides = argv[:1], []
    i = 1
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            rest += argv[i - 1 :]
            break
        m = _FREE_KEY.match(arg)
        if m is None:
            whole = _CONFIG_ARG.match(arg)
            if whole:  # e.g. --config.model.kwargs='{...}' after --config.model.kwargs.head
                path = whole["path"]
                later = [f"{d}.{k}" for d, k, _ in overrides if f"{d}.".startswith(path + ".")]
                if later:
                    raise ValueError(
                        f"--config.{path} is given after --config.{later[0]}, and would "
                        f"replace it: give --config.{path} first."
                    )
            rest.append(arg)
            continue
        name = f"{m['dict']}.{m['key']}"
        if "." in m["key"]:
            raise ValueError(
                f"--config.{name}: {m['dict']} is a free-form dict of keyword arguments, "
                f"one level deep; set --config.{m['dict']}.{m['key'].split('.')[0]} to the "
                "whole value instead (a Python literal)."
            )
        if m["no"] and "=" in arg:
            raise ValueError(f"--noconfig.{name} takes no value (it sets False).")
        if "=" in arg:
            text = arg.split("=", 1)[1]
        elif m["no"]:
            text = "False"
        elif i < len(argv) and not re.match(r"--?[A-Za-z]|--$", argv[i]):
            text, i = argv[i], i + 1  # --config.<dict>.<key> <value>
        else:
            text = "True"  # --config.<dict>.<key> alone, as absl's boolean overrides
        overrides.append((m["dict"], m["key"], text))
    return rest, overrides


def parse_value(text: str, current: Any = None) -> Any:
    """An override's value: as config_flags parses it for a key of ``current``'s type,
    else (a new key, or None) a Python literal, falling back to the string.

    Example:
      >>> [parse_value(t) for t in ("0", "1.0", "rbf", "(6, 9)", "true")]
      [0, 1.0, 'rbf', (6, 9), True]
      >>> parse_value("7", current="softmax"), parse_value("2", current=0.5)
      ('7', 2.0)
    """
    parser = _PARSERS.get(type(current))
    if parser is not None:
        return parser.parse(text)
    if text in ("true", "false"):  # absl's spelling of booleans
        text = text.capitalize()
    try:
        return ast.literal_eval(text)
    except (SyntaxError, ValueError):
        return text


def apply_free_form(
    config: ml_collections.ConfigDict, overrides: list[tuple[str, str, str]]
) -> None:
    """Sets ``(dict path, key, value text)`` overrides on ``config``, in order.

    Only the free-form dict is unlocked, while its key is added; ``config`` stays locked.
    A config that did not load is left for ``validate`` to report.

    Raises:
      ValueError: the config has no such dict; TypeError: a value of another type
        than the key's (ConfigDict's type safety).
    """
    if not isinstance(config, ml_collections.ConfigDict):
        return
    for path, key, text in overrides:
        sub = config
        for part in path.split("."):
            sub = sub.get(part) if isinstance(sub, ml_collections.ConfigDict) else None
        if not isinstance(sub, ml_collections.ConfigDict):
            raise ValueError(
                f"--config.{path}.{key}: the config has no dict {path!r} (start the config "
                "file from train.configs.defaults.get_config())."
            )
        if key in sub:
            sub[key] = parse_value(text, sub[key])
        else:
            with sub.unlocked():
                sub[key] = parse_value(text)


def parse_flags(argv: list[str], flag_values: flags.FlagValues = flags.FLAGS) -> list[str]:
    """absl flag parsing (the free-form keys too) with override errors as one line.

    Unknown keys, bad values and config files that do not load print one line and exit
    with status 2 (``--debug`` raises instead).

    Returns:
      The arguments absl did not consume (the program name first).
    """
    try:
        rest, overrides = split_free_form(argv)
        # config_flags reads its overrides from sys.argv, not from the argv it is given
        with mock.patch.object(sys, "argv", list(rest)):
            remaining = flag_values(rest)
        apply_free_form(flag_values["config"].value, overrides)
        return remaining
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


def define_config(
    flag_values: flags.FlagValues = flags.FLAGS,
    help: str = "Path to a config file.",
    required: bool = True,
) -> None:
    """Defines ``--config`` (locked, with its overrides) and ``--debug`` in ``flag_values``."""
    config_flags.DEFINE_config_file("config", None, help, flag_values=flag_values, lock_config=True)
    flags.DEFINE_bool("debug", False, "Show full tracebacks for errors.", flag_values=flag_values)
    if required:
        flags.mark_flag_as_required("config", flag_values=flag_values)


def quiet_logging(level: int = logging.WARNING) -> None:
    """Logs at ``level`` (Orbax logs every file it writes at INFO) unless the command line
    sets ``--verbosity`` (absl marks it as set even when it is not given)."""
    if not any(a.startswith(("--verbosity", "-v")) for a in sys.argv[1:]):
        logging.set_verbosity(level)


@contextlib.contextmanager
def user_errors(debug: bool) -> Iterator[None]:
    """Turns ``USER_ERRORS`` into one line on stderr and exit status 2 (1 for a
    divergence, ``FloatingPointError``); with ``debug`` they are raised as they are."""
    try:
        yield
    except USER_ERRORS as e:
        if debug:
            raise
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(
            f"error ({type(e).__name__}): {message}\n(--debug shows the traceback)", file=sys.stderr
        )
        sys.exit(1 if isinstance(e, FloatingPointError) else 2)
