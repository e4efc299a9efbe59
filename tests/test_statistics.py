"""Aggregate statistics against hand-computed fixtures and independent references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from projected_envs.statistics import iqm, stratified_bootstrap, summarize, summarize_scores


def test_iqm_matches_hand_computed_values():
    assert iqm(np.arange(1.0, 9.0)) == 4.5  # drop {1, 2} and {7, 8}: mean(3, 4, 5, 6)
    assert iqm(np.array([5.0, 1.0, 100.0, 2.0, 3.0])) == pytest.approx(10 / 3)  # mean(2, 3, 5)
    assert iqm(np.array([7.0])) == 7.0
    assert iqm(np.array([1.0, 2.0, 30.0])) == 11.0  # n = 3 drops nothing (floor(0.75) = 0)
    columns = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 90.0], [4.0, 0.0]])
    np.testing.assert_allclose(iqm(columns), [2.5, 15.0])  # per column, middle two


def test_iqm_equals_scipy_trim_mean():
    x = np.random.default_rng(0).standard_normal((37, 3))
    np.testing.assert_allclose(iqm(x), stats.trim_mean(x, 0.25, axis=0), rtol=1e-12)


def test_stratified_bootstrap_never_mixes_strata():
    # Two envs with constant but different scores: every stratified resample has the same mean;
    # a plain bootstrap (one stratum) would not.
    scores = np.array([1.0, 1.0, 1.0, 9.0])
    strata = np.array([0, 0, 0, 1])
    samples = stratified_bootstrap(scores, strata, lambda s: s.mean(axis=0), num_resamples=500)
    np.testing.assert_allclose(samples, 3.0)
    plain = stratified_bootstrap(scores, np.zeros(4), lambda s: s.mean(axis=0), num_resamples=500)
    assert plain.std() > 0.5


def test_bootstrap_is_deterministic_given_seed():
    scores = np.random.default_rng(1).standard_normal(20)
    strata = np.arange(20) % 3
    a = summarize_scores(scores, strata, seed=5, num_resamples=300)
    b = summarize_scores(scores, strata, seed=5, num_resamples=300)
    c = summarize_scores(scores, strata, seed=6, num_resamples=300)
    assert a == b
    assert a["mean_ci"] != c["mean_ci"]


def test_mean_ci_matches_normal_approximation():
    scores = np.random.default_rng(2).standard_normal(400)
    out = summarize_scores(scores, num_resamples=4000)
    half_width = 1.96 * scores.std() / np.sqrt(scores.size)
    lo, hi = out["mean_ci"]
    assert out["mean"] == pytest.approx(scores.mean())
    assert hi - lo == pytest.approx(2 * half_width, rel=0.1)
    assert (lo + hi) / 2 == pytest.approx(scores.mean(), abs=0.1 * half_width)


def test_bootstrap_with_trailing_axis_equals_columnwise():
    scores = np.random.default_rng(3).standard_normal((15, 4))
    strata = np.arange(15) % 2
    joint = stratified_bootstrap(scores, strata, iqm, num_resamples=50, seed=9)
    for k in range(4):
        column = stratified_bootstrap(scores[:, k], strata, iqm, num_resamples=50, seed=9)
        np.testing.assert_allclose(joint[:, k], column)


def test_summarize_matches_hand_computed_fixture():
    returns = np.array([[1.0, 2.0], [3.0, 6.0], [10.0, 10.0], [20.0, 30.0]])  # [tasks, trials]
    env_index = np.array([0, 0, 1, 1])
    out = summarize(returns, env_index, ["a", "b"], num_resamples=200)
    overall = out["overall"]
    # per-task mean over trials: 1.5, 4.5, 10, 25
    assert overall["return"]["mean"] == pytest.approx(10.25)
    assert overall["return"]["iqm"] == pytest.approx(7.25)  # mean(4.5, 10)
    assert overall["per_trial"]["mean"] == pytest.approx([8.5, 12.0])
    assert overall["gain"]["mean"] == pytest.approx(3.5)  # gains 1, 3, 0, 10
    assert out["per_env"]["a"]["return"]["mean"] == pytest.approx(3.0)
    assert out["per_env"]["a"]["gain"]["mean"] == pytest.approx(2.0)
    assert out["per_env"]["b"]["per_trial"]["mean"] == pytest.approx([15.0, 20.0])
    # Env "a" gains are {1, 3}: every resample mean lies in [1, 3].
    lo, hi = out["per_env"]["a"]["gain"]["mean_ci"]
    assert 1.0 <= lo <= 2.0 <= hi <= 3.0
    # Stratified overall gain: env a mean in [1, 3], env b mean in [0, 10] -> in [0.5, 6.5].
    lo, hi = overall["gain"]["mean_ci"]
    assert 0.5 <= lo <= 3.5 <= hi <= 6.5
    assert out["num_tasks"] == 4 and out["num_trials"] == 2


def test_single_trial_gain_is_zero():
    out = summarize(np.ones((3, 1)), np.zeros(3, int), ["a"], num_resamples=20)
    assert out["overall"]["gain"]["mean"] == 0.0
    assert out["overall"]["gain"]["mean_ci"] == [0.0, 0.0]


def test_summarize_rejects_bad_shapes():
    with pytest.raises(ValueError, match="tasks, trials"):
        summarize(np.ones(3), np.zeros(3, int), ["a"])


def test_iqm_of_a_column_with_nan_is_nan_not_a_trimmed_number():
    x = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0], [5.0, 5.0], [6.0, 6.0]])
    x[5, 1] = np.nan  # sorting puts it last, where trimming would drop it
    out = iqm(x)
    assert out[0] == pytest.approx(3.5) and np.isnan(out[1])


def test_agents_statistics_reexports_the_same_functions():
    import agents.statistics
    import projected_envs.statistics as pe_statistics

    for name in agents.statistics.__all__:
        assert getattr(agents.statistics, name) is getattr(pe_statistics, name)
