"""Evaluation of a policy on a fixed task bank: per-task, per-trial returns and aggregates.

Protocol (what :func:`evaluate` runs):

* **Tasks**: the deterministic bank ``task_set.eval_tasks(per_env)``: ``per_env`` tasks of
  every env of the set, from the evaluation seed space (disjoint from training tasks). The bank
  does not depend on ``num_trials``, so the same tasks are evaluated for any K.
* **Meta-episodes**: each task runs once as one meta-episode of ``num_trials`` trials (default:
  the set's K; more tests extrapolation past the training horizon), through
  :meth:`projected_envs.vec.VecEnv.from_bank`, starting from a **fresh (zero) memory**. The loop
  runs until every task has finished its meta-episode (a ``lax.while_loop``, capped at
  ``max_steps``); slots that finish early keep running but are no longer counted.
* **Policy**: actions are sampled from the Gaussian policy as in training (``deterministic=False``,
  the default, since exploring across trials is part of in-context learning), or the mean
  action (``deterministic=True``); then clipped to ``[-1, 1]``.
* **Random reference**: the same tasks and env keys with uniform actions in ``[-1, 1]^A``.
* **Returns** are in the units the agent is trained on (after the benchmark's per-env reward
  scale, if it normalises); the unscaled returns are kept as ``raw_returns`` when the envs
  report ``raw_reward``.
* **Statistics**: :func:`agents.statistics.summarize` (mean, IQM, stratified bootstrap 95% CIs,
  per env and overall; per-trial curve; in-context gain = last trial minus first).

Everything is a pure function of ``(policy_params, config, task_set, num_trials, per_env,
seed)``: same inputs, same numbers. One :class:`Evaluator` compiles its rollout once (policy and
random branches together) and is cached by :func:`evaluate`, so calling it every few training
updates does not recompile.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from agents.networks import Hidden
from agents.ppo import PPOConfig, make_network
from agents.statistics import DEFAULT_NUM_RESAMPLES, summarize
from projected_envs.tasks import TaskBank, TaskSet
from projected_envs.vec import VecEnv

__all__ = [
    "EvalResult",
    "Evaluator",
    "Rollout",
    "combine_seeds",
    "evaluate",
    "format_table",
    "get_evaluator",
    "max_meta_episode_steps",
]

_FALLBACK_EPISODE_STEPS = 10_000


def max_meta_episode_steps(task_set: TaskSet, num_trials: int) -> int:
    """Upper bound on the steps of one meta-episode: ``num_trials`` times the longest time limit.

    The time limit of each env is its base env's ``default_params.max_steps_in_episode`` (after
    the set's ``env_kwargs``); envs without one count as ``10_000`` steps.
    """
    longest = 1
    for i in range(len(task_set.envs)):
        params = task_set.make_env(i).unwrapped.default_params
        limit = getattr(params, "max_steps_in_episode", _FALLBACK_EPISODE_STEPS)
        longest = max(longest, int(limit))
    return num_trials * longest


class _Carry(NamedTuple):
    key: jax.Array  # PRNG key of the loop
    env_state: Any  # VecState of the bank VecEnv
    obs: jax.Array  # float32 [T, O]
    reset: jax.Array  # bool [T]: obs starts a new task (fresh memory)
    hidden: Hidden  # memory state, leaves [T, ...]
    finished: jax.Array  # bool [T]: first meta-episode done
    returns: jax.Array  # float32 [T, K]: trial returns (final once finished)
    raw_returns: jax.Array  # float32 [T, K]: unscaled trial returns (0 if not reported)
    length: jax.Array  # int32 [T]: steps of the first meta-episode
    step: jax.Array  # int32 []: loop steps so far


def _stack_key(task_set: TaskSet) -> TaskSet:
    """The task set with the fields that do not change its env stacks set to defaults."""
    return dataclasses.replace(task_set, seed=0, name="", weights=None)


def _act(
    network: Any, deterministic: bool, params: Any, carry: _Carry, key: jax.Array, random: jax.Array
) -> tuple[Hidden, jax.Array]:
    """Actions ``[T, A]`` clipped to [-1, 1] (policy, or uniform if ``random``), next hidden."""

    def policy(_: None) -> tuple[Hidden, jax.Array]:
        hidden, mean, log_std, _value = network.apply(
            params, carry.hidden, carry.obs[None], carry.reset[None]
        )
        mean = mean[0]
        if deterministic:
            return hidden, mean
        return hidden, mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)

    def uniform(_: None) -> tuple[Hidden, jax.Array]:
        shape = (carry.obs.shape[0], network.action_dim)
        return carry.hidden, jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)

    hidden, action = jax.lax.cond(random, uniform, policy, None)
    return hidden, jnp.clip(action, -1.0, 1.0)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _run_bank(
    stack: TaskSet,
    config: PPOConfig,
    deterministic: bool,
    params: Any,
    bank: TaskBank,
    key: jax.Array,
    random: jax.Array,
    max_steps: jax.Array,
) -> _Carry:
    """Run every task of ``bank`` until its first meta-episode ends (or ``max_steps``)."""
    venv = VecEnv.from_bank(stack, bank)
    network = make_network(config, venv.action_size, venv.obs_size)
    key, k_reset = jax.random.split(key)
    obs, env_state = venv.reset(k_reset)
    num_tasks, num_trials = venv.num_envs, stack.num_trials
    zeros = jnp.zeros((num_tasks, num_trials), jnp.float32)
    init = _Carry(
        key=key,
        env_state=env_state,
        obs=obs,
        reset=jnp.ones((num_tasks,), bool),
        hidden=network.initialize_carry(num_tasks),
        finished=jnp.zeros((num_tasks,), bool),
        returns=zeros,
        raw_returns=zeros,
        length=jnp.zeros((num_tasks,), jnp.int32),
        step=jnp.zeros((), jnp.int32),
    )

    def cond(c: _Carry) -> jax.Array:
        return jnp.logical_and(jnp.logical_not(jnp.all(c.finished)), c.step < max_steps)

    def body(c: _Carry) -> _Carry:
        key, k_act, k_env = jax.random.split(c.key, 3)
        hidden, action = _act(network, deterministic, params, c, k_act, random)
        obs, env_state, _reward, term, trunc, info = venv.step(k_env, c.env_state, action)
        active = jnp.logical_not(c.finished)
        first = info["first_episode_done"]
        returns = jnp.where(first[:, None], info["trial_returns"], c.returns)
        raw_returns = c.raw_returns
        if "raw_reward" in info:
            hit = jax.nn.one_hot(info["trial"], num_trials, dtype=jnp.float32)  # [T, K]
            raw = jnp.where(active, info["raw_reward"].astype(jnp.float32), 0.0)
            raw_returns = raw_returns + hit * raw[:, None]
        return _Carry(
            key=key,
            env_state=env_state,
            obs=obs,
            reset=jnp.logical_or(term, trunc),
            hidden=hidden,
            finished=jnp.logical_or(c.finished, first),
            returns=returns,
            raw_returns=raw_returns,
            length=c.length + active.astype(jnp.int32),
            step=c.step + 1,
        )

    return jax.lax.while_loop(cond, body, init)


class Rollout(NamedTuple):
    """Per-task results of one evaluation pass (numpy, host)."""

    returns: np.ndarray  # float32 [T, K]: return of each trial of each task
    raw_returns: np.ndarray  # float32 [T, K]: the same before the reward scale (0 if unknown)
    length: np.ndarray  # int32 [T]: steps of each meta-episode
    finished: np.ndarray  # bool [T]: the meta-episode ended within max_steps


@dataclasses.dataclass(frozen=True)
class EvalResult:
    """What :func:`evaluate` returns: raw per-task results and their statistics.

    Arrays are numpy; ``T`` is the number of tasks (``per_env * len(env_names)``), ``K`` the
    number of trials.
    """

    name: str  # the task set's name, e.g. "classic/ood_test"
    env_names: tuple[str, ...]  # env of each env index
    env_index: np.ndarray  # int32 [T]: env index of each task
    num_trials: int  # K
    returns: np.ndarray  # float32 [T, K]: agent's return per task and trial
    raw_returns: np.ndarray  # float32 [T, K]: the same without the reward scale
    length: np.ndarray  # int32 [T]: steps of each meta-episode
    summary: dict[str, Any]  # agents.statistics.summarize(returns, ...)
    random_returns: np.ndarray | None  # float32 [T, K]: uniform-random policy, same tasks
    random_summary: dict[str, Any] | None  # summarize(random_returns, ...)
    meta: dict[str, Any]  # protocol: per_env, deterministic, seed, max_steps, fingerprint

    @property
    def mean(self) -> float:
        """Overall mean return per trial (mean over tasks of the per-task mean over trials)."""
        return float(self.summary["overall"]["return"]["mean"])

    @property
    def gain(self) -> float:
        """Overall mean in-context gain: last trial minus first."""
        return float(self.summary["overall"]["gain"]["mean"])

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable dict of everything (arrays as nested lists)."""
        return {
            "name": self.name,
            "env_names": list(self.env_names),
            "num_trials": self.num_trials,
            "meta": self.meta,
            "summary": self.summary,
            "random_summary": self.random_summary,
            "env_index": self.env_index.tolist(),
            "returns": self.returns.tolist(),
            "raw_returns": self.raw_returns.tolist(),
            "length": self.length.tolist(),
            "random_returns": None if self.random_returns is None else self.random_returns.tolist(),
        }


class Evaluator:
    """A compiled evaluation of one (config, task set, K, bank size) combination.

    Args:
        config: the agent's :class:`~agents.ppo.PPOConfig` (network shape; hyperparameters
            unused).
        task_set: the tasks; its ``eval_tasks(per_env)`` bank is evaluated.
        num_trials: trials per task K; default ``task_set.num_trials``.
        per_env: tasks per env in the bank.
        deterministic: use the mean action instead of sampling.

    ``max_steps`` (the loop cap, default :func:`max_meta_episode_steps`) is a runtime argument
    of :meth:`rollout` and :meth:`evaluate`, so changing it does not recompile.

    Raises:
        ValueError: ``per_env`` or ``num_trials`` not positive (from the task set).
    """

    def __init__(
        self,
        config: PPOConfig,
        task_set: TaskSet,
        num_trials: int | None = None,
        per_env: int = 16,
        deterministic: bool = False,
    ):
        if num_trials is not None and num_trials != task_set.num_trials:
            task_set = dataclasses.replace(task_set, num_trials=int(num_trials))
        self.config = config
        self.task_set = task_set
        self.num_trials = task_set.num_trials
        self.per_env = int(per_env)
        self.deterministic = bool(deterministic)
        self.bank = task_set.eval_tasks(self.per_env)
        VecEnv.from_bank(task_set, self.bank)  # validates the bank against the env stacks
        self.max_steps = max_meta_episode_steps(task_set, self.num_trials)
        self.env_index = np.asarray(self.bank.env_index)
        # The compiled loop depends on the env stacks, not on the set's seed, name or weights,
        # so e.g. a benchmark's train and id_test splits share one compilation.
        self._stack = _stack_key(task_set)

    # ------------------------------------------------------------------ host API
    def rollout(
        self, params: Any, seed: int = 0, random: bool = False, max_steps: int | None = None
    ) -> Rollout:
        """Run every task of the bank once; ``random=True`` uses uniform actions instead."""
        max_steps = self.max_steps if max_steps is None else int(max_steps)
        key = jax.random.PRNGKey(seed)
        out = _run_bank(
            self._stack,
            self.config,
            self.deterministic,
            params,
            self.bank,
            key,
            jnp.asarray(random),
            jnp.asarray(max_steps, jnp.int32),
        )
        out = jax.device_get(out)
        return Rollout(
            returns=np.asarray(out.returns),
            raw_returns=np.asarray(out.raw_returns),
            length=np.asarray(out.length),
            finished=np.asarray(out.finished),
        )

    def evaluate(
        self,
        params: Any,
        *,
        seed: int = 0,
        with_random: bool = True,
        max_steps: int | None = None,
        num_resamples: int = DEFAULT_NUM_RESAMPLES,
    ) -> EvalResult:
        """Evaluate ``params`` (and a random policy) and summarise; see module docstring.

        Raises:
            RuntimeError: some meta-episode did not finish within ``max_steps``.
        """
        max_steps = self.max_steps if max_steps is None else int(max_steps)
        agent = self.rollout(params, seed, max_steps=max_steps)
        self._check_finished(agent, max_steps)
        names = tuple(self.task_set.envs)
        stats = {"num_resamples": num_resamples, "seed": seed}
        random_returns, random_summary = None, None
        if with_random:
            rand = self.rollout(params, seed, random=True, max_steps=max_steps)
            self._check_finished(rand, max_steps)
            random_returns = rand.returns
            random_summary = summarize(random_returns, self.env_index, names, **stats)
        return EvalResult(
            name=self.task_set.name,
            env_names=names,
            env_index=self.env_index,
            num_trials=self.num_trials,
            returns=agent.returns,
            raw_returns=agent.raw_returns,
            length=agent.length,
            summary=summarize(agent.returns, self.env_index, names, **stats),
            random_returns=random_returns,
            random_summary=random_summary,
            meta={
                "per_env": self.per_env,
                "num_tasks": len(self.env_index),
                "deterministic": self.deterministic,
                "seed": seed,
                "max_steps": max_steps,
                "task_set_fingerprint": self.task_set.fingerprint,
            },
        )

    def _check_finished(self, out: Rollout, max_steps: int) -> None:
        if not out.finished.all():
            missing = np.flatnonzero(~out.finished)
            raise RuntimeError(
                f"evaluate: {len(missing)} tasks of {self.task_set.name or self.task_set.envs} "
                f"did not finish {self.num_trials} trials within max_steps={max_steps} "
                f"(tasks {missing[:8].tolist()}...); pass a larger max_steps."
            )


@functools.lru_cache(maxsize=32)
def get_evaluator(
    config: PPOConfig,
    task_set: TaskSet,
    num_trials: int | None = None,
    per_env: int = 16,
    deterministic: bool = False,
) -> Evaluator:
    """The :class:`Evaluator` of these arguments, built (and compiled) once and cached."""
    return Evaluator(config, task_set, num_trials, per_env, deterministic)


def evaluate(
    policy_params: Any,
    config: PPOConfig,
    task_set: TaskSet,
    num_trials: int | None = None,
    per_env: int = 16,
    *,
    seed: int = 0,
    deterministic: bool = False,
    with_random: bool = True,
    max_steps: int | None = None,
    num_resamples: int = DEFAULT_NUM_RESAMPLES,
) -> EvalResult:
    """Evaluate a policy on ``task_set.eval_tasks(per_env)`` with fresh memory per task.

    Args:
        policy_params: the network params (``TrainState.params``).
        config: the :class:`~agents.ppo.PPOConfig` the params belong to.
        task_set: a benchmark split, e.g. ``pe.benchmark("classic").ood_test``.
        num_trials: trials per task K (default: the set's; may exceed the training horizon).
        per_env: tasks per env in the evaluation bank.
        seed: seed of the env and action noise (the tasks themselves are fixed by the bank).
        deterministic: mean action instead of sampling.
        with_random: also evaluate a uniform-random policy on the same tasks.
        max_steps: cap on loop steps; default K times the longest time limit.
        num_resamples: bootstrap resamples of the CIs.

    Returns:
        An :class:`EvalResult`: ``returns [T, K]``, per-env and overall mean / IQM with 95%
        CIs, per-trial curve, in-context gain, the random reference. Compiled once per
        ``(config, task_set, num_trials, per_env, deterministic)`` (:func:`get_evaluator`).
    """
    evaluator = get_evaluator(config, task_set, num_trials, per_env, deterministic)
    return evaluator.evaluate(
        policy_params,
        seed=seed,
        with_random=with_random,
        max_steps=max_steps,
        num_resamples=num_resamples,
    )


# ------------------------------------------------------------------------------------ tables
def _ci(stat: Mapping[str, Any], name: str = "mean") -> str:
    lo, hi = stat[f"{name}_ci"]
    return f"{stat[name]:8.2f} [{lo:7.2f}, {hi:7.2f}]"


def format_table(results: Mapping[str, EvalResult], per_env: bool = True) -> str:
    """A plain-text table of evaluation results, one block per split.

    Columns: return per trial (mean [95% CI]), IQM, first and last trial means, in-context
    gain (mean [95% CI]), and the random policy's mean return and gain on the same tasks.
    Rows: ``all`` and, with ``per_env``, each env.
    """
    header = (
        f"{'split':<9} {'env':<32} {'return (mean [95% CI])':>28} {'IQM':>8} "
        f"{'trial 1':>8} {'trial K':>8} {'gain (last-first) [95% CI]':>28} "
        f"{'random':>8} {'rnd gain':>8}"
    )
    lines = [header, "-" * len(header)]
    for split, result in results.items():
        rand_summary = result.random_summary
        groups = [("all", result.summary["overall"], rand_summary and rand_summary["overall"])]
        if per_env:
            for env, summary in result.summary["per_env"].items():
                groups.append((env, summary, rand_summary and rand_summary["per_env"][env]))
        for label, summary, random_group in groups:
            curve = summary["per_trial"]["mean"]
            rand = f"{'n/a':>8} {'n/a':>8}"
            if random_group is not None:
                rand = f"{random_group['return']['mean']:8.2f} {random_group['gain']['mean']:8.2f}"
            lines.append(
                f"{split:<9} {label[-32:]:<32} {_ci(summary['return']):>28} "
                f"{summary['return']['iqm']:8.2f} {curve[0]:8.2f} {curve[-1]:8.2f} "
                f"{_ci(summary['gain']):>28} {rand}"
            )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ seeds
def combine_seeds(results: Sequence[EvalResult]) -> EvalResult:
    """One result over seeds x tasks: the seeds' evaluations stacked along the task axis.

    Each result is one seed's evaluation of the same task bank (same task set, trials and
    ``per_env``). Rows are stacked in the given order; ``meta["row_seed"]`` (``[S * T]``)
    records the seed of each row (``meta["seed"]`` of its result) and ``meta["seeds"]`` the
    seeds. The statistics are recomputed over all rows with the envs as strata, so the
    bootstrap resamples seed-task pairs within each env (tasks of one env are exchangeable
    across seeds).

    Raises:
        ValueError: no results, or results of different task sets, envs or trial counts.
    """
    results = list(results)
    if not results:
        raise ValueError("combine_seeds: no results to combine.")
    first = results[0]
    for r in results[1:]:
        if (r.name, r.env_names, r.num_trials) != (first.name, first.env_names, first.num_trials):
            raise ValueError(
                "combine_seeds: results differ in task set, envs or trials: "
                f"{(first.name, first.num_trials)} vs {(r.name, r.num_trials)}; combine only "
                "evaluations of the same split with the same protocol."
            )
    seeds = [r.meta.get("seed") for r in results]
    env_index = np.concatenate([r.env_index for r in results])
    stats = {
        "num_resamples": first.summary.get("num_resamples", DEFAULT_NUM_RESAMPLES),
        "seed": first.meta.get("seed", 0),
    }

    def stack(name: str) -> np.ndarray:
        return np.concatenate([getattr(r, name) for r in results])

    random_returns, random_summary = None, None
    if all(r.random_returns is not None for r in results):
        random_returns = stack("random_returns")
        random_summary = summarize(random_returns, env_index, first.env_names, **stats)
    returns = stack("returns")
    row_seed = [s for r, s in zip(results, seeds) for _ in range(len(r.env_index))]
    return EvalResult(
        name=first.name,
        env_names=first.env_names,
        env_index=env_index,
        num_trials=first.num_trials,
        returns=returns,
        raw_returns=stack("raw_returns"),
        length=stack("length"),
        summary=summarize(returns, env_index, first.env_names, **stats),
        random_returns=random_returns,
        random_summary=random_summary,
        meta={
            **first.meta,
            "num_tasks": len(env_index),
            "num_seeds": len(results),
            "seeds": seeds,
            "row_seed": row_seed,
        },
    )
