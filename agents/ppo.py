"""PPO with a resettable memory (S5, GRU, LSTM or none), as small pure functions.

One **update** = a rollout of ``num_steps`` steps in each of ``num_envs`` slots of a
:class:`~projected_envs.vec.VecEnv`, GAE, then ``update_epochs`` epochs of ``num_minibatches``
gradient steps. The pieces:

* :func:`rollout`: step the network one time step at a time (``T = 1``) and the VecEnv; store
  a :class:`Transition` per step. The hidden state *before* the first step is kept, so the
  update re-runs the memory over the whole stored sequence from it.
* :func:`gae`: advantages and value targets; bootstraps through truncation (with
  ``V(final_observation)``) and not through termination.
* :func:`ppo_loss`: clipped surrogate + (clipped) value loss - entropy bonus, re-running the
  network over ``[T, B]`` sequences with the stored resets.
* :func:`split_minibatches`, :func:`update_minibatch`, :func:`update_epoch`: minibatches are
  groups of *environments* with their whole ``T``-step sequences and their initial hidden states.

Conventions:

* ``RunnerState.done[b]`` True means ``RunnerState.obs[b]`` starts a new **task** (a new
  meta-episode of the VecEnv), so the memory is reset before it. It is True at init and after
  each step whose ``terminated | truncated`` is True. Trial ends inside a task are only flags
  in the observation: the memory carries on through them.
* ``RunnerState.hidden`` is the memory state after every observation before ``obs``.
* The stored ``Transition.reset[t]`` is ``done`` of step ``t - 1`` (``reset[0]`` the ``done``
  left by the previous rollout).

Entry points: :func:`make_init`, :func:`make_update` (for a host loop of jitted chunks, see
:func:`scan_updates`) and :func:`make_train` (init + ``lax.scan`` of update: jittable and
vmappable over seeds).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training.train_state import TrainState

from agents.memory import MEMORY_KINDS
from agents.networks import ActorCritic, Hidden
from projected_envs.tasks import TaskSet
from projected_envs.vec import VecEnv
from projected_envs.wrappers.projection import ProjectObservation

Metrics = dict[str, jax.Array]
AUX_LOSSES = ("none", "unprojected_next_obs")  # PPOConfig.aux_loss


# ------------------------------------------------------------------------------------ config
@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """PPO hyperparameters; defaults are the paper's PPO-S5 (Lu et al. 2023, POPGym table).

    Derived: ``steps_per_update = num_envs * num_steps``, ``num_updates = total_timesteps //
    steps_per_update``, ``envs_per_minibatch = num_envs // num_minibatches``.
    """

    learning_rate: float = 5e-5  # Adam step size
    anneal_lr: bool = False  # decay the step size linearly to 0 over the run
    adam_eps: float = 1e-5  # Adam epsilon
    num_envs: int = 64  # parallel VecEnv slots per rollout (B)
    num_steps: int = 1024  # steps per slot per rollout (sequence length T)
    total_timesteps: int = 10_000_000  # env steps of the whole run (all slots together)
    update_epochs: int = 30  # passes over each rollout
    num_minibatches: int = 8  # minibatches per epoch; they split the envs, keeping sequences
    gamma: float = 0.99  # discount per step
    gae_lambda: float = 1.0  # GAE lambda (1.0: Monte-Carlo returns with a bootstrap)
    clip_eps: float = 0.2  # PPO ratio clip (also clips the value change if clip_value)
    clip_value: bool = True  # clipped value loss, as in the PPO baselines
    ent_coef: float = 0.0  # entropy bonus weight
    vf_coef: float = 1.0  # value loss weight
    max_grad_norm: float = 0.5  # global gradient-norm clip
    normalize_advantages: bool = True  # standardise advantages per minibatch
    bootstrap_truncated: bool = True  # bootstrap V(final obs) at truncations (extra value call)
    memory: str = "s5"  # "s5", "gru", "lstm", "transformer" or "none" (a per-step MLP)
    s5_state_size: int = 256  # S5 state size N per layer (S5 only)
    s5_num_layers: int = 4  # S5 layers (S5 only)
    # S5's scan schedule (S5 only): "auto" (sequential on a CPU, parallel on accelerators; the
    # main job records the resolved one), "sequential", "doubling" or "associative"
    s5_scan: str = "auto"
    memory_kwargs: tuple[tuple[str, Any], ...] = ()  # extra memory args, e.g. (("norm", "none"),)
    encoder_sizes: tuple[int, ...] = (128, 256)  # encoder MLP widths; the last is d_model
    head_sizes: tuple[int, ...] = (128, 128)  # hidden widths of the policy and value heads
    init_log_std: float = 0.0  # initial log-std of the Gaussian policy
    separate_critic: bool = False  # the value head gets its own encoder and memory
    # what the encoder reads: "none" (the observation), "layernorm", or "in_context" (the
    # observation and its standardisation by the current task's running statistics)
    input_norm: str = "none"
    # auxiliary loss (training only): "none", or "unprojected_next_obs": a head on the actor's
    # memory output and the action taken predicts the observation the step produced *before*
    # the task's observation projection (ProjectObservation's info["unprojected_obs"]); the
    # policy never sees that target, only the gradient of this loss shapes its memory
    aux_loss: str = "none"
    aux_coef: float = 1.0  # weight of the auxiliary loss

    def __post_init__(self) -> None:
        _check_ints(self)
        _check_floats(self)
        if self.num_envs % self.num_minibatches != 0:
            divisors = [d for d in range(1, self.num_envs + 1) if self.num_envs % d == 0]
            raise ValueError(
                f"PPOConfig: num_minibatches={self.num_minibatches} does not divide "
                f"num_envs={self.num_envs}; minibatches split the environments and keep whole "
                f"sequences, so use num_minibatches in {divisors} or change num_envs"
            )
        if self.total_timesteps < self.steps_per_update:
            raise ValueError(
                f"PPOConfig: total_timesteps={self.total_timesteps} is less than one update of "
                f"num_envs * num_steps = {self.num_envs} * {self.num_steps} = "
                f"{self.steps_per_update} env steps; raise total_timesteps"
            )
        if self.memory not in MEMORY_KINDS:
            raise ValueError(f"PPOConfig: unknown memory {self.memory!r}; valid: {MEMORY_KINDS}")
        if self.aux_loss not in AUX_LOSSES:
            raise ValueError(f"PPOConfig: unknown aux_loss {self.aux_loss!r}; valid: {AUX_LOSSES}")
        object.__setattr__(self, "encoder_sizes", tuple(self.encoder_sizes))
        object.__setattr__(self, "head_sizes", tuple(self.head_sizes))
        object.__setattr__(self, "memory_kwargs", tuple(tuple(p) for p in self.memory_kwargs))
        make_network(self, action_size=1, obs_size=1)  # validates the network fields

    @property
    def steps_per_update(self) -> int:
        """Env steps collected per update: ``num_envs * num_steps``."""
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        """Updates in the run: ``total_timesteps // (num_envs * num_steps)``."""
        return self.total_timesteps // self.steps_per_update

    @property
    def envs_per_minibatch(self) -> int:
        """Environments (whole sequences) per minibatch: ``num_envs // num_minibatches``."""
        return self.num_envs // self.num_minibatches


_POSITIVE_INTS = (
    "num_envs",
    "num_steps",
    "total_timesteps",
    "update_epochs",
    "num_minibatches",
    "s5_state_size",
    "s5_num_layers",
)


def _check_ints(config: PPOConfig) -> None:
    for name in _POSITIVE_INTS:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
            raise ValueError(f"PPOConfig: {name} must be a positive int, got {name}={value!r}")


def _check_floats(config: PPOConfig) -> None:
    checks = {
        "learning_rate": config.learning_rate > 0,
        "adam_eps": config.adam_eps > 0,
        "gamma": 0 < config.gamma <= 1,
        "gae_lambda": 0 <= config.gae_lambda <= 1,
        "clip_eps": config.clip_eps > 0,
        "ent_coef": config.ent_coef >= 0,
        "vf_coef": config.vf_coef >= 0,
        "aux_coef": config.aux_coef >= 0,
        "max_grad_norm": config.max_grad_norm > 0,
        "init_log_std": math.isfinite(config.init_log_std),
    }
    ranges = {"gamma": "in (0, 1]", "gae_lambda": "in [0, 1]", "init_log_std": "finite"}
    for name, ok in checks.items():
        if not ok:
            want = ranges.get(name, ">= 0" if name.endswith("coef") else "> 0")
            raise ValueError(f"PPOConfig: {name} must be {want}, got {getattr(config, name)!r}")


def make_network(
    config: PPOConfig, action_size: int, obs_size: int | None = None, aux_dim: int = 0
) -> ActorCritic:
    """The :class:`~agents.networks.ActorCritic` described by ``config``.

    ``aux_dim``: the size of the auxiliary head's target (the task set's ``obs_dim`` when
    ``config.aux_loss`` is set, see :func:`make_init`; 0 without one).
    """
    kwargs = config.memory_kwargs
    if config.memory == "s5":
        kwargs = (("state_size", config.s5_state_size), ("num_layers", config.s5_num_layers))
        kwargs += (("scan", config.s5_scan), *config.memory_kwargs)
    return ActorCritic(
        action_dim=action_size,
        memory=config.memory,
        memory_kwargs=kwargs,
        encoder_sizes=config.encoder_sizes,
        head_sizes=config.head_sizes,
        init_log_std=config.init_log_std,
        obs_size=obs_size,
        separate_critic=config.separate_critic,
        input_norm=config.input_norm,
        aux_dim=aux_dim,
    )


def make_optimizer(config: PPOConfig) -> optax.GradientTransformation:
    """Global-norm clip then Adam (step size constant, or linearly annealed to 0)."""
    lr: float | optax.Schedule = config.learning_rate
    if config.anneal_lr:
        steps = config.num_updates * config.update_epochs * config.num_minibatches
        lr = optax.linear_schedule(config.learning_rate, 0.0, steps)
    return optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm),
        optax.adam(lr, eps=config.adam_eps),
    )


# ------------------------------------------------------------------------------ state types
class Transition(NamedTuple):
    """One rollout step of every env; stacked by :func:`rollout` to leaves ``[T, B, ...]``."""

    obs: jax.Array  # float32 [B, O]: observation the action was taken on
    reset: jax.Array  # bool [B]: obs starts a new task (the memory resets before it)
    action: jax.Array  # float32 [B, A]: sampled action, before clipping to [-1, 1]
    log_prob: jax.Array  # float32 [B]: log pi(action | history) at sampling time
    value: jax.Array  # float32 [B]: V(history) at sampling time
    reward: jax.Array  # float32 [B]
    terminated: jax.Array  # bool [B]: the task ended for real (no bootstrap)
    truncated: jax.Array  # bool [B]: the task hit a time limit (bootstrap final_value)
    final_value: jax.Array  # float32 [B]: V(final observation) where truncated, else 0
    # float32 [B, D]: the auxiliary target of the step (info["unprojected_obs"]), None without
    # an auxiliary head
    aux_target: jax.Array | None = None


class RunnerState(NamedTuple):
    """Everything a training run carries from one update to the next (a pytree)."""

    train_state: TrainState  # params, opt_state, step (int32 []: gradient steps so far)
    env_state: Any  # VecState of the VecEnv; leaves [B, ...] per env group
    obs: jax.Array  # float32 [B, O]: the observation the next action is taken on
    done: jax.Array  # bool [B]: obs starts a new task (True at init)
    hidden: Hidden  # memory state after all observations before obs; leaves [B, ...]
    task_return: jax.Array  # float32 [B]: reward summed so far in each slot's current task
    key: jax.Array  # PRNG key of the run
    update: jax.Array  # int32 []: updates done so far


class Batch(NamedTuple):
    """What one update learns from; minibatches take environments (axis 1 of the sequences)."""

    transitions: Transition  # leaves [T, B, ...]
    advantages: jax.Array  # float32 [T, B]
    targets: jax.Array  # float32 [T, B]: value targets, advantages + values
    hidden: Hidden  # memory state before transitions.obs[0]; leaves [B, ...]


# ---------------------------------------------------------------------- Gaussian policy math
def gaussian_log_prob(action: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """log N(action; mean, diag(exp(log_std))^2), summed over the last axis: [..., A] -> [...]."""
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


def gaussian_entropy(log_std: jax.Array) -> jax.Array:
    """Entropy of a diagonal Gaussian with log-std ``[A]``, in nats: a scalar."""
    return jnp.sum(log_std + 0.5 * jnp.log(2 * jnp.pi * jnp.e))


# ----------------------------------------------------------------------------------- rollout
def truncation_value(
    network: ActorCritic, params: Any, hidden: Hidden, final_obs: jax.Array, truncated: jax.Array
) -> jax.Array:
    """V(final observation) [B] where ``truncated`` [B], else 0.

    ``hidden`` is the memory state after the step's observation, so the final observation
    continues that history. Computed only on steps where some env was truncated (a real
    branch outside ``vmap``).
    """

    def compute(_: None) -> jax.Array:
        no_reset = jnp.zeros((1, truncated.shape[0]), bool)
        value = network.apply(params, hidden, final_obs[None], no_reset)[3][0]
        return jnp.where(truncated, value, 0.0)

    zeros = lambda _: jnp.zeros(truncated.shape, jnp.float32)
    return jax.lax.cond(jnp.any(truncated), compute, zeros, None)


def _task_stats(done: jax.Array, task_return: jax.Array, info: dict[str, Any]) -> Metrics:
    """Sums over the envs whose task ended on this step (scalars; trial returns [K])."""
    stats = {
        "tasks_ended": jnp.sum(done.astype(jnp.float32)),
        "task_return_sum": jnp.sum(jnp.where(done, task_return, 0.0)),
    }
    if "trial_returns" in info:  # MetaEpisode's per-trial returns, [B, K]
        ended = jnp.where(done[:, None], info["trial_returns"], 0.0)
        stats["trial_returns_sum"] = jnp.sum(ended, axis=0)
    if "nonfinite" in info:  # FiniteGuard: steps whose obs or reward was NaN / inf (ended)
        stats["nonfinite"] = jnp.sum(info["nonfinite"].astype(jnp.float32))
    return stats


def _aux_target(info: dict[str, Any], aux_dim: int) -> jax.Array:
    """``info["unprojected_obs"]`` ``[B, aux_dim]``, or a clear error where the env lacks it."""
    target = info.get("unprojected_obs")
    if target is None or target.shape[-1] != aux_dim:
        found = None if target is None else tuple(target.shape)
        raise ValueError(
            f"PPO aux_loss: the VecEnv's info needs 'unprojected_obs' of shape [B, {aux_dim}] "
            f"(every task set's stack reports it from ProjectObservation), found {found}; "
            "use a TaskSet-built VecEnv or set aux_loss='none'"
        )
    return target


def rollout(
    network: ActorCritic,
    venv: VecEnv,
    params: Any,
    state: RunnerState,
    num_steps: int,
    bootstrap_truncated: bool = True,
) -> tuple[RunnerState, Transition, Metrics]:
    """Run the policy for ``num_steps`` steps in every env.

    Returns:
        ``(state after the rollout, transitions with leaves [T, B, ...], task statistics summed
        over the rollout)``. ``state.hidden`` on entry is the hidden state the update starts
        from; the returned state has the hidden, obs and done for the next rollout.
    """

    def step(rs: RunnerState, _: None) -> tuple[RunnerState, tuple[Transition, Metrics]]:
        key, k_action, k_env = jax.random.split(rs.key, 3)
        hidden, mean, log_std, value = network.apply(params, rs.hidden, rs.obs[None], rs.done[None])
        mean, value = mean[0], value[0]  # [B, A], [B]
        action = mean + jnp.exp(log_std) * jax.random.normal(k_action, mean.shape)
        log_prob = gaussian_log_prob(action, mean, log_std)
        env_action = jnp.clip(action, -1.0, 1.0)
        obs, env_state, reward, term, trunc, info = venv.step(k_env, rs.env_state, env_action)
        if bootstrap_truncated:
            final_value = truncation_value(
                network, params, hidden, info["final_observation"], trunc
            )
        else:
            final_value = jnp.zeros_like(value)
        done = jnp.logical_or(term, trunc)
        task_return = rs.task_return + reward
        aux_target = None
        if network.aux_dim > 0:
            aux_target = _aux_target(info, network.aux_dim)
        transition = Transition(
            rs.obs, rs.done, action, log_prob, value, reward, term, trunc, final_value, aux_target
        )
        stats = _task_stats(done, task_return, info)
        rs = rs._replace(
            env_state=env_state,
            obs=obs,
            done=done,
            hidden=hidden,
            task_return=jnp.where(done, 0.0, task_return),
            key=key,
        )
        return rs, (transition, stats)

    state, (transitions, stats) = jax.lax.scan(step, state, None, length=num_steps)
    return state, transitions, jax.tree.map(lambda x: jnp.sum(x, axis=0), stats)


# --------------------------------------------------------------------------------------- GAE
def gae(
    transitions: Transition, last_value: jax.Array, gamma: float, gae_lambda: float
) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation over ``[T, B]`` with terminations and truncations.

    With ``done_t = terminated_t | truncated_t``::

        next_t  = 0                    if terminated_t
                  final_value_t        if truncated_t    (V of the observation that ended it)
                  value_{t+1}          otherwise         (value_T = last_value)
        delta_t = reward_t + gamma * next_t - value_t
        A_t     = delta_t + gamma * gae_lambda * (1 - done_t) * A_{t+1}      (A_T = 0)

    Args:
        transitions: leaves ``[T, B, ...]`` (reward, value, terminated, truncated, final_value).
        last_value: float32 [B], V of the observation after the last step.

    Returns:
        ``(advantages [T, B], targets [T, B])`` with ``targets = advantages + value``.
    """
    tr = transitions
    next_value = jnp.concatenate([tr.value[1:], last_value[None]], axis=0)  # [T, B]
    next_value = jnp.where(tr.truncated, tr.final_value, next_value)
    next_value = jnp.where(tr.terminated, 0.0, next_value)
    delta = tr.reward + gamma * next_value - tr.value
    carry_on = 1.0 - jnp.logical_or(tr.terminated, tr.truncated).astype(jnp.float32)

    def backward(adv_next: jax.Array, x: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, ...]:
        delta_t, carry_t = x
        adv = delta_t + gamma * gae_lambda * carry_t * adv_next
        return adv, adv

    _, advantages = jax.lax.scan(
        backward, jnp.zeros_like(last_value), (delta, carry_on), reverse=True
    )
    return advantages, advantages + tr.value


# -------------------------------------------------------------------------------------- loss
def ppo_loss(
    params: Any, network: ActorCritic, batch: Batch, config: PPOConfig
) -> tuple[jax.Array, Metrics]:
    """The PPO loss of one minibatch of whole sequences.

    The network re-runs over ``batch.transitions.obs`` ``[T, B, O]`` from ``batch.hidden`` with
    the stored resets. With ``r = exp(log pi - log pi_old)`` and (optionally standardised)
    advantages ``A``::

        policy_loss = -mean(min(r A, clip(r, 1 - eps, 1 + eps) A))
        value_loss  = 0.5 mean(max((V - target)^2, (V_old + clip(V - V_old, -eps, eps) - target)^2))
                      (0.5 mean((V - target)^2) without clip_value)
        loss        = policy_loss + vf_coef value_loss - ent_coef entropy
                      (+ aux_coef aux_loss with an aux_loss)

    ``aux_loss`` (``config.aux_loss="unprojected_next_obs"``): the mean squared error, over
    steps and target entries, of the network's auxiliary head (the actor memory's output at
    ``t`` and the action sent to the env at ``t``, clipped to [-1, 1]) against
    ``transitions.aux_target[t]``, the unprojected observation step ``t`` produced.

    Returns:
        ``(loss, {"policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction"})``
        (plus ``"aux_loss"`` with an aux_loss); ``approx_kl = mean((r - 1) - log r)``,
        ``clip_fraction = mean(|r - 1| > eps)``.
    """
    tr, eps = batch.transitions, config.clip_eps
    aux_metrics: Metrics = {}
    if config.aux_loss == "none":
        _, mean, log_std, value = network.apply(params, batch.hidden, tr.obs, tr.reset)
    else:
        if tr.aux_target is None:
            raise ValueError(
                f"ppo_loss: aux_loss={config.aux_loss!r} needs transitions with aux_target "
                "(a rollout of a network built with aux_dim > 0, as make_update does)"
            )
        taken = jnp.clip(tr.action, -1.0, 1.0)
        (_, mean, log_std, value), extra = network.apply(
            params, batch.hidden, tr.obs, tr.reset, aux_action=taken, mutable=["aux"]
        )
        (prediction,) = extra["aux"]["prediction"]
        aux_metrics["aux_loss"] = jnp.mean((prediction - tr.aux_target) ** 2)
    log_ratio = gaussian_log_prob(tr.action, mean, log_std) - tr.log_prob
    ratio = jnp.exp(log_ratio)
    adv = batch.advantages
    if config.normalize_advantages:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    policy_loss = -jnp.mean(jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - eps, 1 + eps) * adv))
    value_err = (value - batch.targets) ** 2
    if config.clip_value:
        clipped = tr.value + jnp.clip(value - tr.value, -eps, eps)
        value_err = jnp.maximum(value_err, (clipped - batch.targets) ** 2)
    value_loss = 0.5 * jnp.mean(value_err)
    entropy = gaussian_entropy(log_std)
    loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * entropy
    if aux_metrics:
        loss = loss + config.aux_coef * aux_metrics["aux_loss"]
    return loss, {
        **aux_metrics,
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy,
        "approx_kl": jnp.mean((ratio - 1.0) - log_ratio),
        "clip_fraction": jnp.mean((jnp.abs(ratio - 1.0) > eps).astype(jnp.float32)),
    }


# ------------------------------------------------------------------------------------ update
def split_minibatches(key: jax.Array, batch: Batch, num_minibatches: int) -> Batch:
    """Shuffle the environments and split them into ``num_minibatches`` groups.

    Sequence leaves ``[T, B, ...]`` become ``[M, T, B/M, ...]`` and hidden leaves ``[B, ...]``
    become ``[M, B/M, ...]``: each minibatch holds whole sequences of its envs together with
    the hidden states they started from.
    """
    num_envs = batch.advantages.shape[1]
    groups = jax.random.permutation(key, num_envs).reshape(num_minibatches, -1)  # [M, B/M]

    def by_env(x: jax.Array) -> jax.Array:  # [T, B, ...] -> [M, T, B/M, ...]
        return jnp.moveaxis(x[:, groups], 1, 0)

    sequences = jax.tree.map(by_env, (batch.transitions, batch.advantages, batch.targets))
    hidden = jax.tree.map(lambda h: h[groups], batch.hidden)
    return Batch(*sequences, hidden)


def update_minibatch(
    network: ActorCritic, config: PPOConfig, train_state: TrainState, batch: Batch
) -> tuple[TrainState, Metrics]:
    """One gradient step on one minibatch; metrics of :func:`ppo_loss` plus the loss, grad norm."""
    grad_fn = jax.value_and_grad(ppo_loss, has_aux=True)
    (loss, metrics), grads = grad_fn(train_state.params, network, batch, config)
    train_state = train_state.apply_gradients(grads=grads)
    return train_state, {**metrics, "loss": loss, "grad_norm": optax.global_norm(grads)}


def update_epoch(
    network: ActorCritic, config: PPOConfig, train_state: TrainState, key: jax.Array, batch: Batch
) -> tuple[TrainState, Metrics]:
    """One pass over ``batch`` in ``num_minibatches`` env-split minibatches; mean metrics."""
    minibatches = split_minibatches(key, batch, config.num_minibatches)
    step = lambda ts, mb: update_minibatch(network, config, ts, mb)
    train_state, metrics = jax.lax.scan(step, train_state, minibatches)
    return train_state, jax.tree.map(jnp.mean, metrics)


def _task_metrics(stats: Metrics) -> Metrics:
    """Mean task (and per-trial) return over the tasks that ended in the rollout (NaN if none)."""
    n = stats["tasks_ended"]
    mean = lambda total: jnp.where(n > 0, total / jnp.maximum(n, 1.0), jnp.nan)
    metrics = {"task_return": mean(stats["task_return_sum"]), "tasks_ended": n}
    if "trial_returns_sum" in stats:
        metrics["trial_returns"] = mean(stats["trial_returns_sum"])  # [K]
    if "nonfinite" in stats:
        metrics["nonfinite"] = stats["nonfinite"]  # non-finite obs / reward events (count)
    return metrics


# ------------------------------------------------------------------------------ entry points
def _setup(config: PPOConfig, task_set: TaskSet) -> tuple[VecEnv, ActorCritic]:
    if not isinstance(config, PPOConfig):
        raise TypeError(f"expected a PPOConfig, got {type(config).__name__}")
    venv = VecEnv(task_set, config.num_envs)
    aux_dim = 0
    if config.aux_loss != "none":
        _check_aux_targets(task_set, config.aux_loss)
        aux_dim = task_set.obs_dim
    return venv, make_network(config, venv.action_size, venv.obs_size, aux_dim)


def _check_aux_targets(task_set: TaskSet, aux_loss: str) -> None:
    """The unprojected observation must fit in ``obs_dim`` (it is zero-padded, never cut)."""
    for index, env_id in enumerate(task_set.envs):
        env = task_set.make_env(index)
        while not isinstance(env, ProjectObservation):
            env = env.env  # every task set's stack has one (projected_envs.tasks)
        size = int(env.in_dim)
        if size > task_set.obs_dim:
            raise ValueError(
                f"PPOConfig.aux_loss={aux_loss!r}: {env_id}'s observation has {size} entries, "
                f"more than the task set's obs_dim={task_set.obs_dim}, so ProjectObservation "
                "reports it cut; use aux_loss='none' or a task set with obs_dim >= every base "
                "env's observation size"
            )


def make_init(config: PPOConfig, task_set: TaskSet) -> Callable[[jax.Array], RunnerState]:
    """``init(key) -> RunnerState``: fresh params and optimizer, reset envs, zero hidden state.

    Jittable and vmappable over ``key``.
    """
    venv, network = _setup(config, task_set)
    tx = make_optimizer(config)

    def init(key: jax.Array) -> RunnerState:
        k_params, k_env, k_run = jax.random.split(key, 3)
        obs, env_state = venv.reset(k_env)
        hidden = network.initialize_carry(venv.num_envs)
        done = jnp.ones((venv.num_envs,), bool)
        aux_action = None
        if network.aux_dim > 0:  # create the auxiliary head's params too
            aux_action = jnp.zeros((1, venv.num_envs, venv.action_size), jnp.float32)
        params = network.init(k_params, hidden, obs[None], done[None], aux_action)
        params = {k: v for k, v in params.items() if k != "aux"}  # the sown prediction
        train_state = TrainState.create(apply_fn=network.apply, params=params, tx=tx)
        task_return = jnp.zeros((venv.num_envs,), jnp.float32)
        return RunnerState(
            train_state, env_state, obs, done, hidden, task_return, k_run, jnp.int32(0)
        )

    return init


def make_update(
    config: PPOConfig, task_set: TaskSet
) -> Callable[[RunnerState], tuple[RunnerState, Metrics]]:
    """``update(runner_state) -> (runner_state, metrics)``: one rollout, GAE, and all epochs.

    Metrics (scalars unless noted): ``task_return`` (mean return of the tasks that ended in
    this rollout; NaN if none did), ``tasks_ended``, ``trial_returns`` ([K] per-trial means
    of those tasks, when the VecEnv reports them), and the means over epochs and minibatches
    of ``loss``, ``policy_loss``, ``value_loss``, ``entropy``, ``approx_kl``,
    ``clip_fraction``, ``grad_norm``; plus ``update`` and ``env_steps`` after this update.
    """
    venv, network = _setup(config, task_set)

    def update(rs: RunnerState) -> tuple[RunnerState, Metrics]:
        params, hidden0 = rs.train_state.params, rs.hidden
        rs, transitions, stats = rollout(
            network, venv, params, rs, config.num_steps, config.bootstrap_truncated
        )
        last_value = network.apply(params, rs.hidden, rs.obs[None], rs.done[None])[3][0]
        advantages, targets = gae(transitions, last_value, config.gamma, config.gae_lambda)
        batch = Batch(transitions, advantages, targets, hidden0)

        def epoch(carry: tuple[TrainState, jax.Array], _: None):
            train_state, key = carry
            key, k_epoch = jax.random.split(key)
            train_state, metrics = update_epoch(network, config, train_state, k_epoch, batch)
            return (train_state, key), metrics

        (train_state, key), metrics = jax.lax.scan(
            epoch, (rs.train_state, rs.key), None, length=config.update_epochs
        )
        count = rs.update + 1
        metrics = {
            **jax.tree.map(jnp.mean, metrics),
            **_task_metrics(stats),
            "update": count,
            "env_steps": count * config.steps_per_update,
        }
        return rs._replace(train_state=train_state, key=key, update=count), metrics

    return update


def scan_updates(
    update: Callable[[RunnerState], tuple[RunnerState, Metrics]],
    runner_state: RunnerState,
    num_updates: int,
) -> tuple[RunnerState, Metrics]:
    """``num_updates`` updates in one ``lax.scan``; metrics stacked to ``[num_updates, ...]``.

    For a host loop of jitted chunks: ``chunk = jax.jit(scan_updates, static_argnums=(0, 2))``
    or ``jax.jit(lambda rs: scan_updates(update, rs, n))``.
    """
    return jax.lax.scan(lambda rs, _: update(rs), runner_state, None, length=num_updates)


def make_train(
    config: PPOConfig, task_set: TaskSet
) -> Callable[[jax.Array], tuple[TrainState, Metrics]]:
    """``train(key) -> (TrainState, metrics)``: ``config.num_updates`` updates from init.

    Jittable and vmappable over ``key`` (``jax.jit(jax.vmap(train))(keys)`` runs many seeds).
    Metrics are those of :func:`make_update`, stacked to ``[num_updates, ...]``.
    """
    init, update = make_init(config, task_set), make_update(config, task_set)

    def train(key: jax.Array) -> tuple[TrainState, Metrics]:
        runner_state, metrics = scan_updates(update, init(key), config.num_updates)
        return runner_state.train_state, metrics

    return train
