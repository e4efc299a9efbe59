"""Diagnosis benchmarks (not shipped headlines): point-nav with its observation projected to O=8.

``point-nav`` embeds PointRobot's 6-dim observation unprojected in O=8
(the ``identity`` family: zero-padded). These variants change only the observation family,
everything else (envs, kwargs, action family, extras, K, seeds, reward scales, gamma) is
point-nav's:

* ``point-nav-obs8-identity``: the control, ``identity`` (point-nav itself under another name);
* ``point-nav-obs8-fixed``: ``fixed_orthogonal``, ONE random orthogonal ``M_o`` for every task;
* ``point-nav-obs8-pertask-orth``: ``orthogonal``, a fresh orthogonal ``M_o`` per task;
* ``point-nav-obs8-pertask-gauss``: ``gaussian``, a fresh gaussian ``M_o`` per task.

The criterion (../shared/READING.md): if the fixed ``M_o`` already fails, the problem is
conditioning or scale; if only the per-task ``M_o`` fails, it is the meta-learning plateau.
Importing this module registers the four names (idempotently).
"""

from __future__ import annotations

import dataclasses

from projected_envs.benchmark_registry import Benchmark, benchmark, benchmarks, register_benchmark

__all__ = ["OBS_PROBE_FAMILIES", "obs_probe"]

BASE = "point-nav"
# variant name -> observation projection family
OBS_PROBE_FAMILIES: dict[str, str] = {
    "point-nav-obs8-identity": "identity",
    "point-nav-obs8-fixed": "fixed_orthogonal",
    "point-nav-obs8-pertask-orth": "orthogonal",
    "point-nav-obs8-pertask-gauss": "gaussian",
}


def obs_probe(name: str) -> Benchmark:
    """The diagnosis variant ``name`` of point-nav (a key of :data:`OBS_PROBE_FAMILIES`).

    Every split of point-nav with ``obs_family`` replaced; O stays 8 (PointRobot's 6 obs dims
    projected to 8). Validated like any benchmark (``Benchmark.__post_init__``).

    Raises:
        ValueError: an unknown variant name (lists the valid ones).
    """
    if name not in OBS_PROBE_FAMILIES:
        raise ValueError(
            f"Unknown observation-probe variant {name!r}; valid: {sorted(OBS_PROBE_FAMILIES)}."
        )
    family = OBS_PROBE_FAMILIES[name]
    base = benchmark(BASE)

    def split(key: str) -> object:
        ts = getattr(base, key)
        return dataclasses.replace(ts, obs_family=family, name=f"{name}/{key}")

    return dataclasses.replace(
        base,
        name=name,
        train=split("train"),
        id_test=split("id_test"),
        ood_test=split("ood_test"),
        description=(
            f"Diagnosis variant of point-nav (not a shipped headline): observation "
            f"family {family!r} in every split, all else point-nav's."
        ),
    )


for _name in OBS_PROBE_FAMILIES:
    if _name not in benchmarks():
        register_benchmark(lambda n=_name: obs_probe(n), name=_name)
