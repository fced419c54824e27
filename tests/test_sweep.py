"""``python -m train.sweep``: one run per rate, a diverging rate recorded, table and plot."""

import json
from pathlib import Path

import processes
import pytest

from train.sweep import RateResult, best, markdown_table, parse_learning_rates, rate_dirname

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "--config=train/configs/mnist_mlp.py",
    "--config.data.train_split=train[:512]",
    "--config.data.val_split=train[512:640]",
    "--config.data.test_split=test[:128]",
    "--config.model.kwargs.width=32",
    "--config.model.kwargs.dropout_rate=0.0",
    "--config.optimizer.name=sgd",
    "--config.optimizer.schedule=constant",
    "--config.optimizer.schedule_kwargs={}",
    "--config.train.batch_size=32",
    "--config.train.eval_batch_size=128",
    "--config.train.num_epochs=1",
    "--config.train.log_every_steps=4",
    "--config.train.progress=False",
]


def _sweep_cli(rates, workdir):
    args = [*TINY, f"--learning_rates={rates}", f"--workdir={workdir}"]
    return processes.python_m("train.sweep", args)  # the machine's real device


@pytest.mark.slow  # a learning-rate sweep CLI of three runs (default suite: under 10 min)
def test_sweep_cli_records_a_diverging_rate_and_writes_table_and_plot(tmp_path):
    proc = _sweep_cli("1e30,0.1", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["learning_rate"]: r for r in json.loads((tmp_path / "sweep.json").read_text())}
    assert rows[1e30]["diverged"] and "became" in rows[1e30]["note"]
    ok = rows[0.1]
    assert not ok["diverged"] and ok["workdir"] == str(tmp_path / "lr_0.1")
    assert 0 < ok["train_loss"] < 2.3  # trained below chance level (log 10 = 2.30)
    assert 0 <= ok["val_error"] < 0.6 and 0 <= ok["test_error"] < 0.6  # chance: 0.9
    summary = json.loads((tmp_path / "lr_0.1" / "summary.json").read_text())
    assert summary["test_accuracy"] == pytest.approx(1 - ok["test_error"], abs=1e-5)
    table = (tmp_path / "sweep.md").read_text()
    assert table in proc.stdout  # printed too
    assert "| 1e+30 | diverged |" in table and "best (val)" in table.split("| 0.1 |")[1]
    assert (tmp_path / "sweep.png").stat().st_size > 5000


def test_sweep_cli_refuses_bad_rates_before_training(tmp_path):
    proc = _sweep_cli("0.1,abc", tmp_path)
    assert proc.returncode == 2
    assert "'abc' is not a number" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "lr_0.1").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "No learning rate"),
        ("0.1,abc", "'abc' is not a number"),
        ("0.1,-0.01", "finite and > 0"),
        ("0.1,nan", "finite and > 0"),
        ("0.1,0.1", "Duplicate"),
    ],
)
def test_bad_learning_rates_are_refused_clearly(text, message):
    with pytest.raises(ValueError, match=message):
        parse_learning_rates(text)


def test_parsing_naming_and_best_rate():
    assert parse_learning_rates(" 0.3, 1e-3 ,") == [0.3, 0.001]
    assert [rate_dirname(r) for r in (0.3, 0.001, 1e-5)] == ["lr_0.3", "lr_0.001", "lr_1e-05"]
    nan = float("nan")
    results = [
        RateResult(0.3, "a", True, nan, nan, nan, 1.0, "diverged"),
        RateResult(0.1, "b", False, 0.2, 0.05, 0.06, 1.0),
        RateResult(0.01, "c", False, 0.1, 0.07, 0.05, 1.0),  # lower loss/test, worse val
    ]
    assert best(results).learning_rate == 0.1  # chosen on validation, never on test
    assert best(results[:1]) is None
    table = markdown_table(results)
    assert "| 0.3 | diverged |" in table and "| 0.1 | 0.2000 | 5.00 | 6.00 |" in table
