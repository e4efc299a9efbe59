"""Checkpoints: bitwise round trip, rotation, atomicity, refusal of another config."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from agents.checkpoint import (
    CheckpointStore,
    ConfigMismatchError,
    config_diff,
    flatten_dict,
    tree_equal,
)

CONFIG = {"lr": 5e-5, "num_envs": 8, "net": {"d_model": 16, "layers": [32, 32]}, "memory": "s5"}
META = {"config": CONFIG, "fingerprint": "abc123"}


def _state(seed: int = 0):
    """A training-state-like pytree: params, optax state, a typed key, a raw key, ints, bools."""
    key = jax.random.PRNGKey(seed)
    params = {
        "w": jax.random.normal(key, (4, 3)),
        "b": jnp.arange(3, dtype=jnp.float32) * 1e-7,
    }
    opt_state = optax.adam(1e-3).init(params)
    return {
        "params": params,
        "opt_state": opt_state,
        "typed_key": jax.random.key(seed + 1),
        "raw_key": jax.random.PRNGKey(seed + 2),
        "step": jnp.asarray(7, jnp.int32),
        "done": jnp.array([True, False]),
        "half": jnp.ones((2,), jnp.bfloat16) / 3,
    }


def test_save_restore_is_bitwise_and_keeps_typed_keys(tmp_path):
    state = _state()
    with CheckpointStore(tmp_path / "ckpt") as store:
        store.save(3, state, META)
        store.wait()
        like = _state(seed=99)  # same structure, other values
        restored, meta = store.restore(like, expect=META)
    assert tree_equal(restored, state)
    assert jax.dtypes.issubdtype(restored["typed_key"].dtype, jax.dtypes.prng_key)
    assert meta == META
    # The restored key draws the same numbers as the original.
    draw = lambda key: jax.random.uniform(key, (3,))
    np.testing.assert_array_equal(draw(restored["typed_key"]), draw(state["typed_key"]))


def test_keeps_only_last_n_and_restores_latest_by_default(tmp_path):
    with CheckpointStore(tmp_path, max_to_keep=2) as store:
        for step in (1, 2, 3):
            store.save(step, _state(seed=step), META)
        store.wait()
        assert store.steps() == [2, 3]
        assert store.latest_step() == 3
        restored, _ = store.restore(_state())
        assert tree_equal(restored, _state(seed=3))
        older, _ = store.restore(_state(), step=2)
        assert tree_equal(older, _state(seed=2))
    dirs = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert dirs == ["2", "3"]


def test_restore_refuses_other_config_naming_each_field(tmp_path):
    with CheckpointStore(tmp_path) as store:
        store.save(1, _state(), META)
        store.wait()
        other = {
            "config": {**CONFIG, "lr": 1e-3, "net": {"d_model": 32, "layers": [32, 32]}},
            "fingerprint": "zzz",
        }
        with pytest.raises(ConfigMismatchError) as err:
            store.restore(_state(), expect=other)
    message = str(err.value)
    assert "config.lr: checkpoint=5e-05, now=0.001" in message
    assert "config.net.d_model: checkpoint=16, now=32" in message
    assert "fingerprint: checkpoint='abc123', now='zzz'" in message
    assert "config.memory" not in message and "config.num_envs" not in message


def test_restore_ignores_listed_fields_and_sidecar_keys_not_expected(tmp_path):
    with CheckpointStore(tmp_path) as store:
        store.save(1, _state(), {**META, "wall_time": 12.5})  # progress info, not identity
        store.wait()
        store.restore(_state(), expect=META)
        expect = {"config": {**CONFIG, "memory": "gru"}, "fingerprint": "abc123", "extra": 1}
        restored, _ = store.restore(_state(), expect=expect, ignore=["config.memory", "extra"])
    assert tree_equal(restored, _state())


def test_unfinished_temporary_checkpoint_is_ignored(tmp_path):
    """A crash mid-save leaves only an orbax tmp folder: it is not listed as a step."""
    with CheckpointStore(tmp_path) as store:
        store.save(1, _state(seed=1), META)
        store.wait()
    (tmp_path / "2.orbax-checkpoint-tmp-123").mkdir()  # what an interrupted save leaves
    with CheckpointStore(tmp_path) as store:
        assert store.steps() == [1]
        restored, _ = store.restore(_state())
    assert tree_equal(restored, _state(seed=1))


def test_save_writes_into_temporary_folder_then_renames(tmp_path, monkeypatch):
    """Atomicity: orbax's rename from a tmp folder is what makes the step folder appear."""
    from orbax.checkpoint._src.path import atomicity

    renames = []
    original = atomicity.async_path.rename

    async def spy(src, dst):
        renames.append((str(src), str(dst)))
        return await original(src, dst)

    monkeypatch.setattr(atomicity.async_path, "rename", spy)
    with CheckpointStore(tmp_path, asynchronous=False) as store:
        store.save(5, _state(), META)
    assert any(".orbax-checkpoint-tmp" in src and dst.endswith("/5") for src, dst in renames), (
        renames
    )


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with CheckpointStore(tmp_path) as store:
        with pytest.raises(FileNotFoundError, match="no finished checkpoint"):
            store.restore(_state())
        store.save(1, _state(), META)
        store.wait()
        with pytest.raises(FileNotFoundError, match=r"available steps: \[1\]"):
            store.restore(_state(), step=4)


def test_config_diff_flattens_and_reports_missing_fields():
    diff = config_diff({"a": {"b": 1}, "c": (1, 2)}, {"a": {"b": 1}, "c": [1, 2], "d": 0})
    assert diff == ["d: checkpoint='<missing>', now=0"]
    assert flatten_dict({"a": {"b": {"c": 1}}}) == {"a.b.c": 1}
    assert config_diff({"a": {"b": 1}}, {"a": {"b": 2}}, ignore=["a."]) == []


def test_tree_equal_detects_a_single_bit():
    a = {"x": jnp.zeros(3)}
    assert tree_equal(a, {"x": jnp.zeros(3)})
    assert not tree_equal(a, {"x": -jnp.zeros(3)})  # -0.0 differs in bits
    assert not tree_equal(a, {"x": jnp.zeros(3, jnp.float16)})
