"""Join a multi-process JAX job (``jax.distributed.initialize``) from the command line.

:func:`join_from_argv` joins the job that the command line names (``--coordinator-address``,
``--num-processes``, ``--process-id``), or one that JAX's cluster auto-detection recognises
(SLURM, Open MPI, ``JAX_COORDINATOR_ADDRESS``). It must run before any JAX computation, and
gymnax computes at import time, so ``examples/meta_train.py`` imports ``examples/multihost.py``
(which calls it) first; this module imports nothing but JAX, and ``import agents`` is lazy, so
importing it does not start JAX's backend. Without such flags or a cluster it does nothing (a
single-process run).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import jax

__all__ = ["initialize_distributed", "join_from_argv"]

# Environment variables that mark a cluster jax.distributed.initialize() can auto-detect.
_CLUSTER_VARS = ("SLURM_JOB_ID", "OMPI_COMM_WORLD_SIZE", "JAX_COORDINATOR_ADDRESS")


def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> bool:
    """Join a multi-process job when one is configured (idempotent).

    With any argument given, all three are passed to :func:`jax.distributed.initialize` (the
    missing ones auto-detected by JAX). With none, JAX's cluster auto-detection runs only
    where a cluster is recognisable; otherwise this is a single-process run. On CPU the
    collectives use gloo.

    Returns:
        True when this process is part of a multi-process job.
    """
    if jax.distributed.is_initialized():
        return True
    explicit = any(v is not None for v in (coordinator_address, num_processes, process_id))
    if not explicit and not any(os.environ.get(v) for v in _CLUSTER_VARS):
        return False
    if os.environ.get("JAX_PLATFORMS", "") == "cpu":
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
    )
    return True


def join_from_argv(argv: Sequence[str]) -> bool:
    """:func:`initialize_distributed` with the job flags found in ``argv`` (others ignored)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--coordinator-address", default=None)
    parser.add_argument("--num-processes", type=int, default=None)
    parser.add_argument("--process-id", type=int, default=None)
    known, _ = parser.parse_known_args(list(argv))
    return initialize_distributed(known.coordinator_address, known.num_processes, known.process_id)
