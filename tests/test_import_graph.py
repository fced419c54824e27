"""The import graph of jaxdl/, train/, benchmarks/ and reliability/, read from the source.

Layers, lowest first (a module may import its own layer and the layers below):

  0  jaxdl.nn, jaxdl.optim, jaxdl.sharding
  1  jaxdl.data, jaxdl.models
  2  jaxdl.training
  3  jaxdl.viz
  4  jaxdl (the package's own __init__)
  5  train, benchmarks (entry points)
  6  reliability (harnesses that drive ``python -m train`` from outside)

Every import counts, the ones inside functions too: a cycle may not hide behind a
function-local import. train/build.py (the builder) imports only jaxdl and the configs.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("jaxdl", "train", "benchmarks", "reliability")
LAYERS = {
    "jaxdl.nn": 0,
    "jaxdl.optim": 0,
    "jaxdl.sharding": 0,
    "jaxdl.data": 1,
    "jaxdl.models": 1,
    "jaxdl.training": 2,
    "jaxdl.viz": 3,
    "jaxdl": 4,
    "train": 5,
    "benchmarks": 5,
    "reliability": 6,
}


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports, anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1 packages
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            # ``from pkg import submodule`` imports the submodule; else the module itself
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # a name inside a module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _layer(name: str) -> int:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if name == prefix or name.startswith(prefix + "."):
            return LAYERS[prefix]
    raise AssertionError(f"{name} belongs to no layer: add its package to LAYERS.")


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_read_from_every_module(graph):
    assert len(graph) > 150
    assert "jaxdl.training.loop" in graph["train.build"]  # an absolute import
    assert "jaxdl.sharding" in graph["jaxdl.data.loader"]


def test_no_import_cycles(graph):
    assert _cycles(graph) == []


def test_cycle_detection_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_upward_imports_between_layers(graph):
    upward = [
        f"{m} (layer {_layer(m)}) imports {t} (layer {_layer(t)})"
        for m, targets in sorted(graph.items())
        for t in sorted(targets)
        if _layer(t) > _layer(m)
    ]
    assert upward == []


def test_the_builder_imports_only_jaxdl_and_the_configs(graph):
    outside = [t for t in graph["train.build"] if not t.startswith(("jaxdl", "train.configs"))]
    assert outside == []
