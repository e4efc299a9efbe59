"""A causal Transformer memory over a sliding window, resettable like the S5 memory.

Every step attends to itself and to at most ``window`` (W) earlier steps *of its own episode*:
with ``resets[t, b]`` True, x[t, b] starts a new episode, and no step at or after t attends to
any step before it, in the same call or through the carry. So, as for the resettable S5,
nothing before a reset reaches an output after it, and the gradient through it is exactly zero
(masked scores are -inf: their softmax weight is exactly 0).

Each layer is a pre-norm block,

    h = h + Attention(LayerNorm(h)),        h = h + MLP(LayerNorm(h)),

and the stack ends with a LayerNorm. Positions enter as an ALiBi bias (Press et al. 2022): head
i adds ``-slope_i * (t_q - t_k)`` to the score of query step t_q on key step t_k, with
``slope_i = 2^(-8 i / num_heads)``, so attention depends on how far back a step lies, not on
where the window sits in the episode.

Two forms, one set of parameters, the same numbers (tested):

* **parallel (training) form**: a call with T steps. Queries are split into blocks of
  C = min(W, T) steps; each block attends to the C + W keys that can reach it (the carry's W
  keys, then the new ones), so the cost is O(T * (W + C)) = O(T * W) for T >= W, instead of
  O(T^2) for full attention;
* **step form**: a call with T = 1, attending to the W cached keys and itself: O(W) per step.

The hidden state (carry) is a :class:`TransformerCarry`, every leaf batch-first:

    keys, values  float32 [B, num_layers, W, hidden_size]: per layer, the keys and values of
                  the last W steps (oldest first, the newest last);
    positions     int32 [B, W]: the step index within its episode of each cached step, -1 for
                  an empty slot (before the episode started, or an earlier episode's step).

`initialize_carry(batch_size)` gives an empty window (positions all -1).
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from agents.s5 import check_sequence_inputs


class TransformerCarry(NamedTuple):
    """The sliding window of a :class:`WindowedTransformer`; every leaf has the batch axis first."""

    keys: jax.Array  # float32 [B, num_layers, W, hidden_size], oldest step first
    values: jax.Array  # float32 [B, num_layers, W, hidden_size], oldest step first
    positions: jax.Array  # int32 [B, W], step index within the episode; -1: empty slot


def alibi_slopes(num_heads: int) -> np.ndarray:
    """ALiBi slopes float32 [num_heads]: 2^(-8 i / num_heads) for i = 1 .. num_heads."""
    return (2.0 ** (-8.0 * np.arange(1, num_heads + 1) / num_heads)).astype(np.float32)


def _check_sizes(owner: str, **sizes: int) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
            raise ValueError(f"{owner}: {name} must be a positive int, got {name}={value!r}")


def episode_positions(resets: jax.Array, carry_positions: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Episode index and within-episode position of each new step.

    Args:
        resets: bool [T, B], True where step t starts an episode.
        carry_positions: int32 [B, W], the carry's positions (the last slot is the newest step).

    Returns:
        (episode int32 [T, B]: 0 for the carry's episode, +1 at every reset;
        position int32 [T, B]: steps since the episode's start, continuing the carry's).
    """
    num_steps = resets.shape[0]
    episode = jnp.cumsum(resets.astype(jnp.int32), axis=0)
    t = jnp.arange(num_steps, dtype=jnp.int32)[:, None]
    last_reset = jax.lax.cummax(jnp.where(resets, t, -1), axis=0)  # [T, B], -1: none yet
    start = carry_positions[:, -1] + 1  # [B]: the carry episode's next position (0 if empty)
    position = jnp.where(last_reset >= 0, t - last_reset, start[None, :] + t)
    return episode, position.astype(jnp.int32)


def windowed_attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    key_episode: jax.Array,
    key_valid: jax.Array,
    query_episode: jax.Array,
    slopes: jax.Array,
    window: int,
) -> jax.Array:
    """Causal attention of T queries on the W + T keys before and at them, in blocks.

    Key m (0 <= m < W + T) is the step at time m - W (the first W come from the carry); query t
    is at time t. Query t may attend to key m iff the key is valid, belongs to the same episode,
    and 0 <= t - (m - W) <= W.

    Args:
        q: [T, B, heads, d] queries.
        k: [W + T, B, heads, d] keys (the carry's first).
        v: [W + T, B, heads, d] values (the carry's first).
        key_episode: int32 [W + T, B], episode index of each key.
        key_valid: bool [W + T, B], False for empty carry slots.
        query_episode: int32 [T, B], episode index of each query.
        slopes: float32 [heads], ALiBi slopes.
        window: W.

    Returns:
        [T, B, heads, d] attention outputs.
    """
    num_steps = q.shape[0]
    block = min(window, num_steps)  # C
    num_blocks = -(-num_steps // block)  # n
    pad = num_blocks * block - num_steps

    def pad_time(z: jax.Array, value: float | int | bool) -> jax.Array:
        widths = [(0, pad)] + [(0, 0)] * (z.ndim - 1)
        return jnp.pad(z, widths, constant_values=value)

    # Padded steps get episode -2 (their own), are valid, and lie after every real query, so
    # no real query sees them and each padded query sees at least itself (no all -inf row).
    q, k, v = pad_time(q, 0.0), pad_time(k, 0.0), pad_time(v, 0.0)
    key_episode, query_episode = pad_time(key_episode, -2), pad_time(query_episode, -2)
    key_valid = pad_time(key_valid, True)

    qb = q.reshape(num_blocks, block, *q.shape[1:])  # [n, C, B, h, d]
    qe = query_episode.reshape(num_blocks, block, -1)  # [n, C, B]
    if num_blocks == 1:  # T <= W (every single step): all W + T keys, no gather
        kb, vb, ke, kv = k[None], v[None], key_episode[None], key_valid[None]
    else:
        starts = np.arange(num_blocks) * block
        key_idx = starts[:, None] + np.arange(block + window)[None, :]  # [n, C + W]
        kb, vb = k[key_idx], v[key_idx]  # [n, C + W, B, h, d]
        ke, kv = key_episode[key_idx], key_valid[key_idx]  # [n, C + W, B]

    # Query c of a block is at time start + c, key j at time start + j - W: offset c + W - j.
    offset = np.arange(block)[:, None] + window - np.arange(block + window)[None, :]  # [C, C+W]
    band = (offset >= 0) & (offset <= window)
    allowed = (
        band[None, :, :, None] & (qe[:, :, None, :] == ke[:, None, :, :]) & kv[:, None, :, :]
    )  # [n, C, C + W, B]
    scale = 1.0 / np.sqrt(q.shape[-1])
    scores = jnp.einsum("ncbhd,nkbhd->nbhck", qb * scale, kb)  # [n, B, h, C, C + W]
    bias = -slopes[:, None, None] * jnp.asarray(np.maximum(offset, 0), jnp.float32)  # [h,C,C+W]
    scores = scores + bias[None, None]
    allowed = jnp.transpose(allowed, (0, 3, 1, 2))[:, :, None]  # [n, B, 1, C, C + W]
    weights = jax.nn.softmax(jnp.where(allowed, scores, -jnp.inf), axis=-1)
    out = jnp.einsum("nbhck,nkbhd->ncbhd", weights, vb)  # [n, C, B, h, d]
    return out.reshape(num_blocks * block, *out.shape[2:])[:num_steps]


class _Block(nn.Module):
    """One pre-norm block: h + Attention(LN(h)), then + MLP(LN(h)); returns the new k, v too."""

    hidden_size: int
    num_heads: int
    window: int
    mlp_ratio: int

    @nn.compact
    def __call__(
        self,
        h: jax.Array,  # [T, B, H]
        cache_k: jax.Array,  # [B, W, H]
        cache_v: jax.Array,  # [B, W, H]
        key_episode: jax.Array,  # int32 [W + T, B]
        key_valid: jax.Array,  # bool [W + T, B]
        query_episode: jax.Array,  # int32 [T, B]
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        num_steps, batch, width = h.shape
        heads, head_dim = self.num_heads, self.hidden_size // self.num_heads
        z = nn.LayerNorm(name="norm_attn")(h)
        qkv = nn.Dense(3 * width, name="qkv")(z)
        q, k, v = jnp.split(qkv, 3, axis=-1)  # [T, B, H] each
        k_all = jnp.concatenate([jnp.swapaxes(cache_k, 0, 1), k], axis=0)  # [W + T, B, H]
        v_all = jnp.concatenate([jnp.swapaxes(cache_v, 0, 1), v], axis=0)

        def split_heads(a: jax.Array) -> jax.Array:
            return a.reshape(*a.shape[:2], heads, head_dim)

        attn = windowed_attention(
            split_heads(q),
            split_heads(k_all),
            split_heads(v_all),
            key_episode,
            key_valid,
            query_episode,
            jnp.asarray(alibi_slopes(heads)),
            self.window,
        ).reshape(num_steps, batch, width)
        h = h + nn.Dense(width, name="attn_out")(attn)
        z = nn.LayerNorm(name="norm_mlp")(h)
        z = nn.gelu(nn.Dense(self.mlp_ratio * width, name="mlp_in")(z))
        h = h + nn.Dense(width, name="mlp_out")(z)
        new_k = jnp.swapaxes(k_all[num_steps:], 0, 1)  # [B, W, H]: the last W steps
        new_v = jnp.swapaxes(v_all[num_steps:], 0, 1)
        return h, new_k, new_v


class WindowedTransformer(nn.Module):
    """Causal windowed-attention memory: (hidden, x [T, B, H], resets [T, B]) -> (hidden, y).

    Same interface as :class:`agents.s5.ResettableS5Stack` and the memories of
    :mod:`agents.memory`. Each step attends to itself and up to ``window`` earlier steps of its
    own episode; ``resets[t, b]`` True empties the window before x[t, b]. A single step is a
    call with T = 1 (O(window) work); a call with T steps costs O(T * window).

    Hidden state: :class:`TransformerCarry` (keys, values float32 [B, num_layers, window,
    hidden_size]; positions int32 [B, window]); ``initialize_carry(batch_size)`` gives an empty
    window.

    Attributes:
        hidden_size: H, input and output width (inputs must already have this width).
        num_layers: number of pre-norm attention + MLP blocks.
        num_heads: attention heads; must divide hidden_size.
        window: W, how many earlier steps each step may attend to (the carry holds W steps).
            A window at least as long as the episodes gives full causal attention.
        mlp_ratio: width of the MLP's hidden layer, in multiples of hidden_size.
    """

    hidden_size: int = 256
    num_layers: int = 2
    num_heads: int = 4
    window: int = 128
    mlp_ratio: int = 4

    def __post_init__(self) -> None:
        _check_sizes(
            "WindowedTransformer",
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            window=self.window,
            mlp_ratio=self.mlp_ratio,
        )
        if self.hidden_size % self.num_heads != 0:
            raise ValueError(
                f"WindowedTransformer: num_heads={self.num_heads} must divide "
                f"hidden_size={self.hidden_size}; pick num_heads in "
                f"{[d for d in range(1, self.hidden_size + 1) if self.hidden_size % d == 0]}"
            )
        super().__post_init__()

    @nn.nowrap
    def initialize_carry(self, batch_size: int) -> TransformerCarry:
        """An empty window for ``batch_size`` sequences; usable without params."""
        _check_sizes("WindowedTransformer.initialize_carry", batch_size=batch_size)
        shape = (batch_size, self.num_layers, self.window, self.hidden_size)
        return TransformerCarry(
            keys=jnp.zeros(shape, jnp.float32),
            values=jnp.zeros(shape, jnp.float32),
            positions=jnp.full((batch_size, self.window), -1, jnp.int32),
        )

    def _check_hidden(self, hidden: TransformerCarry, x: jax.Array) -> None:
        batch = x.shape[1]
        kv_shape = (batch, self.num_layers, self.window, self.hidden_size)
        expected = (kv_shape, kv_shape, (batch, self.window))
        got = tuple(tuple(np.shape(leaf)) for leaf in hidden)
        if not isinstance(hidden, TransformerCarry) or got != expected:
            raise ValueError(
                "WindowedTransformer: hidden must be a TransformerCarry with keys/values "
                f"[B, num_layers, window, hidden_size] = {kv_shape} and positions [B, window] = "
                f"{(batch, self.window)} for x of shape {tuple(x.shape)}, got "
                f"{type(hidden).__name__} with shapes {got}; use initialize_carry(batch_size)"
            )

    @nn.compact
    def __call__(
        self, hidden: TransformerCarry, x: jax.Array, resets: jax.Array
    ) -> tuple[TransformerCarry, jax.Array]:
        """Run all blocks over a sequence.

        Args:
            hidden: the window before x[0] (from ``initialize_carry`` or a previous call).
            x: [T, B, hidden_size] inputs.
            resets: [T, B] bool (or 0/1), True where x[t] starts a new episode.

        Returns:
            (the window after x[-1]; y [T, B, hidden_size]).
        """
        resets = check_sequence_inputs("WindowedTransformer", x, resets, self.hidden_size)
        self._check_hidden(hidden, x)
        num_steps = x.shape[0]
        episode, position = episode_positions(resets, hidden.positions)  # [T, B] each
        carry_pos = jnp.swapaxes(hidden.positions, 0, 1)  # [W, B]
        key_episode = jnp.concatenate([jnp.zeros_like(carry_pos), episode], axis=0)  # [W+T, B]
        key_position = jnp.concatenate([carry_pos, position], axis=0)  # [W + T, B]
        key_valid = key_position >= 0

        h = x.astype(jnp.float32)
        keys, values = [], []
        for layer in range(self.num_layers):
            h, k, v = _Block(
                hidden_size=self.hidden_size,
                num_heads=self.num_heads,
                window=self.window,
                mlp_ratio=self.mlp_ratio,
                name=f"block_{layer}",
            )(
                h,
                hidden.keys[:, layer],
                hidden.values[:, layer],
                key_episode,
                key_valid,
                episode,
            )
            keys.append(k)
            values.append(v)
        y = nn.LayerNorm(name="norm_out")(h)

        # The new window: the last W steps, with earlier episodes' steps marked empty.
        last = key_position[num_steps:]  # [W, B]
        same = key_episode[num_steps:] == episode[-1][None, :]
        positions = jnp.swapaxes(jnp.where(same & (last >= 0), last, -1), 0, 1)  # [B, W]
        carry = TransformerCarry(
            keys=jnp.stack(keys, axis=1), values=jnp.stack(values, axis=1), positions=positions
        )
        return carry, y
