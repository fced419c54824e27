"""Units, initializers, layers and penalties of the course (sections 1 and 3).

Each module lists its public names in ``__all__``; they are re-exported here.
"""

from jaxdl.nn.activations import *  # noqa: F403
from jaxdl.nn.fusion import *  # noqa: F403
from jaxdl.nn.initializers import *  # noqa: F403
from jaxdl.nn.layers import *  # noqa: F403
from jaxdl.nn.normalization import *  # noqa: F403
from jaxdl.nn.regularizers import *  # noqa: F403
