"""Where a run's wall time goes: seconds per phase of the main job, saved as ``profile.json``.

Phases (each timed around its own code, never nested): ``init or restore``, ``compile
chunks``, ``training chunks`` (the jitted updates and the host copy of their metrics),
``evaluations during training``, ``checkpoints``, ``final evaluation``, ``extrapolation
evaluation``, ``reports and plots``; ``other`` is the rest of the process's time in
:func:`agents.experiment.train.run` (folder, logging, progress bar, host loop). A resumed run
profiles only its own process.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

__all__ = ["RunProfile"]


class RunProfile:
    """Wall seconds per named phase since construction (``time.perf_counter``)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Add the wall time of the ``with`` block to phase ``name``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0

    def summary(self) -> dict[str, float]:
        """Seconds per phase, ``other`` (the untimed rest) and ``total``, in seconds."""
        total = time.perf_counter() - self.start
        return {**self.seconds, "other": total - sum(self.seconds.values()), "total": total}

    def table(self) -> str:
        """The summary as a text table with each phase's share of the total."""
        summary = self.summary()
        total = summary["total"] or 1.0
        lines = [f"{'phase':32s} {'seconds':>9s} {'share':>7s}"]
        lines += [f"{k:32s} {v:9.1f} {v / total:7.1%}" for k, v in summary.items()]
        return "\n".join(lines)
