"""Actor-critic network: encoder MLP -> memory (S5 / GRU / LSTM / none) -> policy and value heads.

Shapes are time-major, like the memories of :mod:`agents.memory`::

    initialize_carry(batch_size) -> hidden
    (hidden, obs [T, B, O], resets [T, B]) -> (hidden, mean [T, B, A], log_std [A], value [T, B])

``resets[t, b]`` True means ``obs[t, b]`` is the first observation of a new task, so the memory
drops the state carried into step ``t``. Every leaf of ``hidden`` has the batch axis first.

Defaults are the paper's PPO-S5 (Lu et al. 2023, POPGym table): encoder [128, 256] with leaky
ReLU, a 4-layer S5 of width 256 and state size 256, and policy / value heads of [128, 128].
The policy is a diagonal Gaussian whose log-std is a learned, state-independent vector.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from agents.memory import MEMORY_KINDS, make_memory

Hidden = Any  # the memory's hidden state: a pytree whose leaves are [B, ...]

INPUT_NORMS = ("none", "layernorm", "in_context")


def _dense(features: int, scale: float, name: str | None = None) -> nn.Dense:
    """A Dense layer with orthogonal(scale) kernel and zero bias (the usual PPO init)."""
    return nn.Dense(
        features,
        kernel_init=nn.initializers.orthogonal(scale),
        bias_init=nn.initializers.zeros,
        name=name,
    )


class MLP(nn.Module):
    """Dense + activation for each width in ``sizes``: ``[..., D_in] -> [..., sizes[-1]]``."""

    sizes: Sequence[int]
    activation: Callable[[jax.Array], jax.Array] = nn.leaky_relu

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, width in enumerate(self.sizes):
            x = self.activation(_dense(width, np.sqrt(2.0), name=f"dense_{i}")(x))
        return x


def _check_sizes(owner: str, name: str, sizes: Sequence[int], allow_empty: bool) -> None:
    if not allow_empty and len(sizes) == 0:
        raise ValueError(f"{owner}: {name} must have at least one width, got {tuple(sizes)}")
    if any(not isinstance(s, int | np.integer) or s <= 0 for s in sizes):
        raise ValueError(f"{owner}: {name} must be positive ints, got {name}={tuple(sizes)}")


class InContextNormalize(nn.Module):
    """Standardise each observation by the running statistics of its own task.

    ``(carry, x [T, B, O], resets [T, B]) -> (carry, [T, B, 2 O])``: the output is ``x`` next to
    ``(x[t] - mean) / sqrt(var + eps)``, where mean and var are per dimension over the
    observations of the current task up to and including ``t`` (causal; a reset at ``t``
    restarts them from ``x[t]``, so a task's first observation standardises to 0 and the raw
    half still carries it). No parameters. The carry is ``(count [B], sum [B, O], sum of
    squares [B, O])``; ``initialize_carry(batch_size, obs_size)`` gives zeros.
    """

    eps: float = 1e-2

    @staticmethod
    def initialize_carry(batch_size: int, obs_size: int) -> tuple[jax.Array, ...]:
        """Zero statistics for ``batch_size`` sequences of ``obs_size``-dim observations."""
        zeros = jnp.zeros((batch_size, obs_size), jnp.float32)
        return (jnp.zeros((batch_size,), jnp.float32), zeros, zeros)

    def __call__(
        self, carry: tuple[jax.Array, ...], x: jax.Array, resets: jax.Array
    ) -> tuple[tuple[jax.Array, ...], jax.Array]:
        def step(stats: tuple[jax.Array, ...], inputs: tuple[jax.Array, jax.Array]):
            x_t, reset_t = inputs
            keep = 1.0 - reset_t.astype(jnp.float32)
            count, total, squares = stats
            keep_obs = keep[:, None]
            stats = (count * keep + 1.0, total * keep_obs + x_t, squares * keep_obs + x_t * x_t)
            return stats, stats

        carry, (count, total, squares) = jax.lax.scan(step, carry, (x, resets))
        mean = total / count[..., None]
        var = jnp.maximum(squares / count[..., None] - mean * mean, 0.0)
        return carry, jnp.concatenate([x, (x - mean) / jnp.sqrt(var + self.eps)], axis=-1)


class ActorCritic(nn.Module):
    """Encoder -> memory -> Gaussian policy head (state-independent log-std) + value head.

    Call: ``(hidden, obs [T, B, O], resets [T, B]) -> (hidden, mean [T, B, A], log_std [A],
    value [T, B])``; a single step is ``T = 1``. ``initialize_carry(batch_size)`` gives the
    zero hidden state (no params needed).

    The memory width is the encoder's last width (``d_model``): ``"s5"`` gets
    ``d_model=d_model``, ``"gru"``/``"lstm"``/``"none"`` get ``hidden_size=d_model``, plus the
    extra keyword arguments of ``memory_kwargs`` (e.g. ``(("state_size", 64),
    ("num_layers", 2))`` for S5). With none, each memory keeps its own defaults, which for S5
    are the paper's (4 layers, state size 256).

    Attributes:
        action_dim: A, the action size.
        memory: "s5" (default), "gru", "lstm" or "none".
        memory_kwargs: extra keyword arguments of the memory, as ``(name, value)`` pairs.
        encoder_sizes: encoder MLP widths; the last one is the memory width d_model.
        head_sizes: hidden widths of each of the policy and value heads.
        init_log_std: initial value of every entry of the log-std vector.
        obs_size: if set, the expected O; a different obs width raises at trace time.
        separate_critic: give the value head its own encoder and memory (default False: one
            encoder and memory feed both heads). The hidden state is then the pair
            ``(actor hidden, critic hidden)``. The value loss then shapes only the critic's
            memory: on `point-nav` a shared S5 learns features for the value (such as how far
            into the task it is) that the policy also reads (docs/concepts/point_nav.md).
        input_norm: what the encoder reads: ``"none"`` (the observation), ``"layernorm"`` (a
            LayerNorm of it) or ``"in_context"`` (the observation next to its standardisation
            by the current task's running statistics, :class:`InContextNormalize`; needs
            ``obs_size``; the hidden state is then ``(statistics, memory hidden)``).
        aux_dim: size of an auxiliary prediction head (0: none). Called with ``aux_action``
            ``[T, B, A]``, the network also maps the actor memory's output at ``t`` and the
            action taken at ``t`` to a ``[T, B, aux_dim]`` prediction, put in the ``"aux"``
            collection as ``"prediction"`` (``apply(..., mutable=["aux"])``; what PPO's
            ``aux_loss`` trains it on: :func:`agents.ppo.ppo_loss`). The policy and value never
            read it, and a call without ``aux_action`` skips it (its params are then unused).
    """

    action_dim: int
    memory: str = "s5"
    memory_kwargs: tuple[tuple[str, Any], ...] = ()
    encoder_sizes: tuple[int, ...] = (128, 256)
    head_sizes: tuple[int, ...] = (128, 128)
    init_log_std: float = 0.0
    obs_size: int | None = None
    separate_critic: bool = False
    input_norm: str = "none"
    aux_dim: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.action_dim, int | np.integer) or self.action_dim <= 0:
            raise ValueError(
                f"ActorCritic: action_dim must be a positive int, got {self.action_dim!r}"
            )
        if self.memory not in MEMORY_KINDS:
            raise ValueError(f"ActorCritic: unknown memory {self.memory!r}; valid: {MEMORY_KINDS}")
        if self.input_norm not in INPUT_NORMS:
            raise ValueError(
                f"ActorCritic: unknown input_norm {self.input_norm!r}; valid: {INPUT_NORMS}"
            )
        if self.input_norm == "in_context" and self.obs_size is None:
            raise ValueError(
                "ActorCritic: input_norm='in_context' keeps per-task statistics in the hidden "
                "state, whose size is the observation's: set obs_size"
            )
        aux_dim = self.aux_dim
        if isinstance(aux_dim, bool) or not isinstance(aux_dim, int | np.integer) or aux_dim < 0:
            raise ValueError(f"ActorCritic: aux_dim must be an int >= 0, got {aux_dim!r}")
        _check_sizes("ActorCritic", "encoder_sizes", self.encoder_sizes, allow_empty=False)
        _check_sizes("ActorCritic", "head_sizes", self.head_sizes, allow_empty=True)
        width_key = "d_model" if self.memory == "s5" else "hidden_size"
        if width_key in dict(self.memory_kwargs):
            raise ValueError(
                f"ActorCritic: memory_kwargs sets {width_key}; the memory width is the last "
                f"encoder width (encoder_sizes={tuple(self.encoder_sizes)}), set it there instead"
            )
        super().__post_init__()

    @property
    def d_model(self) -> int:
        """Width of the encoder output, the memory and the memory output."""
        return int(self.encoder_sizes[-1])

    @nn.nowrap
    def make_memory_module(self, name: str | None = None) -> nn.Module:
        """The memory module this network uses (unbound when called outside ``__call__``)."""
        width_key = "d_model" if self.memory == "s5" else "hidden_size"
        kwargs = {width_key: self.d_model, **dict(self.memory_kwargs)}
        if name is not None:
            kwargs["name"] = name
        return make_memory(self.memory, **kwargs)

    @nn.nowrap
    def initialize_carry(self, batch_size: int) -> Hidden:
        """Zero hidden state for ``batch_size`` sequences (leaves ``[batch_size, ...]``)."""
        hidden = self.make_memory_module().initialize_carry(batch_size)
        hidden = (hidden, hidden) if self.separate_critic else hidden
        if self.input_norm == "in_context":
            assert self.obs_size is not None  # checked in __post_init__
            return (InContextNormalize.initialize_carry(batch_size, self.obs_size), hidden)
        return hidden

    def _check_inputs(self, obs: jax.Array, resets: jax.Array) -> None:
        if obs.ndim != 3:
            raise ValueError(
                f"ActorCritic: obs must be time-major [T, B, O], got shape {tuple(obs.shape)}; "
                "for one step use obs[None]"
            )
        if self.obs_size is not None and obs.shape[-1] != self.obs_size:
            raise ValueError(
                f"ActorCritic: obs width {obs.shape[-1]} (obs.shape={tuple(obs.shape)}) does not "
                f"match obs_size={self.obs_size} the network was built for"
            )
        if tuple(resets.shape) != tuple(obs.shape[:2]):
            raise ValueError(
                f"ActorCritic: resets must have shape [T, B] = {tuple(obs.shape[:2])} for obs of "
                f"shape {tuple(obs.shape)}, got {tuple(resets.shape)}"
            )

    @nn.compact
    def __call__(
        self, hidden: Hidden, obs: jax.Array, resets: jax.Array, aux_action: jax.Array | None = None
    ) -> tuple[Hidden, jax.Array, jax.Array, jax.Array]:
        """Run the network over a sequence.

        Args:
            hidden: memory state before ``obs[0]`` (from ``initialize_carry`` or a previous call).
            obs: float32 [T, B, O] observations.
            resets: bool [T, B], True where ``obs[t]`` starts a new task.
            aux_action: float32 [T, B, A], the actions taken at each step: also run the
                auxiliary head (needs ``aux_dim > 0``; see the class docstring).

        Returns:
            ``(hidden after obs[-1], mean [T, B, A], log_std [A], value [T, B])``.
        """
        self._check_inputs(obs, resets)
        obs = obs.astype(jnp.float32)
        if self.input_norm == "in_context":
            stats, hidden = hidden
            stats, obs = InContextNormalize(name="input_norm")(stats, obs, resets)
        elif self.input_norm == "layernorm":
            obs = nn.LayerNorm(name="input_norm")(obs)
        actor_hidden, critic_hidden = hidden if self.separate_critic else (hidden, None)
        x = MLP(self.encoder_sizes, name="encoder")(obs)  # [T, B, d_model]
        actor_hidden, y = self.make_memory_module(name="memory")(actor_hidden, x, resets)
        if aux_action is not None:
            self._aux_head(y, aux_action)
        actor = MLP(self.head_sizes, name="actor")(y)
        mean = _dense(self.action_dim, 0.01, name="mean")(actor)  # [T, B, A]
        log_std = self.param(
            "log_std", nn.initializers.constant(self.init_log_std), (self.action_dim,)
        )
        if self.separate_critic:
            x = MLP(self.encoder_sizes, name="critic_encoder")(obs)
            critic_memory = self.make_memory_module(name="critic_memory")
            critic_hidden, y = critic_memory(critic_hidden, x, resets)
            hidden = (actor_hidden, critic_hidden)
        else:
            hidden = actor_hidden
        if self.input_norm == "in_context":
            hidden = (stats, hidden)
        critic = MLP(self.head_sizes, name="critic")(y)
        value = _dense(1, 1.0, name="value")(critic)[..., 0]  # [T, B]
        return hidden, mean, log_std, value

    def _aux_head(self, y: jax.Array, aux_action: jax.Array) -> None:
        """Sow the auxiliary prediction from the memory output ``y`` and the action taken."""
        if self.aux_dim == 0:
            raise ValueError(
                "ActorCritic: aux_action was passed but the network has no auxiliary head; "
                "build it with aux_dim > 0 (PPOConfig.aux_loss does)"
            )
        if tuple(aux_action.shape) != (*y.shape[:2], self.action_dim):
            raise ValueError(
                f"ActorCritic: aux_action must have shape [T, B, A] = "
                f"{(*y.shape[:2], self.action_dim)}, got {tuple(aux_action.shape)}"
            )
        x = jnp.concatenate([y, aux_action.astype(y.dtype)], axis=-1)
        x = MLP(self.head_sizes, name="aux_head")(x)
        self.sow("aux", "prediction", _dense(self.aux_dim, 1.0, name="aux_out")(x))
