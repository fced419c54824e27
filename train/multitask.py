"""Config -> multitask learning: the tasks of ``multitask.tasks`` and their label arrays.

``multitask.tasks = 'label:1.0,parity:0.5'`` trains one model (``model.name`` built with
``sum_t K_t`` outputs, see ``jaxdl.training.multitask``) on the dataset's own label and
on a label derived from it (``jaxdl.data.derived_labels``), with the loss
``1.0 CE_label + 0.5 CE_parity``. Each split gets one int32 array per derived task
(``'label_<task>'``); metrics gain ``<task>_loss`` / ``<task>_accuracy``, while
``accuracy`` (hence ``val_accuracy``, the default checkpoint ranking) is the first
task's. ``''`` is the plain single-task classifier.

  python -m train --config train/configs/mnist_lenet5.py --workdir runs/mt \\
      --config.multitask.tasks=label:1.0,parity:0.5
"""

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from jaxdl.data import derived_labels
from jaxdl.training import multitask, steps


class Multitask(NamedTuple):
    """What the classification runner needs: the tasks, the output width, the loss views."""

    tasks: tuple[multitask.TaskSpec, ...]  # () = single task
    num_classes: int  # output width of the model
    views: steps.TaskViews  # the ``tasks`` argument of ``classification_steps``


def parse_tasks(spec: str) -> tuple[tuple[str, float], ...]:
    """``'label:1.0,parity:0.5'`` -> ``(('label', 1.0), ('parity', 0.5))``.

    A task without ``:weight`` has weight 1. Raises ValueError (naming the entry and the
    format) for a malformed entry, an unknown task, a duplicate, or a weight that is not
    a finite number >= 0.

    Example:
      >>> parse_tasks("label, parity:0.5")
      (('label', 1.0), ('parity', 0.5))
    """
    if not spec.strip():
        return ()
    known = ("label", *derived_labels.DERIVATIONS)
    out: list[tuple[str, float]] = []
    for entry in spec.split(","):
        name, _, weight_text = (s.strip() for s in entry.partition(":"))
        try:
            weight = float(weight_text) if weight_text else 1.0
        except ValueError:
            weight = math.nan
        if not name or not math.isfinite(weight) or weight < 0:
            raise ValueError(
                f"multitask.tasks={spec!r}: entry {entry.strip()!r} is not 'task:weight' with "
                "a finite weight >= 0; expected 'task:weight,...' such as 'label:1.0,parity:0.5' "
                "('' = single task)."
            )
        if name not in known:
            raise ValueError(
                f"multitask.tasks={spec!r}: unknown task {name!r}; known: {', '.join(known)} "
                "('label' = the dataset's own label, the others jaxdl.data.derived_labels)."
            )
        if name in (n for n, _ in out):
            raise ValueError(f"multitask.tasks={spec!r}: task {name!r} is listed twice.")
        out.append((name, weight))
    return tuple(out)


def prepare(
    spec: str,
    splits: dict[str, dict[str, np.ndarray]],
    class_names: Sequence[str],
    streamed: bool = False,
) -> Multitask:
    """Adds each derived task's labels to ``splits`` (in place) and builds the tasks.

    The loader-provided arrays of ``derived_labels.provided_labels`` are consumed here (removed from
    the splits), so they never travel to the device unless a task uses them.

    Args:
      spec: ``multitask.tasks``.
      splits: role -> numpy arrays (``train.build.load_splits``).
      class_names: the dataset's class names.
      streamed: whether the splits stream from the host (not supported with tasks).

    Returns:
      ``Multitask(tasks, num_classes, views)``; single task for ``spec == ''``.

    Raises:
      ValueError: a bad spec, a task that does not fit the dataset, a streamed dataset.
    """
    parsed = parse_tasks(spec)
    if parsed and streamed:
        raise ValueError(
            f"multitask.tasks={spec!r} needs a dataset held in device memory; streamed "
            "datasets (imagenet2012) carry only their own label. Set multitask.tasks=''."
        )
    tasks = tuple(
        multitask.TaskSpec(name, len(derived_labels.task_class_names(name, class_names)), w)
        for name, w in parsed
    )
    for arrays in [] if streamed else splits.values():
        for t in tasks:
            if t.name != "label":
                arrays[multitask.label_key(t.name)] = derived_labels.derive(
                    t.name, arrays, class_names
                ).labels
        for key in derived_labels.provided_labels(arrays):
            del arrays[key]
    if not tasks:
        return Multitask((), len(class_names), steps.single_task)
    return Multitask(tasks, multitask.total_classes(tasks), multitask.task_views(tasks))
