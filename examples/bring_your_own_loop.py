"""Use a benchmark's task distribution in your own training loop (public API only).

The agent here is deliberately not ours: a memoryless linear policy trained by evolution
strategies (antithetic pairs, fitness differences scaled by their std), in ~20 lines. What
the package provides is the part that is hard to get right: the distribution of projected tasks
(``bench.train``), a batched env over all its base envs (``pe.VecEnv``), and fixed held-out
evaluation banks (``eval_tasks``).

    python examples/bring_your_own_loop.py     # about two minutes on a 2-core CPU
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

import projected_envs as pe

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
def evaluate(params, task_set: pe.TaskSet, per_env: int = 8, max_steps: int = 4000) -> float:
    """Mean return per trial on the fixed evaluation bank of ``task_set`` (one task per slot)."""
    bank = task_set.eval_tasks(per_env)  # deterministic: same tasks for every agent
    eval_env = pe.VecEnv.from_bank(task_set, bank)

    @jax.jit
    def run(key):
        obs, state = eval_env.reset(key)
        returns = jnp.zeros((len(bank), task_set.num_trials))
        done = jnp.zeros(len(bank), bool)

        def step(carry, k):
            obs, state, returns, done = carry
            obs, state, _, _, _, info = eval_env.step(k, state, act(params, obs))
            first = info["first_episode_done"]  # the slot finished its task's K trials
            returns = jnp.where(first[:, None], info["trial_returns"], returns)
            return (obs, state, returns, done | first), None

        keys = jax.random.split(key, max_steps)
        (_, _, returns, done), _ = jax.lax.scan(step, (obs, state, returns, done), keys)
        return returns.mean(), done.all()

    mean, all_done = run(jax.random.PRNGKey(0))
    assert all_done, "raise max_steps: some task did not finish its trials"
    return float(mean)


if __name__ == "__main__":
    key = jax.random.PRNGKey(0)
    params = init_policy(key)
    print(f"before: ood_test return per trial {evaluate(params, bench.ood_test):.2f}")
    for it in range(ITERATIONS):
        key, k = jax.random.split(key)
        params, f = es_step(params, k)
        if it % 5 == 0 or it == ITERATIONS - 1:
            print(f"ES step {it:3d}: mean reward per step {float(f):.4f}")
    for split, task_set in bench.splits.items():
        print(f"after: {split:8s} return per trial {evaluate(params, task_set):.2f}")
