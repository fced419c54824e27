"""The command lines of README.md and docs/*.md, as a list of argv (not a test module).

A command is a line of a fenced code block (bash, sh, console or no language) or of an
indented code block, with its backslash continuations, or an inline code span of the
prose that starts with ``python`` or ``nice``. Shell syntax the docs use is undone as a
shell would: ``#`` comments, ``a && b`` and ``a; b``, ``nice -n N``, and ``for v in
...; do ... done`` loops (one command per value). ``[--flag value]`` marks optional
arguments: they are kept (so that they are checked too), except a group holding a
placeholder in capitals (``[--epochs E]``). Lines that are no commands (program output
in the same block) are left out.
"""

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROGRAMS = ("python", "nice", "pip", "pytest", "srun", "gcloud", "for", "done")
_SHELL_LANGS = ("", "bash", "sh", "shell", "console")


@dataclass(frozen=True)
class Command:
    """One command line: where it is written, its argv, and whether it is inline."""

    where: str  # "docs/x.md:12"
    argv: tuple[str, ...]  # optional ``[...]`` arguments included
    inline: bool
    bare: tuple[str, ...] = ()  # without the optional arguments

    @property
    def module(self) -> str | None:
        """``python -m M`` -> ``M``; ``python benchmarks/x.py`` -> ``benchmarks.x``."""
        if len(self.argv) > 2 and self.argv[:2] == ("python", "-m"):
            return self.argv[2]
        if len(self.argv) > 1 and self.argv[0] == "python" and self.argv[1].endswith(".py"):
            return self.argv[1][:-3].replace("/", ".")
        return None

    @property
    def args(self) -> list[str]:
        """The arguments after the module or script."""
        return list(self.argv[3:] if self.argv[1:2] == ("-m",) else self.argv[2:])

    @property
    def text(self) -> str:
        return shlex.join(self.argv)


def _blocks(text: str) -> tuple[list[tuple[int, list[str]]], str]:
    """(first line number, lines) of the shell code blocks, and the prose (code blocks
    blanked out, line numbers kept)."""
    lines = text.splitlines()
    prose = list(lines)
    blocks = []
    i, prev_blank = 0, True
    while i < len(lines):
        fence = re.match(r"^(\s*)(```+|~~~+)\s*(\S*)", lines[i])
        if fence:
            indent, ticks, lang = fence.groups()
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(ticks):
                j += 1
            if lang in _SHELL_LANGS:
                body = [x[len(indent) :] if x.startswith(indent) else x for x in lines[i + 1 : j]]
                blocks.append((i + 2, body))
            for k in range(i, min(j + 1, len(lines))):
                prose[k] = ""
            i, prev_blank = j + 1, False
            continue
        if prev_blank and lines[i].startswith("    ") and lines[i].strip():
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                j += 1
            blocks.append((i + 1, [x[4:] for x in lines[i:j]]))
            for k in range(i, j):
                prose[k] = ""
            i, prev_blank = j, True
            continue
        prev_blank = not lines[i].strip()
        i += 1
    return blocks, "\n".join(prose)


def _optional_groups(tokens: list[str]) -> tuple[list[str], list[str]]:
    """(with, without) the optional groups: ``[--a b]`` -> ``--a b``; a group with a
    capital placeholder (``[--epochs E]``) is left out of both."""
    out, bare, group = [], [], None
    for tok in tokens:
        if group is None and tok.startswith("[") and not tok.startswith("[:"):
            group, tok = [], tok[1:]
        if group is None:
            out.append(tok)
            bare.append(tok)
            continue
        end = tok.endswith("]")
        group.append(tok[:-1] if end else tok)
        if end:
            if not any(re.fullmatch(r"[A-Z]+", t) for t in group):
                out += group
            group = None
    return out, bare


def _commands(line: str) -> list[tuple[list[str], list[str]]]:
    """The commands of one logical shell line (``&&`` / ``;`` separated, ``nice`` dropped),
    each with and without its optional arguments."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    out, current = [], []
    for tok in list(lexer) + [";"]:
        if tok in (";", "&&"):
            if current:
                if current[0] == "nice" and len(current) > 2 and current[1] == "-n":
                    current = current[3:]
                out.append(_optional_groups(current))
            current = []
        else:
            current.append(tok)
    return out


def _logical_lines(body: list[str]) -> list[tuple[int, str]]:
    """(offset, line) with backslash continuations joined."""
    out, buf, start = [], "", 0
    for k, line in enumerate(body):
        if not buf:
            start = k
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        out.append((start, buf + line))
        buf = ""
    if buf:
        out.append((start, buf))
    return out


def _block_commands(where: str, first: int, body: list[str]) -> list[Command]:
    out, loop = [], None  # loop: (variable, values, commands in the loop)
    for offset, line in _logical_lines(body):
        words = line.split()
        if not words or words[0] not in PROGRAMS:
            continue  # program output, or prose in an indented block
        at = f"{where}:{first + offset}"
        m = re.match(r"\s*for (\w+) in ([^;]+); do\b(.*)", line)
        if m:
            loop = (m[1], m[2].split(), [])
            line = m[3]
        if words[0] == "done":
            var, values, inner = loop
            for value in values:
                for w, full, bare in inner:
                    full, bare = ([a.replace(f"${var}", value) for a in x] for x in (full, bare))
                    out.append(Command(w, tuple(full), False, tuple(bare)))
            loop = None
            continue
        for full, bare in _commands(line):
            if loop is not None:
                loop[2].append((at, full, bare))
            else:
                out.append(Command(at, tuple(full), False, tuple(bare)))
    return out


def extract(path: Path) -> list[Command]:
    """The commands of one markdown file, in the order they are written."""
    where = str(path.relative_to(ROOT))
    blocks, prose = _blocks(path.read_text())
    found = []
    for first, body in blocks:
        found += [(int(c.where.rsplit(":", 1)[1]), c) for c in _block_commands(where, first, body)]
    for m in re.finditer(r"`([^`]+)`", prose):
        span = " ".join(m[1].split())
        if span.split(" ", 1)[0] in ("python", "nice"):
            line = prose.count("\n", 0, m.start()) + 1
            for full, bare in _commands(span):
                found.append((line, Command(f"{where}:{line}", tuple(full), True, tuple(bare))))
    return [c for _, c in sorted(found, key=lambda x: x[0])]


def all_commands() -> list[Command]:
    """The commands of every documentation file."""
    return [c for path in DOC_FILES for c in extract(path)]
