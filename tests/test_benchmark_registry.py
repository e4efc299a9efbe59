"""Benchmark machinery: split checks, the registry, and names with versions."""

from __future__ import annotations

import dataclasses
import importlib

import pytest

from projected_envs.benchmark_registry import benchmark, make_benchmark
from tests.helpers import SMALL

bm = importlib.import_module("projected_envs.benchmark_registry")


def test_a_new_version_takes_over_the_alias_and_the_old_one_stays():
    old = benchmark("classic-v1")
    try:
        bm.register_benchmark(lambda: dataclasses.replace(old, gamma=0.99), name="classic-v2")
        new = benchmark("classic")
        assert (new.id, new.version, new.gamma) == ("classic-v2", 2, 0.99)
        assert benchmark("classic-v1").fingerprint == old.fingerprint != new.fingerprint
        mine = make_benchmark("classic", SMALL.envs, None, 6, 2, ood_obs_family="orthogonal")
        with pytest.raises(ValueError, match=r"alias of 'classic-v2'.*classic-v3"):
            bm.register_benchmark(mine)
    finally:
        bm._BENCHMARKS.pop("classic-v2", None)
        bm._cached_benchmark.cache_clear()
    assert benchmark("classic") is benchmark("classic-v1")


def test_unknown_benchmark_name_suggests_close_matches():
    with pytest.raises(ValueError, match=r"Unknown benchmark 'clasic'.*'classic'"):
        benchmark("clasic")


def test_ood_env_kwargs_hold_out_the_same_env_under_other_kwargs():
    kwargs = {"gymnax/Pendulum-v1": {"max_torque": 1.0}}
    ok = make_benchmark("k", ("gymnax/Pendulum-v1",), None, 4, 1, ood_env_kwargs=kwargs)
    assert dict(ok.ood_test.kwargs_for("gymnax/Pendulum-v1")) == {"max_torque": 1.0}
    assert ok.train.kwargs_for("gymnax/Pendulum-v1") == ()
    with pytest.raises(ValueError, match="ood_test overlaps train"):
        make_benchmark("k", ("gymnax/Pendulum-v1",), None, 4, 1, env_kwargs=kwargs)


def test_overlapping_train_and_ood_envs_raise():
    with pytest.raises(ValueError, match=r"ood_test overlaps train.*gymnax/Reacher-misc"):
        make_benchmark("bad", SMALL.envs, ("gymnax/Reacher-misc", "gymnax/Swimmer-misc"), 6, 2)


def test_family_ood_may_reuse_train_envs_but_not_train_families():
    make_benchmark("fam", SMALL.envs, None, 6, 2, ood_obs_family="orthogonal")
    with pytest.raises(ValueError, match="ood_test overlaps train"):
        make_benchmark("fam", SMALL.envs, None, 6, 2)


def test_inconsistent_benchmark_splits_raise():
    good = make_benchmark("ok", SMALL.envs, ("gymnax/Swimmer-misc",), 6, 2)
    with pytest.raises(ValueError, match="dims"):
        dataclasses.replace(good, ood_test=dataclasses.replace(good.ood_test, obs_dim=7))
    with pytest.raises(ValueError, match="train seed"):
        dataclasses.replace(good, id_test=dataclasses.replace(good.id_test, seed=good.train.seed))
    with pytest.raises(ValueError, match="not train envs"):
        dataclasses.replace(good, id_test=dataclasses.replace(good.ood_test, seed=7))
    with pytest.raises(ValueError, match="num_trials"):
        dataclasses.replace(good, num_trials=3)
    with pytest.raises(ValueError, match="obs_size"):
        dataclasses.replace(good, ood_test=dataclasses.replace(good.ood_test, obs_extras=()))


def test_register_benchmark_adds_refuses_duplicates_and_overwrites():
    b = make_benchmark("user-bench", SMALL.envs, ("gymnax/Swimmer-misc",), 6, 2)
    try:
        bm.register_benchmark(b)
        assert "user-bench" in bm.benchmarks() and benchmark("user-bench") is b
        with pytest.raises(ValueError, match="already registered"):
            bm.register_benchmark(b)
        other = make_benchmark("user-bench", SMALL.envs, ("gymnax/Swimmer-misc",), 5, 2)
        bm.register_benchmark(lambda: other, name="user-bench", overwrite=True)
        assert benchmark("user-bench").obs_dim == 5
    finally:
        bm._BENCHMARKS.pop("user-bench", None)
        bm._cached_benchmark.cache_clear()
