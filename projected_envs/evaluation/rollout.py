"""The evaluation protocol for any policy: per-trial returns on a fixed bank, random reference,
normalised scores, statistics with CIs, and exports for rliable / marl-eval style tooling.

Protocol (what :func:`evaluate_policy` runs; ``docs/evaluation.md`` has the long form):

* **Tasks**: the deterministic bank ``task_set.eval_tasks(per_env)``: ``per_env`` tasks of every
  env of the set, from the evaluation seed space (disjoint from training tasks). The bank does
  not depend on ``num_trials``, so the same tasks are evaluated for any K.
* **Meta-episodes**: one slot per task (:meth:`projected_envs.VecEnv.from_bank`); each task runs
  once as one meta-episode of ``num_trials`` trials (default: the set's K; more tests
  extrapolation past the training horizon) from a **fresh carry** (``policy.init``, and
  ``reset=True`` on its first observation). The loop (one ``lax.while_loop``, capped at
  ``max_steps``) runs until every task finished its trials; slots that finish early keep running
  but are no longer counted.
* **Policy**: anything with ``init(batch_size) -> carry`` and ``step(carry, obs [N, O],
  reset [N], key) -> (carry, action [N, A])`` (:class:`Policy`); actions are clipped to
  ``[-1, 1]``.
* **Random reference**: the same tasks and env keys with uniform actions in ``[-1, 1]^A``.
* **Returns** are in the units the agent is trained on (after the set's per-env reward scale,
  if it normalises); ``raw_returns`` are in the base env's own reward units.
* **Normalised scores** per task and trial: ``(raw_return - random) / (reference - random)``,
  with ``random`` the random policy's mean raw return per trial on the same env's tasks and
  ``reference`` the shipped per-env reference (:func:`reference_scores`); NaN, with a warning
  naming ``scripts/compute_reference_scores.py``, where no valid reference exists.
* **Statistics**: :func:`projected_envs.statistics.summarize` (mean, IQM, stratified bootstrap
  95% CIs, per env and overall; per-trial curve; in-context gain = last trial minus first).

Keys: ``key, k_reset = split(PRNGKey(seed))``; the bank VecEnv resets with ``k_reset``; each
step splits ``key, k_act, k_env = split(key, 3)``, the policy acts with ``k_act`` (one key for
the whole batch ``[N]``) and the VecEnv steps with ``k_env``. Everything is a pure function of
``(policy, task_set, per_env, num_trials, seed)``.

Compilation: the loop is jitted once per (env stacks, static part of the policy, bank shape).
The policy's array leaves (``jax.tree.leaves``) are traced arguments and everything else is
static, so a policy that is a pytree of its parameters (a NamedTuple or ``flax.struct``
dataclass) evaluates new parameters without recompiling; the random reference shares the
same compiled program.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import warnings
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np

from projected_envs.statistics import DEFAULT_NUM_RESAMPLES, summarize
from projected_envs.tasks import TaskBank, TaskSet
from projected_envs.vec import VecEnv

__all__ = [
    "REFERENCE_SCRIPT",
    "EvalResult",
    "Policy",
    "PolicyFns",
    "Reference",
    "Rollout",
    "evaluate_policy",
    "format_table",
    "max_meta_episode_steps",
    "normalized_scores",
    "reference_for",
    "reference_scores",
    "rollout_policy",
]

REFERENCE_SCRIPT = "scripts/compute_reference_scores.py"
_FALLBACK_EPISODE_STEPS = 10_000
Carry = Any


# ------------------------------------------------------------------------------------ policy
@runtime_checkable
class Policy(Protocol):
    """What :func:`evaluate_policy` evaluates: a batched, possibly recurrent, stochastic policy.

    * ``init(batch_size) -> carry``: the memory of ``batch_size`` fresh tasks (any pytree with a
      leading batch axis ``[N, ...]`` on its leaves, or ``()`` for a memoryless policy);
    * ``step(carry, obs, reset, key) -> (carry, action)``: ``obs`` float32 ``[N, O]``,
      ``reset`` bool ``[N]`` (True: ``obs`` is the first observation of a task, so forget
      that slot's memory before using it), ``key`` one PRNG key for the batch; ``action``
      ``[N, A]``, clipped to ``[-1, 1]`` by the evaluator. The carry keeps its structure,
      shapes and dtypes.

    Both are traced inside ``jax.jit``. A ``NamedTuple`` of two functions (:class:`PolicyFns`)
    is enough; a pytree whose array leaves are the parameters (e.g. a ``flax.struct``
    dataclass with ``init`` and ``step`` methods) compiles once for all parameter values.
    """

    def init(self, batch_size: int) -> Carry: ...

    def step(
        self, carry: Carry, obs: jax.Array, reset: jax.Array, key: jax.Array
    ) -> tuple[Carry, jax.Array]: ...


class PolicyFns(NamedTuple):
    """A :class:`Policy` from two functions (e.g. closures over your parameters)."""

    init: Any  # (batch_size: int) -> carry
    step: Any  # (carry, obs [N, O], reset [N], key) -> (carry, action [N, A])


@dataclasses.dataclass(frozen=True)
class _Static:
    """The non-array part of a policy pytree, hashable (by identity where it must be)."""

    treedef: Any
    leaves: tuple[Any, ...]  # None where the leaf is an array (traced)

    def __hash__(self) -> int:
        return hash((self.treedef, tuple(_hashable(x) for x in self.leaves)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Static) or self.treedef != other.treedef:
            return False
        return all(
            _hashable(a) == _hashable(b) for a, b in zip(self.leaves, other.leaves, strict=True)
        )


def _hashable(x: Any) -> Any:
    try:
        hash(x)
    except TypeError:
        return ("id", id(x))
    return x


def _is_array(x: Any) -> bool:
    return isinstance(x, jax.Array | np.ndarray | np.generic)


def _split_policy(policy: Policy) -> tuple[_Static, tuple[Any, ...]]:
    if not (callable(getattr(policy, "init", None)) and callable(getattr(policy, "step", None))):
        raise TypeError(
            f"evaluate_policy: policy must have init(batch_size) and step(carry, obs, reset, key) "
            f"methods, got {type(policy).__name__}; wrap two functions as PolicyFns(init, step)."
        )
    leaves, treedef = jax.tree.flatten(policy)
    static = tuple(None if _is_array(x) else x for x in leaves)
    dynamic = tuple(x if _is_array(x) else None for x in leaves)
    return _Static(treedef, static), dynamic


def _join_policy(static: _Static, dynamic: tuple[Any, ...]) -> Policy:
    leaves = [d if s is None else s for s, d in zip(static.leaves, dynamic, strict=True)]
    return jax.tree.unflatten(static.treedef, leaves)


# ------------------------------------------------------------------------------------ loop
def max_meta_episode_steps(task_set: TaskSet, num_trials: int) -> int:
    """Upper bound on the steps of one meta-episode: ``num_trials`` times the longest time limit.

    The time limit of each env is its base env's ``default_params.max_steps_in_episode`` (after
    the set's ``env_kwargs``); envs without one count as ``10_000`` steps.
    """
    longest = 1
    for i in range(len(task_set.envs)):
        limit = task_set.max_trial_steps(i)
        longest = max(longest, _FALLBACK_EPISODE_STEPS if limit is None else limit)
    return num_trials * longest


class _Loop(NamedTuple):
    key: jax.Array  # PRNG key of the loop
    env_state: Any  # VecState of the bank VecEnv
    obs: jax.Array  # float32 [T, O]
    reset: jax.Array  # bool [T]: obs starts a new task (fresh memory)
    carry: Carry  # the policy's memory, leaves [T, ...]
    finished: jax.Array  # bool [T]: first meta-episode done
    returns: jax.Array  # float32 [T, K]: trial returns (final once finished)
    raw_returns: jax.Array  # float32 [T, K]: trial returns in base-env units
    length: jax.Array  # int32 [T]: steps of the first meta-episode
    step: jax.Array  # int32 []: loop steps so far


class Rollout(NamedTuple):
    """Per-task results of one evaluation pass (numpy, host)."""

    returns: np.ndarray  # float32 [T, K]: return of each trial of each task
    raw_returns: np.ndarray  # float32 [T, K]: the same in the base env's reward units
    length: np.ndarray  # int32 [T]: steps of each meta-episode
    finished: np.ndarray  # bool [T]: the meta-episode ended within max_steps


def _check_step(
    policy: Policy, carry: Carry, obs: jax.Array, reset: jax.Array, key: jax.Array, n: int, a: int
) -> None:
    """Trace-time checks of the policy's outputs, with messages that name the fix."""
    out = jax.eval_shape(policy.step, carry, obs, reset, key)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError("evaluate_policy: policy.step must return (carry, action).")
    new_carry, action = out
    if tuple(action.shape) != (n, a):
        raise ValueError(
            f"evaluate_policy: policy.step returned actions of shape {tuple(action.shape)}, "
            f"expected ({n}, {a}) = (batch, task_set.action_size)."
        )
    spec = lambda t: jax.tree.map(lambda x: (jnp.shape(x), jnp.result_type(x)), t)
    if jax.tree.structure(new_carry) != jax.tree.structure(carry) or spec(new_carry) != spec(carry):
        raise ValueError(
            "evaluate_policy: policy.step changed the carry's structure, shapes or dtypes "
            f"(init: {spec(carry)}, step: {spec(new_carry)}); return a carry like init's."
        )


@functools.partial(jax.jit, static_argnums=(0, 1))
def _run_bank(
    stack: TaskSet,
    static: _Static,
    dynamic: tuple[Any, ...],
    bank: TaskBank,
    key: jax.Array,
    random: jax.Array,
    max_steps: jax.Array,
) -> _Loop:
    """Run every task of ``bank`` until its first meta-episode ends (or ``max_steps``)."""
    policy = _join_policy(static, dynamic)
    venv = VecEnv.from_bank(stack, bank)
    key, k_reset = jax.random.split(key)
    obs, env_state = venv.reset(k_reset)
    num_tasks, num_trials, num_actions = venv.num_envs, stack.num_trials, venv.action_size
    reset = jnp.ones((num_tasks,), bool)
    carry = policy.init(num_tasks)
    _check_step(policy, carry, obs, reset, key, num_tasks, num_actions)
    zeros = jnp.zeros((num_tasks, num_trials), jnp.float32)
    init = _Loop(
        key=key,
        env_state=env_state,
        obs=obs,
        reset=reset,
        carry=carry,
        finished=jnp.zeros((num_tasks,), bool),
        returns=zeros,
        raw_returns=zeros,
        length=jnp.zeros((num_tasks,), jnp.int32),
        step=jnp.zeros((), jnp.int32),
    )

    def act(c: _Loop, k_act: jax.Array) -> tuple[Carry, jax.Array]:
        def uniform(_: None) -> tuple[Carry, jax.Array]:
            shape = (num_tasks, num_actions)
            return c.carry, jax.random.uniform(k_act, shape, minval=-1.0, maxval=1.0)

        def own(_: None) -> tuple[Carry, jax.Array]:
            new, action = policy.step(c.carry, c.obs, c.reset, k_act)
            return new, jnp.asarray(action, jnp.float32)

        new, action = jax.lax.cond(random, uniform, own, None)
        return new, jnp.clip(action, -1.0, 1.0)

    def cond(c: _Loop) -> jax.Array:
        return jnp.logical_and(jnp.logical_not(jnp.all(c.finished)), c.step < max_steps)

    has_raw = []  # set while tracing body: the envs report raw_reward

    def body(c: _Loop) -> _Loop:
        key, k_act, k_env = jax.random.split(c.key, 3)
        carry, action = act(c, k_act)
        obs, env_state, _reward, term, trunc, info = venv.step(k_env, c.env_state, action)
        active = jnp.logical_not(c.finished)
        first = info["first_episode_done"]
        returns = jnp.where(first[:, None], info["trial_returns"], c.returns)
        raw_returns = c.raw_returns
        if "raw_reward" in info:
            has_raw.append(True)
            hit = jax.nn.one_hot(info["trial"], num_trials, dtype=jnp.float32)  # [T, K]
            raw = jnp.where(active, info["raw_reward"].astype(jnp.float32), 0.0)
            raw_returns = raw_returns + hit * raw[:, None]
        return _Loop(
            key=key,
            env_state=env_state,
            obs=obs,
            reset=jnp.logical_or(term, trunc),
            carry=carry,
            finished=jnp.logical_or(c.finished, first),
            returns=returns,
            raw_returns=raw_returns,
            length=c.length + active.astype(jnp.int32),
            step=c.step + 1,
        )

    out = jax.lax.while_loop(cond, body, init)
    if not has_raw:  # no reward scale (normalize=False): returns are in raw units already
        out = out._replace(raw_returns=out.returns)
    return out


def _stack_key(task_set: TaskSet) -> TaskSet:
    """The task set with the fields that do not change its env stacks set to defaults, so e.g.
    a benchmark's train and id_test splits share one compilation."""
    return dataclasses.replace(task_set, seed=0, name="", weights=None)


@functools.lru_cache(maxsize=64)
def _bank(task_set: TaskSet, per_env: int) -> TaskBank:
    bank = task_set.eval_tasks(per_env)
    VecEnv.from_bank(task_set, bank)  # validates the bank against the env stacks
    return bank


def _with_trials(task_set: TaskSet, num_trials: int | None) -> TaskSet:
    if num_trials is not None and num_trials != task_set.num_trials:
        return dataclasses.replace(task_set, num_trials=int(num_trials))
    return task_set


def rollout_policy(
    policy: Policy,
    task_set: TaskSet,
    *,
    per_env: int = 16,
    num_trials: int | None = None,
    seed: int = 0,
    random: bool = False,
    max_steps: int | None = None,
) -> Rollout:
    """One pass over ``task_set.eval_tasks(per_env)`` (the loop of :func:`evaluate_policy`).

    ``random=True`` replaces the policy's actions by uniform ones (same tasks and env keys). No
    check that every task finished: see ``Rollout.finished``.
    """
    task_set = _with_trials(task_set, num_trials)
    bank = _bank(task_set, int(per_env))
    max_steps = (
        max_meta_episode_steps(task_set, task_set.num_trials) if max_steps is None else max_steps
    )
    static, dynamic = _split_policy(policy)
    out = _run_bank(
        _stack_key(task_set),
        static,
        dynamic,
        bank,
        jax.random.PRNGKey(seed),
        jnp.asarray(random),
        jnp.asarray(int(max_steps), jnp.int32),
    )
    out = jax.device_get(out)
    return Rollout(
        returns=np.asarray(out.returns),
        raw_returns=np.asarray(out.raw_returns),
        length=np.asarray(out.length),
        finished=np.asarray(out.finished),
    )


# ------------------------------------------------------------------------------------ references
@dataclasses.dataclass(frozen=True)
class Reference:
    """A reference return of one trial of one base env (a row of ``data/reference_scores.json``).

    Keyed by ``env`` and the ``make()`` kwargs it was computed with (``env_kwargs``; the trial
    length among them): a task set uses the entry whose env and kwargs equal its own. Scores are
    undiscounted trial returns in the base env's own reward units (before any reward scale).
    """

    env: str  # registered env id
    env_kwargs: tuple[tuple[str, Any], ...]  # sorted (name, value) make() kwargs
    score: float  # the reference return of one trial
    kind: str  # "upper_bound" (analytic) or "unprojected_oracle" (trained; see docs)
    what: str  # one sentence: what the number is
    benchmark: str | None = None  # benchmark definition it was computed for; None: any
    fingerprint: str | None = None  # that benchmark's fingerprint when computed
    random: float | None = None  # informational: uniform-random return, unprojected env
    budget: Mapping[str, Any] | None = None  # how it was computed (trained references)
    provisional: bool = False  # a small-budget reference, to be recomputed (see its budget)
    beats_random: bool | None = None  # trained: 95% CI of its margin over random above 0

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Reference:
        """One entry of the JSON file (see ``docs/evaluation.md``)."""
        computed_for = row.get("computed_for") or {}
        return cls(
            env=str(row["env"]),
            env_kwargs=_kwargs_key(row.get("env_kwargs", {})),
            score=float(row["reference"]),
            kind=str(row["kind"]),
            what=str(row.get("what", "")),
            benchmark=computed_for.get("benchmark"),
            fingerprint=computed_for.get("fingerprint"),
            random=None if row.get("random") is None else float(row["random"]),
            budget=row.get("budget"),
            provisional=bool(row.get("provisional", False)),
            beats_random=row.get("beats_random"),
        )

    def stale(self) -> str | None:
        """Why this entry is no longer valid (its benchmark's definition changed), or None."""
        if self.benchmark is None:
            return None
        from projected_envs.benchmarks import benchmark  # lazy: benchmarks import the registry

        try:
            current = benchmark(self.benchmark).fingerprint
        except Exception as err:  # unknown benchmark, or its envs are not installed
            return f"benchmark {self.benchmark!r} is unavailable ({err})"
        if current != self.fingerprint:
            return (
                f"it was computed for benchmark {self.benchmark!r} with fingerprint "
                f"{self.fingerprint}, which is now {current}"
            )
        return None


def _kwargs_key(kwargs: Any) -> tuple[tuple[str, Any], ...]:
    """Canonical, comparable form of make() kwargs (a mapping or (name, value) pairs)."""
    items = kwargs.items() if isinstance(kwargs, Mapping) else kwargs
    return tuple(sorted((str(k), json.loads(json.dumps(v))) for k, v in items))


@functools.cache
def _shipped_references() -> tuple[Reference, ...]:
    text = resources.files("projected_envs").joinpath("data/reference_scores.json").read_text()
    return tuple(Reference.from_json(row) for row in json.loads(text)["references"])


def reference_scores(path: str | None = None) -> tuple[Reference, ...]:
    """The reference table: the shipped ``data/reference_scores.json``, or the file at ``path``.

    Regenerate the shipped one with ``scripts/compute_reference_scores.py``.
    """
    if path is None:
        return _shipped_references()
    with open(path) as f:
        return tuple(Reference.from_json(row) for row in json.load(f)["references"])


def reference_for(
    task_set: TaskSet, index: int, references: Sequence[Reference] | None = None
) -> tuple[Reference | None, str]:
    """The valid reference of ``task_set.envs[index]``, or ``(None, why not)``.

    Matches env id and the set's ``make()`` kwargs for that env exactly; an entry computed for
    a benchmark whose fingerprint has changed since is stale and not used.
    """
    env_id = task_set.envs[index]
    kwargs = _kwargs_key(task_set.kwargs_for(env_id))
    table = reference_scores() if references is None else references
    for ref in table:
        if ref.env == env_id and ref.env_kwargs == kwargs:
            why = ref.stale()
            return (None, f"the reference of {env_id} is stale: {why}") if why else (ref, "")
    return None, f"no reference for {env_id} with env kwargs {dict(kwargs)}"


def normalized_scores(
    raw_returns: np.ndarray,
    random_raw_returns: np.ndarray | None,
    env_index: np.ndarray,
    task_set: TaskSet,
    references: Sequence[Reference] | None = None,
    *,
    warn: bool = True,
) -> tuple[np.ndarray, dict[str, dict[str, Any]]]:
    """``(raw_return - random) / (reference - random)`` per task and trial.

    ``random`` is the mean over tasks and trials of ``random_raw_returns`` on each env's tasks
    (the random policy on the same tasks); ``reference`` comes from :func:`reference_for`.

    Args:
        raw_returns: ``[T, K]`` trial returns in base-env units.
        random_raw_returns: ``[T, K]`` the uniform-random policy's, same tasks; None: unknown.
        env_index: ``[T]`` index into ``task_set.envs`` of each task.
        task_set: the evaluated set (its env ids and kwargs key the references).
        references: the reference table (default: the shipped one).
        warn: emit one ``UserWarning`` naming the envs without a score and the script.

    Returns:
        ``scores`` float64 ``[T, K]`` (NaN for envs without a valid reference) and, per env
        name, ``{"reference", "random", "kind", "what", "status"}`` (``status`` starts with
        "ok", else says why there is no score).
    """
    raw = np.asarray(raw_returns, np.float64)
    env_index = np.asarray(env_index)
    scores = np.full(raw.shape, np.nan)
    table: dict[str, dict[str, Any]] = {}
    for i, env_id in enumerate(task_set.envs):
        mask = env_index == i
        if not mask.any():
            continue
        ref, why = reference_for(task_set, i, references)
        rand = None if random_raw_returns is None else float(np.mean(random_raw_returns[mask]))
        entry = {
            "reference": None if ref is None else ref.score,
            "random": rand,
            "kind": None if ref is None else ref.kind,
            "what": None if ref is None else ref.what,
            "status": "ok",
        }
        if ref is not None and ref.beats_random is False:
            why = (
                f"the reference of {env_id} does not clearly beat random in its own evaluation "
                "(the 95% CI of its margin includes 0): recompute it with a larger budget"
            )
        elif ref is not None and rand is None:
            why = f"no random-policy returns for {env_id} (evaluate with with_random=True)"
        elif ref is not None and ref.score <= rand:
            why = f"the reference of {env_id} ({ref.score:.4g}) does not beat random ({rand:.4g})"
        if why:
            entry["status"] = why
        else:
            if ref.provisional:
                entry["status"] = "ok (provisional: a small-budget reference)"
            scores[mask] = (raw[mask] - rand) / (ref.score - rand)
        table[env_id] = entry
    missing = [
        f"{env}: {e['status']}" for env, e in table.items() if not e["status"].startswith("ok")
    ]
    if missing and warn:
        warnings.warn(
            f"normalised scores are NaN for {len(missing)} env(s) of "
            f"{task_set.name or task_set.envs}:\n  " + "\n  ".join(missing) + "\n"
            f"Compute references with {REFERENCE_SCRIPT} (see docs/evaluation.md).",
            stacklevel=3,
        )
    return scores, table


# ------------------------------------------------------------------------------------ results
@dataclasses.dataclass(frozen=True)
class EvalResult:
    """What :func:`evaluate_policy` returns: raw per-task results and their statistics.

    Arrays are numpy; ``T`` is the number of tasks (``per_env * len(env_names)``), ``K`` the
    number of trials. Fields after ``meta`` are optional (None when not computed).
    """

    name: str  # the task set's name, e.g. "classic/ood_test"
    env_names: tuple[str, ...]  # env of each env index
    env_index: np.ndarray  # int32 [T]: env index of each task
    num_trials: int  # K
    returns: np.ndarray  # float32 [T, K]: agent's return per task and trial
    raw_returns: np.ndarray  # float32 [T, K]: the same in the base env's reward units
    length: np.ndarray  # int32 [T]: steps of each meta-episode
    summary: dict[str, Any]  # statistics.summarize(returns, ...)
    random_returns: np.ndarray | None  # float32 [T, K]: uniform-random policy, same tasks
    random_summary: dict[str, Any] | None  # summarize(random_returns, ...)
    meta: dict[str, Any]  # protocol: per_env, seed, max_steps, fingerprint, ...
    random_raw_returns: np.ndarray | None = None  # float32 [T, K]: random, base-env units
    normalized: np.ndarray | None = None  # float64 [T, K]: normalised scores (NaN: no reference)
    normalized_summary: dict[str, Any] | None = None  # summarize(normalized, ...)
    references: dict[str, dict[str, Any]] | None = None  # per env: reference, random, status

    @property
    def split(self) -> str:
        """The split part of ``name`` (``"ood_test"`` of ``"classic/ood_test"``)."""
        return self.name.rsplit("/", 1)[-1] if self.name else "tasks"

    @property
    def mean(self) -> float:
        """Overall mean return per trial (mean over tasks of the per-task mean over trials)."""
        return float(self.summary["overall"]["return"]["mean"])

    @property
    def gain(self) -> float:
        """Overall mean in-context gain: last trial minus first."""
        return float(self.summary["overall"]["gain"]["mean"])

    @property
    def normalized_iqm(self) -> float:
        """The headline aggregate: IQM over tasks of the normalised score per trial (NaN if any
        env lacks a reference)."""
        if self.normalized_summary is None:
            return float("nan")
        return float(self.normalized_summary["overall"]["return"]["iqm"])

    def score_matrix(self, score: str = "normalized", trial: int | None = None) -> np.ndarray:
        """``[runs, envs]`` scores, column ``j`` = env ``env_names[j]``, rows = its bank tasks.

        Args:
            score: ``"normalized"``, ``"return"`` (training units) or ``"raw"`` (base env units).
            trial: a trial index (e.g. ``-1``: the last); None: the mean over trials.

        Raises:
            ValueError: unknown ``score``, normalised scores not computed, or envs with
                different numbers of tasks.
        """
        values = {"normalized": self.normalized, "return": self.returns, "raw": self.raw_returns}
        if score not in values:
            raise ValueError(f"score must be one of {tuple(values)}, got {score!r}.")
        table = values[score]
        if table is None:
            raise ValueError("no normalised scores: evaluate with with_random=True.")
        per_task = np.mean(table, axis=1) if trial is None else table[:, trial]
        columns = [per_task[self.env_index == i] for i in range(len(self.env_names))]
        if len({len(c) for c in columns}) != 1:
            raise ValueError(f"envs have different numbers of tasks {[len(c) for c in columns]}.")
        return np.stack(columns, axis=1).astype(np.float64)

    def to_rliable(
        self, score: str = "normalized", trial: int | None = None
    ) -> dict[str, np.ndarray]:
        """``{split: scores [runs, tasks]}`` as ``rliable.library.get_interval_estimates`` takes.

        rliable's *tasks* are our base envs (columns, in ``env_names`` order) and its *runs* are
        the bank's tasks of each env (rows): rliable's stratified bootstrap then resamples the
        projected tasks within each env, as :mod:`projected_envs.statistics` does. See
        :meth:`score_matrix` for ``score`` and ``trial``.
        """
        return {self.split: self.score_matrix(score, trial)}

    def to_marl_eval(
        self, algorithm: str = "agent", run: str = "run_0", step_count: int = 0
    ) -> dict[str, Any]:
        """A marl-eval style nested dict: ``{env: {task: {algorithm: {run: {...}}}}}``.

        ``env`` is the split's name, ``task`` each base env; the run holds ``"step_0"`` (with
        ``step_count``) and ``"absolute_metrics"``, each with per-bank-task lists of
        ``"return"``, ``"raw_return"`` and ``"normalized_score"`` (mean over trials) and
        ``"gain"`` (last trial minus first).
        """
        out: dict[str, Any] = {}
        for i, env in enumerate(self.env_names):
            mask = self.env_index == i
            metrics = {
                "return": self.returns[mask].mean(axis=1).tolist(),
                "raw_return": self.raw_returns[mask].mean(axis=1).tolist(),
                "gain": (self.returns[mask, -1] - self.returns[mask, 0]).tolist(),
            }
            if self.normalized is not None:
                metrics["normalized_score"] = _nan_to_none(self.normalized[mask].mean(axis=1))
            out[env] = {
                algorithm: {
                    run: {
                        "step_0": {"step_count": int(step_count), **metrics},
                        "absolute_metrics": metrics,
                    }
                }
            }
        return {self.name or "tasks": out}

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable dict of everything (arrays as nested lists; NaN as null)."""
        arr = lambda x: None if x is None else _nan_to_none(np.asarray(x))
        return {
            "name": self.name,
            "env_names": list(self.env_names),
            "num_trials": self.num_trials,
            "meta": self.meta,
            "summary": self.summary,
            "random_summary": self.random_summary,
            "normalized_summary": _nan_to_none(self.normalized_summary),
            "references": self.references,
            "env_index": self.env_index.tolist(),
            "returns": self.returns.tolist(),
            "raw_returns": self.raw_returns.tolist(),
            "length": self.length.tolist(),
            "random_returns": arr(self.random_returns),
            "random_raw_returns": arr(self.random_raw_returns),
            "normalized": arr(self.normalized),
            "rliable": {
                "tasks": list(self.env_names),
                "scores": _nan_to_none(self.score_matrix("normalized"))
                if self.normalized is not None
                else None,
            },
        }

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> EvalResult:
        """The result that :meth:`to_json` wrote (null read back as NaN in the arrays).

        Raises:
            ValueError: ``record`` lacks a field of :meth:`to_json`'s output.
        """
        missing = {"name", "env_names", "num_trials", "returns", "summary"} - set(record)
        if missing:
            raise ValueError(
                f"EvalResult.from_json: the record has no {sorted(missing)}; pass one entry "
                "of an eval.json's 'splits' (what EvalResult.to_json wrote)."
            )

        def arr(name: str, dtype: Any) -> np.ndarray | None:
            value = record.get(name)
            if value is None:
                return None
            if np.issubdtype(dtype, np.floating):
                value = _none_to_nan(value)
            return np.asarray(value, dtype=dtype)

        normalized_summary = record.get("normalized_summary")
        return cls(
            name=record["name"],
            env_names=tuple(record["env_names"]),
            env_index=arr("env_index", np.int32),
            num_trials=int(record["num_trials"]),
            returns=arr("returns", np.float32),
            raw_returns=arr("raw_returns", np.float32),
            length=arr("length", np.int32),
            summary=record["summary"],
            random_returns=arr("random_returns", np.float32),
            random_summary=record.get("random_summary"),
            meta=dict(record.get("meta") or {}),
            random_raw_returns=arr("random_raw_returns", np.float32),
            normalized=arr("normalized", np.float64),
            normalized_summary=None
            if normalized_summary is None
            else _none_to_nan(normalized_summary),
            references=record.get("references"),
        )


def _none_to_nan(x: Any) -> Any:
    """The inverse of :func:`_nan_to_none` for numbers: None in nested lists / dicts -> NaN."""
    if x is None:
        return float("nan")
    if isinstance(x, list | tuple):
        return [_none_to_nan(v) for v in x]
    if isinstance(x, dict):
        return {k: _none_to_nan(v) for k, v in x.items()}
    return x


def _nan_to_none(x: Any) -> Any:
    """Nested lists / dicts with NaN replaced by None (strict JSON has no NaN)."""
    if isinstance(x, np.ndarray):
        x = x.tolist()
    if isinstance(x, float):
        return None if np.isnan(x) else x
    if isinstance(x, list | tuple):
        return [_nan_to_none(v) for v in x]
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    return x


# ------------------------------------------------------------------------------------ entry point
def evaluate_policy(
    policy: Policy,
    task_set: TaskSet,
    *,
    per_env: int = 16,
    num_trials: int | None = None,
    seed: int = 0,
    with_random: bool = True,
    max_steps: int | None = None,
    num_resamples: int = DEFAULT_NUM_RESAMPLES,
    references: Sequence[Reference] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> EvalResult:
    """Evaluate any policy on ``task_set.eval_tasks(per_env)`` (module docstring: the protocol).

    Args:
        policy: a :class:`Policy` (``init`` and ``step``; e.g. :class:`PolicyFns`).
        task_set: a benchmark split, e.g. ``pe.benchmark("classic").ood_test``.
        per_env: tasks per env in the evaluation bank.
        num_trials: trials per task K (default: the set's; may exceed the training horizon).
        seed: seed of the env and action noise (the tasks themselves are fixed by the bank).
        with_random: also run a uniform-random policy on the same tasks (needed for
            normalised scores).
        max_steps: cap on loop steps; default K times the longest time limit.
        num_resamples: bootstrap resamples of the CIs.
        references: reference table for normalised scores (default: the shipped one).
        meta: extra entries for ``EvalResult.meta`` (e.g. the training step).

    Returns:
        An :class:`EvalResult`: ``returns [T, K]``, raw returns, per-env and overall mean / IQM
        with 95% CIs, per-trial curve, in-context gain, the random reference and normalised
        scores.

    Raises:
        RuntimeError: some meta-episode did not finish within ``max_steps``.
        TypeError, ValueError: a policy without ``init`` / ``step``, or whose actions or carry
            have the wrong shapes (at trace time).
    """
    task_set = _with_trials(task_set, num_trials)
    steps = (
        max_meta_episode_steps(task_set, task_set.num_trials) if max_steps is None else max_steps
    )
    run = functools.partial(
        rollout_policy, policy, task_set, per_env=per_env, seed=seed, max_steps=steps
    )
    agent = run()
    _check_finished(agent, task_set, steps)
    env_index = np.asarray(_bank(task_set, int(per_env)).env_index)
    names = tuple(task_set.envs)
    stats = {"num_resamples": num_resamples, "seed": seed}
    rand = None
    if with_random:
        rand = run(random=True)
        _check_finished(rand, task_set, steps)
    normalized, table = normalized_scores(
        agent.raw_returns,
        None if rand is None else rand.raw_returns,
        env_index,
        task_set,
        references,
    )
    return EvalResult(
        name=task_set.name,
        env_names=names,
        env_index=env_index,
        num_trials=task_set.num_trials,
        returns=agent.returns,
        raw_returns=agent.raw_returns,
        length=agent.length,
        summary=summarize(agent.returns, env_index, names, **stats),
        random_returns=None if rand is None else rand.returns,
        random_summary=None if rand is None else summarize(rand.returns, env_index, names, **stats),
        meta={
            "per_env": int(per_env),
            "num_tasks": len(env_index),
            "seed": seed,
            "max_steps": int(steps),
            "task_set_fingerprint": task_set.fingerprint,
            **dict(meta or {}),
        },
        random_raw_returns=None if rand is None else rand.raw_returns,
        normalized=normalized,
        normalized_summary=summarize(normalized, env_index, names, **stats),
        references=table,
    )


def _check_finished(out: Rollout, task_set: TaskSet, max_steps: int) -> None:
    if not out.finished.all():
        missing = np.flatnonzero(~out.finished)
        raise RuntimeError(
            f"evaluate: {len(missing)} tasks of {task_set.name or task_set.envs} "
            f"did not finish {task_set.num_trials} trials within max_steps={max_steps} "
            f"(tasks {missing[:8].tolist()}...); pass a larger max_steps."
        )


# ------------------------------------------------------------------------------------ tables
def _ci(stat: Mapping[str, Any], name: str = "mean") -> str:
    lo, hi = stat[f"{name}_ci"]
    return f"{stat[name]:8.2f} [{lo:7.2f}, {hi:7.2f}]"


def format_table(results: Mapping[str, EvalResult], per_env: bool = True) -> str:
    """A plain-text table of evaluation results, one block per split.

    Columns: return per trial (mean [95% CI]), IQM, first and last trial means, in-context
    gain (mean [95% CI]), the random policy's mean return and gain on the same tasks, and, when
    any result has normalised scores, their IQM [95% CI] (``nan``: no reference).
    Rows: ``all`` and, with ``per_env``, each env.
    """
    with_norm = any(r.normalized_summary is not None for r in results.values())
    header = (
        f"{'split':<9} {'env':<32} {'return (mean [95% CI])':>28} {'IQM':>8} "
        f"{'trial 1':>8} {'trial K':>8} {'gain (last-first) [95% CI]':>28} "
        f"{'random':>8} {'rnd gain':>8}"
    )
    if with_norm:
        header += f" {'normalised IQM [95% CI]':>28}"
    lines = [header, "-" * len(header)]
    for split, result in results.items():
        rand_summary, norm_summary = result.random_summary, result.normalized_summary
        groups = [
            (
                "all",
                result.summary["overall"],
                rand_summary and rand_summary["overall"],
                norm_summary and norm_summary["overall"],
            )
        ]
        if per_env:
            for env, summary in result.summary["per_env"].items():
                rand = rand_summary and rand_summary["per_env"][env]
                norm = norm_summary and norm_summary["per_env"][env]
                groups.append((env, summary, rand, norm))
        for label, summary, random_group, norm_group in groups:
            curve = summary["per_trial"]["mean"]
            rand = f"{'n/a':>8} {'n/a':>8}"
            if random_group is not None:
                rand = f"{random_group['return']['mean']:8.2f} {random_group['gain']['mean']:8.2f}"
            line = (
                f"{split:<9} {label[-32:]:<32} {_ci(summary['return']):>28} "
                f"{summary['return']['iqm']:8.2f} {curve[0]:8.2f} {curve[-1]:8.2f} "
                f"{_ci(summary['gain']):>28} {rand}"
            )
            if with_norm:
                norm = (
                    f"{'n/a':>28}"
                    if norm_group is None
                    else f"{_ci(norm_group['return'], 'iqm'):>28}"
                )
                line += f" {norm}"
            lines.append(line)
    return "\n".join(lines)
