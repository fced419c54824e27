"""README's "Use it from Python" block runs as written, and trains."""

import ast
import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_block(heading: str) -> str:
    text = README.read_text()
    section = text[text.index(heading) :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_python_example_runs_as_written():
    code = _python_block("## Use it from Python")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    lines = out.getvalue().strip().splitlines()
    assert [x.split(" | ")[0] for x in lines[:8]] == [f"epoch {e}/8" for e in range(1, 9)]
    test = ast.literal_eval(lines[8])  # the evaluate() dict
    assert test["test_accuracy"] > 0.85, test
    predicted = lines[9].strip("[]").split()
    assert len(predicted) == 8 and set(predicted) <= {"0", "1"}


def test_ci_runs_readmes_test_command_as_written():
    text = README.read_text()
    section = text[text.index("Run the tests") :]
    command = re.search(r"```bash\n(.*?)\n```", section, re.S).group(1).strip()
    assert "pytest" in command and "torch" in command
    ci = (README.parent / ".ci" / "run").read_text().splitlines()
    assert command in [line.strip() for line in ci]
