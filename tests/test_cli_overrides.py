"""Command-line overrides of ``python -m train``, free-form keyword dicts included.

ml_collections' config_flags refuses a key the loaded config lacks
(``--config.optimizer.kwargs.key=0``: AttributeError). ``train/cli.py`` takes the
keys of the free-form dicts (``train.validate.FREE_FORM``) out of argv and sets them on
the loaded config. Checked here: the argv splitting and value parsing on hand-written
cases; the flag parsing in-process (a fresh ``FlagValues`` per case), against
config_flags itself for keys that already exist; and the README's examples through the
real command line (one ``python -m train`` process of 2 steps, read back from the
``config.json`` the run writes).
"""

import doctest
import json
from pathlib import Path

import processes
import pytest
from absl import flags
from ml_collections import config_flags

import train.__main__ as train_main
from train import cli
from train.validate import FREE_FORM

ROOT = Path(__file__).resolve().parents[1]
MLP = str(ROOT / "train/configs/mnist_mlp.py")


def _parse(args: list[str]):
    """The config ``python -m train --config=mnist_mlp.py args`` would run."""
    fv = flags.FlagValues()
    train_main.define_flags(fv)
    rest = cli.parse_flags(["train", f"--config={MLP}", "--workdir=unused", *args], fv)
    assert rest == ["train"]
    return fv.config


def _config_flags_only(args: list[str]):
    """The reference: config_flags alone (no free-form handling) on the same argv."""
    argv = ["train", f"--config={MLP}", *args]
    fv = flags.FlagValues()
    holder = config_flags.DEFINE_config_file(
        "config", None, "", fv, lock_config=True, sys_argv=argv
    )
    fv(argv)
    return holder.value


# ------------------------------------------------------------------ argv splitting


def test_split_takes_out_only_the_keys_of_free_form_dicts():
    argv = [
        "train",
        "--config=c.py",
        "--config.optimizer.kwargs.key=0",
        "--config.optimizer.learning_rate=0.05",  # a schema key: config_flags' job
        "--config.optimizer.clip=global_norm",
        "--config.optimizer.clip_kwargs.max_norm=1.0",
        "--config.model.kwargs='{\"width\": 3}'",  # a whole dict: config_flags' job
        "--config.model.kwargs.head=rbf",
        "--config.optimizer.schedule_kwargs.milestones=(6, 9)",
        "--config.gan.generator.hidden=(64,)",
        "-config.gan.discriminator.maxout_pieces=0",  # absl's single-dash form
        "--workdir=w",
    ]
    rest, overrides = cli.split_free_form(argv)
    assert rest == [
        "train",
        "--config=c.py",
        "--config.optimizer.learning_rate=0.05",
        "--config.optimizer.clip=global_norm",
        "--config.model.kwargs='{\"width\": 3}'",
        "--workdir=w",
    ]
    assert overrides == [
        ("optimizer.kwargs", "key", "0"),
        ("optimizer.clip_kwargs", "max_norm", "1.0"),
        ("model.kwargs", "head", "rbf"),
        ("optimizer.schedule_kwargs", "milestones", "(6, 9)"),
        ("gan.generator", "hidden", "(64,)"),
        ("gan.discriminator", "maxout_pieces", "0"),
    ]


def test_split_two_argument_bare_and_no_forms():
    argv = ["train", "--config.model.kwargs.width", "7", "--config.optimizer.kwargs.eps", "-1e-8"]
    argv += ["--config.model.kwargs.batch_norm", "--noconfig.optimizer.kwargs.nesterov"]
    argv += ["--config.model.kwargs.bias", "--", "--config.model.kwargs.x=1"]
    rest, overrides = cli.split_free_form(argv)
    assert rest == ["train", "--", "--config.model.kwargs.x=1"]  # nothing parsed after --
    assert overrides == [
        ("model.kwargs", "width", "7"),
        ("optimizer.kwargs", "eps", "-1e-8"),  # a negative number is a value, not a flag
        ("model.kwargs", "batch_norm", "True"),  # followed by a flag: boolean form
        ("optimizer.kwargs", "nesterov", "False"),
        ("model.kwargs", "bias", "True"),  # followed by the end of the flags
    ]


def test_split_leaves_look_alike_names_alone():
    argv = ["train", "--config.optimizer.kwargsx.a=1", "--config.model.kwargs=1", "--config=x"]
    argv += ["--xconfig.model.kwargs.a=1", "--config.optimizer.name=sgd"]
    assert cli.split_free_form(argv) == (argv, [])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--config.model.kwargs.a.b=1"], "one level deep"),
        (["--noconfig.model.kwargs.batch_norm=1"], "takes no value"),
        (["--config.model.kwargs.head=rbf", "--config.model.kwargs={}"], "give --config.model"),
        (["--config.gan.generator.hidden=(8,)", "--config.gan={}"], "--config.gan is given"),
    ],
)
def test_split_refuses_deeper_keys_and_a_whole_dict_after_its_keys(argv, message):
    with pytest.raises(ValueError, match=message):
        cli.split_free_form(["train", *argv])


def test_every_free_form_dict_is_recognised():
    for path in sorted(FREE_FORM):
        assert cli.split_free_form(["t", f"--config.{path}.k=1"]) == (["t"], [(path, "k", "1")])


@pytest.mark.parametrize(
    ("text", "current", "want"),
    [
        ("0", None, 0),
        ("1.0", None, 1.0),
        ("rbf", None, "rbf"),
        ("(6, 9)", None, (6, 9)),
        ("[1, 2]", None, [1, 2]),
        ("true", None, True),
        ("False", None, False),
        ("/data/x.pth", None, "/data/x.pth"),
        ("{'a': 1}", None, {"a": 1}),
        # an existing key keeps its type, as config_flags parses it
        ("123", "softmax", "123"),
        ("2", 0.5, 2.0),
        ("1", False, True),
        ("6", (1, 2), (6,)),
    ],
)
def test_parse_value(text, current, want):
    got = cli.parse_value(text, current)
    assert got == want and type(got) is type(want)


def test_docstring_examples():
    # pytest does not collect doctests from train/ (not a test path)
    assert doctest.testmod(cli, raise_on_error=False).failed == 0


# ------------------------------------------------------------- in-process parsing


def test_new_keys_of_free_form_dicts_reach_the_config_and_it_stays_locked():
    config = _parse(
        [
            "--config.optimizer.kwargs.key=0",
            "--config.optimizer.clip=global_norm",
            "--config.optimizer.clip_kwargs.max_norm=1.0",
            "--config.model.kwargs.head=rbf",
            "--config.optimizer.schedule_kwargs.milestones=(6, 9)",
            "--config.gan.generator.hidden",
            "(64, 32)",
            "--noconfig.gan.discriminator.batch_norm",
        ]
    )
    assert config.optimizer.kwargs.to_dict() == {"key": 0}
    assert config.optimizer.clip == "global_norm"
    assert config.optimizer.clip_kwargs.to_dict() == {"max_norm": 1.0}
    assert config.model.kwargs.head == "rbf"
    assert config.model.kwargs.width == 512  # the config file's other keys stay
    assert config.optimizer.schedule_kwargs.milestones == (6, 9)
    assert config.gan.generator.hidden == (64, 32)
    assert config.gan.discriminator.to_dict() == {"batch_norm": False}
    assert config.is_locked and config.model.kwargs.is_locked
    with pytest.raises(AttributeError):
        config.model.kwargs.other = 1
    with pytest.raises(AttributeError):
        config.train.other = 1


@pytest.mark.parametrize(
    "args",
    [
        ["--config.model.kwargs.width=7", "--config.model.kwargs.dropout_rate=0"],
        ["--config.model.kwargs.activation=123", "--config.model.kwargs.depth", "3"],
        ['--config.model.kwargs={"width": 3}', "--config.optimizer.learning_rate=1"],
        ["--config.train.max_steps", "5", "--config.data.augment=flip"],
    ],
)
def test_existing_keys_parse_as_config_flags_parses_them(args):
    assert _parse(args).to_dict() == _config_flags_only(args).to_dict()


def test_whole_dict_then_its_keys():
    config = _parse(["--config.model.kwargs={'width': 3}", "--config.model.kwargs.depth=1"])
    assert config.model.kwargs.to_dict() == {"width": 3, "depth": 1}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config.model.kwargs.a.b=1"], "one level deep"),
        (["--config.optimizer.kwarg.key=0"], 'Did you mean "kwargs"'),  # a typo of the dict
        (["--config.model.kwargs.width=wide"], "ValueError"),  # width is an int
        (["--config.model.kwargs.depth=2.5"], "ValueError"),
    ],
)
def test_bad_overrides_are_one_line_errors(capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        _parse(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: bad flag or config override (") and message in err
    assert len(err.strip().splitlines()) == 1


# ------------------------------------------------------------- the real command line


def test_readme_examples_through_python_m_train(tmp_path):
    """README's overrides of free-form dicts, in one 2-step run (lenet5 takes ``head``;
    ``all_together`` takes ``key``; the milestones schedule takes ``milestones``)."""
    workdir = tmp_path / "run"
    args = [
        "--config=train/configs/mnist_lenet5.py",
        f"--workdir={workdir}",
        "--config.train.max_steps=2",
        "--config.data.train_split=train[:64]",
        "--config.data.val_split=train[64:80]",
        "--config.data.test_split=test[:16]",
        "--config.train.batch_size=8",
        "--config.train.eval_batch_size=8",
        "--config.train.progress=False",
        "--config.model.kwargs.head=rbf",
        "--config.optimizer.name=all_together",
        "--config.optimizer.kwargs.key=0",
        "--config.optimizer.clip=global_norm",
        "--config.optimizer.clip_kwargs.max_norm=1.0",
        "--config.optimizer.schedule=milestones",
        "--config.optimizer.schedule_kwargs.milestones=(6, 9)",
    ]
    code, _, err = processes.train_in_process(args)  # the real command line, in-process
    assert code == 0, err[-3000:]
    saved = json.loads((workdir / "config.json").read_text())
    assert saved["model"]["kwargs"] == {"head": "rbf"}
    assert saved["optimizer"]["kwargs"] == {"key": 0}
    assert saved["optimizer"]["clip"] == "global_norm"
    assert saved["optimizer"]["clip_kwargs"] == {"max_norm": 1.0}
    assert saved["optimizer"]["schedule_kwargs"]["milestones"] == [6, 9]
    assert json.loads((workdir / "summary.json").read_text())["steps"] == 2
