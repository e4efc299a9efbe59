"""Meta-train an in-context RL agent (PPO + resettable S5 by default) on a benchmark, then evaluate.

    python examples/meta_train.py                       # cpu preset: point-nav, 4-5 min, 2 cores
    python examples/meta_train.py --preset smoke        # every artifact in under 3 minutes
    python examples/meta_train.py --preset gpu --memory gru
    python examples/meta_train.py --resume runs/<run>   # continue from the newest checkpoint
    python examples/meta_train.py --help                # every field, with its comment

A thin script: the application is :mod:`agents.experiment.train` (the loop, evaluations and
reports), :mod:`agents.experiment.configs` (``TrainConfig`` and the presets) and
:mod:`agents.experiment.run_folder` (the run folder's layout).
"""

from __future__ import annotations

# Joins a multi-process job named on the command line before gymnax computes at import time.
import multihost  # noqa: F401  # isort: skip

from agents.experiment.train import main

if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as err:  # bad input: the message names the fix
        raise SystemExit(f"error: {err}") from None
