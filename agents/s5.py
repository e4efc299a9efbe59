"""Resettable S5: a stack of diagonal state-space layers whose state can be reset mid-sequence.

The S5 layer (Smith et al. 2023) runs the linear recurrence

    x_t = Λ̄ x_{t-1} + B̄ u_t,        y_t = 2·Re(C̃ x_t) + D ⊙ u_t

with a diagonal complex Λ̄, evaluated for a whole sequence at once by a parallel prefix scan.
Lu et al. 2023 make it resettable: with r_t = 1 when u_t is the first input of a new episode,

    x_t = (1 - r_t) · Λ̄ x_{t-1} + B̄ u_t,

which stays associative over elements (a, b, r) with the combine ("left" earlier in time)

    (a_l, b_l, r_l) • (a_r, b_r, r_r) = (a_r, b_r, 1)                      if r_r
                                       = (a_r a_l, a_r b_l + b_r, r_l)       otherwise.

So a rollout holding many episodes is still one parallel scan, and nothing before a reset reaches
an output after it (the gradient through the discarded branch is exactly zero). Three schedules
compute the same states (`resettable_linear_scan`): a sequential `lax.scan` over time
(`scan="sequential"`: O(T) work in T small steps, the fastest on a CPU), recursive doubling
(`"doubling"`: log2 T rounds of one loop body, a constant-size program with a custom VJP) and
`jax.lax.associative_scan` (`"associative"`). The default `scan="auto"` picks one by the backend
the program runs on (`resolve_scan`): sequential on a CPU, a parallel scan on accelerators.

Conventions (shared by every memory in `agents.memory`):

- time-major inputs: x [T, B, d_model], resets [T, B] (bool; True: x[t] starts an episode);
- the hidden state is one array, complex64 [B, num_layers, P] with P = state_size // 2 under
  conjugate symmetry (else P = state_size): the diagonalised state of each layer after the last
  step. Every leaf of every memory's hidden has the batch axis first, so a minibatch of
  environments is `jax.tree.map(lambda h: h[idx], hidden)`.
"""

import functools
import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ACTIVATIONS = ("full_glu", "half_glu1", "half_glu2", "gelu")
NORMS = ("pre", "post", "none")
DISCRETIZATIONS = ("zoh", "bilinear")
C_INITS = ("lecun_normal", "trunc_standard_normal", "complex_normal")
SCANS = ("sequential", "doubling", "associative")
SCAN_MODES = ("auto", *SCANS)  # what a config may name; "auto" is resolved by `resolve_scan`
# The schedule "auto" runs on each backend. CPU: the sequential scan's forward + backward took
# 0.98 ms against 4.58 (doubling) and 4.45 (associative) at [T 256, B 16, P 32] on a 2-core CPU
# (docs/reference/speed.md has the agent-level ratios and the GPU/TPU measurements).
AUTO_SCAN = {"cpu": "sequential", "gpu": "associative", "tpu": "associative"}

# Standard deviation of a standard normal truncated to [-2, 2]; dividing by it restores unit std.
_TRUNC_STD = 0.87962566103423978


# ---------------------------------------------------------------------------------------------
# HiPPO initialisation (numpy, float64; runs once at init time on the host)
# ---------------------------------------------------------------------------------------------


def hippo_legs(n: int) -> np.ndarray:
    """The HiPPO-LegS state matrix A [n, n] (float64), with the sign of a stable system.

    A[i, k] = -sqrt(2i+1)·sqrt(2k+1) for i > k, -(i+1) for i == k, 0 for i < k.
    """
    q = np.sqrt(1.0 + 2.0 * np.arange(n))
    a = np.tril(q[:, None] * q[None, :]) - np.diag(np.arange(n, dtype=np.float64))
    return -a


def hippo_normal(n: int) -> np.ndarray:
    """The normal part S [n, n] of HiPPO-LegS ("HiPPO-N"): S = A + p pᵀ with p_i = sqrt(i + 1/2).

    S = -I/2 + K with K skew-symmetric, so S is normal and every eigenvalue has real part -1/2.
    """
    p = np.sqrt(np.arange(n) + 0.5)
    return hippo_legs(n) + p[:, None] * p[None, :]


@functools.lru_cache(maxsize=32)
def _dplr_block(block_size: int, conj_sym: bool) -> tuple[np.ndarray, np.ndarray]:
    s = hippo_normal(block_size)
    skew = s - np.diag(np.diag(s))  # K = S + I/2, real skew-symmetric
    # -iK is Hermitian: -iK v = w v  <=>  S v = (-1/2 + i w) v. eigh sorts w ascending, and
    # the eigenvalues of a real skew matrix come in ± pairs, so the first half holds one mode of
    # each complex-conjugate pair.
    w, v = np.linalg.eigh(-1j * skew)
    lam = -0.5 + 1j * w
    if conj_sym:
        lam, v = lam[: block_size // 2], v[:, : block_size // 2]
    return lam, v


def dplr_hippo_init(
    state_size: int, blocks: int = 1, conj_sym: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigen-decomposition of the HiPPO-N matrix used to initialise an S5 layer.

    The state is split into `blocks` independent blocks of size N_b = state_size / blocks, each
    initialised from HiPPO-N of size N_b (the block-diagonal initialisation of S5). Under
    conjugate symmetry one mode of each conjugate pair is kept, P = state_size / 2.

    Args:
        state_size: N, the size of the real state the layer stands for.
        blocks: number of diagonal blocks; must divide state_size.
        conj_sym: keep half of the modes (the other half are their complex conjugates).

    Returns:
        lam [P] complex128 (eigenvalues, real part -1/2),
        v [N, P] complex128 (eigenvectors, block diagonal),
        v_inv [P, N] complex128 (= vᴴ, the inverse on the kept modes).
    """
    lam_b, v_b = _dplr_block(state_size // blocks, conj_sym)
    lam = np.tile(lam_b, blocks)
    v = np.kron(np.eye(blocks), v_b)
    return lam, v, v.conj().T


# ---------------------------------------------------------------------------------------------
# Discretisation and the reset-aware scan
# ---------------------------------------------------------------------------------------------


def discretize(
    lam: jax.Array, b_tilde: jax.Array, step: jax.Array, method: str
) -> tuple[jax.Array, jax.Array]:
    """Discretise the diagonal continuous-time system x' = Λx + B̃u with per-mode steps Δ.

    zoh:      Λ̄ = exp(ΛΔ),                    B̄ = (Λ̄ - 1)/Λ · B̃
    bilinear: Λ̄ = (1 + ΛΔ/2) / (1 - ΛΔ/2),   B̄ = Δ / (1 - ΛΔ/2) · B̃

    Args:
        lam: Λ [P] complex; b_tilde: B̃ [P, H] complex; step: Δ [P] (time units of one step).
        method: "zoh" or "bilinear".

    Returns:
        lam_bar Λ̄ [P] complex, b_bar B̄ [P, H] complex.
    """
    if method == "zoh":
        lam_bar = jnp.exp(lam * step)
        return lam_bar, ((lam_bar - 1.0) / lam)[:, None] * b_tilde
    if method == "bilinear":
        inv = 1.0 / (1.0 - 0.5 * step * lam)
        return inv * (1.0 + 0.5 * step * lam), (inv * step)[:, None] * b_tilde
    raise ValueError(f"discretization must be one of {DISCRETIZATIONS}, got {method!r}")


def reset_combine(
    left: tuple[jax.Array, jax.Array, jax.Array], right: tuple[jax.Array, jax.Array, jax.Array]
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Associative combine of the resettable linear recurrence; `left` is earlier in time.

    An element (a, b, r) stands for the map x -> b if r else a·x + b. Composing `right` after
    `left` keeps `right` alone when it resets, else (a_r·a_l, a_r·b_l + b_r, r_l).
    Shapes: a, b [..., P] complex; r [..., 1] bool (broadcast over P).
    """
    a_l, b_l, r_l = left
    a_r, b_r, r_r = right
    a = jnp.where(r_r, a_r, a_r * a_l)
    b = jnp.where(r_r, b_r, a_r * b_l + b_r)
    return a, b, jnp.logical_or(r_l, r_r)


def _shift_in_time(z: jax.Array, shift: jax.Array, fill: complex) -> jax.Array:
    """z[t - shift] along axis 0, `fill` where t < shift (shift may be traced)."""
    padded = jnp.concatenate([jnp.full_like(z, fill), z], axis=0)
    return jax.lax.dynamic_slice_in_dim(padded, z.shape[0] - shift, z.shape[0], axis=0)


def _doubling_scan(a: jax.Array, b: jax.Array) -> jax.Array:
    """x_t = a_t x_{t-1} + b_t (x_{-1} = 0) by recursive doubling (Hillis-Steele).

    Round k composes every element with the one 2^k steps earlier, using the combine
    (a_l, b_l) • (a_r, b_r) = (a_r a_l, a_r b_l + b_r); after ceil(log2 T) rounds element t holds
    the composition of steps 0..t. The rounds are one `fori_loop` body, so the program does not
    grow with T.
    """
    num_rounds = max(0, math.ceil(math.log2(a.shape[0])))

    def round_(k: jax.Array, ab: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        a, b = ab
        shift = jnp.left_shift(1, k)
        return a * _shift_in_time(a, shift, 1.0), a * _shift_in_time(b, shift, 0.0) + b

    return jax.lax.fori_loop(0, num_rounds, round_, (a, b))[1]


@jax.custom_vjp
def linear_recurrence(a: jax.Array, b: jax.Array) -> jax.Array:
    """All states of x_t = a_t x_{t-1} + b_t with x_{-1} = 0, by a parallel (doubling) scan.

    The gradient is its own reverse-time recurrence, λ_t = g_t + a_{t+1} λ_{t+1}, run by the same
    scan (custom VJP: d b_t = λ_t, d a_t = λ_t x_{t-1}), so the backward pass costs one more scan
    instead of the transpose of every round. Reverse mode only (no `jax.jvp`).

    Args:
        a: [T, ...] complex or real; b: [T, ...] of the same shape.

    Returns:
        x [T, ...].
    """
    return _doubling_scan(a, b)


def _linear_recurrence_fwd(
    a: jax.Array, b: jax.Array
) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    x = _doubling_scan(a, b)
    return x, (a, x)


def _linear_recurrence_bwd(
    res: tuple[jax.Array, jax.Array], g: jax.Array
) -> tuple[jax.Array, jax.Array]:
    a, x = res
    a_next = jnp.concatenate([a[1:], jnp.zeros_like(a[:1])], axis=0)  # a_{t+1}, 0 after the end
    adjoint = jnp.flip(_doubling_scan(jnp.flip(a_next, 0), jnp.flip(g, 0)), 0)
    x_prev = jnp.concatenate([jnp.zeros_like(x[:1]), x[:-1]], axis=0)
    return adjoint * x_prev, adjoint


linear_recurrence.defvjp(_linear_recurrence_fwd, _linear_recurrence_bwd)


def resolve_scan(scan: str, backend: str | None = None) -> str:
    """The schedule a scan mode runs: `scan` itself, or for "auto" the one chosen for `backend`.

    Args:
        scan: one of `SCAN_MODES`.
        backend: "cpu", "gpu", "tpu", ...; None: `jax.default_backend()`, the backend a jitted
            program runs on when no device is named.

    Returns:
        one of `SCANS` ("auto" on a backend without a measured choice gets "associative").
    """
    _check_choice("resolve_scan", "scan", scan, SCAN_MODES)
    if scan != "auto":
        return scan
    return AUTO_SCAN.get(backend or jax.default_backend(), "associative")


def _sequential_scan(
    lam_bar: jax.Array, bu: jax.Array, resets: jax.Array, h0: jax.Array
) -> jax.Array:
    """x_t = bu_t if r_t else Λ̄ x_{t-1} + bu_t, one step at a time (`lax.scan` over T)."""

    def step(x: jax.Array, inputs: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        bu_t, r_t = inputs  # [B, P], [B, 1]
        x = jnp.where(r_t, bu_t, lam_bar * x + bu_t)
        return x, x

    return jax.lax.scan(step, h0, (bu, resets[..., None]))[1]


def resettable_linear_scan(
    lam_bar: jax.Array, bu: jax.Array, resets: jax.Array, h0: jax.Array, scan: str = "auto"
) -> jax.Array:
    """All states of x_t = (1 - r_t)·Λ̄ x_{t-1} + bu_t with x_{-1} = h0.

    Three schedules of the same recurrence (equal up to float rounding):

    - "sequential": `jax.lax.scan` over time (O(T) work in T dependent steps; autodiff through
      the scan). Fastest on a CPU, where T small steps cost less than the parallel scans' extra
      work and memory traffic.
    - "associative": `jax.lax.associative_scan` over elements (Λ̄, bu_t, r_t) with
      `reset_combine` (O(T) work in O(log T) depth; program size grows with log T).
    - "doubling": the same operator with the reset folded into a_t = (1 - r_t)·Λ̄ (an element
      with a = 0 ignores its past, exactly "take the right element alone"), run by
      `linear_recurrence` (O(T log T) work in log2 T rounds of one loop body; constant program
      size; custom VJP).
    - "auto" (default): the schedule `resolve_scan` picks for the default backend.

    Every schedule gives exactly zero gradient across a reset.

    Args:
        lam_bar: Λ̄ [P] complex.
        bu: B̄u_t [T, B, P] complex.
        resets: r_t [T, B] bool.
        h0: the state before the first step [B, P] complex.
        scan: one of `SCAN_MODES`.

    Returns:
        x [T, B, P] complex.
    """
    scan = resolve_scan(scan)
    if scan == "sequential":
        return _sequential_scan(lam_bar, bu, resets, h0)
    r = resets[..., None]  # [T, B, 1]
    if scan == "doubling":
        a = jnp.where(r, jnp.zeros_like(lam_bar), lam_bar)  # [T, B, P]
        return linear_recurrence(a, bu.at[0].add(a[0] * h0))
    if scan == "associative":
        # Fold the carried state into the first element; a reset at t=0 drops it.
        bu = bu.at[0].add(jnp.where(r[0], jnp.zeros_like(h0), lam_bar * h0))
        a = jnp.broadcast_to(lam_bar, bu.shape)
        _, xs, _ = jax.lax.associative_scan(reset_combine, (a, bu, r), axis=0)
        return xs
    raise AssertionError(f"unreachable: resolve_scan returned {scan!r}")


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------


def _check_positive(owner: str, **values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
            raise ValueError(f"{owner}: {name} must be a positive int, got {name}={value!r}")


def _check_choice(owner: str, name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{owner}: {name} must be one of {choices}, got {name}={value!r}")


def _trunc_normal(key: jax.Array, shape: tuple[int, ...], std: float) -> jax.Array:
    return jax.random.truncated_normal(key, -2.0, 2.0, shape) * (std / _TRUNC_STD)


def _as_pair(z: np.ndarray | jax.Array) -> jax.Array:
    """complex [...] -> float32 [..., 2] (real, imaginary): how complex parameters are stored."""
    z = jnp.asarray(z, dtype=jnp.complex64)
    return jnp.stack([z.real, z.imag], axis=-1)


class S5SSM(nn.Module):
    """One resettable S5 state-space map u [T, B, H] -> y [T, B, H] (no norm, no activation).

    Parameters (float32; complex ones stored as [..., 2] = (real, imaginary)):
        Lambda_re, Lambda_im [P]: continuous-time eigenvalues, HiPPO-N init (real part -1/2).
        B [P, H, 2]: B̃ = V⁻¹B with B lecun-normal (std 1/sqrt(H)) in the HiPPO basis.
        C [H, P, 2]: C̃ = C V (or C̃ directly for "complex_normal").
        D [H]: skip connection, standard normal.
        log_step [P]: log Δ, uniform in [log dt_min, log dt_max].

    Attributes:
        d_model: H, input and output width.
        state_size: N, the real state size; P = N/2 complex modes under conjugate symmetry.
        blocks: number of HiPPO-N blocks of the block-diagonal eigenbasis init.
        discretization: "zoh" or "bilinear".
        c_init: "lecun_normal" (real and imaginary parts truncated normal with variance
            1/(N·H), the PPO-S5 reference choice), "trunc_standard_normal" (variance 1/N, the S5
            paper default), or "complex_normal" (C̃ sampled directly, variance 1/2 each part).
        dt_min, dt_max: range of the initial step Δ (in units of one time step).
        conj_sym: keep one mode per conjugate pair and output 2·Re(C̃x).
        clip_eigs: clip Re Λ to <= -1e-4 so the system stays stable while training.
        step_rescale: multiplies every Δ (e.g. to run at another time resolution).
        scan: "auto" (default: by backend, `resolve_scan`), "sequential", "doubling" or
            "associative": the schedule of the recurrence (`resettable_linear_scan`).
    """

    d_model: int = 256
    state_size: int = 256
    blocks: int = 1
    discretization: str = "zoh"
    c_init: str = "lecun_normal"
    dt_min: float = 1e-3
    dt_max: float = 0.1
    conj_sym: bool = True
    clip_eigs: bool = False
    step_rescale: float = 1.0
    scan: str = "auto"

    def __post_init__(self) -> None:
        check_s5_config(
            "S5SSM",
            d_model=self.d_model,
            state_size=self.state_size,
            blocks=self.blocks,
            discretization=self.discretization,
            c_init=self.c_init,
            dt_min=self.dt_min,
            dt_max=self.dt_max,
            conj_sym=self.conj_sym,
            scan=self.scan,
        )
        super().__post_init__()

    @property
    def num_modes(self) -> int:
        """P, the number of complex modes (the width of this layer's hidden state)."""
        return self.state_size // 2 if self.conj_sym else self.state_size

    def _init(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return dplr_hippo_init(self.state_size, self.blocks, self.conj_sym)

    def _init_b(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        _, _, v_inv = self._init()
        b = _trunc_normal(key, (self.state_size, self.d_model), 1.0 / math.sqrt(self.d_model))
        return _as_pair(jnp.asarray(v_inv, jnp.complex64) @ b.astype(jnp.complex64))

    def _init_c(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        n, h = self.state_size, self.d_model
        if self.c_init == "complex_normal":
            return jax.random.normal(key, shape) * math.sqrt(0.5)
        std = 1.0 / math.sqrt(n * h) if self.c_init == "lecun_normal" else 1.0 / math.sqrt(n)
        c = _trunc_normal(key, (h, n, 2), std)
        _, v, _ = self._init()
        return _as_pair((c[..., 0] + 1j * c[..., 1]) @ jnp.asarray(v, jnp.complex64))

    def _init_log_step(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        lo, hi = math.log(self.dt_min), math.log(self.dt_max)
        return jax.random.uniform(key, shape, minval=lo, maxval=hi)

    def _discretized(self) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        """The discrete-time system this layer runs: (Λ̄ [P], B̄ [P, H], C̃ [H, P], D [H])."""
        p, h = self.num_modes, self.d_model
        lam_re = self.param("Lambda_re", lambda _, s: jnp.asarray(self._init()[0].real, "f4"), (p,))
        lam_im = self.param("Lambda_im", lambda _, s: jnp.asarray(self._init()[0].imag, "f4"), (p,))
        b = self.param("B", self._init_b, (p, h, 2))
        c = self.param("C", self._init_c, (h, p, 2))
        d = self.param("D", nn.initializers.normal(stddev=1.0), (h,))
        log_step = self.param("log_step", self._init_log_step, (p,))
        if self.clip_eigs:
            lam_re = jnp.minimum(lam_re, -1e-4)
        lam = lam_re + 1j * lam_im
        step = self.step_rescale * jnp.exp(log_step)
        lam_bar, b_bar = discretize(lam, b[..., 0] + 1j * b[..., 1], step, self.discretization)
        return lam_bar, b_bar, c[..., 0] + 1j * c[..., 1], d

    @nn.compact
    def __call__(
        self, hidden: jax.Array, u: jax.Array, resets: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """Run the SSM over a sequence.

        Args:
            hidden: state before u[0], complex64 [B, P].
            u: inputs [T, B, H].
            resets: [T, B] bool, True where u[t] starts a new episode.

        Returns:
            (state after the last input, complex64 [B, P]; y [T, B, H]).
        """
        lam_bar, b_bar, c_tilde, d = self._discretized()
        u_c = u.astype(jnp.float32)
        # B̄u as one real matmul with [B̄_re; B̄_im] (one op instead of two: on a CPU the op
        # count, not the flops, sets the time at these sizes)
        p = lam_bar.shape[0]
        b_pair = jnp.concatenate([b_bar.real, b_bar.imag], axis=0)  # [2P, H]
        bu_pair = jnp.einsum("tbh,qh->tbq", u_c, b_pair)
        bu = jax.lax.complex(bu_pair[..., :p], bu_pair[..., p:])
        xs = resettable_linear_scan(lam_bar, bu, resets, hidden, self.scan)
        # Re(C̃x) = C̃_re x_re - C̃_im x_im, as one matmul; conjugate symmetry doubles it.
        xs_pair = jnp.concatenate([xs.real, xs.imag], axis=-1)  # [T, B, 2P]
        c_pair = jnp.concatenate([c_tilde.real, -c_tilde.imag], axis=-1)  # [H, 2P]
        y = jnp.einsum("tbq,hq->tbh", xs_pair, c_pair)
        if self.conj_sym:
            y = 2.0 * y
        return xs[-1].astype(jnp.complex64), (y + d * u_c).astype(u.dtype)


def check_s5_config(owner: str, **cfg: object) -> None:
    """Validate S5 hyperparameters; raise ValueError naming the offending values."""
    _check_positive(
        owner, d_model=cfg["d_model"], state_size=cfg["state_size"], blocks=cfg["blocks"]
    )
    for key in ("num_layers",):
        if key in cfg:
            _check_positive(owner, **{key: cfg[key]})
    state_size, blocks = cfg["state_size"], cfg["blocks"]
    if state_size % blocks:
        raise ValueError(
            f"{owner}: blocks must divide state_size, got state_size={state_size}, blocks={blocks}"
        )
    if cfg["conj_sym"] and (state_size // blocks) % 2:
        raise ValueError(
            f"{owner}: conjugate symmetry keeps half of each block's modes, so "
            f"state_size / blocks must be even; got state_size={state_size}, blocks={blocks} "
            "(use an even block size or conj_sym=False)"
        )
    _check_choice(owner, "discretization", cfg["discretization"], DISCRETIZATIONS)
    _check_choice(owner, "c_init", cfg["c_init"], C_INITS)
    _check_choice(owner, "scan", cfg["scan"], SCAN_MODES)
    for key, choices in (("activation", ACTIVATIONS), ("norm", NORMS)):
        if key in cfg:
            _check_choice(owner, key, cfg[key], choices)
    dt_min, dt_max = cfg["dt_min"], cfg["dt_max"]
    if not 0 < dt_min <= dt_max:
        raise ValueError(
            f"{owner}: need 0 < dt_min <= dt_max, got dt_min={dt_min}, dt_max={dt_max}"
        )
    if "dropout" in cfg and not 0.0 <= cfg["dropout"] < 1.0:
        raise ValueError(f"{owner}: dropout must be in [0, 1), got dropout={cfg['dropout']}")


class S5Layer(nn.Module):
    """One residual S5 block: norm -> SSM -> activation -> dropout -> residual.

    With norm="pre" the input of the SSM is normalised (x + f(LN(x))); with "post" the sum is
    (LN(x + f(x))); "none" uses no norm. Activations (Smith et al. 2023), on z = SSM output:
        full_glu:  W₁g ⊙ σ(W₂g),  g = GELU(z)
        half_glu1: g ⊙ σ(W₂g),    g = GELU(z)
        half_glu2: z ⊙ σ(W₂g),    g = GELU(z)
        gelu:      GELU(z)
    Shapes as in `S5SSM`; called by `ResettableS5Stack` under `nn.scan` over layers.
    """

    d_model: int = 256
    state_size: int = 256
    blocks: int = 1
    activation: str = "full_glu"
    norm: str = "pre"
    discretization: str = "zoh"
    c_init: str = "lecun_normal"
    dt_min: float = 1e-3
    dt_max: float = 0.1
    conj_sym: bool = True
    clip_eigs: bool = False
    step_rescale: float = 1.0
    scan: str = "auto"
    dropout: float = 0.0
    deterministic: bool = True

    @nn.compact
    def __call__(
        self, x: jax.Array, hidden: jax.Array, resets: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """x [T, B, H], hidden [B, P] complex, resets [T, B] -> (x_out [T, B, H], hidden [B, P])."""
        skip = x
        if self.norm == "pre":
            x = nn.LayerNorm(name="norm")(x)
        hidden, z = S5SSM(
            d_model=self.d_model,
            state_size=self.state_size,
            blocks=self.blocks,
            discretization=self.discretization,
            c_init=self.c_init,
            dt_min=self.dt_min,
            dt_max=self.dt_max,
            conj_sym=self.conj_sym,
            clip_eigs=self.clip_eigs,
            step_rescale=self.step_rescale,
            scan=self.scan,
            name="ssm",
        )(hidden, x, resets)
        z = self._activate(z)
        x = skip + nn.Dropout(self.dropout, deterministic=self.deterministic)(z)
        if self.norm == "post":
            x = nn.LayerNorm(name="norm")(x)
        return x, hidden

    def _activate(self, z: jax.Array) -> jax.Array:
        drop: Callable[[jax.Array], jax.Array] = nn.Dropout(
            self.dropout, deterministic=self.deterministic
        )
        g = drop(nn.gelu(z))
        if self.activation == "full_glu":
            return nn.Dense(self.d_model, name="out1")(g) * nn.sigmoid(
                nn.Dense(self.d_model, name="out2")(g)
            )
        if self.activation == "half_glu1":
            return g * nn.sigmoid(nn.Dense(self.d_model, name="out2")(g))
        if self.activation == "half_glu2":
            return z * nn.sigmoid(nn.Dense(self.d_model, name="out2")(g))
        return g  # "gelu"


class ResettableS5Stack(nn.Module):
    """A stack of resettable S5 layers: (hidden, x [T, B, d_model], resets [T, B]) -> (hidden, y).

    `resets[t, b]` True means x[t, b] is the first input of a new episode: the state carried to
    that step (from the hidden passed in, or from earlier steps) is discarded. Layers share one
    traced body (`nn.scan` over layers, parameters stacked on a leading [num_layers] axis), so
    compile time does not grow with depth. A single step is a call with T = 1.

    Hidden state: complex64 [B, num_layers, P], P = state_size // 2 with conjugate symmetry
    (else state_size); `initialize_carry(batch_size)` gives zeros.

    Attributes:
        d_model: H, input and output width (inputs must already have this width).
        state_size: N, the real state size per layer (P = N/2 complex modes with conj_sym).
        num_layers: number of residual S5 layers.
        blocks: HiPPO-N blocks of the block-diagonal eigenbasis init (must divide state_size).
        activation: "full_glu" (default, as PPO-S5), "half_glu1", "half_glu2" or "gelu".
        norm: "pre" (default), "post" or "none" (LayerNorm placement; PPO-S5 on POPGym used
            "none").
        discretization: "zoh" (default) or "bilinear".
        c_init: "lecun_normal" (default), "trunc_standard_normal" or "complex_normal".
        dt_min, dt_max: range of the initial per-mode step Δ (default 1e-3 .. 0.1).
        conj_sym: conjugate-symmetric modes (default True).
        clip_eigs: keep Re Λ <= -1e-4 during training (default False).
        step_rescale: multiplies all steps Δ (default 1.0).
        scan: "auto" (default: sequential on a CPU, a parallel scan on accelerators; see
            `resolve_scan`), "sequential" (`lax.scan`), "doubling" (constant-size program,
            custom VJP) or "associative" (`jax.lax.associative_scan` with `reset_combine`); see
            `resettable_linear_scan`. Outputs are equal up to float rounding.
        dropout: dropout rate after activations (default 0.0).
        deterministic: disable dropout (default True); False needs a "dropout" rng.
        unroll_layers: unroll the loop over layers into straight-line code (same traced body,
            same results): True, False, or None (default) for True on a CPU, where it cut a
            PPO update of the cpu preset by ~28 % (CPU seconds; docs/notebook/), and False
            elsewhere, where the rolled loop keeps compile time flat in depth.
    """

    d_model: int = 256
    state_size: int = 256
    num_layers: int = 4
    blocks: int = 1
    activation: str = "full_glu"
    norm: str = "pre"
    discretization: str = "zoh"
    c_init: str = "lecun_normal"
    dt_min: float = 1e-3
    dt_max: float = 0.1
    conj_sym: bool = True
    clip_eigs: bool = False
    step_rescale: float = 1.0
    scan: str = "auto"
    dropout: float = 0.0
    deterministic: bool = True
    unroll_layers: bool | None = None

    def __post_init__(self) -> None:
        check_s5_config(
            "ResettableS5Stack",
            d_model=self.d_model,
            state_size=self.state_size,
            num_layers=self.num_layers,
            blocks=self.blocks,
            activation=self.activation,
            norm=self.norm,
            discretization=self.discretization,
            c_init=self.c_init,
            dt_min=self.dt_min,
            dt_max=self.dt_max,
            conj_sym=self.conj_sym,
            scan=self.scan,
            dropout=self.dropout,
        )
        super().__post_init__()

    @property
    def num_modes(self) -> int:
        """P, complex modes per layer: the last axis of the hidden state."""
        return self.state_size // 2 if self.conj_sym else self.state_size

    def _unrolls_layers(self) -> bool:
        if self.unroll_layers is None:
            return jax.default_backend() == "cpu"
        return self.unroll_layers

    @nn.nowrap
    def initialize_carry(self, batch_size: int) -> jax.Array:
        """Zero hidden state, complex64 [batch_size, num_layers, P]; usable without params."""
        _check_positive("ResettableS5Stack.initialize_carry", batch_size=batch_size)
        return jnp.zeros((batch_size, self.num_layers, self.num_modes), jnp.complex64)

    @nn.compact
    def __call__(
        self, hidden: jax.Array, x: jax.Array, resets: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """Run all layers over a sequence.

        Args:
            hidden: complex64 [B, num_layers, P], the state before x[0].
            x: [T, B, d_model] inputs.
            resets: [T, B] bool (or 0/1), True where x[t] starts a new episode.

        Returns:
            (hidden after x[-1], complex64 [B, num_layers, P]; y [T, B, d_model]).
        """
        resets = check_sequence_inputs("ResettableS5Stack", x, resets, self.d_model)
        expected = (x.shape[1], self.num_layers, self.num_modes)
        if tuple(hidden.shape) != expected:
            raise ValueError(
                f"ResettableS5Stack: hidden must have shape [B, num_layers, P] = {expected} for "
                f"x of shape {tuple(x.shape)}, got {tuple(hidden.shape)}; "
                "use initialize_carry(batch_size)"
            )
        layers = nn.scan(
            S5Layer,
            variable_axes={"params": 0},
            split_rngs={"params": True, "dropout": True},
            in_axes=(1, nn.broadcast),
            out_axes=1,
            length=self.num_layers,
            unroll=self.num_layers if self._unrolls_layers() else 1,
        )
        y, hidden = layers(
            d_model=self.d_model,
            state_size=self.state_size,
            blocks=self.blocks,
            activation=self.activation,
            norm=self.norm,
            discretization=self.discretization,
            c_init=self.c_init,
            dt_min=self.dt_min,
            dt_max=self.dt_max,
            conj_sym=self.conj_sym,
            clip_eigs=self.clip_eigs,
            step_rescale=self.step_rescale,
            scan=self.scan,
            dropout=self.dropout,
            deterministic=self.deterministic,
            name="layers",
        )(x, hidden.astype(jnp.complex64), resets)
        return hidden, y


def check_sequence_inputs(
    owner: str, x: jax.Array, resets: jax.Array, width: int | None = None
) -> jax.Array:
    """Check x [T, B, width] and resets [T, B] at trace time; return resets as bool [T, B]."""
    if x.ndim != 3:
        raise ValueError(
            f"{owner}: x must be time-major [T, B, features], got shape {tuple(x.shape)}; "
            "for a single step use x[None]"
        )
    if width is not None and x.shape[-1] != width:
        raise ValueError(
            f"{owner}: input width {x.shape[-1]} (x.shape={tuple(x.shape)}) does not match "
            f"d_model={width}; project inputs to d_model first (e.g. with an encoder Dense)"
        )
    if tuple(resets.shape) != tuple(x.shape[:2]):
        raise ValueError(
            f"{owner}: resets must have shape [T, B] = {tuple(x.shape[:2])} matching x of shape "
            f"{tuple(x.shape)}, got {tuple(resets.shape)}"
        )
    return resets.astype(bool)
