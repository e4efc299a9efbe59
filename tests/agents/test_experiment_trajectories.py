"""The main job's trajectory figure (agents.experiment.trajectories) on point-nav."""

from __future__ import annotations

import jax
import jax.numpy as jnp

import projected_envs as pe
from agents.experiment.trajectories import has_paths, write_trajectory_figure
from agents.ppo import PPOConfig, make_network

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_trajectory_figure_is_drawn_for_hidden_goal_benchmarks_only(tmp_path):
    bench = pe.benchmark("point-nav")
    assert has_paths(bench) and not has_paths(pe.benchmark("classic"))
    config = PPOConfig(
        num_envs=2,
        num_steps=4,
        total_timesteps=8,
        num_minibatches=1,
        encoder_sizes=(8,),
        head_sizes=(8,),
        s5_state_size=4,
        s5_num_layers=1,
        separate_critic=True,
    )
    ts = bench.train
    network = make_network(config, ts.action_size, ts.obs_size)
    hidden = network.initialize_carry(1)
    params = network.init(
        jax.random.key(0), hidden, jnp.zeros((1, 1, ts.obs_size)), jnp.ones((1, 1), bool)
    )
    path = write_trajectory_figure(bench, params, config, tmp_path / "t.png", num_tasks=2)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
