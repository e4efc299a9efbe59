"""Env ids ("suite/name") -> factories: :func:`make`, :func:`register`, :func:`registered_envs`.

Built-in suites:

* ``gymnax/``: the continuous-action gymnax envs (:data:`GYMNAX_ENVS`);
* ``brax/``: all eleven brax envs (:data:`BRAX_ENVS`), ``backend=`` picks the pipeline;
* ``dmc/``: MuJoCo Playground's DM Control Suite (:data:`DMC_ENVS`) plus ``dmc/PointMassHard``,
  available with the ``dmc`` extra;
* ``probe/``: tiny probe MDPs for learning tests (``projected_envs.backends.probes``).

Registering the built-ins imports neither brax nor Playground: each factory imports its
backend when it is called, so ``import projected_envs`` stays fast.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import inspect
import re
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from gymnax.environments import environment as gymnax_environment
from gymnax.environments import spaces

from projected_envs.core import Environment

#: Continuous-action gymnax envs (``gymnax/<name>``).
GYMNAX_ENVS: tuple[str, ...] = (
    "Pendulum-v1",
    "MountainCarContinuous-v0",
    "Reacher-misc",
    "Swimmer-misc",
    "PointRobot-misc",
)

#: brax envs (``brax/<name>``).
BRAX_ENVS: tuple[str, ...] = (
    "ant",
    "halfcheetah",
    "hopper",
    "humanoid",
    "humanoidstandup",
    "inverted_pendulum",
    "inverted_double_pendulum",
    "pusher",
    "reacher",
    "swimmer",
    "walker2d",
)

#: MuJoCo Playground ``dm_control_suite.ALL_ENVS`` (playground 0.2) plus our PointMassHard
#: (``dmc/<name>``). Listed here so registering them needs no import of Playground; a test
#: checks the list against the installed Playground.
DMC_ENVS: tuple[str, ...] = (
    "AcrobotSwingup",
    "AcrobotSwingupSparse",
    "BallInCup",
    "CartpoleBalance",
    "CartpoleBalanceSparse",
    "CartpoleSwingup",
    "CartpoleSwingupSparse",
    "CheetahRun",
    "FingerSpin",
    "FingerTurnEasy",
    "FingerTurnHard",
    "FishSwim",
    "HopperHop",
    "HopperStand",
    "HumanoidStand",
    "HumanoidWalk",
    "HumanoidRun",
    "PendulumSwingup",
    "PointMass",
    "PointMassHard",
    "ReacherEasy",
    "ReacherHard",
    "SwimmerSwimmer6",
    "WalkerRun",
    "WalkerStand",
    "WalkerWalk",
)

#: brax physics pipelines (``make("brax/...", backend=...)``).
BRAX_BACKENDS: tuple[str, ...] = ("generalized", "positional", "spring", "mjx")

#: MJX implementations of ``dmc/`` envs (``make("dmc/...", impl=...)``).
DMC_IMPLS: tuple[str, ...] = ("jax", "warp")

#: A factory builds one env from keyword arguments.
EnvFactory = Callable[..., Environment]

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_REGISTRY: dict[str, EnvFactory] = {}
_PROBES_LOADED = False


# ---------------------------------------------------------------------------------- public
def make(env_id: str, **kwargs: Any) -> tuple[Environment, Any]:
    """Build a registered env and its default params (the default task).

    Args:
        env_id: ``"suite/name"``, one of :func:`registered_envs`, e.g. ``"brax/hopper"``.
        **kwargs: passed to the env's factory. Every built-in accepts
            ``max_steps_in_episode`` (time limit, agent steps); ``gymnax/`` envs take any
            field of their ``EnvParams``; ``brax/`` envs take ``backend=`` and the brax env
            class's arguments; ``dmc/`` envs take ``impl=`` and Playground config fields.
            brax / dmc envs take ``goal_sampling="task"`` (default: goals, targets and
            actuation directions drawn by ``sample_task``, held for the task) or
            ``"episode"`` (redrawn at every reset, as the original env).
            ``gymnax/PointRobot-misc`` also takes ``teleport=False`` (the robot stays at
            the goal), ``goal_angles=(low, high)`` (the arc of its goals, radians) and, with
            ``teleport=False``, ``observe_last_action=False`` (last displacement shown as 0).

    Returns:
        ``(env, params)``: a :class:`projected_envs.core.Environment` with Box actions in
        ``[-1, 1]`` and flat float32 observations, and ``env.default_params``.

    ``make`` may be called inside a ``jax.jit`` trace: the env is built with
    ``jax.ensure_compile_time_eval`` so its model arrays are concrete, never tracers. Building
    an env is host work (brax / MJX compile their model), so build it once outside your jitted
    function where you can.

    Raises:
        ValueError: unknown id (the message names the closest registered ids), an id that is
            not a string, or, for the built-in suites, an unknown keyword (the message lists
            the valid ones), a ``max_steps_in_episode`` that is not a positive int, or an
            unknown ``dmc`` ``impl``.
        ImportError: ``dmc/`` envs without MuJoCo Playground (``pip install
            "projected-envs[dmc]"``).
    """
    if not isinstance(env_id, str):
        raise ValueError(
            f"make: env_id must be a string 'suite/name', got {env_id!r}. "
            f"See projected_envs.registered_envs() for the {len(_registry())} ids."
        )
    registry = _registry()
    if env_id not in registry:
        raise ValueError(_unknown_id_message(env_id, registry))
    check_kwargs(env_id, kwargs)
    with jax.ensure_compile_time_eval():  # concrete model arrays even inside a jit trace
        env = _validated(registry[env_id](**kwargs), env_id)
    return env, env.default_params


def check_kwargs(env_id: str, kwargs: dict[str, Any]) -> None:
    """Check the :func:`make` keyword arguments of a built-in env without building it.

    ``gymnax/``: fields of the env's ``EnvParams``; ``brax/``: ``backend``,
    ``max_steps_in_episode`` and the brax env class's arguments; ``dmc/``: ``impl``,
    ``max_steps_in_episode`` and the Playground config fields. ``max_steps_in_episode`` must
    be a positive int. Envs of other suites (your own registrations) are not checked here.
    Cheap: brax and Playground are imported only for keywords beyond the common ones.

    Raises:
        ValueError: naming the bad keyword or value and listing the valid ones.
    """
    suite, _, name = env_id.partition("/")
    if "max_steps_in_episode" in kwargs and suite in ("gymnax", "brax", "dmc"):
        steps = kwargs["max_steps_in_episode"]
        if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
            raise ValueError(
                f"{env_id}: max_steps_in_episode must be a positive int (agent steps per "
                f"episode), got {steps!r}."
            )
    valid: set[str] | None = None
    if suite == "gymnax" and name in GYMNAX_ENVS:
        import gymnax

        valid = set(gymnax.make(name)[1].__dataclass_fields__)
        # PointRobot-misc's options (make_gymnax refuses them for the other envs, by name)
        valid |= {"teleport", "goal_angles", "observe_last_action"}
    elif suite == "brax" and name in BRAX_ENVS:
        valid = {"backend", "max_steps_in_episode"}
        if set(kwargs) - valid:
            valid |= _brax_kwargs(name)
        backend = kwargs.get("backend")
        if backend is not None and backend not in BRAX_BACKENDS:
            raise ValueError(
                f"{env_id}: unknown backend {backend!r}; valid: {', '.join(BRAX_BACKENDS)}."
            )
    elif suite == "dmc" and name in DMC_ENVS:
        valid = {"impl", "max_steps_in_episode"}
        if set(kwargs) - valid:
            valid |= _dmc_config_fields(name)
        impl = kwargs.get("impl", "jax")
        if impl not in DMC_IMPLS:
            raise ValueError(
                f"{env_id}: unknown impl {impl!r}; valid: {', '.join(DMC_IMPLS)} "
                '("warp" needs an NVIDIA GPU).'
            )
    if valid is None:
        return
    valid.add("goal_sampling")  # goals drawn per task (default) or per episode: every backend
    sampling = kwargs.get("goal_sampling", "task")
    if sampling not in ("task", "episode"):
        raise ValueError(f"{env_id}: goal_sampling must be 'task' or 'episode', got {sampling!r}.")
    unknown = sorted(set(kwargs) - valid)
    if unknown:
        hints = [m for k in unknown for m in difflib.get_close_matches(k, sorted(valid), n=1)]
        hint = f" Did you mean {', '.join(repr(h) for h in hints)}?" if hints else ""
        raise ValueError(
            f"{env_id}: unknown keyword(s) {unknown}.{hint} Valid keywords: {sorted(valid)}."
        )


def register(
    env_id: str,
    factory: EnvFactory | Environment | gymnax_environment.Environment,
    *,
    overwrite: bool = False,
) -> None:
    """Add an env to the registry under ``env_id``.

    Args:
        env_id: ``"suite/name"`` (letters, digits, ``_ . -``; exactly one ``/``).
        factory: a callable ``factory(**kwargs) -> Environment`` (an env class works), or an
            env instance: a ``projected_envs`` env, or a gymnax env, which is wrapped in
            :class:`projected_envs.backends.gymnax.GymnaxEnv` (keyword arguments of
            :func:`make` then override fields of its params).
        overwrite: replace an existing registration instead of refusing it.

    Raises:
        ValueError: malformed id, id already registered (and not ``overwrite``), or an env
            with discrete actions. A factory is checked each time :func:`make` builds it.
        TypeError: ``factory`` is neither callable nor an env.
    """
    if not isinstance(env_id, str) or not _ID_PATTERN.match(env_id):
        raise ValueError(
            f"env id {env_id!r} is not of the form 'suite/name' (letters, digits, '_', '.', "
            "'-'; exactly one '/'), e.g. 'mysuite/MyEnv-v0'."
        )
    registry = _registry()
    if env_id in registry and not overwrite:
        raise ValueError(f"{env_id!r} is already registered; pass overwrite=True to replace it.")
    if isinstance(factory, gymnax_environment.Environment):
        env = _validated(factory, env_id)  # refuses discrete actions now, not at make()
        factory = functools.partial(_instance_factory, env)
    elif _is_plain_gymnax_class(factory):
        try:  # gymnax envs are cheap to build: refuse discrete actions now
            instance = factory()
        except TypeError:  # needs constructor arguments: checked at make()
            instance = None
        if instance is not None:
            _validated(instance, env_id)
    elif not callable(factory):
        raise TypeError(
            f"register({env_id!r}, ...): expected a factory (callable returning an env) or an "
            f"env instance, got {type(factory).__name__}."
        )
    registry[env_id] = factory


def registered_envs(suite: str | None = None) -> list[str]:
    """Sorted ids of every registered env, or only those of ``suite`` (e.g. ``"brax"``)."""
    ids = sorted(_registry())
    if suite is not None:
        ids = [i for i in ids if i.split("/", 1)[0] == suite]
    return ids


# ---------------------------------------------------------------------------------- built-ins
def _make_gymnax(name: str, **kwargs: Any) -> Environment:
    from projected_envs.backends.gymnax import make_gymnax

    return make_gymnax(name, **kwargs)


def _make_brax(name: str, **kwargs: Any) -> Environment:
    from projected_envs.backends.brax import make_brax

    return make_brax(name, **kwargs)


def _make_dmc(name: str, **kwargs: Any) -> Environment:
    from projected_envs.backends.dmc import make_dmc  # ImportError names the dmc extra

    return make_dmc(name, **kwargs)


def _register_builtins() -> None:
    for name in GYMNAX_ENVS:
        _REGISTRY[f"gymnax/{name}"] = functools.partial(_make_gymnax, name)
    for name in BRAX_ENVS:
        _REGISTRY[f"brax/{name}"] = functools.partial(_make_brax, name)
    for name in DMC_ENVS:
        _REGISTRY[f"dmc/{name}"] = functools.partial(_make_dmc, name)


def _registry() -> dict[str, EnvFactory]:
    """The registry, with the probe suite added on first use (its module may not exist)."""
    global _PROBES_LOADED
    if not _PROBES_LOADED:
        _PROBES_LOADED = True
        if importlib.util.find_spec("projected_envs.backends.probes") is not None:
            from projected_envs.backends.probes import PROBE_ENVS

            for name, factory in PROBE_ENVS.items():
                _REGISTRY.setdefault(f"probe/{name}", factory)
    return _REGISTRY


# ---------------------------------------------------------------------------------- helpers
@functools.cache
def _brax_kwargs(name: str) -> frozenset[str]:
    """Keyword arguments of brax's env class ``name`` and of its ``PipelineEnv`` base."""
    from projected_envs.backends.brax import quiet

    with quiet():
        from brax import envs as brax_envs
        from brax.envs.base import PipelineEnv

    names = set()
    for fn in (brax_envs._envs[name].__init__, PipelineEnv.__init__):
        for p in inspect.signature(fn).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in {
                "self",
                "sys",
            }:
                names.add(p.name)
    return frozenset(names)


@functools.cache
def _dmc_config_fields(name: str) -> frozenset[str]:
    """Fields of the Playground config of ``dmc/<name>`` (imports Playground)."""
    from projected_envs.backends import dmc

    with dmc.quiet():
        if name in dmc.EXTRA_ENVS:
            config = dmc.point_mass.default_config()
        else:
            config = dmc.dm_control_suite.get_default_config(name)
    return frozenset(config.keys())


def _instance_factory(env: Environment, **kwargs: Any) -> Environment:
    if not kwargs:
        return env
    from projected_envs.backends.gymnax import GymnaxEnv

    if isinstance(env, GymnaxEnv):
        fields = set(env.default_params.__dataclass_fields__)
        unknown = sorted(set(kwargs) - fields)
        if unknown:
            raise ValueError(f"{env.name}: unknown keyword(s) {unknown}; fields: {sorted(fields)}")
        return GymnaxEnv(env.gymnax_env, env.default_params.replace(**kwargs), env.name)
    raise TypeError(f"{env.name} was registered as an instance and takes no keyword arguments.")


def _is_plain_gymnax_class(factory: Any) -> bool:
    return (
        isinstance(factory, type)
        and issubclass(factory, gymnax_environment.Environment)
        and not issubclass(factory, Environment)
    )


def _validated(env: Any, env_id: str) -> Environment:
    """Check that ``env`` follows the protocol with Box actions; wrap plain gymnax envs."""
    if not isinstance(env, gymnax_environment.Environment):
        raise TypeError(
            f"the factory of {env_id!r} returned {type(env).__name__}, not an Environment."
        )
    space = env.action_space(env.default_params)
    if not isinstance(space, spaces.Box):
        raise ValueError(
            f"{env_id!r} has a {type(space).__name__} action space; projected_envs only "
            "supports continuous Box actions (actions are projected by a matrix), so "
            "discrete-action envs cannot be registered."
        )
    if not isinstance(env, Environment):
        from projected_envs.backends.gymnax import GymnaxEnv

        env = GymnaxEnv(env, name=env_id)
    return env


def _unknown_id_message(env_id: str, registry: dict[str, EnvFactory]) -> str:
    ids = sorted(registry)
    close = difflib.get_close_matches(env_id, ids, n=5, cutoff=0.6)
    if not close:  # compare names within a suite too: "hoper" vs "brax/hopper"
        names = {i.split("/", 1)[1]: i for i in ids}
        name = env_id.split("/", 1)[-1]
        close = [names[n] for n in difflib.get_close_matches(name, list(names), n=5, cutoff=0.6)]
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return (
        f"unknown env id {env_id!r}.{hint} See projected_envs.registered_envs() for all "
        f"{len(ids)} ids."
    )


_register_builtins()
