"""Task sets: distributions over projected tasks, their seed spaces and task banks.

A **task set** (:class:`TaskSet`) is a distribution over tasks: a base env drawn from
``envs`` (with ``weights``), wrapped as ``make -> FiniteGuard -> Normalize ->
ProjectObservation -> ProjectAction -> MetaEpisode``; the task is the params pytree of that
stack (the sampled projection matrices and anything else the wrappers sample). A **benchmark**
(:class:`projected_envs.benchmark_registry.Benchmark`) names three task sets with the same outer
observation / action sizes:

* ``train``: what the agent is meta-trained on;
* ``id_test``: unseen projections of the train envs (same envs, another seed space);
* ``ood_test``: held-out envs and/or held-out projection families.

Seed spaces (how a task follows from a key)
-------------------------------------------
Every task of env ``i`` of a task set is ``make_env(i).sample_task(task_key)`` with
``task_key = fold_in(seed_key, crc32(env_id))``, and ``seed_key`` is a 64-bit *task seed*:

* **training** (:meth:`TaskSet.sample_task`, :meth:`TaskSet.sample`, ``VecEnv``):
  ``seed_key = fold_in(key, task_set.seed)`` with the top bit of its first word cleared;
* **evaluation** (:meth:`TaskSet.eval_tasks`): task ``j`` of each env has the seed
  ``[0x80000000 | task_set.seed, j]``, top bit set.

So evaluation seeds never equal training seeds, whatever keys the training loop uses, and two
task sets with different ``seed`` have different evaluation seeds: the sets are disjoint in
seed space by construction (the tasks themselves could only coincide through a hash collision
of ``fold_in``, or when a family has few distinct matrices, e.g. ``identity``).

Definitions are plain Python data (hashable frozen dataclasses). Arrays appear only when tasks
are drawn: :meth:`TaskSet.sample_task` is a pure function to use inside your own ``jit``; the
bank builders :meth:`TaskSet.sample` and :meth:`TaskSet.eval_tasks` run one jitted call per env
(cached per task set and env). Named benchmarks built from task sets live in
:mod:`projected_envs.benchmark_registry` (the shipped ones in
:mod:`projected_envs.shipped_benchmarks`).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import json
import zlib
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from projected_envs._deprecation import warn_renamed
from projected_envs.core import Environment
from projected_envs.projections import PROJECTION_FAMILIES
from projected_envs.wrappers import (
    META_EPISODE_EXTRAS,
    FiniteGuard,
    MetaEpisode,
    Normalize,
    ProjectAction,
    ProjectObservation,
)

# Version of the task-derivation scheme above; part of every fingerprint, so a change of the
# scheme (which changes every task) changes every fingerprint.
_SCHEME = 1
_EVAL_BIT = 0x80000000
_OBS_EXTRAS = META_EPISODE_EXTRAS  # ("action", "reward", "trial_done", "task_start")

EnvKwargs = tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]

# Fields hashed under their old name: ``return_scales`` was ``reward_scales`` when the shipped
# fingerprints were published, and a rename is not a change of the distribution, so the
# fingerprint keeps the old key (tests/test_shipped_benchmarks.py pins the fingerprints).
_CANONICAL_KEYS = {"return_scales": "reward_scales"}


# ------------------------------------------------------------------------------ slot shares
def allocate(weights: Sequence[float], n: int) -> tuple[int, ...]:
    """Split ``n`` slots among envs proportionally to ``weights`` (the documented rounding).

    Rule: largest remainder (Hamilton) on the exact quotas ``n * w_i / sum(w)``: every env
    gets the floor of its quota, the slots left go one each to the largest remainders (ties
    to the earlier env). Then every env with a positive weight but no slot takes one from the
    largest group (ties to the earlier env), so each such env has at least one slot. Envs of
    weight 0 get none. Uniform weights with ``n`` a multiple of the number of envs give equal
    groups; ``(2, 1, 1)`` over 5 slots gives ``(3, 1, 1)``.

    Args:
        weights: non-negative slot shares, at least one positive.
        n: number of slots, at least the number of positive weights.

    Returns:
        Slot counts per env, summing to ``n``.

    Raises:
        ValueError: ``n`` smaller than the number of positive weights.
    """
    fr = [Fraction(float(w)) for w in weights]
    positive = [i for i, w in enumerate(fr) if w > 0]
    if n < len(positive):
        raise ValueError(
            f"{n} slots cannot hold {len(positive)} envs (each env with a positive weight "
            f"needs at least one slot); use num_envs >= {len(positive)}."
        )
    total = sum(fr)
    quotas = [n * w / total for w in fr]
    counts = [int(q) for q in quotas]
    order = sorted(positive, key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    for i in positive:
        if counts[i] == 0:
            donor = max(range(len(counts)), key=lambda j: (counts[j], -j))
            counts[donor] -= 1
            counts[i] += 1
    return tuple(counts)


# ------------------------------------------------------------------------------ key helpers
def _is_typed(key: jax.Array) -> bool:
    return jnp.issubdtype(key.dtype, jax.dtypes.prng_key)


def _train_seed(key: jax.Array, seed: int) -> jax.Array:
    """Training task seed: ``fold_in(key, seed)`` with the top bit of word 0 cleared."""
    key = jax.random.fold_in(key, seed)
    if _is_typed(key):
        data = jax.random.key_data(key)
        data = data.at[0].set(data[0] & jnp.uint32(~_EVAL_BIT & 0xFFFFFFFF))
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(key))
    return key.at[0].set(key[0] & jnp.uint32(~_EVAL_BIT & 0xFFFFFFFF))


def _eval_seeds(seed: int, count: int) -> jax.Array:
    """Raw evaluation task seeds ``[0x80000000 | seed, j]`` for ``j < count``: uint32 [count, 2]."""
    j = np.arange(count, dtype=np.uint32)
    hi = np.full(count, _EVAL_BIT | seed, dtype=np.uint32)
    return jnp.asarray(np.stack([hi, j], axis=1))


def _seed_data(seed_key: jax.Array) -> jax.Array:
    return jax.random.key_data(seed_key) if _is_typed(seed_key) else seed_key


def _env_tag(env_id: str) -> int:
    """A stable 31-bit tag of an env id (crc32; Python's ``hash`` is salted per process)."""
    return zlib.crc32(env_id.encode()) & 0x7FFFFFFF


# ------------------------------------------------------------------------------ validation
def _registered() -> list[str] | None:
    try:
        from projected_envs.registry import registered_envs
    except ImportError:  # the registry module is optional while the package is assembled
        return None
    return list(registered_envs())


def _positive_int(value: Any, what: str, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{where}: {what} must be a positive int, got {value!r}.")


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _canonical_env_kwargs(env_kwargs: Any, envs: tuple[str, ...], where: str) -> EnvKwargs:
    items = env_kwargs.items() if isinstance(env_kwargs, Mapping) else env_kwargs
    out = []
    for entry in items:
        env_id, kwargs = entry
        if env_id not in envs:
            raise ValueError(f"{where}: env_kwargs names {env_id!r}, which is not in envs {envs}.")
        kwargs = kwargs.items() if isinstance(kwargs, Mapping) else kwargs
        out.append((env_id, tuple(sorted((str(k), _freeze(v)) for k, v in kwargs))))
    ids = [e for e, _ in out]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{where}: env_kwargs names an env twice: {ids}.")
    return tuple(sorted(out))


def _canonical_return_scales(scales: Any, envs: tuple[str, ...], where: str) -> tuple:
    items = scales.items() if isinstance(scales, Mapping) else scales
    out = []
    for env_id, scale in items:
        if env_id not in envs:
            raise ValueError(f"{where}: return_scales names {env_id!r}, which is not in {envs}.")
        if not (isinstance(scale, int | float | np.number) and np.isfinite(scale) and scale > 0):
            raise ValueError(f"{where}: return scale of {env_id!r} must be > 0, got {scale!r}.")
        out.append((env_id, float(scale)))
    ids = [e for e, _ in out]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{where}: return_scales names an env twice: {ids}.")
    return tuple(sorted(out))


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, np.integer | np.floating):
        return value.item()
    return repr(value)


def _hash(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# ------------------------------------------------------------------------------ task banks
@struct.dataclass
class TaskBank:
    """A fixed, batched set of tasks of one task set, grouped by base env (a pytree).

    Group ``g`` holds ``sizes[g]`` tasks of env ``env_indices[g]`` of the task set (an index
    into ``TaskSet.envs``); its params are the stack's params pytree with a leading axis of
    that size. Task ``t`` of the bank (``0 <= t < len(bank)``) is the ``t``-th task when the
    groups are laid end to end, which is also the slot order of
    :meth:`projected_envs.VecEnv.from_bank`.
    """

    params: tuple[Any, ...]  # per group: stack params, leading axis [sizes[g]]
    seeds: tuple[jax.Array, ...]  # per group: uint32 [sizes[g], words] task seeds (provenance)
    env_ids: tuple[str, ...] = struct.field(pytree_node=False)  # per group: env id
    env_indices: tuple[int, ...] = struct.field(pytree_node=False)  # per group: index in envs
    sizes: tuple[int, ...] = struct.field(pytree_node=False)  # per group: number of tasks

    def __len__(self) -> int:
        return int(sum(self.sizes))

    @property
    def env_index(self) -> np.ndarray:
        """int32 ``[len(bank)]``: the task set's env index of each task."""
        return np.repeat(np.asarray(self.env_indices, np.int32), self.sizes).astype(np.int32)


# ------------------------------------------------------------------------------ task sets
@functools.lru_cache(maxsize=256)
def _build_env(task_set: TaskSet, index: int) -> Environment:
    from projected_envs.registry import make  # lazy: the registry imports every backend

    env_id = task_set.envs[index]
    env, _ = make(env_id, **dict(task_set.kwargs_for(env_id)))
    env = FiniteGuard(env)  # a non-finite obs / reward ends the trial (docs/reference/wrappers.md)
    if task_set.normalize:
        scale = dict(task_set.return_scales).get(env_id)
        env = Normalize(env, env_id=env_id, reward_scale=scale)
    env = ProjectObservation(env, task_set.obs_dim, task_set.obs_family)
    env = ProjectAction(env, task_set.action_dim, task_set.action_family)
    return MetaEpisode(env, task_set.num_trials, obs_extras=task_set.obs_extras)


@functools.lru_cache(maxsize=256)
def _batched_sampler(task_set: TaskSet, index: int, evaluation: bool) -> Callable:
    """Jitted ``(key_or_None, xs) -> (tasks, seeds)`` for env ``index`` (one compile per env).

    Training: ``xs`` int32 ``[n]`` task numbers, task ``t`` from ``fold_in(key, t)``.
    Evaluation: ``xs`` uint32 ``[n, 2]`` raw evaluation seeds (``key`` unused).
    """

    def one(key: jax.Array | None, x: jax.Array) -> tuple[Any, jax.Array]:
        if evaluation:
            seed_key = jax.random.wrap_key_data(x, impl="threefry2x32")
        else:
            seed_key = _train_seed(jax.random.fold_in(key, x), task_set.seed)
        return task_set._task_from_seed(index, seed_key), _seed_data(seed_key)

    # Build (and cache) the env stack outside the trace: brax builds its model arrays on first
    # use, and arrays made inside a trace would leak as tracers into the cached env.
    task_set.make_env(index)
    return jax.jit(jax.vmap(one, in_axes=(None, 0)))


@dataclasses.dataclass(frozen=True)
class TaskSet:
    """A distribution over projected tasks: base envs x projections x K trials.

    Hashable and comparable (a frozen dataclass of tuples), so it can key caches and be a
    static argument of ``jax.jit``. Validated at construction; ``dataclasses.replace`` makes
    a validated variant (e.g. ``replace(ts, num_trials=32)`` to evaluate longer).
    """

    envs: tuple[str, ...]  # registered env ids, e.g. "gymnax/Pendulum-v1"; no duplicates
    obs_dim: int  # O: projected observation size (before MetaEpisode's extras)
    action_dim: int  # A: projected action size (the agent's action size)
    num_trials: int = 1  # K: trials (inner episodes) per task
    obs_family: str = "gaussian"  # projection family of M_o (see PROJECTION_FAMILIES)
    action_family: str = "gaussian"  # projection family of M_a
    weights: tuple[float, ...] | None = None  # slot share per env; None = uniform
    normalize: bool = True  # wrap each base env with Normalize (per-env obs/reward stats)
    obs_extras: tuple[str, ...] = _OBS_EXTRAS  # what MetaEpisode appends to the observation
    env_kwargs: EnvKwargs = ()  # ((env_id, ((kwarg, value), ...)), ...): make() kwargs per env
    # ((env_id, scale), ...): the factor Normalize multiplies each env's rewards by, replacing
    # the shipped per-step reward scale; shipped benchmarks set their gamma-aware return scale
    # here, which bounds discounted returns, not only rewards (docs/concepts/scaling.md).
    # Old name: reward_scales (still accepted, with a DeprecationWarning).
    return_scales: tuple[tuple[str, float], ...] = ()
    seed: int = 0  # seed space of this set, 0 <= seed < 2**31
    name: str = dataclasses.field(default="", compare=False)  # label only, e.g. "classic/train"

    def __post_init__(self) -> None:
        where = f"TaskSet {self.name!r}" if self.name else "TaskSet"
        set_ = functools.partial(object.__setattr__, self)
        envs = (self.envs,) if isinstance(self.envs, str) else tuple(self.envs)
        set_("envs", envs)
        if not envs:
            raise ValueError(f"{where}: envs is empty; name at least one registered env id.")
        if len(set(envs)) != len(envs):
            raise ValueError(f"{where}: envs has duplicates {envs}; use weights to repeat an env.")
        known = _registered()
        if known is not None:
            for env_id in envs:
                if env_id not in known:
                    close = difflib.get_close_matches(env_id, known, n=3, cutoff=0.5)
                    hint = f" Did you mean {close}?" if close else ""
                    raise ValueError(
                        f"{where}: unknown env id {env_id!r}.{hint} See registered_envs()."
                    )
        for what in ("obs_dim", "action_dim", "num_trials"):
            _positive_int(getattr(self, what), what, where)
            set_(what, int(getattr(self, what)))
        set_("normalize", bool(self.normalize))
        families = PROJECTION_FAMILIES
        for what in ("obs_family", "action_family"):
            if getattr(self, what) not in families:
                raise ValueError(
                    f"{where}: unknown {what} {getattr(self, what)!r}; valid families: "
                    f"{', '.join(families)}."
                )
        if self.weights is not None:
            weights = tuple(float(w) for w in self.weights)
            set_("weights", weights)
            if len(weights) != len(envs):
                raise ValueError(
                    f"{where}: {len(weights)} weights for {len(envs)} envs; give one per env."
                )
            if any(not np.isfinite(w) or w < 0 for w in weights):
                raise ValueError(f"{where}: weights must be finite and >= 0, got {weights}.")
            if not any(w > 0 for w in weights):
                raise ValueError(f"{where}: weights are all zero; at least one must be > 0.")
        extras = (self.obs_extras,) if isinstance(self.obs_extras, str) else self.obs_extras
        set_("obs_extras", tuple(extras))
        for extra in self.obs_extras:
            if extra not in _OBS_EXTRAS:
                raise ValueError(
                    f"{where}: unknown obs extra {extra!r}; valid: {', '.join(_OBS_EXTRAS)}."
                )
        if len(set(self.obs_extras)) != len(self.obs_extras):
            raise ValueError(f"{where}: obs_extras has duplicates {self.obs_extras}.")
        # MetaEpisode appends extras in a fixed order whatever the order given; so do we.
        set_("obs_extras", tuple(e for e in _OBS_EXTRAS if e in self.obs_extras))
        set_("env_kwargs", _canonical_env_kwargs(self.env_kwargs, envs, where))
        set_("return_scales", _canonical_return_scales(self.return_scales, envs, where))
        if self.return_scales and not self.normalize:
            raise ValueError(
                f"{where}: return_scales need normalize=True (Normalize applies them)."
            )
        if known is not None:  # typos fail here, not at the first make() in VecEnv
            from projected_envs.registry import check_kwargs

            for env_id, kwargs in self.env_kwargs:
                try:
                    check_kwargs(env_id, dict(kwargs))
                except ValueError as err:
                    raise ValueError(f"{where}: env_kwargs of {env_id!r}: {err}") from None
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer):
            raise ValueError(f"{where}: seed must be an int, got {self.seed!r}.")
        if not 0 <= self.seed < 2**31:
            raise ValueError(f"{where}: seed must be in [0, 2**31), got {self.seed}.")
        set_("seed", int(self.seed))

    # ---------------------------------------------------------------- sizes and shares
    @property
    def obs_size(self) -> int:
        """Outer observation size: ``obs_dim`` plus the extras (action: A, others: 1 each)."""
        sizes = {"action": self.action_dim, "reward": 1, "trial_done": 1, "task_start": 1}
        return self.obs_dim + sum(sizes[e] for e in self.obs_extras)

    @property
    def action_size(self) -> int:
        """Outer action size: ``action_dim`` (actions live in ``[-1, 1]``)."""
        return self.action_dim

    @property
    def slot_weights(self) -> tuple[float, ...]:
        """The weights, with ``None`` resolved to uniform ones."""
        return self.weights if self.weights is not None else (1.0,) * len(self.envs)

    def group_sizes(self, n: int) -> tuple[int, ...]:
        """Slots (or tasks) per env out of ``n``, by the rounding rule of :func:`allocate`."""
        return allocate(self.slot_weights, n)

    def max_trial_steps(self, index: int) -> int | None:
        """Time limit of one trial of ``envs[index]`` in agent steps (the base env's
        ``max_steps_in_episode``), or None if its params have no such field."""
        params = self.make_env(index).unwrapped.default_params
        steps = getattr(params, "max_steps_in_episode", None)
        return None if steps is None else int(steps)

    @property
    def max_steps_in_episode(self) -> int | None:
        """Upper bound on the steps of one task, the outer episode (K times the longest trial:
        the largest :attr:`MetaEpisode.max_steps_in_episode
        <projected_envs.wrappers.MetaEpisode.max_steps_in_episode>` of its env stacks), or
        None if an env has no known time limit. An evaluation scan of this length ends every
        task. gymnax's name for an episode's length; from ``MetaEpisode`` upward the episode
        is the whole task."""
        steps = [self.make_env(i).max_steps_in_episode for i in range(len(self.envs))]
        return None if None in steps else max(steps)

    @property
    def max_task_steps(self) -> int | None:
        """Deprecated alias of :attr:`max_steps_in_episode`."""
        warn_renamed("TaskSet.max_task_steps", "TaskSet.max_steps_in_episode")
        return self.max_steps_in_episode

    @property
    def reward_scales(self) -> tuple[tuple[str, float], ...]:
        """Deprecated alias of :attr:`return_scales`."""
        warn_renamed("TaskSet.reward_scales", "TaskSet.return_scales")
        return self.return_scales

    def kwargs_for(self, env_id: str) -> tuple[tuple[str, Any], ...]:
        """The ``make()`` keyword arguments of one env, as sorted ``(name, value)`` pairs."""
        return dict(self.env_kwargs).get(env_id, ())

    # ---------------------------------------------------------------- envs and tasks
    def make_env(self, index: int) -> Environment:
        """The full env stack of ``envs[index]`` (cached: equal task sets share env objects).

        ``make(env_id, **env_kwargs) -> FiniteGuard -> Normalize (if normalize) ->
        ProjectObservation(obs_dim,
        obs_family) -> ProjectAction(action_dim, action_family) -> MetaEpisode(num_trials,
        obs_extras)``. Observations ``[obs_size]``, actions ``[action_size]`` in ``[-1, 1]``.
        """
        return _build_env(self, self._check_index(index))

    def _check_index(self, index: Any) -> int:
        if isinstance(index, jax.core.Tracer):
            raise TypeError(
                "TaskSet: the env index must be a Python int (it picks an env stack at trace "
                "time), not a traced value; loop or vmap over keys per env instead "
                "(VecEnv and sample() do)."
            )
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise TypeError(f"TaskSet: env index must be an int, got {index!r}.")
        if not 0 <= index < len(self.envs):
            raise IndexError(
                f"TaskSet{' ' + repr(self.name) if self.name else ''}: env index {index} out of "
                f"range; valid indices are 0..{len(self.envs) - 1} for envs {self.envs} "
                "(use envs.index(env_id) to find one)."
            )
        return int(index)

    def sample_task(self, index: int, key: jax.Array) -> Any:
        """One training task of env ``envs[index]``: ``make_env(index).sample_task(task_key)``.

        ``task_key = fold_in(seed_key, crc32(env_id))`` with the training seed
        ``seed_key = fold_in(key, self.seed)``, top bit of word 0 cleared (module docstring).
        Jittable and vmappable over ``key`` (raw ``PRNGKey`` or typed ``jax.random.key``).
        """
        index = self._check_index(index)
        return self._task_from_seed(index, _train_seed(key, self.seed))

    def _task_from_seed(self, index: int, seed_key: jax.Array) -> Any:
        task_key = jax.random.fold_in(seed_key, _env_tag(self.envs[index]))
        return self.make_env(index).sample_task(task_key)

    def sample(self, key: jax.Array, n: int) -> TaskBank:
        """``n`` training tasks, split among the envs by :meth:`group_sizes`.

        Task ``t`` (in bank order) is ``sample_task(env_index[t], fold_in(key, t))``. Built
        by one jitted call per env (compiled once per task set and env).

        Args:
            key: PRNG key.
            n: number of tasks, at least the number of envs with positive weight.

        Returns:
            A :class:`TaskBank`; zero-weight envs have no group.
        """
        sizes = self.group_sizes(n)
        params, seeds, ids, indices, kept = [], [], [], [], []
        start = 0
        for i, size in enumerate(sizes):
            if size == 0:
                continue
            numbers = jnp.arange(start, start + size, dtype=jnp.int32)
            p, s = _batched_sampler(self, i, False)(key, numbers)
            params.append(p)
            seeds.append(s)
            ids.append(self.envs[i])
            indices.append(i)
            kept.append(size)
            start += size
        return TaskBank(
            params=tuple(params),
            seeds=tuple(seeds),
            env_ids=tuple(ids),
            env_indices=tuple(indices),
            sizes=tuple(kept),
        )

    def eval_tasks(self, per_env: int) -> TaskBank:
        """The deterministic evaluation bank: ``per_env`` tasks of every env (weights ignored).

        Task ``j`` of env ``i`` has the evaluation seed ``[0x80000000 | seed, j]``, disjoint
        from every training seed; the bank is a pure function of the definition (bitwise on a
        given platform), and ``eval_tasks(m)`` starts with the tasks of ``eval_tasks(n)`` for
        ``m > n``. It does not depend on ``num_trials``, ``obs_extras`` or ``weights``. Built
        by one jitted call per env (compiled once per task set and env).
        """
        _positive_int(per_env, "per_env", "eval_tasks")
        raw = _eval_seeds(self.seed, per_env)
        params = tuple(_batched_sampler(self, i, True)(None, raw)[0] for i in range(len(self.envs)))
        return TaskBank(
            params=params,
            seeds=(raw,) * len(self.envs),
            env_ids=self.envs,
            env_indices=tuple(range(len(self.envs))),
            sizes=(per_env,) * len(self.envs),
        )

    # ---------------------------------------------------------------- identity
    def canonical(self) -> dict[str, Any]:
        """The definition as JSON-able data (what :attr:`fingerprint` hashes; ``name`` is a
        label and excluded, so equal distributions under other names share a fingerprint)."""
        fields = {
            _CANONICAL_KEYS.get(f.name, f.name): _jsonable(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name != "name"
        }
        return {"scheme": _SCHEME, "type": "TaskSet", **fields}

    @property
    def fingerprint(self) -> str:
        """First 12 hex digits of the sha256 of :meth:`canonical` as sorted, compact JSON."""
        return _hash(self.canonical())

    @property
    def components(self) -> frozenset[tuple[str, tuple, str, str]]:
        """``{(env_id, make() kwargs, obs_family, action_family)}``: what a held-out set must
        not share. The same env built with other kwargs (another goal law, say) is another
        component."""
        return frozenset(
            (e, self.kwargs_for(e), self.obs_family, self.action_family) for e in self.envs
        )


def _accept_old_keywords(cls: type[TaskSet]) -> type[TaskSet]:
    """Let ``cls`` take ``reward_scales=``, the old name of ``return_scales`` (it warns).

    The old keyword wins over ``return_scales``, so ``dataclasses.replace(ts,
    reward_scales=...)`` (which passes both) changes the scales as it did before the rename.
    """
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self: TaskSet, *args: Any, reward_scales: Any = None, **kwargs: Any) -> None:
        if reward_scales is not None:
            warn_renamed("TaskSet(reward_scales=...)", "TaskSet(return_scales=...)")
            kwargs["return_scales"] = reward_scales
        init(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls


_accept_old_keywords(TaskSet)
