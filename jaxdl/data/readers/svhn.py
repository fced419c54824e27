"""SVHN, cropped-digits format (``{train,test,extra}_32x32.mat``).

Each MATLAB (v5) file holds ``X``: uint8 [32, 32, 3, N] and ``y``: [N, 1] with labels
1..10, where 10 stands for the digit 0. The reader returns NHWC images and maps label
10 to 0, so a label is the digit shown.

References:
  Netzer, Wang, Coates, Bissacco, Wu, Ng. Reading digits in natural images with
  unsupervised feature learning. NIPS Workshop on Deep Learning, 2011.
"""

import os

import numpy as np

__all__ = ["SVHN_CLASSES", "SVHN_FILES", "read_svhn_mat"]

SVHN_CLASSES = tuple(str(d) for d in range(10))
SVHN_FILES = {s: f"{s}_32x32.mat" for s in ("train", "test", "extra")}


def read_svhn_mat(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads one SVHN ``*_32x32.mat`` file.

    Args:
      path: e.g. ``train_32x32.mat``.

    Returns:
      ``{'image': uint8 [N, 32, 32, 3], 'label': int32 [N] in 0..9}`` (file order).

    Raises:
      ValueError: the file is not a MATLAB v5 file with ``X`` [32, 32, 3, N] and ``y``
        [N, 1] in 1..10.

    Example:
      >>> import tempfile
      >>> from pathlib import Path
      >>> import scipy.io
      >>> path = Path(tempfile.mkdtemp()) / "test_32x32.mat"
      >>> X, y = np.zeros((32, 32, 3, 2), np.uint8), np.array([[10], [3]], np.uint8)
      >>> scipy.io.savemat(path, {"X": X, "y": y})
      >>> d = read_svhn_mat(path)
      >>> d["image"].shape, d["label"]  # label 10 is the digit 0
      ((2, 32, 32, 3), array([0, 3], dtype=int32))
    """
    import scipy.io  # only needed for SVHN: keep the package import light

    try:
        mat = scipy.io.loadmat(os.fspath(path), variable_names=["X", "y"])
    except FileNotFoundError:
        raise
    except Exception as e:  # scipy raises MatReadError, IndexError... on foreign files
        raise ValueError(f"SVHN file {path} cannot be read as a MATLAB v5 file: {e}") from e
    if "X" not in mat or "y" not in mat:
        raise ValueError(f"SVHN file {path}: variables 'X' and 'y' are required.")
    x, y = mat["X"], np.asarray(mat["y"]).reshape(-1)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != y.size:
        raise ValueError(
            f"SVHN file {path}: expected X [32, 32, 3, N] and y [N, 1], got X {x.shape} and "
            f"y {mat['y'].shape}."
        )
    if y.size and (y.min() < 1 or y.max() > 10):
        raise ValueError(f"SVHN file {path}: labels must lie in 1..10, got {y.min()}..{y.max()}.")
    return {
        "image": np.ascontiguousarray(x.transpose(3, 0, 1, 2), dtype=np.uint8),  # [N, 32, 32, 3]
        "label": np.where(y == 10, 0, y).astype(np.int32),
    }
