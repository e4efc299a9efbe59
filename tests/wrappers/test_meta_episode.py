"""Wrappers against independent references: the raw env, hand-written loops, hand-computed values.

Compiles are kept few: one jitted rollout (``rollout``) shared by every test, one compile per
env stack; params are traced, so new tasks of the same stack reuse the compiled rollout.
"""

from __future__ import annotations

import functools
import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from gymnax.environments import spaces

from projected_envs.core import Environment, check_action, real_box, reset_chunk_size, unit_box
from projected_envs.wrappers import (
    META_EPISODE_EXTRAS,
    LegacyStepAPI,
    MetaEpisode,
    NormalizationStats,
    Normalize,
    ProjectAction,
    ProjectActionParams,
    ProjectObservation,
    ProjectObservationParams,
    normalization_stats,
)

# ----------------------------------------------------------------------------------- fake env


@struct.dataclass
class FakeParams:
    """Task of FakeEnv."""

    goal: jax.Array  # float32 []: terminate once the summed action[0] reaches it
    max_steps: jax.Array  # int32 []: truncate after this many steps
    offset: jax.Array  # float32 []: added to obs[0]; sampled by sample_task


@struct.dataclass
class FakeState:
    start: jax.Array  # float32 []: uniform in [0, 1), drawn at reset from the key
    acc: jax.Array  # float32 []: summed action[0] in this episode
    time: jax.Array  # int32 []: steps in this episode


def fake_params(goal: float = 1.5, max_steps: int = 5, offset: float = 0.0) -> FakeParams:
    return FakeParams(jnp.float32(goal), jnp.int32(max_steps), jnp.float32(offset))


class FakeEnv(Environment):
    """obs [start + offset, acc, time]; action [2]; reward a0 + 0.5 a1 (clipped actions).

    Terminates when ``acc >= goal``, else truncates at ``time >= max_steps``. With actions on a
    dyadic grid the episode ends are exact, so a plain Python loop can predict them.
    """

    @property
    def default_params(self) -> FakeParams:
        return fake_params()

    def sample_task(self, key: jax.Array) -> FakeParams:
        return fake_params(offset=jax.random.normal(key))

    def reset(self, key, params=None):
        params = self.default_params if params is None else params
        state = FakeState(jax.random.uniform(key), jnp.float32(0.0), jnp.int32(0))
        return self._obs(state, params), state

    def _obs(self, state: FakeState, params: FakeParams) -> jax.Array:
        return jnp.stack([state.start + params.offset, state.acc, state.time.astype(jnp.float32)])

    def transition(self, key, state, action, params):
        del key
        a = jnp.clip(check_action(action, 2, "FakeEnv"), -1.0, 1.0)
        state = FakeState(state.start, state.acc + a[0], state.time + 1)
        terminated = state.acc >= params.goal
        truncated = jnp.logical_and(state.time >= params.max_steps, jnp.logical_not(terminated))
        reward = a[0] + 0.5 * a[1]
        return self._obs(state, params), state, reward, terminated, truncated, {"acc": state.acc}

    def observation_space(self, params) -> spaces.Box:
        return real_box(3)

    def action_space(self, params=None) -> spaces.Box:
        return unit_box(2)


FAKE = FakeEnv()
K = 3
META = MetaEpisode(FAKE, num_trials=K)
STATS = {"obs_mean": [0.5, 1.0, 3.0], "obs_std": [0.25, 2.0, 0.5], "reward_scale": 0.1}
NORM = Normalize(FAKE, stats=STATS, obs_clip=3.0)


@functools.partial(jax.jit, static_argnums=0)
def rollout(env, params, key, actions):
    """``reset``, then ``step`` over ``actions`` [T, A]; returns obs0 and the stacked outputs."""
    key_reset, key_steps = jax.random.split(key)
    obs0, state = env.reset(key_reset, params)

    def body(state, xs):
        key, action = xs
        out = env.step(key, state, action, params)
        return out[1], (out[0], *out[2:])

    keys = jax.random.split(key_steps, actions.shape[0])
    _, (obs, *rest) = jax.lax.scan(body, state, (keys, actions))
    return obs0, obs, *rest


def dyadic_actions(seed: int, steps: int, size: int = 2) -> jax.Array:
    """Actions on the grid {0, 0.25, ..., 1} (exact in float32), so sums compare exactly."""
    grid = np.random.default_rng(seed).integers(0, 5, size=(steps, size))
    return jnp.asarray(grid * 0.25, jnp.float32)


# ------------------------------------------------------------------------ auto-reset keys


@pytest.mark.parametrize("num_envs", [4, 256])  # one cond per env / gathered chunks
def test_step_is_transition_on_split0_then_reset_on_split1_where_done(num_envs):
    """``step(key)`` equals, computed by hand: ``transition(split(key)[0])``, then where the
    episode ended ``reset(split(key)[1])`` (the reset's key is split off lazily)."""
    keys = jax.random.split(jax.random.key(3), num_envs)
    _, state = jax.vmap(FAKE.reset)(keys, None)
    # envs 0, 20, 40, ... one step from their goal: they terminate this step, few enough
    # that a batch of 256 takes the gathered-chunk path
    near = (np.arange(num_envs) % 20 == 0).astype(np.float32)
    state = state.replace(acc=jnp.asarray(near * (FAKE.default_params.goal - 1.0)))
    action = jnp.tile(jnp.array([1.0, 0.0]), (num_envs, 1))
    params = FAKE.default_params
    step_keys = jax.random.split(jax.random.key(4), num_envs)
    got = jax.jit(jax.vmap(lambda k, s, a: FAKE.step(k, s, a, params)))(step_keys, state, action)

    def by_hand(key, s, a):
        k_transition, k_reset = jax.random.split(key)
        obs_t, s_t, reward, terminated, truncated, _ = FAKE.transition(k_transition, s, a, params)
        obs_r, s_r = FAKE.reset(k_reset, params)
        done = jnp.logical_or(terminated, truncated)
        pick = lambda r, t: jnp.where(done, r, t)
        return pick(obs_r, obs_t), jax.tree.map(pick, s_r, s_t), reward, terminated

    want = jax.jit(jax.vmap(by_hand))(step_keys, state, action)
    assert int(got[3].sum()) == int(near.sum()) <= reset_chunk_size(num_envs)
    np.testing.assert_array_equal(got[0], want[0])
    for g, w in zip(jax.tree.leaves(got[1]), jax.tree.leaves(want[1]), strict=True):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(got[2], want[2])
    np.testing.assert_array_equal(got[3], want[3])


# ------------------------------------------------------------------------ projections: identity


def test_identity_projections_reproduce_the_raw_env_bitwise():
    stack = ProjectAction(ProjectObservation(FAKE, dim=3), dim=2)
    actions = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (40, 2)), jnp.float32)
    key = jax.random.key(0)
    raw = rollout(FAKE, FAKE.default_params, key, actions)
    projected = rollout(stack, stack.default_params, key, actions)
    obs0, obs, reward, terminated, truncated, info = projected
    for got, want in zip((obs0, obs, reward, terminated, truncated), raw[:5]):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(info["final_observation"], raw[5]["final_observation"])
    np.testing.assert_array_equal(info["action_clip"], 0.0)  # actions in [-1, 1]: no clipping
    assert np.any(terminated) and np.any(truncated)  # both episode ends were exercised


def test_identity_default_params_pad_and_truncate():
    obs_env = ProjectObservation(FAKE, dim=5, family="orthogonal")
    np.testing.assert_array_equal(obs_env.default_params.obs_matrix, np.eye(5, 3))
    obs, _ = obs_env.reset(jax.random.key(1), obs_env.default_params)  # explicit: it samples
    raw, _ = FAKE.reset(jax.random.key(1))
    np.testing.assert_array_equal(obs, np.concatenate([raw, np.zeros(2, np.float32)]))
    act_env = ProjectAction(FAKE, dim=4)
    np.testing.assert_array_equal(act_env.default_params.action_matrix, np.eye(2, 4))
    assert obs_env.obs_size == 5 and act_env.action_size == 4
    assert obs_env.action_size == 2 and act_env.obs_size == 3


@pytest.mark.parametrize("obs_dim, action_dim", [(5, 4), (2, 1)])  # pad / truncate
def test_identity_family_has_no_matrix_and_equals_the_identity_matmul(obs_dim, action_dim):
    # Reference: a random-family stack given the dense identity matrices (default_params).
    dense = ProjectAction(ProjectObservation(FAKE, obs_dim, "gaussian"), action_dim, "gaussian")
    free = ProjectAction(ProjectObservation(FAKE, obs_dim, "identity"), action_dim, "identity")
    task = free.sample_task(jax.random.key(2))
    assert task.action_matrix is None and task.inner.obs_matrix is None
    assert jax.tree.structure(task) == jax.tree.structure(free.default_params)
    assert not free.samples_task  # nothing is random: params=None runs the one task
    actions = jnp.asarray(np.random.default_rng(4).uniform(-1.5, 1.5, (40, action_dim)))
    key = jax.random.key(5)
    dense_task = ProjectActionParams(  # the same inner task, dense identity matrices
        inner=ProjectObservationParams(inner=task.inner.inner, obs_matrix=np.eye(obs_dim, 3)),
        action_matrix=np.eye(2, action_dim),
    )
    want = rollout(dense, dense_task, key, actions)
    got = rollout(free, task, key, actions)
    for g, w in zip(got[:5], want[:5]):
        np.testing.assert_array_equal(g, w)
    for name in ("final_observation", "action_clip", "action_nonfinite"):
        np.testing.assert_array_equal(got[5][name], want[5][name])
    # A matrix given to an identity-family wrapper would be ignored: refused instead.
    with pytest.raises(ValueError, match="task structure"):
        free.reset(key, dense.default_params)


def test_identity_family_keeps_the_inner_envs_sampling():
    goals = ProjectObservation(ProjectObservation(FAKE, 3, "gaussian"), 4, "identity")
    assert goals.samples_task  # the inner projection is still drawn per task
    with pytest.raises(ValueError, match="sample_task"):
        goals.reset(jax.random.key(0))


@pytest.mark.skipif(
    importlib.util.find_spec("projected_envs.registry") is None, reason="registry not available"
)
def test_identity_projections_reproduce_gymnax_pendulum_bitwise():
    from projected_envs.registry import make

    env, params = make("gymnax/Pendulum-v1")
    stack = ProjectAction(ProjectObservation(env, dim=env.obs_size), dim=env.action_size)
    actions = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (250, 1)), jnp.float32)
    key = jax.random.key(3)
    raw = rollout(env, params, key, actions)
    projected = rollout(stack, stack.default_params, key, actions)
    for got, want in zip(projected[:5], raw[:5]):
        np.testing.assert_array_equal(got, want)
    assert np.any(raw[4])  # crossed a time-limit reset (200 steps)


# ---------------------------------------------------------------------------- ProjectAction


def test_project_action_multiplies_clips_and_reports_the_clip():
    env = ProjectAction(FAKE, dim=2)
    params = ProjectActionParams(
        inner=fake_params(goal=100.0), action_matrix=jnp.array([[2.0, 0.0], [0.0, 0.5]])
    )
    _, state = env.reset(jax.random.key(0), params)
    action = jnp.array([0.75, -0.5])  # M a = [1.5, -0.25] -> clip [1.0, -0.25]
    _, state, reward, _, _, info = env.transition(jax.random.key(1), state, action, params)
    assert float(info["action_clip"]) == pytest.approx(0.5)  # |1.5 - 1.0|
    assert float(info["acc"]) == 1.0  # the inner env saw the clipped action
    assert float(reward) == pytest.approx(1.0 + 0.5 * -0.25)


def test_project_action_rejects_wrong_action_shapes_at_trace_time():
    env = ProjectAction(FAKE, dim=4)
    params = env.default_params
    _, state = env.reset(jax.random.key(0), params)
    with pytest.raises(ValueError, match=r"expected \(4,\)"):
        env.transition(jax.random.key(0), state, jnp.zeros(2), params)
    with pytest.raises(ValueError, match=r"expected \(4,\)"):
        jax.jit(env.step).lower(jax.random.key(0), state, jnp.zeros((8, 4)), params)


def test_params_of_another_env_are_rejected_naming_the_fix():
    env = ProjectObservation(FAKE, dim=4)
    wrong = ProjectObservationParams(inner=fake_params(), obs_matrix=jnp.zeros((4, 7)))
    with pytest.raises(ValueError, match=r"expected \(4, 3\).*sample_task"):
        env.reset(jax.random.key(0), wrong)


@pytest.mark.parametrize("wrapper", [ProjectObservation, ProjectAction])
def test_projection_wrappers_reject_bad_dims_and_families(wrapper):
    for dim in (0, -2, 1.5):
        with pytest.raises(ValueError, match="dim must be a positive int"):
            wrapper(FAKE, dim=dim)
    with pytest.raises(ValueError, match="valid families: gaussian, orthogonal, sparse"):
        wrapper(FAKE, dim=2, family="gausian")


# ---------------------------------------------------------------------------- task sampling


def full_stack(family: str = "gaussian") -> MetaEpisode:
    env = Normalize(FAKE, stats=STATS)
    env = ProjectObservation(env, dim=12, family=family)
    env = ProjectAction(env, dim=4, family=family)
    return MetaEpisode(env, num_trials=2, obs_extras=("reward", "trial_done"))


def leaves_equal(a, b) -> bool:
    same_structure = jax.tree.structure(a) == jax.tree.structure(b)
    return same_structure and all(
        np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )


@pytest.mark.parametrize("family", ["gaussian", "signed_permutation"])
def test_same_key_gives_the_same_task_bitwise(family):
    stack = full_stack(family)
    sample = jax.jit(stack.sample_task)
    task, other = sample(jax.random.key(11)), sample(jax.random.key(12))
    again = jax.jit(full_stack(family).sample_task)(jax.random.key(11))  # a fresh stack
    assert leaves_equal(task, again)
    # MetaEpisode and Normalize sample nothing: the task is ProjectAction's params.
    assert isinstance(task, ProjectActionParams)
    assert isinstance(task.inner, ProjectObservationParams)
    assert not np.array_equal(task.action_matrix, other.action_matrix)
    assert not np.array_equal(task.inner.obs_matrix, other.inner.obs_matrix)
    assert task.inner.obs_matrix.shape == (12, 3)  # [O, E_o]
    assert task.action_matrix.shape == (2, 4)  # [E_a, A]
    # Each sampling wrapper splits its key: the inner task comes from split(key)[0].
    key_inner = jax.random.split(jax.random.split(jax.random.key(11))[0])[0]
    assert leaves_equal(task.inner.inner, jax.jit(FAKE.sample_task)(key_inner))


# ------------------------------------------------------------------------------ MetaEpisode


def meta_episode_reference(actions: np.ndarray, goal: float, max_steps: int, num_trials: int):
    """A plain Python loop: what MetaEpisode(FakeEnv) must produce, step by step."""
    out = {k: [] for k in ("acc", "time", "trial", "trial_done", "terminated", "returns")}
    acc, time, trial, returns = np.float32(0), 0, 0, np.zeros(num_trials, np.float32)
    for a in actions:
        a0, a1 = np.float32(a[0]), np.float32(a[1])
        acc, time = np.float32(acc + a0), time + 1
        returns[trial] += np.float32(a0 + np.float32(0.5) * a1)
        trial_done = bool(acc >= goal) or time >= max_steps
        out["trial"].append(trial)
        out["trial_done"].append(trial_done)
        out["returns"].append(returns.copy())
        if trial_done:  # the next trial (or task) starts from a fresh inner reset
            acc, time, trial = np.float32(0), 0, trial + 1
        task_done = trial == num_trials
        out["terminated"].append(task_done)
        if task_done:
            trial, returns = 0, np.zeros(num_trials, np.float32)
        out["acc"].append(acc)
        out["time"].append(time)
    return {k: np.asarray(v) for k, v in out.items()}


@pytest.mark.parametrize(
    ("goal", "max_steps"),
    [(1.5, 100), (1e9, 4), (2.0, 4)],
    ids=["terminating", "truncating", "both"],
)
def test_meta_episode_counts_trials_like_a_python_loop(goal, max_steps):
    actions = dyadic_actions(seed=int(max_steps), steps=120)
    obs0, obs, reward, terminated, truncated, info = rollout(
        META, fake_params(goal, max_steps), jax.random.key(5), actions
    )
    ref = meta_episode_reference(np.asarray(actions), goal, max_steps, K)
    lay = META.obs_layout
    assert META.obs_extras == META_EPISODE_EXTRAS
    assert lay["obs"] == slice(0, 3) and lay["action"] == slice(3, 5)
    assert (lay["reward"], lay["trial_done"], lay["task_start"]) == (
        slice(5, 6),
        slice(6, 7),
        slice(7, 8),
    )

    np.testing.assert_array_equal(terminated, ref["terminated"])
    assert not np.any(truncated)  # inner ends never leak out as outer done
    assert ref["terminated"].sum() >= 3  # several whole tasks were run
    np.testing.assert_array_equal(info["trial"], ref["trial"])
    np.testing.assert_array_equal(info["trial_done"], ref["trial_done"])
    np.testing.assert_array_equal(info["trial_returns"], ref["returns"])
    trial_idx = np.asarray(info["trial"])
    np.testing.assert_array_equal(
        info["trial_return"], ref["returns"][np.arange(len(trial_idx)), trial_idx]
    )
    # Exactly K trial ends per task, the last of which is the outer termination.
    ends = np.flatnonzero(ref["terminated"])
    counts = np.diff(np.concatenate([[0], np.cumsum(ref["trial_done"])[ends]]))
    np.testing.assert_array_equal(counts, K)

    # Observation layout: inner obs, previous action, previous reward, flags.
    obs = np.asarray(obs)
    np.testing.assert_array_equal(obs[:, 1], ref["acc"])
    np.testing.assert_array_equal(obs[:, 2], ref["time"])
    np.testing.assert_array_equal(
        obs[:, lay["action"]], np.where(ref["terminated"][:, None], 0, actions)
    )
    np.testing.assert_array_equal(obs[:, 5], np.where(ref["terminated"], 0, reward))
    np.testing.assert_array_equal(obs[:, 6], ref["trial_done"] & ~ref["terminated"])
    np.testing.assert_array_equal(obs[:, 7], ref["terminated"])
    np.testing.assert_array_equal(obs0[3:], [0, 0, 0, 0, 1])  # task start: no action/reward yet
    # The observation that ended a task has the trial-done flag and the final inner state.
    final = np.asarray(info["final_observation"])[ends]
    np.testing.assert_array_equal(final[:, 6], 1.0)
    np.testing.assert_array_equal(final[:, 7], 0.0)
    # Every trial starts from a fresh reset: no two trials share their initial obs[0].
    starts = np.concatenate([[obs0[0]], obs[ref["trial_done"], 0]])
    assert len(np.unique(starts)) == len(starts)


def test_meta_episode_batched_with_vmap_matches_each_env_alone():
    """Under vmap the inner resets only run when some env needs one (core.reset_where)."""
    actions = dyadic_actions(seed=6, steps=40)
    params, keys = fake_params(2.0, 4), jax.random.split(jax.random.key(8), 3)
    batched = jax.jit(jax.vmap(lambda k: rollout(META, params, k, actions)))(keys)
    for i, key in enumerate(keys):
        alone = rollout(META, params, key, actions)
        for got, want in zip(jax.tree.leaves(batched), jax.tree.leaves(alone)):
            np.testing.assert_array_equal(got[i], want)


def test_meta_episode_dmc_variant_appends_reward_and_done_only():
    env = MetaEpisode(FAKE, num_trials=2, obs_extras=("trial_done", "reward"))
    assert env.obs_extras == ("reward", "trial_done")  # canonical order
    assert env.obs_size == 5
    obs, state = env.reset(jax.random.key(0), fake_params(goal=0.5))
    raw, _ = FAKE.reset(jax.random.key(0), fake_params(goal=0.5))
    np.testing.assert_array_equal(obs, np.concatenate([raw, [0.0, 0.0]]))
    obs, state, reward, terminated, _, info = env.transition(
        jax.random.key(1), state, jnp.array([0.5, 1.0]), fake_params(goal=0.5)
    )
    assert float(reward) == 1.0 and bool(info["trial_done"]) and not bool(terminated)
    np.testing.assert_array_equal(obs[3:], [1.0, 1.0])  # previous reward, trial done
    np.testing.assert_array_equal(obs[1:3], [0.0, 0.0])  # the next trial's first observation


def test_meta_episode_rejects_bad_arguments():
    for num_trials in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="num_trials must be a positive int"):
            MetaEpisode(FAKE, num_trials=num_trials)
    with pytest.raises(ValueError, match="obs_extras must be distinct names from"):
        MetaEpisode(FAKE, num_trials=2, obs_extras=("reward", "done"))
    with pytest.raises(ValueError, match="obs_extras must be distinct names from"):
        MetaEpisode(FAKE, num_trials=2, obs_extras=("reward", "reward"))
    _, state = META.reset(jax.random.key(0))
    with pytest.raises(ValueError, match=r"expected \(2,\)"):
        META.transition(jax.random.key(0), state, jnp.zeros(3), FAKE.default_params)


# --------------------------------------------------------------------------------- Normalize


def test_normalize_applies_the_given_stats_to_obs_and_reward():
    actions = dyadic_actions(seed=3, steps=30)
    key, params = jax.random.key(9), fake_params(goal=1.5, max_steps=6)
    raw = rollout(FAKE, params, key, actions)
    norm = rollout(NORM, params, key, actions)
    mean, std = np.asarray(STATS["obs_mean"]), np.asarray(STATS["obs_std"])

    def expected(o):
        return np.clip((np.asarray(o) - mean) / std, -3.0, 3.0).astype(np.float32)

    np.testing.assert_allclose(norm[0], expected(raw[0]), rtol=1e-6)
    np.testing.assert_allclose(norm[1], expected(raw[1]), rtol=1e-6)
    assert np.abs(norm[1]).max() == 3.0  # the clip was exercised
    np.testing.assert_allclose(norm[2], 0.1 * np.asarray(raw[2]), rtol=1e-6)
    np.testing.assert_array_equal(norm[5]["raw_reward"], raw[2])
    np.testing.assert_array_equal(norm[3], raw[3])
    np.testing.assert_array_equal(norm[4], raw[4])


def test_normalize_errors_name_the_fix():
    with pytest.raises(ValueError, match=r"env_id=.*stats="):
        Normalize(FAKE)  # FakeEnv is not registered
    with pytest.raises(KeyError, match=r"compute_normalization\.py.*stats="):
        Normalize(FAKE, env_id="fake/Nope")
    with pytest.raises(ValueError, match=r"shape \(2,\).*\(3,\)"):
        Normalize(FAKE, stats={"obs_mean": [0, 0], "obs_std": [1, 1], "reward_scale": 1})
    with pytest.raises(ValueError, match="obs_std > 0"):
        Normalize(FAKE, stats={"obs_mean": [0, 0, 0], "obs_std": [1, 0, 1], "reward_scale": 1})
    with pytest.raises(ValueError, match="under the projections"):
        Normalize(ProjectObservation(FAKE, dim=3), stats=STATS)


@pytest.mark.skipif(
    importlib.util.find_spec("projected_envs.registry") is None, reason="registry not available"
)
def test_normalize_finds_the_shipped_stats_of_a_registered_env():
    from projected_envs.registry import make

    env, _ = make("gymnax/Pendulum-v1")
    norm = Normalize(env)
    shipped = normalization_stats("gymnax/Pendulum-v1")
    assert isinstance(shipped, NormalizationStats)
    assert norm.env_id == "gymnax/Pendulum-v1"
    np.testing.assert_array_equal(norm.stats.obs_std, shipped.obs_std)
    assert shipped.obs_mean.shape == (3,) and 0 < shipped.reward_scale < 1  # rewards ~ -6/step
    obs, _ = env.reset(jax.random.key(0))
    obs_n, _ = norm.reset(jax.random.key(0))
    np.testing.assert_allclose(obs_n, (obs - shipped.obs_mean) / shipped.obs_std, rtol=1e-6)


def test_every_shipped_entry_is_valid_and_matches_its_cheap_env():
    import json
    from importlib import resources

    text = (resources.files("projected_envs") / "data" / "normalization.json").read_text()
    assert len(text) < 200_000  # small enough to commit and read
    entries = json.loads(text)["envs"]
    assert "gymnax/Pendulum-v1" in entries
    for env_id in entries:
        stats = normalization_stats(env_id)  # validates shapes, std > 0, scale > 0
        assert 0 < stats.reward_scale <= 1  # 1 / max(1, rms): never amplifies
        if env_id.startswith(("gymnax/", "probe/")):  # cheap to build: check the sizes
            from projected_envs.registry import make

            assert stats.obs_mean.shape == (make(env_id)[0].obs_size,), env_id


# ----------------------------------------------------------------------------- LegacyStepAPI


@functools.partial(jax.jit, static_argnums=0)
def legacy_rollout(env, params, key, actions):
    key_reset, key_steps = jax.random.split(key)
    obs0, state = env.reset(key_reset, params)

    def body(state, xs):
        key, action = xs
        obs, state, reward, done, info = env.step(key, state, action, params)
        return state, (obs, reward, done, info)

    keys = jax.random.split(key_steps, actions.shape[0])
    return obs0, *jax.lax.scan(body, state, (keys, actions))[1]


def test_legacy_step_api_matches_the_six_tuple_api():
    legacy = LegacyStepAPI(META)
    actions = dyadic_actions(seed=4, steps=120)
    params, key = fake_params(2.0, 4), jax.random.key(5)
    obs0, obs, reward, terminated, truncated, info = rollout(META, params, key, actions)
    l_obs0, l_obs, l_reward, l_done, l_info = legacy_rollout(legacy, params, key, actions)
    np.testing.assert_array_equal(l_obs0, obs0)
    np.testing.assert_array_equal(l_obs, obs)
    np.testing.assert_array_equal(l_reward, reward)
    np.testing.assert_array_equal(l_done, np.logical_or(terminated, truncated))
    np.testing.assert_array_equal(l_info["terminated"], terminated)
    np.testing.assert_array_equal(l_info["truncated"], truncated)
    np.testing.assert_array_equal(l_info["discount"], 1.0 - np.asarray(terminated))
    np.testing.assert_array_equal(l_info["trial_returns"], info["trial_returns"])
    assert np.any(l_done)
    assert legacy.num_actions == 2 and legacy.sample_task is not None
