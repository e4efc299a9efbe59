"""agents.evaluation.combine_seeds: seeds x tasks stacked, statistics over all rows."""

from __future__ import annotations

import numpy as np
import pytest

from agents.evaluation import EvalResult, combine_seeds
from agents.statistics import summarize

NAMES = ("env/a", "env/b")


def fake_result(seed: int, returns: np.ndarray, with_random: bool = True) -> EvalResult:
    env_index = np.array([0, 0, 1, 1], np.int32)
    stats = {"num_resamples": 100, "seed": seed}
    random_returns = returns - 1.0 if with_random else None
    return EvalResult(
        name="bench/train",
        env_names=NAMES,
        env_index=env_index,
        num_trials=returns.shape[1],
        returns=returns,
        raw_returns=returns * 10,
        length=np.full(4, 30, np.int32),
        summary=summarize(returns, env_index, NAMES, **stats),
        random_returns=random_returns,
        random_summary=summarize(random_returns, env_index, NAMES, **stats)
        if with_random
        else None,
        meta={"per_env": 2, "num_tasks": 4, "seed": seed},
    )


def test_combine_seeds_stacks_rows_and_recomputes_statistics_with_env_strata():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)) + 5.0
    combined = combine_seeds([fake_result(7, a), fake_result(8, b)])
    np.testing.assert_array_equal(combined.returns, np.concatenate([a, b]))
    np.testing.assert_array_equal(combined.env_index, [0, 0, 1, 1, 0, 0, 1, 1])
    np.testing.assert_array_equal(combined.raw_returns, np.concatenate([a, b]) * 10)
    assert combined.meta["row_seed"] == [7] * 4 + [8] * 4 and combined.meta["seeds"] == [7, 8]
    assert combined.meta["num_tasks"] == 8 and combined.meta["num_seeds"] == 2
    # The reference: the same summary computed directly over the 8 rows, envs as strata.
    stacked = np.concatenate([a, b])
    expected = summarize(stacked, combined.env_index, NAMES, num_resamples=100, seed=7)
    assert combined.summary == expected
    assert combined.mean == pytest.approx(stacked.mean())
    per_env_a = stacked[combined.env_index == 0].mean()
    assert combined.summary["per_env"]["env/a"]["return"]["mean"] == pytest.approx(per_env_a)
    np.testing.assert_array_equal(combined.random_returns, stacked - 1.0)


def test_combine_seeds_drops_the_random_reference_unless_every_seed_has_it():
    rng = np.random.default_rng(1)
    results = [
        fake_result(0, rng.normal(size=(4, 3))),
        fake_result(1, rng.normal(size=(4, 3)), False),
    ]
    combined = combine_seeds(results)
    assert combined.random_returns is None and combined.random_summary is None


def test_combine_seeds_refuses_results_of_different_protocols():
    rng = np.random.default_rng(2)
    with pytest.raises(ValueError, match="same split"):
        combine_seeds(
            [fake_result(0, rng.normal(size=(4, 3))), fake_result(1, rng.normal(size=(4, 5)))]
        )
    with pytest.raises(ValueError, match="no results"):
        combine_seeds([])
