"""jaxdl.training: the train state, step builders, ``fit`` and its hooks, metrics, checkpoints.

Everything needed to train a Flax model from Python (see README, "Use it from
Python", and docs/architecture.md):

- state and steps: ``TrainState``, ``classification_steps`` (pure ``train_step`` /
  ``eval_step`` from a preprocessing function), ``skip_nonfinite``;
- the loop: ``fit``, ``LoopOptions``, ``FitResult``, ``CheckpointOptions``;
- hooks: ``Hook`` and ``Run`` (write your own), ``default_hooks``, ``NonFinite``,
  ``EarlyStop`` (with the ``EarlyStopping`` rule), ``RestartFromBest`` (with
  ``with_restarts``), ``LearningRate``, ``FinalEvaluation``, ``MetricsFile``,
  ``TensorBoard``, ``Console``, ``ProgressBar``, ``PhaseMarks``, ``StopOnSignal``;
- metrics: ``Average`` and ``Metric`` (clu's mergeable metrics), ``merge_metrics``,
  ``compute_metrics``, ``top_k_accuracy``, ``confusion_matrix``;
- evaluation: ``evaluate`` (a whole split), ``predict`` (outputs for images);
- checkpoints and devices: ``Checkpointer``, ``make_mesh``, ``create_sharded``.
"""

from jaxdl.training.checkpoint import Checkpointer
from jaxdl.training.console import Console, ProgressBar
from jaxdl.training.early_stopping import EarlyStop, EarlyStopping, RestartFromBest
from jaxdl.training.guards import DivergenceError, skip_nonfinite
from jaxdl.training.hooks import (
    FinalEvaluation,
    LearningRate,
    NonFinite,
    PhaseMarks,
    StopOnSignal,
    TrainingInterruptedError,
    default_hooks,
)
from jaxdl.training.inference import evaluate, predict
from jaxdl.training.loop import fit
from jaxdl.training.metrics import (
    Average,
    Metric,
    compute_metrics,
    confusion_matrix,
    merge_metrics,
    top_k_accuracy,
)
from jaxdl.training.parallel import create_sharded, make_mesh
from jaxdl.training.restarts import with_restarts
from jaxdl.training.run import FitResult, Hook, LoopOptions, Run
from jaxdl.training.state import TrainState
from jaxdl.training.steps import classification_steps
from jaxdl.training.store import CheckpointOptions, MemoryStore
from jaxdl.training.writers import MetricsFile, TensorBoard

__all__ = [
    "Average",
    "CheckpointOptions",
    "Checkpointer",
    "Console",
    "DivergenceError",
    "EarlyStop",
    "EarlyStopping",
    "FinalEvaluation",
    "FitResult",
    "Hook",
    "LearningRate",
    "LoopOptions",
    "MemoryStore",
    "Metric",
    "MetricsFile",
    "NonFinite",
    "PhaseMarks",
    "ProgressBar",
    "RestartFromBest",
    "Run",
    "StopOnSignal",
    "TensorBoard",
    "TrainState",
    "TrainingInterruptedError",
    "classification_steps",
    "compute_metrics",
    "confusion_matrix",
    "create_sharded",
    "default_hooks",
    "evaluate",
    "fit",
    "make_mesh",
    "merge_metrics",
    "predict",
    "skip_nonfinite",
    "top_k_accuracy",
    "with_restarts",
]
