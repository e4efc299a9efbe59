"""Evaluate a saved agent on any benchmark split: table, JSON and the in-context plot.

    python examples/evaluate.py --checkpoint runs/<run>                       # all splits
    python examples/evaluate.py --checkpoint runs/<run> --split ood_test --num-trials 8
    python examples/evaluate.py --checkpoint runs/<run> --benchmark classic-families
    python examples/evaluate.py --help                                        # every option

A thin script over :mod:`agents.experiment.evaluate`.
"""

from __future__ import annotations

from agents.experiment.evaluate import main

if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as err:  # bad input: the message names the fix
        raise SystemExit(f"error: {err}") from None
