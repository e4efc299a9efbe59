"""Named benchmarks: train / id_test / ood_test task sets, and the shipped definitions (data).

A **benchmark** (:class:`Benchmark`) names three task sets (:class:`~projected_envs.tasks.TaskSet`)
with the same outer observation / action sizes:

* ``train``: what the agent is meta-trained on;
* ``id_test``: unseen projections of the train envs (same envs, another seed space);
* ``ood_test``: held-out envs and/or held-out projection families.

This module holds the benchmark machinery (:class:`Benchmark`, :func:`make_benchmark`, the
registry) and, at its end, the shipped definitions as plain data. The task-set machinery (how a
task follows from a key, banks, seed spaces) is :mod:`projected_envs.tasks`; its names are
re-exported here for backward compatibility.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any

from projected_envs.tasks import (
    _OBS_EXTRAS,
    _SCHEME,
    TaskBank,
    TaskSet,
    _hash,
    _positive_int,
    allocate,
)

__all__ = [
    "Benchmark",
    "TaskBank",
    "TaskSet",
    "allocate",
    "benchmark",
    "benchmarks",
    "make_benchmark",
    "register_benchmark",
]


# ------------------------------------------------------------------------------ benchmarks
@dataclasses.dataclass(frozen=True)
class Benchmark:
    """A named benchmark: train, id_test and ood_test task sets with the same outer sizes.

    Checked at construction: the three sets share ``obs_dim``, ``action_dim`` and the outer
    observation size (the agent's input layout); ``num_trials`` equals ``train.num_trials``
    (test sets may use another K); ``id_test`` has envs from ``train`` with the same
    families and another ``seed``; ``ood_test`` shares no ``(env, obs_family,
    action_family)`` with ``train`` (held-out envs, the train envs under other families, or
    under other ``make()`` kwargs: :attr:`TaskSet.components`).
    """

    name: str  # registry name, e.g. "classic"
    obs_dim: int  # O
    action_dim: int  # A
    num_trials: int  # K of the train set
    train: TaskSet  # meta-training distribution
    id_test: TaskSet  # unseen projections of the train envs
    ood_test: TaskSet  # held-out envs and/or projection families
    description: str = ""  # prose: the choice and its reasons (not part of the fingerprint)
    gamma: float | None = None  # discount the benchmark is designed for (its reward scales')

    def __post_init__(self) -> None:
        where = f"Benchmark {self.name!r}"
        if self.gamma is not None and not 0 < self.gamma <= 1:
            raise ValueError(f"{where}: gamma must be in (0, 1] or None, got {self.gamma}.")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("Benchmark: name must be a non-empty string.")
        _positive_int(self.obs_dim, "obs_dim", where)
        _positive_int(self.action_dim, "action_dim", where)
        _positive_int(self.num_trials, "num_trials", where)
        sets = {"train": self.train, "id_test": self.id_test, "ood_test": self.ood_test}
        for split, ts in sets.items():
            if not isinstance(ts, TaskSet):
                raise TypeError(f"{where}: {split} must be a TaskSet, got {type(ts).__name__}.")
            if (ts.obs_dim, ts.action_dim) != (self.obs_dim, self.action_dim):
                raise ValueError(
                    f"{where}: {split} has dims (O={ts.obs_dim}, A={ts.action_dim}), the "
                    f"benchmark (O={self.obs_dim}, A={self.action_dim})."
                )
            if ts.obs_size != self.train.obs_size:
                raise ValueError(
                    f"{where}: {split} has obs_size {ts.obs_size} (extras {ts.obs_extras}), "
                    f"train {self.train.obs_size} (extras {self.train.obs_extras})."
                )
        if self.train.num_trials != self.num_trials:
            raise ValueError(
                f"{where}: num_trials={self.num_trials} but train has {self.train.num_trials}."
            )
        extra = set(self.id_test.envs) - set(self.train.envs)
        if extra:
            raise ValueError(f"{where}: id_test envs {sorted(extra)} are not train envs.")
        families = (self.id_test.obs_family, self.id_test.action_family)
        if families != (self.train.obs_family, self.train.action_family):
            raise ValueError(f"{where}: id_test must use the train families, got {families}.")
        if self.id_test.seed == self.train.seed:
            raise ValueError(
                f"{where}: id_test has the train seed {self.train.seed}; give it its own seed."
            )
        overlap = self.train.components & self.ood_test.components
        if overlap:
            raise ValueError(
                f"{where}: ood_test overlaps train in {sorted(overlap)} "
                "((env, make() kwargs, obs_family, action_family)); hold out other envs, "
                "env kwargs or families."
            )

    def canonical(self) -> dict[str, Any]:
        """The definition as JSON-able data (``description`` excluded)."""
        return {
            "scheme": _SCHEME,
            "type": "Benchmark",
            "name": self.name,
            "obs_dim": self.obs_dim,
            "action_dim": self.action_dim,
            "num_trials": self.num_trials,
            "gamma": self.gamma,
            "train": self.train.canonical(),
            "id_test": self.id_test.canonical(),
            "ood_test": self.ood_test.canonical(),
        }

    @property
    def fingerprint(self) -> str:
        """12 hex digits of the sha256 of :meth:`canonical`: changes iff the definition does."""
        return _hash(self.canonical())

    @property
    def splits(self) -> dict[str, TaskSet]:
        """``{"train": ..., "id_test": ..., "ood_test": ...}``."""
        return {"train": self.train, "id_test": self.id_test, "ood_test": self.ood_test}


def make_benchmark(
    name: str,
    train_envs: Sequence[str],
    ood_envs: Sequence[str] | None,
    obs_dim: int,
    action_dim: int,
    num_trials: int = 1,
    *,
    obs_family: str = "gaussian",
    action_family: str = "gaussian",
    ood_obs_family: str | None = None,
    ood_action_family: str | None = None,
    weights: Sequence[float] | None = None,
    normalize: bool = True,
    obs_extras: Sequence[str] = _OBS_EXTRAS,
    env_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
    ood_env_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    description: str = "",
    gamma: float | None = None,
    reward_scales: Mapping[str, float] | None = None,
) -> Benchmark:
    """Build a :class:`Benchmark` from env lists, with the standard seed convention.

    ``train`` has seed ``seed``, ``id_test`` (the train envs, unweighted) ``seed + 1``,
    ``ood_test`` ``seed + 2``. ``ood_envs=None`` reuses the train envs (a family-OOD
    benchmark: then ``ood_obs_family`` / ``ood_action_family`` must differ from the train
    ones). ``env_kwargs`` maps env id -> ``make()`` kwargs, for all three sets, unless
    ``ood_env_kwargs`` gives ``ood_test`` its own (an env under other kwargs, e.g. a held-out
    goal region, is held out).
    ``reward_scales`` maps env id -> reward scale (``TaskSet.reward_scales``, the gamma-aware
    return scale for ``gamma``); each split gets the entries of its envs.
    """
    ood_envs = tuple(train_envs) if ood_envs is None else tuple(ood_envs)
    kwargs = dict(env_kwargs or {})
    ood_kwargs = kwargs if ood_env_kwargs is None else dict(ood_env_kwargs)
    scales = dict(reward_scales or {})

    def task_set(
        split: str, envs: tuple[str, ...], s: int, fam: tuple[str, str], w, kwargs=kwargs
    ) -> TaskSet:
        return TaskSet(
            envs=envs,
            obs_dim=obs_dim,
            action_dim=action_dim,
            num_trials=num_trials,
            obs_family=fam[0],
            action_family=fam[1],
            weights=w,
            normalize=normalize,
            obs_extras=tuple(obs_extras),
            env_kwargs=tuple((e, kwargs[e]) for e in envs if e in kwargs),
            reward_scales=tuple((e, scales[e]) for e in envs if e in scales),
            seed=s,
            name=f"{name}/{split}",
        )

    train_fam = (obs_family, action_family)
    ood_fam = (ood_obs_family or obs_family, ood_action_family or action_family)
    train = task_set("train", tuple(train_envs), seed, train_fam, weights)
    return Benchmark(
        name=name,
        obs_dim=obs_dim,
        action_dim=action_dim,
        num_trials=num_trials,
        train=train,
        id_test=task_set("id_test", tuple(train_envs), seed + 1, train_fam, None),
        ood_test=task_set("ood_test", ood_envs, seed + 2, ood_fam, None, ood_kwargs),
        description=description,
        gamma=gamma,
    )


# ------------------------------------------------------------------------------ registry
_BENCHMARKS: dict[str, Callable[[], Benchmark]] = {}


def register_benchmark(
    bench: Benchmark | Callable[[], Benchmark], *, name: str | None = None, overwrite: bool = False
) -> None:
    """Register a benchmark (or a zero-argument factory, built on first use) under a name.

    Args:
        bench: a :class:`Benchmark`, or a callable returning one.
        name: registry name; defaults to ``bench.name`` (required for a factory).
        overwrite: allow replacing a registered name.

    Raises:
        ValueError: the name is taken (and ``overwrite`` is False), or missing.
    """
    if isinstance(bench, Benchmark):
        name = bench.name if name is None else name
        factory: Callable[[], Benchmark] = lambda: bench
    elif callable(bench):
        if name is None:
            raise ValueError("register_benchmark: pass name=... with a factory.")
        factory = bench
    else:
        raise TypeError(f"register_benchmark: expected a Benchmark or a factory, got {bench!r}.")
    if name in _BENCHMARKS and not overwrite:
        raise ValueError(f"Benchmark {name!r} is already registered; pass overwrite=True.")
    _BENCHMARKS[name] = factory
    _cached_benchmark.cache_clear()


def benchmarks() -> list[str]:
    """Names of the registered benchmarks, sorted."""
    return sorted(_BENCHMARKS)


@functools.cache
def _cached_benchmark(name: str) -> Benchmark:
    bench = _BENCHMARKS[name]()
    if bench.name != name:
        bench = dataclasses.replace(bench, name=name)
    return bench


def benchmark(name: str) -> Benchmark:
    """The registered benchmark ``name`` (built once, then cached).

    Raises:
        ValueError: unknown name, with close matches and the list of names.
    """
    if name not in _BENCHMARKS:
        close = difflib.get_close_matches(str(name), list(_BENCHMARKS), n=3, cutoff=0.4)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(f"Unknown benchmark {name!r}.{hint} Registered: {benchmarks()}.")
    return _cached_benchmark(name)


# ------------------------------------------------------------------------------ shipped
# The definitions below are data: changing any of them changes the benchmark's fingerprint,
# which tests/test_benchmarks.py pins. Reasons for each choice are in its description and in
# docs/tasks.md ("Benchmarks").

CLASSIC_TRAIN: tuple[str, ...] = (
    "gymnax/Pendulum-v1",
    "gymnax/MountainCarContinuous-v0",
    "gymnax/Reacher-misc",
    "gymnax/PointRobot-misc",
)
CLASSIC_OOD: tuple[str, ...] = ("gymnax/Swimmer-misc", "brax/inverted_pendulum")
CLASSIC_KWARGS: dict[str, dict[str, Any]] = {
    # Short trials keep a 4-trial task at 400 steps; MountainCar gets 200 so that a good
    # policy can reach the goal (it needs about 100 steps from the valley).
    "gymnax/Pendulum-v1": {"max_steps_in_episode": 100},
    "gymnax/MountainCarContinuous-v0": {"max_steps_in_episode": 200},
    "gymnax/Reacher-misc": {"max_steps_in_episode": 100},
    "gymnax/PointRobot-misc": {"max_steps_in_episode": 100},
    "gymnax/Swimmer-misc": {"max_steps_in_episode": 100},
    "brax/inverted_pendulum": {"max_steps_in_episode": 100},
}
CLASSIC_EXTRAS: tuple[str, ...] = ("reward", "trial_done", "task_start")
CLASSIC_DESCRIPTION = (
    "The CPU default, designed to be meta-learnable in minutes on a CPU (measured: "
    "docs/tasks.md, 'The difficulty ladder'; the cpu preset learns above the random policy "
    "and the memoryless agent on unseen projections, but shows no gain across trials yet: "
    "docs/main_job.md). Train: four gymnax envs (Pendulum-v1, "
    "MountainCarContinuous-v0, Reacher-misc, PointRobot-misc) that compile in about a second; "
    "Reacher's and PointRobot's goals are drawn per task and held across its trials "
    "(PointRobot's is unobserved: it must be found in trial 1 and remembered). Each task draws "
    "a random gaussian action projection (A=2 agent actions mixed into the env's actuators: "
    "which direction does what must be found in context); observations are standardised and "
    "embedded unprojected in O=16 (a per-task random observation projection is not learned at "
    "CPU budgets: see classic-full). Extras: previous reward, trial-done and task-start flags, "
    "no previous action (it let a memoryless agent identify an action sign in one step). "
    "K=4 trials of 100 steps (MountainCar 200); design discount 0.995 values the next trial "
    "at 0.6. Held out: Swimmer-misc (2-D goal reaching) and brax inverted_pendulum (balancing)."
)

# In-context navigation: the sparse semicircle task of meta-RL (Rakelly et al., 2019; Zintgraf
# et al., 2020) under random action projections. The goal is held for the task and never
# observed, and the robot stays where it is (no teleport): found in trial 1, it can be reached
# directly in the later trials, so memory pays across trials.
NAV_ENV = "gymnax/PointRobot-misc"
NAV_KWARGS: dict[str, Any] = {
    "max_steps_in_episode": 50,  # 10 steps to the arc, about 30 more to sweep it
    "teleport": False,  # stay at the goal (gymnax moves the robot back at every reach)
    "center_init": True,  # start at the origin, 1.0 from every goal
    "goal_radius": 0.3,  # gymnax: 0.2 (not searched for at CPU budgets: docs/tasks.md)
    # gymnax's observation shows the last displacement: with it a memoryless policy keeps
    # moving the way it last moved under any projection, and matched S5 (docs/tasks.md)
    "observe_last_action": False,
}
NAV_OOD_KWARGS: dict[str, Any] = {**NAV_KWARGS, "goal_angles": (math.pi, 2 * math.pi)}
NAV_DESCRIPTION = (
    "In-context navigation: the sparse point-robot semicircle "
    "task of meta-RL (PEARL, VariBAD) under a random gaussian action projection per task "
    "(A=2 agent actions mixed into the robot's 2-D displacement). The robot starts at the "
    "origin; the goal, drawn per task on the upper unit semicircle and held for its K=4 "
    "trials of 50 steps, is never observed: reward 1 per step within 0.3 of it. The robot "
    "stays there once it arrives, so an agent that found the goal in trial 1 can go straight "
    "to it in trials 2-4 (the in-context gain). Observations (position, last reward, time; "
    "the last displacement shown as 0) are standardised and embedded unprojected in O=8; "
    "extras: previous "
    "reward, trial-done and task-start flags. Held out: goals on the lower semicircle, never "
    "seen in training. Design discount 0.995 values the next trial at 0.78. The main job's cpu "
    "preset (13.1 M steps, the value head on its own memory) gives S5 an id_test gain from "
    "trial 1 to trial 4 of 1.84 [95% CI 1.36, 2.32], above 0 on each of three seeds "
    "(docs/main_job.md; with one memory shared by both heads its return fell across trials: "
    "docs/tasks.md, 'Designing point-nav')."
)

# Lu et al. (2023), DMC experiment: every DM Control task with obs <= 12 and actions <= 2.
DMC_TRAIN: tuple[str, ...] = (
    "dmc/BallInCup",  # ball_in_cup-catch
    "dmc/CartpoleSwingup",  # cartpole-swingup
    "dmc/FingerSpin",  # finger-spin
    "dmc/FingerTurnHard",  # finger-turn_hard
    "dmc/PointMass",  # point_mass-easy
    "dmc/ReacherEasy",  # reacher-easy
)
DMC_OOD: tuple[str, ...] = (
    "dmc/CartpoleBalance",  # cartpole-balance
    "dmc/FingerTurnEasy",  # finger-turn_easy
    "dmc/PendulumSwingup",  # pendulum-swingup
    "dmc/PointMassHard",  # point_mass-hard
    "dmc/ReacherHard",  # reacher-hard
)

BRAX_TRAIN: tuple[str, ...] = ("brax/ant", "brax/halfcheetah", "brax/walker2d")
BRAX_OOD: tuple[str, ...] = ("brax/hopper", "brax/swimmer")


# The discount each shipped benchmark is designed for: its reward scales make the random
# policy's discounted return O(1) at this gamma, and the presets train with it.
SHIPPED_GAMMA: dict[str, float] = {
    "point-nav": 0.995,
    "classic": 0.995,
    "classic-families": 0.995,
    "classic-full": 0.995,
    "dmc-lu2023": 0.99,
    "dmc-lu2023-multitrial": 0.995,
    "brax-locomotion": 0.99,
}
_RETURN_SCALES_SCRIPT = "scripts/compute_return_scales.py"


@functools.cache
def _shipped_return_scales() -> dict[str, Any]:
    path = resources.files("projected_envs") / "data" / "return_scales.json"
    return json.loads(path.read_text())["benchmarks"] if path.is_file() else {}


def shipped_return_scales(name: str) -> dict[str, float]:
    """The shipped gamma-aware reward scales of a shipped benchmark: ``{env_id: scale}``.

    Raises:
        KeyError: none shipped for ``name`` at its design gamma (names the script).
    """
    entry = _shipped_return_scales().get(name)
    if entry is None or entry["gamma"] != SHIPPED_GAMMA.get(name):
        raise KeyError(
            f"No return scales shipped for benchmark {name!r} at gamma "
            f"{SHIPPED_GAMMA.get(name)}; run `python {_RETURN_SCALES_SCRIPT} {name}`."
        )
    return dict(entry["scales"])


def _design(name: str) -> dict[str, Any]:
    """``gamma`` and ``reward_scales`` keyword arguments of a shipped benchmark.

    Without shipped scales (only while regenerating them) the benchmark is built with the
    per-step scales and a warning says so.
    """
    try:
        scales = shipped_return_scales(name)
    except KeyError as err:
        warnings.warn(f"{err.args[0]} Using per-step reward scales.", stacklevel=3)
        scales = None
    return {"gamma": SHIPPED_GAMMA[name], "reward_scales": scales}


def _every(envs: Sequence[str], **kwargs: Any) -> dict[str, dict[str, Any]]:
    return {e: dict(kwargs) for e in envs}


def _classic() -> Benchmark:
    return make_benchmark(
        "classic",
        CLASSIC_TRAIN,
        CLASSIC_OOD,
        obs_dim=16,
        action_dim=2,
        num_trials=4,
        obs_family="identity",
        action_family="gaussian",
        obs_extras=CLASSIC_EXTRAS,
        env_kwargs=CLASSIC_KWARGS,
        description=CLASSIC_DESCRIPTION,
        **_design("classic"),
    )


def _point_nav() -> Benchmark:
    return make_benchmark(
        "point-nav",
        (NAV_ENV,),
        (NAV_ENV,),
        obs_dim=8,
        action_dim=2,
        num_trials=4,
        obs_family="identity",
        action_family="gaussian",
        obs_extras=CLASSIC_EXTRAS,
        env_kwargs={NAV_ENV: NAV_KWARGS},
        ood_env_kwargs={NAV_ENV: NAV_OOD_KWARGS},
        description=NAV_DESCRIPTION,
        **_design("point-nav"),
    )


def _classic_full() -> Benchmark:
    return make_benchmark(
        "classic-full",
        CLASSIC_TRAIN,
        CLASSIC_OOD,
        obs_dim=16,
        action_dim=2,
        num_trials=4,
        obs_extras=CLASSIC_EXTRAS,
        env_kwargs=CLASSIC_KWARGS,
        description=(
            "classic with the paper's full setting: per-task random gaussian projections of "
            "both observations (O=16) and actions (A=2). Not learned at CPU budgets (2 M steps "
            "per seed: S5 at the random policy's level, docs/tasks.md); meant for GPU runs."
        ),
        **_design("classic-full"),
    )


def _classic_families() -> Benchmark:
    return make_benchmark(
        "classic-families",
        CLASSIC_TRAIN,
        None,
        obs_dim=16,
        action_dim=2,
        num_trials=4,
        obs_family="identity",
        action_family="gaussian",
        ood_action_family="signed_permutation",
        obs_extras=CLASSIC_EXTRAS,
        env_kwargs=CLASSIC_KWARGS,
        description=(
            "Projection-family OOD: classic's train set (gaussian action projections); ood_test "
            "runs the same envs under signed-permutation action projections (axis-aligned, "
            "sparse: the least gaussian-like family), so only the projection family is new. "
            "Evaluate other families with dataclasses.replace(bench.ood_test, action_family=...)."
        ),
        **_design("classic-families"),
    )


def _dmc_lu2023() -> Benchmark:
    return make_benchmark(
        "dmc-lu2023",
        DMC_TRAIN,
        DMC_OOD,
        obs_dim=12,
        action_dim=2,
        num_trials=1,
        obs_extras=("reward", "trial_done"),
        env_kwargs=_every(DMC_TRAIN + DMC_OOD, max_steps_in_episode=1000),
        description=(
            "The DMC split of Lu et al. (2023) exactly: O=12, A=2, train ball_in_cup-catch, "
            "cartpole-swingup, finger-spin, finger-turn_hard, point_mass-easy, reacher-easy; "
            "held out cartpole-balance, finger-turn_easy, pendulum-swingup, point_mass-hard, "
            "reacher-hard; one 1000-step episode per task; the observation appends the last "
            "reward and done flag. Needs the 'dmc' extra (MuJoCo Playground)."
        ),
        **_design("dmc-lu2023"),
    )


def _dmc_lu2023_multitrial() -> Benchmark:
    return make_benchmark(
        "dmc-lu2023-multitrial",
        DMC_TRAIN,
        DMC_OOD,
        obs_dim=12,
        action_dim=2,
        num_trials=4,
        env_kwargs=_every(DMC_TRAIN + DMC_OOD, max_steps_in_episode=250),
        description=(
            "dmc-lu2023's split and dims with K=4 trials of 250 steps per task (the same 1000 "
            "steps per task), and all observation extras (previous action, reward, trial-done, "
            "task-start), so an agent can adapt to a task across its trials."
        ),
        **_design("dmc-lu2023-multitrial"),
    )


def _brax_locomotion() -> Benchmark:
    return make_benchmark(
        "brax-locomotion",
        BRAX_TRAIN,
        BRAX_OOD,
        obs_dim=32,
        action_dim=8,
        num_trials=2,
        env_kwargs=_every(BRAX_TRAIN + BRAX_OOD, max_steps_in_episode=500),
        description=(
            "brax locomotion. Train: ant (obs 27, act 8), halfcheetah (17, 6), walker2d (17, 6); "
            "held out: hopper (11, 3; a one-legged walker2d) and swimmer (8, 2; no ground "
            "contact). O=32 >= 27 keeps every gaussian M_o injective; A=8 is ant's actuator "
            "count, so every env can be fully actuated (M_a of full row rank). K=2 trials of "
            "500 steps per task."
        ),
        **_design("brax-locomotion"),
    )


register_benchmark(_classic, name="classic")
register_benchmark(_classic_families, name="classic-families")
register_benchmark(_classic_full, name="classic-full")
register_benchmark(_point_nav, name="point-nav")
register_benchmark(_dmc_lu2023, name="dmc-lu2023")
register_benchmark(_dmc_lu2023_multitrial, name="dmc-lu2023-multitrial")
register_benchmark(_brax_locomotion, name="brax-locomotion")
