"""Join the multi-process JAX job that the command line names, on import.

``examples/meta_train.py`` imports this module first, before anything computes with JAX (gymnax
does at import): see :mod:`agents.experiment.multihost`. Without ``--coordinator-address``,
``--num-processes``, ``--process-id`` or a recognisable cluster it does nothing.
"""

from __future__ import annotations

import sys

from agents.experiment.multihost import initialize_distributed, join_from_argv

__all__ = ["initialize_distributed", "join_from_argv"]

join_from_argv(sys.argv[1:])
