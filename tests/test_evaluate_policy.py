"""evaluate_policy: equals an independent per-task loop, normalises against references, exports."""

from __future__ import annotations

import dataclasses
import json
import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import projected_envs as pe
from projected_envs.evaluation import REFERENCE_SCRIPT, Reference, rollout_policy

# Two cheap envs with reward normalisation (so raw and scaled returns differ) and short trials:
# Pendulum is truncated after 7 steps, MountainCar after 5; two trials per task.
TASKS = pe.TaskSet(
    envs=("gymnax/Pendulum-v1", "gymnax/MountainCarContinuous-v0"),
    obs_dim=3,
    action_dim=2,
    num_trials=2,
    env_kwargs=(
        ("gymnax/Pendulum-v1", (("max_steps_in_episode", 7),)),
        ("gymnax/MountainCarContinuous-v0", (("max_steps_in_episode", 5),)),
    ),
    seed=3,
    name="tiny/ood_test",
)
PER_ENV = 3
NOISE = 0.3
TRACES = []  # one entry per trace of RecurrentLinear.init (i.e. per compilation)


@struct.dataclass
class RecurrentLinear:
    """A policy that is not ours: a linear map of the obs and of the sum of past obs in the task,
    plus Gaussian noise. Its arrays are pytree leaves, so new values reuse the compilation."""

    w: jax.Array  # [O, A]
    u: jax.Array  # [O, A]

    def init(self, batch_size: int) -> jax.Array:
        TRACES.append(batch_size)
        return jnp.zeros((batch_size, self.w.shape[0]))

    def step(self, carry, obs, reset, key):
        carry = jnp.where(reset[:, None], 0.0, carry) + obs
        action = jnp.tanh(obs @ self.w + 0.1 * carry @ self.u)
        return carry, action + NOISE * jax.random.normal(key, action.shape)


def make_policy(seed: int) -> RecurrentLinear:
    kw, ku = jax.random.split(jax.random.PRNGKey(seed))
    shape = (TASKS.obs_size, TASKS.action_size)
    return RecurrentLinear(jax.random.normal(kw, shape), jax.random.normal(ku, shape))


def direct_loop(policy: RecurrentLinear, seed: int, random: bool) -> tuple[np.ndarray, ...]:
    """Trial returns and raw returns [T, K] from a plain Python loop over each task's env.

    Keys follow the documented protocol (projected_envs.evaluation and vec module docstrings):
    ``key, k_reset = split(PRNGKey(seed))``; task ``t`` resets with ``split(fold_in(k_reset,
    t))[1]``; each step splits ``key, k_act, k_env = split(key, 3)``, the batch of ``T`` actions
    draws its noise from ``k_act`` and task ``t`` steps with ``fold_in(split(k_env)[0], t)``.
    """
    bank = TASKS.eval_tasks(PER_ENV)
    num_tasks, num_actions = len(bank), TASKS.action_size
    w, u = np.asarray(policy.w, np.float64), np.asarray(policy.u, np.float64)
    returns = np.zeros((num_tasks, TASKS.num_trials))
    raw = np.zeros((num_tasks, TASKS.num_trials))
    for t in range(num_tasks):
        group, j = divmod(t, PER_ENV)
        env = TASKS.make_env(group)
        task = jax.tree.map(lambda x: x[j], bank.params[group])  # noqa: B023
        key, k_reset = jax.random.split(jax.random.PRNGKey(seed))
        obs, state = env.reset(jax.random.split(jax.random.fold_in(k_reset, t))[1], task)
        memory = np.zeros(TASKS.obs_size)
        terminated = False
        while not terminated:
            key, k_act, k_env = jax.random.split(key, 3)
            if random:
                shape = (num_tasks, num_actions)
                action = jax.random.uniform(k_act, shape, minval=-1.0, maxval=1.0)[t]
            else:
                memory = memory + np.asarray(obs, np.float64)
                mean = np.tanh(np.asarray(obs) @ w + 0.1 * memory @ u)
                noise = np.asarray(jax.random.normal(k_act, (num_tasks, num_actions)))[t]
                action = np.clip(mean + NOISE * noise, -1.0, 1.0)
            k_step = jax.random.fold_in(jax.random.split(k_env)[0], t)
            obs, state, _, terminated, _, info = env.step(k_step, state, jnp.asarray(action), task)
            raw[t, int(info["trial"])] += float(info["raw_reward"])
        returns[t] = np.asarray(info["trial_returns"])
    return returns, raw


@pytest.fixture(scope="module")
def result():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no shipped references for these trial lengths
        return pe.evaluate_policy(make_policy(0), TASKS, per_env=PER_ENV, seed=4, num_resamples=100)


def test_evaluate_policy_equals_an_independent_per_task_loop(result):
    returns, raw = direct_loop(make_policy(0), seed=4, random=False)
    np.testing.assert_allclose(result.returns, returns, rtol=2e-5, atol=1e-5)
    np.testing.assert_allclose(result.raw_returns, raw, rtol=2e-5, atol=1e-4)
    rand, rand_raw = direct_loop(make_policy(0), seed=4, random=True)
    np.testing.assert_allclose(result.random_returns, rand, rtol=2e-5, atol=1e-5)
    np.testing.assert_allclose(result.random_raw_returns, rand_raw, rtol=2e-5, atol=1e-4)
    # Reward normalisation is on: raw returns are in other units than the training ones.
    assert not np.allclose(result.raw_returns, result.returns)
    np.testing.assert_array_equal(result.length, [14] * PER_ENV + [10] * PER_ENV)
    np.testing.assert_array_equal(result.env_index, [0] * PER_ENV + [1] * PER_ENV)
    assert result.meta["task_set_fingerprint"] == TASKS.fingerprint


def test_evaluate_policy_is_deterministic_and_compiles_once_for_new_params(result):
    TRACES.clear()
    again = rollout_policy(make_policy(0), TASKS, per_env=PER_ENV, seed=4)
    other = rollout_policy(make_policy(1), TASKS, per_env=PER_ENV, seed=4)
    reseeded = rollout_policy(make_policy(0), TASKS, per_env=PER_ENV, seed=5)
    assert TRACES == []  # the module fixture compiled this shape; new params reuse it
    np.testing.assert_array_equal(again.returns, result.returns)
    assert not np.allclose(other.returns, result.returns)
    assert not np.allclose(reseeded.returns, result.returns)


@struct.dataclass
class TracedLinear:
    """A memoryless linear policy whose ``init`` may be traced once: ``init`` runs once per
    trace of the evaluation loop, so a second trace means the loop recompiled."""

    w: jax.Array  # [O, A]

    @chex.assert_max_traces(n=1)
    def init(self, batch_size: int) -> tuple:
        return ()

    def step(self, carry, obs, reset, key):
        return carry, jnp.tanh(obs @ self.w)


def test_evaluation_rollout_traces_once_for_new_params_and_seeds():
    for seed in range(3):  # new weights and new env noise: the same compiled loop
        w = jax.random.normal(jax.random.key(seed), (TASKS.obs_size, TASKS.action_size))
        out = rollout_policy(TracedLinear(w), TASKS, per_env=1, seed=seed)
        assert out.finished.all()


def test_summaries_and_gain_match_the_returns(result):
    overall = result.summary["overall"]
    assert overall["return"]["mean"] == pytest.approx(result.returns.mean(), rel=1e-6)
    gain = result.returns[:, -1] - result.returns[:, 0]
    assert result.gain == pytest.approx(gain.mean(), rel=1e-6, abs=1e-9)
    lo, hi = overall["gain"]["mean_ci"]
    assert lo <= result.gain <= hi


def references_for(
    result, ref_pendulum: float, fingerprint: str | None = None, beats: bool | None = None
):
    """A table with a reference for Pendulum only (MountainCar has none)."""
    return [
        Reference(
            env="gymnax/Pendulum-v1",
            env_kwargs=(("max_steps_in_episode", 7),),
            score=ref_pendulum,
            kind="unprojected_oracle",
            what="test",
            benchmark=None if fingerprint is None else "classic",
            fingerprint=fingerprint,
            beats_random=beats,
        )
    ]


def test_normalized_scores_follow_the_formula_and_missing_references_are_nan(result):
    rand = result.random_raw_returns[:PER_ENV].mean()
    refs = references_for(result, rand + 10.0)
    with pytest.warns(UserWarning, match=REFERENCE_SCRIPT) as record:
        scores, table = pe.normalized_scores(
            result.raw_returns, result.random_raw_returns, result.env_index, TASKS, refs
        )
    assert "MountainCarContinuous-v0: no reference" in str(record[0].message)
    expected = (result.raw_returns[:PER_ENV] - rand) / 10.0
    np.testing.assert_allclose(scores[:PER_ENV], expected, rtol=1e-6)
    assert np.isnan(scores[PER_ENV:]).all()
    assert table["gymnax/Pendulum-v1"]["status"] == "ok"
    assert table["gymnax/Pendulum-v1"]["random"] == pytest.approx(rand)


@pytest.mark.parametrize(
    ("offset", "fingerprint", "beats", "why"),
    [
        (-1.0, None, None, "does not beat random"),
        (10.0, "000000000000", None, "stale"),
        (10.0, None, False, "does not clearly beat random"),
    ],
)
def test_unusable_references_give_nan_and_say_why(result, offset, fingerprint, beats, why):
    rand = result.random_raw_returns[:PER_ENV].mean()
    refs = references_for(result, rand + offset, fingerprint, beats)
    with pytest.warns(UserWarning, match=why):
        scores, _ = pe.normalized_scores(
            result.raw_returns, result.random_raw_returns, result.env_index, TASKS, refs
        )
    assert np.isnan(scores).all()


def test_reference_keys_include_env_kwargs():
    longer = dataclasses.replace(
        TASKS, env_kwargs=(("gymnax/Pendulum-v1", (("max_steps_in_episode", 8),)),)
    )
    refs = references_for(None, 0.0)
    assert pe.reference_for(TASKS, 0, refs)[0] is refs[0]
    ref, why = pe.reference_for(longer, 0, refs)
    assert ref is None and "max_steps_in_episode': 8" in why


def test_to_rliable_and_json_exports(result):
    matrix = result.to_rliable(score="return")
    assert list(matrix) == ["ood_test"]
    expected = result.returns.mean(axis=1).reshape(2, PER_ENV).T  # [runs, envs]
    np.testing.assert_allclose(matrix["ood_test"], expected)
    last = result.to_rliable(score="raw", trial=-1)["ood_test"]
    np.testing.assert_allclose(last[:, 1], result.raw_returns[PER_ENV:, -1])
    assert result.to_rliable()["ood_test"].shape == (PER_ENV, 2)  # NaN: no references here
    text = json.dumps(result.to_json(), allow_nan=False)  # strict JSON: NaN written as null
    assert json.loads(text)["rliable"]["tasks"] == list(TASKS.envs)
    marl = result.to_marl_eval(algorithm="linear", run="run_4")
    runs = marl["tiny/ood_test"]["gymnax/Pendulum-v1"]["linear"]["run_4"]
    np.testing.assert_allclose(runs["absolute_metrics"]["return"], expected[:, 0])
    json.dumps(marl, allow_nan=False)


def test_from_json_reads_back_what_to_json_wrote(result):
    """Through strict JSON text (NaN as null) and back: every array and summary as before."""
    text = json.dumps(result.to_json(), allow_nan=False)
    back = pe.EvalResult.from_json(json.loads(text))
    for field in dataclasses.fields(pe.EvalResult):
        got, want = getattr(back, field.name), getattr(result, field.name)
        if isinstance(want, np.ndarray):
            assert got.dtype == want.dtype, field.name
            np.testing.assert_array_equal(got, want)  # NaN (no reference) compares equal
        elif field.name != "normalized_summary":
            assert got == want, field.name
    assert np.isnan(back.normalized_iqm) and np.isnan(result.normalized_iqm)  # no references
    assert back.mean == result.mean and back.gain == result.gain
    with pytest.raises(ValueError, match="to_json wrote"):
        pe.EvalResult.from_json({"name": "x"})


def test_bad_policies_fail_at_trace_time_with_the_fix():
    with pytest.raises(TypeError, match="PolicyFns"):
        pe.evaluate_policy(object(), TASKS, per_env=PER_ENV)
    bad = pe.PolicyFns(init=lambda n: (), step=lambda c, o, r, k: (c, jnp.zeros((o.shape[0], 5))))
    with pytest.raises(ValueError, match=r"expected \(6, 2\)"):
        pe.evaluate_policy(bad, TASKS, per_env=PER_ENV)


def test_shipped_dmc_references_are_the_trial_length_bounds():
    refs = pe.reference_scores()
    for name in ("dmc-lu2023", "dmc-lu2023-multitrial"):
        try:
            bench = pe.benchmark(name)
        except ValueError:
            pytest.skip("the dmc extra is not installed")
        for task_set in bench.splits.values():
            for i, env_id in enumerate(task_set.envs):
                ref, why = pe.reference_for(task_set, i, refs)
                steps = dict(task_set.kwargs_for(env_id))["max_steps_in_episode"]
                assert ref is not None, why
                assert ref.kind == "upper_bound" and ref.score == steps


def test_evaluate_script_exports_rliable_and_marl_eval_files(result, tmp_path):
    from agents.experiment import evaluate as evaluate_script

    paths = evaluate_script.write_exports(tmp_path / "x_", {"ood_test": result}, "agent")
    saved = np.load(paths["rliable"])
    np.testing.assert_array_equal(saved["ood_test"], result.score_matrix("normalized"))
    assert saved["ood_test_tasks"].tolist() == list(TASKS.envs)
    marl = json.loads(paths["marl_eval"].read_text())
    assert set(marl["tiny/ood_test"]) == set(TASKS.envs)
