"""Parses the config's augmentation string into ``jaxdl.data.augment.build_augment`` entries.

Syntax: comma-separated calls with literal keyword arguments, in application order, so
it can be given on the command line, e.g.
``--config.data.augment="random_crop(padding=4, mode='reflect'), horizontal_flip()"``.
"""

import ast
from typing import Any

from jaxdl.data.augment import build_augment


def parse(spec: str) -> list[tuple[str, dict[str, Any]]]:
    """``"a(x=1), b()"`` -> ``[("a", {"x": 1}), ("b", {})]``.

    Raises:
      ValueError: the string is not a comma-separated list of ``name(key=literal, ...)``.
    """
    if not spec.strip():
        return []
    try:
        tree = ast.parse(f"[{spec}]", mode="eval")
    except SyntaxError as e:
        raise ValueError(f"Cannot parse augmentation spec {spec!r}: {e.msg}.") from e
    entries = []
    for node in tree.body.elts:
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)) or node.args:
            raise ValueError(
                f"Augmentation spec {spec!r}: each entry must be name(key=value, ...) with "
                'keyword arguments only, e.g. "random_crop(padding=4), horizontal_flip()".'
            )
        try:
            kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
        except ValueError as e:
            raise ValueError(f"Augmentation spec {spec!r}: values must be literals ({e}).") from e
        entries.append((node.func.id, kwargs))
    return entries


# Ops that need the training set's pixel PCA (``jaxdl.data.preprocess.rgb_pca``).
PCA_OPS = ("pca_lighting",)


def needs_pca(spec: str) -> bool:
    """Whether the spec has an op that needs the pixel PCA the trainer computes."""
    return any(name in PCA_OPS for name, _ in parse(spec))


def from_config(spec: str, pca: tuple | None = None):
    """The composed augmentation function for the config string, or None when empty.

    ``pca``: ``(eigenvalues, eigenvectors)`` of the training pixels, given to the
    ``PCA_OPS`` entries that do not set them (AlexNet's colour augmentation).
    """
    entries = parse(spec)
    if pca is not None:
        pca_kwargs = {"eigenvalues": pca[0], "eigenvectors": pca[1]}
        entries = [(n, {**pca_kwargs, **kw} if n in PCA_OPS else kw) for n, kw in entries]
    return build_augment(entries) if entries else None
