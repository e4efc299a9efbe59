"""Deprecated names: each old name still works, warns with a DeprecationWarning, and gives what
the new name gives."""

from __future__ import annotations

import dataclasses
import importlib

import pytest

import projected_envs as pe
from projected_envs import benchmark_registry, evaluation, shipped_benchmarks
from projected_envs.tasks import TaskSet

PENDULUM = "gymnax/Pendulum-v1"
TASKS = TaskSet(
    envs=(PENDULUM,),
    obs_dim=3,
    action_dim=1,
    num_trials=2,
    env_kwargs={PENDULUM: {"max_steps_in_episode": 7}},
    return_scales={PENDULUM: 0.5},
)


def test_benchmarks_module_path_still_imports_and_warns_per_name():
    old = importlib.import_module("projected_envs.benchmarks")
    for name, new in (
        ("benchmark", benchmark_registry.benchmark),
        ("make_benchmark", benchmark_registry.make_benchmark),
        ("TaskSet", TaskSet),
        ("SHIPPED_GAMMA", shipped_benchmarks.SHIPPED_GAMMA),
        ("NAV_ENV", shipped_benchmarks.NAV_ENV),
    ):
        with pytest.deprecated_call(match=f"projected_envs.benchmarks.{name}"):
            assert getattr(old, name) is new
    with pytest.raises(AttributeError):
        old.no_such_name  # noqa: B018
    assert callable(pe.benchmarks) and pe.benchmarks() == benchmark_registry.benchmarks()


def test_task_set_reward_scales_keyword_is_return_scales():
    with pytest.deprecated_call(match="return_scales"):
        old = TaskSet(**{**_fields(TASKS), "return_scales": (), "reward_scales": {PENDULUM: 0.5}})
    assert old == TASKS and old.fingerprint == TASKS.fingerprint
    with pytest.deprecated_call(match="return_scales"):
        replaced = dataclasses.replace(TASKS, reward_scales={PENDULUM: 0.25})
    assert replaced.return_scales == ((PENDULUM, 0.25),)
    with pytest.deprecated_call(match="TaskSet.return_scales"):
        assert TASKS.reward_scales == TASKS.return_scales


def test_task_set_max_task_steps_is_max_steps_in_episode():
    with pytest.deprecated_call(match="max_steps_in_episode"):
        old = TASKS.max_task_steps
    assert old == TASKS.max_steps_in_episode == 2 * 7


def test_max_meta_episode_steps_is_max_steps_in_episode():
    from agents import evaluation as agents_evaluation

    for module in (evaluation, agents_evaluation):
        with pytest.deprecated_call(match="max_steps_in_episode"):
            old = module.max_meta_episode_steps(TASKS, 3)
        assert old == module.max_steps_in_episode(TASKS, 3) == 3 * 7


def test_make_benchmark_reward_scales_keyword_is_return_scales():
    args = ("b", (PENDULUM,), None, 3, 1)
    kwargs = {"ood_obs_family": "orthogonal"}
    new = benchmark_registry.make_benchmark(*args, return_scales={PENDULUM: 0.5}, **kwargs)
    with pytest.deprecated_call(match="return_scales"):
        old = benchmark_registry.make_benchmark(*args, reward_scales={PENDULUM: 0.5}, **kwargs)
    assert old == new and old.fingerprint == new.fingerprint


def _fields(task_set: TaskSet) -> dict:
    return {f.name: getattr(task_set, f.name) for f in dataclasses.fields(task_set)}


def test_agents_plotting_module_path_is_agents_experiment_plots():
    from agents import plotting
    from agents.experiment import plots

    for name in ("plot_learning_curve", "plot_in_context_curve", "SPLIT_COLORS"):
        with pytest.deprecated_call(match=f"agents.experiment.plots.{name}"):
            assert getattr(plotting, name) is getattr(plots, name)
    with pytest.raises(AttributeError):
        plotting.no_such_name  # noqa: B018
