"""The mesh and sharding helpers, kept under their former name for existing imports.

They live in ``jaxdl.sharding`` (layer 0, below both ``jaxdl.data`` and
``jaxdl.training``); import them from there in new code.
"""

from jaxdl.sharding import *  # noqa: F403
from jaxdl.sharding import __all__  # noqa: F401
