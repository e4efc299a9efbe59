"""Memory baselines with the resettable S5 interface: GRU, LSTM and a memoryless MLP.

Every memory is a flax linen Module with

    initialize_carry(batch_size) -> hidden            (usable without params)
    __call__(hidden, x [T, B, H_in], resets [T, B]) -> (hidden, y [T, B, H_out])

where resets[t, b] True means x[t, b] starts a new episode, so the state carried into step t is
replaced by the initial (zero) state. Every leaf of a hidden state has the batch axis first, so a
minibatch of environments is `jax.tree.map(lambda h: h[idx], hidden)`:

    ResettableS5Stack  complex64 [B, num_layers, P]
    GRUMemory          float32 [B, hidden_size]
    LSTMMemory         (c, h), each float32 [B, hidden_size]
    NoMemory           float32 [B, 1] (ignored)
    WindowedTransformer  TransformerCarry: keys, values [B, L, W, H], positions int32 [B, W]
                         (agents/transformer.py)

`make_memory(kind, **kwargs)` builds one by name, so an experiment can swap memories.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from agents.s5 import ResettableS5Stack, check_sequence_inputs
from agents.transformer import WindowedTransformer

MEMORY_KINDS = ("s5", "gru", "lstm", "none", "transformer")

Hidden = jax.Array | tuple[jax.Array, jax.Array]


def _check_sizes(owner: str, **sizes: int) -> None:
    for name, value in sizes.items():
        if not (isinstance(value, int) and value > 0):
            raise ValueError(f"{owner}: {name} must be a positive int, got {name}={value!r}")


class _ResettingCell(nn.Module):
    """One time step of an RNN cell that first resets its carry where `reset` is True."""

    cell_type: str
    hidden_size: int

    @nn.compact
    def __call__(
        self, carry: Hidden, inputs: tuple[jax.Array, jax.Array]
    ) -> tuple[Hidden, jax.Array]:
        x_t, reset_t = inputs  # [B, H_in], [B]
        carry = jax.tree.map(lambda c: jnp.where(reset_t[:, None], jnp.zeros_like(c), c), carry)
        if self.cell_type == "gru":
            cell = nn.GRUCell(self.hidden_size, name="cell")
        else:
            cell = nn.OptimizedLSTMCell(self.hidden_size, name="cell")
        return cell(carry, x_t)


def _run_rnn(
    owner: str, cell_type: str, hidden_size: int, hidden: Hidden, x: jax.Array, resets: jax.Array
) -> tuple[Hidden, jax.Array]:
    resets = check_sequence_inputs(owner, x, resets)
    for leaf in jax.tree.leaves(hidden):
        if tuple(leaf.shape) != (x.shape[1], hidden_size):
            raise ValueError(
                f"{owner}: hidden leaves must have shape [B, hidden_size] = "
                f"{(x.shape[1], hidden_size)} for x of shape {tuple(x.shape)}, got "
                f"{tuple(leaf.shape)}; use initialize_carry(batch_size)"
            )
    scan = nn.scan(
        _ResettingCell,
        variable_broadcast="params",
        split_rngs={"params": False},
        in_axes=0,
        out_axes=0,
    )
    return scan(cell_type=cell_type, hidden_size=hidden_size, name="rnn")(hidden, (x, resets))


class GRUMemory(nn.Module):
    """A GRU over time whose carry resets to zeros where resets[t] is True.

    Hidden: float32 [B, hidden_size]. Input width is free; output width is hidden_size.

    Attributes:
        hidden_size: width of the GRU state and of the output.
    """

    hidden_size: int = 256

    def __post_init__(self) -> None:
        _check_sizes("GRUMemory", hidden_size=self.hidden_size)
        super().__post_init__()

    @nn.nowrap
    def initialize_carry(self, batch_size: int) -> jax.Array:
        """Zero hidden state, float32 [batch_size, hidden_size]; usable without params."""
        _check_sizes("GRUMemory.initialize_carry", batch_size=batch_size)
        return jnp.zeros((batch_size, self.hidden_size), jnp.float32)

    @nn.compact
    def __call__(
        self, hidden: jax.Array, x: jax.Array, resets: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """hidden [B, H], x [T, B, H_in], resets [T, B] -> (hidden [B, H], y [T, B, H])."""
        return _run_rnn("GRUMemory", "gru", self.hidden_size, hidden, x, resets)


class LSTMMemory(nn.Module):
    """An LSTM over time whose carry (c, h) resets to zeros where resets[t] is True.

    Hidden: tuple (c, h), each float32 [B, hidden_size]. Output width is hidden_size (= h).

    Attributes:
        hidden_size: width of the LSTM cell and hidden state and of the output.
    """

    hidden_size: int = 256

    def __post_init__(self) -> None:
        _check_sizes("LSTMMemory", hidden_size=self.hidden_size)
        super().__post_init__()

    @nn.nowrap
    def initialize_carry(self, batch_size: int) -> tuple[jax.Array, jax.Array]:
        """Zero (c, h), each float32 [batch_size, hidden_size]; usable without params."""
        _check_sizes("LSTMMemory.initialize_carry", batch_size=batch_size)
        zeros = jnp.zeros((batch_size, self.hidden_size), jnp.float32)
        return zeros, zeros

    @nn.compact
    def __call__(
        self, hidden: tuple[jax.Array, jax.Array], x: jax.Array, resets: jax.Array
    ) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
        """hidden (c, h) [B, H] each, x [T, B, H_in], resets [T, B] -> (hidden, y [T, B, H])."""
        return _run_rnn("LSTMMemory", "lstm", self.hidden_size, hidden, x, resets)


class NoMemory(nn.Module):
    """A memoryless baseline: a per-step MLP, Dense(hidden_size) + leaky ReLU, num_layers times.

    Same interface as the recurrent memories; the hidden state (float32 [B, 1] zeros) is
    ignored and returned unchanged, and resets have no effect.

    Attributes:
        hidden_size: width of each layer and of the output.
        num_layers: number of Dense + leaky-ReLU layers (>= 1).
    """

    hidden_size: int = 256
    num_layers: int = 1

    def __post_init__(self) -> None:
        _check_sizes("NoMemory", hidden_size=self.hidden_size, num_layers=self.num_layers)
        super().__post_init__()

    @nn.nowrap
    def initialize_carry(self, batch_size: int) -> jax.Array:
        """Placeholder hidden state, float32 [batch_size, 1] zeros; usable without params."""
        _check_sizes("NoMemory.initialize_carry", batch_size=batch_size)
        return jnp.zeros((batch_size, 1), jnp.float32)

    @nn.compact
    def __call__(
        self, hidden: jax.Array, x: jax.Array, resets: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """hidden (ignored), x [T, B, H_in], resets [T, B] -> (hidden, y [T, B, hidden_size])."""
        check_sequence_inputs("NoMemory", x, resets)
        for _ in range(self.num_layers):
            x = nn.leaky_relu(nn.Dense(self.hidden_size)(x))
        return hidden, x


def make_memory(kind: str, **kwargs: object) -> nn.Module:
    """Build a memory by name: "s5" (ResettableS5Stack), "gru", "lstm", "none" (NoMemory) or
    "transformer" (WindowedTransformer).

    Keyword arguments go to the class: d_model / state_size / num_layers / ... for "s5",
    hidden_size for "gru" and "lstm", hidden_size / num_layers for "none", hidden_size /
    num_layers / num_heads / window / mlp_ratio for "transformer".

    Raises:
        ValueError: for an unknown kind, listing the valid ones.
    """
    classes = {
        "s5": ResettableS5Stack,
        "gru": GRUMemory,
        "lstm": LSTMMemory,
        "none": NoMemory,
        "transformer": WindowedTransformer,
    }
    if kind not in classes:
        raise ValueError(f"unknown memory kind {kind!r}; valid kinds: {MEMORY_KINDS}")
    return classes[kind](**kwargs)
