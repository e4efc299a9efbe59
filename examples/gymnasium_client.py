"""Run a plain numpy policy (or a torch one, if torch is installed) through Gymnasium's vector API.

    python examples/gymnasium_client.py     # about half a minute on a 2-core CPU

A fixed random linear policy on point-nav's training tasks, one Gymnasium episode per task of
K trials; Gymnasium's RecordEpisodeStatistics records whole tasks, ``info["trial_returns"]`` the
return of each trial.
"""

from __future__ import annotations

import numpy as np
from gymnasium.wrappers.vector import RecordEpisodeStatistics

import projected_envs as pe

try:
    import torch
except ImportError:
    torch = None

NUM_ENVS, STEPS = 8, 402  # two tasks of 200 steps (+1 NEXT_STEP reset step)

bench = pe.benchmark("point-nav")
array = "torch" if torch is not None else "numpy"
envs = pe.to_gymnasium(bench.train, NUM_ENVS, array=array)
if array == "numpy":  # gymnasium's statistics wrapper computes with numpy arrays only
    envs = RecordEpisodeStatistics(envs)
obs_size = envs.single_observation_space.shape[0]
action_size = envs.single_action_space.shape[0]
weights = np.random.default_rng(0).normal(0, 0.5, (action_size, obs_size)).astype(np.float32)

obs, info = envs.reset(seed=0)
tasks_ended = 0
for _ in range(STEPS):
    if torch is not None:
        actions = torch.tanh(obs @ torch.from_numpy(weights).T)
    else:
        actions = np.tanh(obs @ weights.T)
    obs, reward, terminated, truncated, info = envs.step(actions)
    done = np.asarray(terminated) | np.asarray(truncated)  # a task (K trials) ended
    if done.any():
        tasks_ended += int(done.sum())
        returns = np.asarray(info["trial_returns"])[done]
        print(f"tasks ended: {done.sum()}, per trial (mean): {np.round(returns.mean(0), 3)}")
        if "episode" in info:  # RecordEpisodeStatistics (numpy): whole-task returns
            print(f"  task returns {np.round(info['episode']['r'][done], 2)}")
print(f"{tasks_ended} tasks ended, with {array} arrays")
