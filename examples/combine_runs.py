"""Combine finished single-seed runs of one configuration into one report over their seeds.

    python examples/meta_train.py --seed 0 --out-dir runs/s5-seed0      # one job per seed,
    python examples/meta_train.py --seed 1 --out-dir runs/s5-seed1      # on one machine or many
    python examples/combine_runs.py runs/s5-seed0 runs/s5-seed1 --out-dir runs/s5-seeds

A thin script over :mod:`agents.experiment.combine` (what is written where: its docstring).
"""

from __future__ import annotations

from agents.experiment.combine import main

if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as err:  # bad input: the message names the fix
        raise SystemExit(f"error: {err}") from None
