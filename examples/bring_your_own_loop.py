"""Use a benchmark's task distribution in your own training loop (public API only).

The agent here is deliberately not ours: a memoryless linear policy trained by evolution
strategies (antithetic pairs, fitness differences scaled by their std), in ~20 lines. What
the package provides is the part that is hard to get right: the distribution of projected tasks
(``bench.train``), a batched env over all its base envs (``pe.VecEnv``), and the evaluation
protocol on fixed held-out banks (``pe.evaluate_policy``: per-trial returns, a random reference,
normalised scores, CIs), which takes any policy with ``init`` and ``step``.

    python examples/bring_your_own_loop.py     # about two minutes on a 2-core CPU
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

import projected_envs as pe
from projected_envs.evaluation import format_table

BENCHMARK = "classic"
NUM_ENVS = 32  # VecEnv slots (spread over the train envs)
HORIZON = 256  # steps per fitness evaluation
POPULATION = 8  # antithetic pairs per ES step
SIGMA, LR, ITERATIONS = 0.1, 0.05, 20

bench = pe.benchmark(BENCHMARK)
train = bench.train  # a TaskSet: base envs x random projections x K trials
venv = pe.VecEnv(train, num_envs=NUM_ENVS)  # tasks are resampled whenever one ends
print(f"{bench.name}: train envs {train.envs}, held out {bench.ood_test.envs}")
print(f"obs [{venv.obs_size}] (projection + previous action, reward, flags)")
print(f"actions [{venv.action_size}] in [-1, 1]")


# ----------------------------------------------------------------- your agent: a linear policy
def init_policy(key: jax.Array) -> dict[str, jax.Array]:
    return {"w": jnp.zeros((venv.obs_size, venv.action_size)), "b": jnp.zeros(venv.action_size)}


def act(params: dict[str, jax.Array], obs: jax.Array) -> jax.Array:  # [N, O] -> [N, A]
    return jnp.tanh(obs @ params["w"] + params["b"])


# ----------------------------------------------------------------- your loop over the VecEnv
def fitness(params: dict[str, jax.Array], key: jax.Array) -> jax.Array:
    """Mean reward per step over HORIZON steps of every slot (new tasks as tasks end)."""
    key_reset, key_steps = jax.random.split(key)
    obs, state = venv.reset(key_reset)

    def step(carry, k):
        obs, state = carry
        obs, state, reward, _terminated, _truncated, _info = venv.step(k, state, act(params, obs))
        return (obs, state), reward

    _, rewards = jax.lax.scan(step, (obs, state), jax.random.split(key_steps, HORIZON))
    return rewards.mean()


@jax.jit
def es_step(params, key):
    """One evolution-strategies step with POPULATION antithetic pairs (same env keys per pair)."""
    k_noise, k_env = jax.random.split(key)
    leaves, tree = jax.tree.flatten(params)
    noise = [
        jax.random.normal(k, (POPULATION, *x.shape))
        for k, x in zip(jax.random.split(k_noise, len(leaves)), leaves)
    ]
    perturb = lambda sign: jax.tree.unflatten(
        tree, [x + sign * SIGMA * n for x, n in zip(leaves, noise)]
    )
    both = jax.tree.map(lambda *xs: jnp.concatenate(xs), perturb(+1), perturb(-1))
    env_keys = jnp.tile(jax.random.split(k_env, POPULATION), (2, 1))  # same envs per pair
    f_plus, f_minus = jnp.split(jax.vmap(fitness)(both, env_keys), 2)
    score = (f_plus - f_minus) / (jnp.std(jnp.concatenate([f_plus, f_minus])) + 1e-8)
    grads = [jnp.tensordot(score, n, axes=1) / (2 * POPULATION * SIGMA) for n in noise]
    new = [x + LR * g for x, g in zip(leaves, grads)]
    return jax.tree.unflatten(tree, new), (f_plus.mean() + f_minus.mean()) / 2


# ----------------------------------------------------------------- held-out evaluation
# The package's protocol runs any policy with init(batch) -> carry and
# step(carry, obs [N, O], reset [N], key) -> (carry, action [N, A]): a fixed bank of held-out
# tasks, fresh memory per task, every trial, a random policy on the same tasks, CIs.
# A NamedTuple is a pytree: its arrays are traced, so new params reuse the compiled evaluation.
class LinearPolicy(NamedTuple):
    params: dict[str, jax.Array]

    def init(self, batch_size: int) -> tuple:
        return ()  # memoryless: an empty carry

    def step(self, carry, obs, reset, key):
        return carry, act(self.params, obs)


def evaluate(params, task_set: pe.TaskSet, per_env: int = 8) -> pe.EvalResult:
    return pe.evaluate_policy(LinearPolicy(params), task_set, per_env=per_env, num_resamples=500)


if __name__ == "__main__":
    key = jax.random.PRNGKey(0)
    params = init_policy(key)
    print(f"before: ood_test return per trial {evaluate(params, bench.ood_test).mean:.2f}")
    for it in range(ITERATIONS):
        key, k = jax.random.split(key)
        params, f = es_step(params, k)
        if it % 5 == 0 or it == ITERATIONS - 1:
            print(f"ES step {it:3d}: mean reward per step {float(f):.4f}")
    results = {split: evaluate(params, task_set) for split, task_set in bench.splits.items()}
    print(format_table(results, per_env=False))
    for split, result in results.items():  # IQM of normalised scores: the headline number
        print(f"{split:8s} normalised IQM {result.normalized_iqm:.3f}")
