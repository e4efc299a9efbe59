"""Benchmark machinery: :class:`Benchmark`, :func:`make_benchmark` and the benchmark registry.

A **benchmark** (:class:`Benchmark`) names three task sets (:class:`~projected_envs.tasks.TaskSet`)
with the same outer observation / action sizes:

* ``train``: what the agent is meta-trained on;
* ``id_test``: unseen projections of the train envs (same envs, another seed space);
* ``ood_test``: held-out envs and/or held-out projection families.

The shipped definitions are data, in :mod:`projected_envs.shipped_benchmarks` (registered when
the package is imported); the task-set machinery (how a task follows from a key, banks, seed
spaces) is :mod:`projected_envs.tasks`. The public functions :func:`benchmark` and
:func:`benchmarks` are re-exported by :mod:`projected_envs`; this module has a name of its own
so that neither hides it (``projected_envs.benchmarks`` is the function).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from projected_envs._deprecation import warn_renamed
from projected_envs.tasks import _OBS_EXTRAS, _SCHEME, TaskSet, _hash, _positive_int

__all__ = [
    "Benchmark",
    "benchmark",
    "benchmark_aliases",
    "benchmarks",
    "make_benchmark",
    "register_benchmark",
    "split_version",
]


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """A named benchmark: train, id_test and ood_test task sets with the same outer sizes.

    Checked at construction: the three sets share ``obs_dim``, ``action_dim`` and the outer
    observation size (the agent's input layout); ``num_trials`` equals ``train.num_trials``
    (test sets may use another K); ``id_test`` has envs from ``train`` with the same
    families and another ``seed``; ``ood_test`` shares no ``(env, obs_family,
    action_family)`` with ``train`` (held-out envs, the train envs under other families, or
    under other ``make()`` kwargs: :attr:`TaskSet.components`).

    Versions: a benchmark may carry a ``version``; its registry id (:attr:`id`) is then
    ``"<name>-v<version>"`` (``"point-nav-v1"``), as gymnasium names env versions. A changed
    definition is registered as a new version and the old one stays buildable, so a
    distribution named by its id never changes silently; the bare name is an alias of the newest
    version (:func:`benchmark`).
    """

    name: str  # registry name, e.g. "classic"
    obs_dim: int  # O
    action_dim: int  # A
    num_trials: int  # K of the train set
    train: TaskSet  # meta-training distribution
    id_test: TaskSet  # unseen projections of the train envs
    ood_test: TaskSet  # held-out envs and/or projection families
    description: str = ""  # prose: the choice and its reasons (not part of the fingerprint)
    gamma: float | None = None  # discount the benchmark is designed for (its return scales')
    # version of the definition (positive int), None for an unversioned benchmark; the
    # registry id is "<name>-v<version>" (see ``id``); not part of the fingerprint (canonical)
    version: int | None = None

    def __post_init__(self) -> None:
        where = f"Benchmark {self.name!r}"
        if self.gamma is not None and not 0 < self.gamma <= 1:
            raise ValueError(f"{where}: gamma must be in (0, 1] or None, got {self.gamma}.")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("Benchmark: name must be a non-empty string.")
        if self.version is not None:
            _positive_int(self.version, "version", where)
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

    @property
    def id(self) -> str:
        """The registry id: ``"<name>-v<version>"``, or ``name`` for an unversioned benchmark."""
        return self.name if self.version is None else f"{self.name}-v{self.version}"

    def canonical(self) -> dict[str, Any]:
        """The definition as JSON-able data (``description`` and ``version`` excluded)."""
        # ``version`` is left out on purpose: the fingerprint hashes the definition (the name
        # and what the splits draw) exactly as it did before benchmarks had versions, so the
        # shipped v1 definitions kept their published fingerprints (pinned in
        # tests/test_shipped_benchmarks.py). A new version is a changed definition, which
        # changes the hash by itself.
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
    return_scales: Mapping[str, float] | None = None,
    version: int | None = None,
    reward_scales: Mapping[str, float] | None = None,
) -> Benchmark:
    """Build a :class:`Benchmark` from env lists, with the standard seed convention.

    ``train`` has seed ``seed``, ``id_test`` (the train envs, unweighted) ``seed + 1``,
    ``ood_test`` ``seed + 2``. ``ood_envs=None`` reuses the train envs (a family-OOD
    benchmark: then ``ood_obs_family`` / ``ood_action_family`` must differ from the train
    ones). ``env_kwargs`` maps env id -> ``make()`` kwargs, for all three sets, unless
    ``ood_env_kwargs`` gives ``ood_test`` its own (an env under other kwargs, e.g. a held-out
    goal region, is held out).
    ``return_scales`` maps env id -> return scale (``TaskSet.return_scales``, the gamma-aware
    reward multiplier for ``gamma``); each split gets the entries of its envs. ``version``
    makes the benchmark's id ``"<name>-v<version>"`` (:attr:`Benchmark.id`).
    ``reward_scales`` is the deprecated name of ``return_scales``.
    """
    if reward_scales is not None:
        warn_renamed("make_benchmark(reward_scales=...)", "return_scales=...")
        if return_scales is not None:
            raise TypeError("make_benchmark: give return_scales only (reward_scales: old name).")
        return_scales = reward_scales
    ood_envs = tuple(train_envs) if ood_envs is None else tuple(ood_envs)
    kwargs = dict(env_kwargs or {})
    ood_kwargs = kwargs if ood_env_kwargs is None else dict(ood_env_kwargs)
    scales = dict(return_scales or {})

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
            return_scales=tuple((e, scales[e]) for e in envs if e in scales),
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
        version=version,
    )


# ------------------------------------------------------------------------------ registry
_BENCHMARKS: dict[str, Callable[[], Benchmark]] = {}  # registry id -> factory
_VERSIONED = re.compile(r"^(?P<name>.+)-v(?P<version>[1-9][0-9]*)$")


def split_version(benchmark_id: str) -> tuple[str, int | None]:
    """``"point-nav-v1"`` -> ``("point-nav", 1)``; an id without ``-v<N>`` -> ``(id, None)``."""
    match = _VERSIONED.match(benchmark_id)
    if match is None:
        return benchmark_id, None
    return match["name"], int(match["version"])


def benchmark_aliases() -> dict[str, str]:
    """``{bare name: id of its newest registered version}``, e.g. ``{"classic": "classic-v1"}``.

    A bare name that is itself a registered id is not an alias (the registered one wins).
    """
    newest: dict[str, tuple[int, str]] = {}
    for key in _BENCHMARKS:
        name, version = split_version(key)
        if version is not None and version > newest.get(name, (0, ""))[0]:
            newest[name] = (version, key)
    return {name: key for name, (_, key) in sorted(newest.items()) if name not in _BENCHMARKS}


def register_benchmark(
    bench: Benchmark | Callable[[], Benchmark], *, name: str | None = None, overwrite: bool = False
) -> None:
    """Register a benchmark (or a zero-argument factory, built on first use) under an id.

    A benchmark built from the factory gets the id it was registered under (:attr:`Benchmark.id`:
    ``"mine-v2"`` sets name ``"mine"`` and version 2, an id without ``-v<N>`` sets the name).
    Register a changed definition of a versioned benchmark as its next version.

    Args:
        bench: a :class:`Benchmark`, or a callable returning one.
        name: registry id; defaults to ``bench.id`` (required for a factory).
        overwrite: allow replacing a registered id, or shadowing an alias (a bare name that
            resolves to a versioned benchmark's newest version).

    Raises:
        ValueError: the id is taken or is an alias (and ``overwrite`` is False), or missing.
    """
    if isinstance(bench, Benchmark):
        name = bench.id if name is None else name
        factory: Callable[[], Benchmark] = lambda: bench
    elif callable(bench):
        if name is None:
            raise ValueError("register_benchmark: pass name=... with a factory.")
        factory = bench
    else:
        raise TypeError(f"register_benchmark: expected a Benchmark or a factory, got {bench!r}.")
    if name in _BENCHMARKS and not overwrite:
        raise ValueError(f"Benchmark {name!r} is already registered; pass overwrite=True.")
    alias_of = benchmark_aliases().get(name)
    if alias_of is not None and not overwrite:
        newest = split_version(alias_of)[1]
        raise ValueError(
            f"Benchmark name {name!r} is an alias of {alias_of!r}; register a changed "
            f"definition as {name}-v{newest + 1}, or pass overwrite=True to shadow the alias."
        )
    _BENCHMARKS[name] = factory
    _cached_benchmark.cache_clear()


def benchmarks(aliases: bool = False) -> list[str]:
    """Ids of the registered benchmarks, sorted.

    Shipped benchmarks are listed with their version (``"classic-v1"``); the bare names, which
    :func:`benchmark` resolves to the newest version (:func:`benchmark_aliases`), are listed
    too with ``aliases=True``.
    """
    names = set(_BENCHMARKS)
    if aliases:
        names |= set(benchmark_aliases())
    return sorted(names)


@functools.cache
def _cached_benchmark(key: str) -> Benchmark:
    bench = _BENCHMARKS[key]()
    if bench.id != key:
        name, version = split_version(key)
        bench = dataclasses.replace(bench, name=name, version=version)
    return bench


def benchmark(name: str) -> Benchmark:
    """The registered benchmark ``name`` (built once, then cached).

    ``name`` is a registry id (``"point-nav-v1"``) or the bare name of a versioned benchmark
    (``"point-nav"``), which stands for its newest version.

    Raises:
        ValueError: unknown name, with close matches and the list of names.
    """
    key = name if name in _BENCHMARKS else benchmark_aliases().get(name)
    if key is None:
        known = benchmarks(aliases=True)
        close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.4)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(f"Unknown benchmark {name!r}.{hint} Registered: {known}.")
    return _cached_benchmark(key)
