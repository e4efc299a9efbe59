"""Registry: ids, validation, lazy imports and the messages bad input gets."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import spaces

import projected_envs as pe
import projected_envs.registry as registry
from projected_envs.backends.gymnax import GymnaxEnv
from projected_envs.core import Environment

HAS_PLAYGROUND = importlib.util.find_spec("mujoco_playground") is not None


@pytest.fixture
def clean_registry(monkeypatch):
    """Registrations made by a test are dropped afterwards."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._registry()))


def test_builtin_suites_are_all_registered(monkeypatch):
    # the built-in table alone: other test modules may have registered envs at runtime
    # (meta-cartpole's, when the main job's module is imported in this process)
    monkeypatch.setattr(registry, "_REGISTRY", {})
    monkeypatch.setattr(registry, "_PROBES_LOADED", False)
    registry._register_builtins()
    ids = registry.registered_envs()
    assert ids == sorted(ids)
    assert registry.registered_envs("gymnax") == sorted(
        f"gymnax/{n}"
        for n in [
            "Pendulum-v1",
            "MountainCarContinuous-v0",
            "Reacher-misc",
            "Swimmer-misc",
            "PointRobot-misc",
        ]
    )
    brax = [
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
    ]
    assert registry.registered_envs("brax") == sorted(f"brax/{n}" for n in brax)
    dmc = registry.registered_envs("dmc")
    for name in ["BallInCup", "CartpoleSwingup", "FingerTurnHard", "PointMass", "PointMassHard"]:
        assert f"dmc/{name}" in dmc


@pytest.mark.skipif(not HAS_PLAYGROUND, reason="needs the dmc extra")
def test_dmc_ids_are_playgrounds_suite_plus_point_mass_hard():
    from mujoco_playground import dm_control_suite

    expected = {f"dmc/{n}" for n in dm_control_suite.ALL_ENVS} | {"dmc/PointMassHard"}
    assert set(registry.registered_envs("dmc")) == expected


def test_probe_suite_is_registered_when_probes_exist():
    if importlib.util.find_spec("projected_envs.backends.probes") is None:
        pytest.skip("probes module not present")
    from projected_envs.backends.probes import PROBE_ENVS

    assert registry.registered_envs("probe") == sorted(f"probe/{n}" for n in PROBE_ENVS)


def test_importing_the_registry_imports_neither_brax_nor_playground():
    code = (
        "import sys, projected_envs.registry as r; r.registered_envs(); "
        "print(sorted(m for m in ('brax', 'mujoco_playground', 'mujoco') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("typo", "expected"),
    [("brax/hoper", "brax/hopper"), ("hopper", "brax/hopper"), ("gymnax/Pendulum", "Pendulum-v1")],
)
def test_unknown_id_names_close_matches(typo, expected):
    with pytest.raises(ValueError, match="unknown env id") as err:
        registry.make(typo)
    assert expected in str(err.value)


def test_make_returns_env_and_its_default_params():
    env, params = registry.make("gymnax/Pendulum-v1")
    assert isinstance(env, Environment)
    assert params == env.default_params
    space = env.action_space(params)
    assert isinstance(space, spaces.Box) and space.shape == (1,)
    assert env.name == "gymnax/Pendulum-v1"


def test_make_passes_params_overrides_to_gymnax():
    _, params = registry.make("gymnax/Pendulum-v1", max_steps_in_episode=7, max_torque=1.5)
    assert params.max_steps_in_episode == 7 and params.max_torque == 1.5
    with pytest.raises(ValueError, match="max_torqe"):
        registry.make("gymnax/Pendulum-v1", max_torqe=1.0)


def test_brax_backend_kwarg_selects_the_pipeline():
    from projected_envs.backends.brax import DEFAULT_BACKEND

    env, params = registry.make("brax/inverted_pendulum")
    assert env.raw_env.backend == DEFAULT_BACKEND
    env, params = registry.make("brax/inverted_pendulum", backend="positional")
    assert env.raw_env.backend == "positional"
    assert params.max_steps_in_episode == 1000
    with pytest.raises(ValueError, match="backend"):
        registry.make("brax/inverted_pendulum", backend="warp-drive")
    # brax's swimmer only supports the generalized pipeline.
    assert registry.make("brax/swimmer")[0].raw_env.backend == "generalized"


@pytest.mark.parametrize("env_id", ["gymnax/Pendulum-v1", "brax/hopper", "dmc/PointMassHard"])
def test_wrong_action_shape_fails_at_trace_time_naming_the_shape(env_id):
    if env_id.startswith("dmc/") and not HAS_PLAYGROUND:
        pytest.skip("needs the dmc extra")
    env, params = registry.make(env_id)
    key = jax.random.key(0)
    _, state = jax.eval_shape(env.reset, key, params)
    bad = jnp.zeros((env.action_size, 2))
    with pytest.raises(ValueError, match=rf"expected \({env.action_size},\)"):
        jax.eval_shape(env.step, key, state, bad, params)


# ------------------------------------------------------------------------- register()
@pytest.mark.parametrize("bad_id", ["noslash", "a/b/c", "/name", "suite/", "su ite/x", 3])
def test_register_refuses_malformed_ids(clean_registry, bad_id):
    with pytest.raises(ValueError, match="suite/name"):
        registry.register(bad_id, lambda: None)


def test_register_refuses_duplicates_unless_overwrite(clean_registry):
    with pytest.raises(ValueError, match="already registered"):
        registry.register("gymnax/Pendulum-v1", lambda: None)
    pendulum = gymnax.make("Pendulum-v1")[0]
    registry.register("gymnax/Pendulum-v1", pendulum, overwrite=True)
    assert registry.make("gymnax/Pendulum-v1")[0].gymnax_env is pendulum


def test_register_refuses_discrete_action_envs(clean_registry):
    cartpole = gymnax.make("CartPole-v1")[0]
    with pytest.raises(ValueError, match="Discrete action space"):
        registry.register("mine/CartPole", cartpole)
    with pytest.raises(ValueError, match="Discrete action space"):
        registry.register("mine/CartPole", type(cartpole))
    assert "mine/CartPole" not in registry.registered_envs()
    # A factory that builds a discrete env is refused when make() builds it.
    registry.register("mine/CartPoleFactory", lambda: gymnax.make("CartPole-v1")[0])
    with pytest.raises(ValueError, match="Discrete action space"):
        registry.make("mine/CartPoleFactory")


def test_register_refuses_non_callables(clean_registry):
    with pytest.raises(TypeError, match="factory"):
        registry.register("mine/Thing", 42)


def test_registered_gymnax_instance_is_adapted_and_takes_param_overrides(clean_registry):
    raw, raw_params = gymnax.make("Pendulum-v1")
    registry.register("mine/Pendulum", raw)
    env, params = registry.make("mine/Pendulum", max_steps_in_episode=3)
    assert isinstance(env, GymnaxEnv) and env.name == "mine/Pendulum"
    assert params.max_steps_in_episode == 3
    key = jax.random.key(0)
    obs, _ = env.reset(key, params)
    raw_obs, _ = raw.reset_env(key, raw_params)
    np.testing.assert_array_equal(obs, raw_obs)


def test_registered_factory_gets_make_kwargs(clean_registry):
    from projected_envs.backends.gymnax import make_gymnax

    registry.register("mine/Reacher", lambda **kw: make_gymnax("Reacher-misc", **kw))
    env, params = registry.make("mine/Reacher", max_steps_in_episode=11)
    assert params.max_steps_in_episode == 11
    assert env.action_size == 2
    assert "mine/Reacher" in registry.registered_envs("mine")


def test_factory_must_return_an_env(clean_registry):
    registry.register("mine/Nothing", lambda: None)
    with pytest.raises(TypeError, match="not an Environment"):
        registry.make("mine/Nothing")


def test_dmc_without_playground_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mujoco_playground", None)  # import now fails
    monkeypatch.delitem(sys.modules, "projected_envs.backends.dmc", raising=False)
    with pytest.raises(ImportError, match=r'pip install "projected-envs\[dmc\]"'):
        registry.make("dmc/CartpoleSwingup")


# ------------------------------------------------------------------ 4. clear errors
def test_bad_make_inputs_name_the_fix():
    with pytest.raises(ValueError, match="string 'suite/name'"):
        pe.make(None)
    for steps in (0, -5, 10.5):
        with pytest.raises(ValueError, match="max_steps_in_episode must be a positive int"):
            pe.make("gymnax/Pendulum-v1", max_steps_in_episode=steps)
    with pytest.raises(ValueError, match=r"positive int .*got 10\.5"):
        pe.make("brax/inverted_pendulum", max_steps_in_episode=10.5)
    with pytest.raises(ValueError, match=r"ctrl_cost_weight.*Valid keywords"):
        pe.make("brax/hopper", ctrl_cost=0.1)
    with pytest.raises(ValueError, match="valid: generalized"):
        pe.make("brax/hopper", backend="mjxx")
    with pytest.raises(ValueError, match="valid: jax, warp"):
        pe.make("dmc/CartpoleSwingup", impl="wrap")


def test_brax_env_refuses_a_float_time_limit():
    from projected_envs.backends.brax import BraxEnv

    env, _ = pe.make("brax/inverted_pendulum")
    with pytest.raises(ValueError, match=r"positive int, got 10\.5"):
        BraxEnv(env.raw_env, "brax/inverted_pendulum", max_steps_in_episode=10.5)


def test_make_works_inside_a_jit_trace():
    @jax.jit
    def first_obs(key):
        env, params = pe.make("gymnax/Pendulum-v1", max_steps_in_episode=7)
        return env.reset(key, params)[0], params.max_steps_in_episode

    obs, steps = first_obs(jax.random.key(0))
    env, params = pe.make("gymnax/Pendulum-v1", max_steps_in_episode=7)
    np.testing.assert_array_equal(obs, env.reset(jax.random.key(0), params)[0])
    assert int(steps) == 7
