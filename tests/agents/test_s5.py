"""Tests of the resettable S5 stack against independent references (numpy loops, RK4, HiPPO)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.s5 import (
    AUTO_SCAN,
    S5SSM,
    SCAN_MODES,
    SCANS,
    ResettableS5Stack,
    check_sequence_inputs,
    discretize,
    dplr_hippo_init,
    hippo_legs,
    hippo_normal,
    linear_recurrence,
    resettable_linear_scan,
    resolve_scan,
)

H, N, T, B, L = 8, 8, 12, 3, 2  # d_model, state size, steps, batch, layers
P = N // 2


def _resets(pattern: str) -> np.ndarray:
    """[T, B] reset patterns: none, all, or mixed (t=0 resets, consecutive resets, random)."""
    r = np.zeros((T, B), bool)
    if pattern == "all":
        r[:] = True
    elif pattern == "mixed":
        r = np.random.default_rng(0).random((T, B)) < 0.3
        r[0, 0] = True  # reset at t=0: the carried state is dropped
        r[0, 1:] = False
        r[3:6, 1] = True  # consecutive resets
        r[4, 2] = True
    return r


PATTERNS = ("none", "all", "mixed")


def _inputs(seed: int = 0, width: int = H) -> tuple[jax.Array, jax.Array]:
    kx, kh = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(kx, (T, B, width))
    h = jax.random.normal(kh, (B, L, P, 2))
    return x, (h[..., 0] + 1j * h[..., 1]).astype(jnp.complex64)


# --------------------------------------------------------------------------------------------
# HiPPO initialisation
# --------------------------------------------------------------------------------------------


def test_hippo_legs_matches_definition():
    n = 6
    a = hippo_legs(n)
    for i in range(n):
        for k in range(n):
            if i > k:
                expected = -np.sqrt(2 * i + 1) * np.sqrt(2 * k + 1)
            elif i == k:
                expected = -(i + 1.0)
            else:
                expected = 0.0
            assert a[i, k] == pytest.approx(expected)


def test_hippo_normal_part_has_eigenvalues_with_real_part_minus_half():
    s = hippo_normal(16)
    np.testing.assert_allclose(s + s.T, -np.eye(16), atol=1e-12)  # -I/2 + skew
    np.testing.assert_allclose(s @ s.T, s.T @ s, atol=1e-9)  # normal
    np.testing.assert_allclose(np.linalg.eigvals(s).real, -0.5, atol=1e-9)


def test_dplr_init_diagonalises_hippo_normal():
    lam, v, v_inv = dplr_hippo_init(8, blocks=1, conj_sym=False)
    s = hippo_normal(8)
    np.testing.assert_allclose(v @ np.diag(lam) @ v_inv, s, atol=1e-9)
    np.testing.assert_allclose(v_inv @ v, np.eye(8), atol=1e-9)
    np.testing.assert_allclose(lam.real, -0.5)


def test_conj_sym_keeps_one_mode_per_conjugate_pair():
    full, _, _ = dplr_hippo_init(8, conj_sym=False)
    half, v, _ = dplr_hippo_init(8, conj_sym=True)
    assert half.shape == (4,) and v.shape == (8, 4)
    both = np.concatenate([half, half.conj()])
    np.testing.assert_allclose(np.sort_complex(both), np.sort_complex(full), atol=1e-9)
    # with the conjugate modes restored, the real system is recovered: S = 2 Re(V Λ Vᴴ)
    restored = 2 * (v @ np.diag(half) @ v.conj().T).real
    np.testing.assert_allclose(restored, hippo_normal(8), atol=1e-9)


def test_blocks_give_block_diagonal_eigenbasis():
    lam, v, _ = dplr_hippo_init(8, blocks=2, conj_sym=True)
    lam_b, v_b, _ = dplr_hippo_init(4, blocks=1, conj_sym=True)
    np.testing.assert_allclose(lam, np.tile(lam_b, 2))
    np.testing.assert_allclose(v[:4, :2], v_b)
    np.testing.assert_allclose(v[4:, 2:], v_b)
    assert np.all(v[:4, 2:] == 0) and np.all(v[4:, :2] == 0)


def test_stack_params_start_from_hippo_and_step_range():
    model = ResettableS5Stack(H, N, L, dt_min=1e-3, dt_max=0.1)
    params = _stack(CONFIGS[0])[1]["params"]["layers"]["ssm"]
    lam, _, _ = dplr_hippo_init(N, conj_sym=True)
    assert params["Lambda_re"].shape == (L, P)  # parameters stacked over layers
    np.testing.assert_allclose(params["Lambda_re"], np.broadcast_to(lam.real, (L, P)), atol=1e-6)
    np.testing.assert_allclose(params["Lambda_im"], np.broadcast_to(lam.imag, (L, P)), atol=1e-5)
    step = np.exp(np.asarray(params["log_step"]))
    assert np.all((step >= 1e-3 * (1 - 1e-6)) & (step <= 0.1 * (1 + 1e-6)))
    assert not np.allclose(params["B"][0], params["B"][1])  # layers initialised independently
    assert model.initialize_carry(B).shape == (B, L, P)


# --------------------------------------------------------------------------------------------
# Discretisation and the resettable scan
# --------------------------------------------------------------------------------------------


def _rk4(lam: np.ndarray, b: np.ndarray, x0: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Integrate x' = λx + b over one step of length `step` (input held constant) with RK4."""
    n = 2000
    h = step / n
    x = x0.astype(np.complex128)
    f = lambda x: lam * x + b
    for _ in range(n):
        k1 = f(x)
        k2 = f(x + h / 2 * k1)
        k3 = f(x + h / 2 * k2)
        k4 = f(x + h * k3)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


def test_zoh_matches_exact_integration_over_one_step():
    lam = np.array([-0.5 + 3.0j, -0.5 - 20.0j, -0.5 + 0.1j])
    b_tilde = np.array([[1.0 + 0.5j], [-2.0j], [0.3]])
    step = np.array([0.1, 0.02, 0.5])
    x0 = np.array([0.3 - 0.1j, 1.0, -2.0j])
    lam_bar, b_bar = discretize(jnp.asarray(lam), jnp.asarray(b_tilde), jnp.asarray(step), "zoh")
    got = np.asarray(lam_bar) * x0 + np.asarray(b_bar)[:, 0]
    np.testing.assert_allclose(got, _rk4(lam, b_tilde[:, 0], x0, step), atol=1e-5)


def test_bilinear_is_the_trapezoid_rule():
    lam = np.array([-0.5 + 3.0j, -0.5 - 20.0j])
    b_tilde = np.array([[1.0 + 0.5j], [-2.0j]])
    step = np.array([0.1, 0.02])
    x0 = np.array([0.3 - 0.1j, 1.0])
    lam_bar, b_bar = discretize(
        jnp.asarray(lam), jnp.asarray(b_tilde), jnp.asarray(step), "bilinear"
    )
    x1 = np.asarray(lam_bar) * x0 + np.asarray(b_bar)[:, 0]
    # x1 = x0 + Δ/2 (λ x0 + λ x1) + Δ b
    rhs = x0 + step / 2 * (lam * x0 + lam * x1) + step * b_tilde[:, 0]
    np.testing.assert_allclose(x1, rhs, atol=1e-5)


@pytest.mark.parametrize("scan", SCANS)
@pytest.mark.parametrize("pattern", PATTERNS)
def test_resettable_scan_matches_python_loop(pattern, scan):
    rng = np.random.default_rng(1)
    lam_bar = 0.9 * np.exp(1j * rng.uniform(-1, 1, P))
    bu = rng.normal(size=(T, B, P)) + 1j * rng.normal(size=(T, B, P))
    h0 = rng.normal(size=(B, P)) + 1j * rng.normal(size=(B, P))
    r = _resets(pattern)
    got = jax.jit(resettable_linear_scan, static_argnames="scan")(
        jnp.asarray(lam_bar, jnp.complex64),
        jnp.asarray(bu, jnp.complex64),
        jnp.asarray(r),
        jnp.asarray(h0, jnp.complex64),
        scan=scan,
    )
    x, expected = h0, []
    for t in range(T):
        x = np.where(r[t][:, None], 0.0, lam_bar * x) + bu[t]
        expected.append(x)
    np.testing.assert_allclose(np.asarray(got), np.stack(expected), atol=1e-5)


@pytest.mark.parametrize("length", [1, 7, 16])
def test_linear_recurrence_custom_gradient_matches_autodiff_of_a_sequential_loop(length):
    rng = np.random.default_rng(length)
    shape = (length, 2, 3)
    a = jnp.asarray(0.9 * np.exp(1j * rng.uniform(-3, 3, shape)), jnp.complex64)
    a = a.at[length // 2].set(0.0)  # a reset
    b = jnp.asarray(rng.normal(size=shape) + 1j * rng.normal(size=shape), jnp.complex64)
    w = jnp.asarray(rng.normal(size=(*shape, 2)), jnp.float32)

    def sequential(a, b):
        def step(x, ab):
            x = ab[0] * x + ab[1]
            return x, x

        return jax.lax.scan(step, jnp.zeros_like(b[0]), (a, b))[1]

    def loss(fn, a, b):  # a real function of complex outputs
        x = fn(a, b)
        return jnp.sum(w[..., 0] * x.real + w[..., 1] * x.imag)

    np.testing.assert_allclose(linear_recurrence(a, b), sequential(a, b), atol=1e-5)
    got = jax.grad(functools.partial(loss, linear_recurrence), argnums=(0, 1))(a, b)
    expected = jax.grad(functools.partial(loss, sequential), argnums=(0, 1))(a, b)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, atol=1e-4)


# --------------------------------------------------------------------------------------------
# One SSM against a numpy recurrence with the same discretised parameters
# --------------------------------------------------------------------------------------------


@functools.cache
def _ssm(discretization: str, conj_sym: bool):
    model = S5SSM(d_model=H, state_size=N, discretization=discretization, conj_sym=conj_sym)
    p = N // 2 if conj_sym else N
    h0 = jnp.zeros((B, p), jnp.complex64)
    params = jax.jit(model.init)(
        jax.random.key(3), h0, jnp.zeros((T, B, H)), jnp.zeros((T, B), bool)
    )
    return params, jax.jit(model.apply), p


def _numpy_ssm(params, h0, u, resets, method, conj_sym):
    p = {k: np.asarray(v, np.float64) for k, v in params["params"].items()}
    lam = p["Lambda_re"] + 1j * p["Lambda_im"]
    b = p["B"][..., 0] + 1j * p["B"][..., 1]  # [P, H]
    c = p["C"][..., 0] + 1j * p["C"][..., 1]  # [H, P]
    step = np.exp(p["log_step"])
    if method == "zoh":
        lam_bar = np.exp(lam * step)
        b_bar = ((lam_bar - 1) / lam)[:, None] * b
    else:
        lam_bar = (1 + lam * step / 2) / (1 - lam * step / 2)
        b_bar = (step / (1 - lam * step / 2))[:, None] * b
    x, ys = np.asarray(h0, np.complex128), []
    for t in range(u.shape[0]):
        x = np.where(resets[t][:, None], 0.0, lam_bar * x) + u[t] @ b_bar.T
        y = (x @ c.T).real * (2.0 if conj_sym else 1.0)
        ys.append(y + p["D"] * u[t])
    return x, np.stack(ys)


@pytest.mark.parametrize(
    ("discretization", "conj_sym"), [("zoh", True), ("bilinear", True), ("zoh", False)]
)
def test_ssm_parallel_scan_matches_sequential_numpy_loop(discretization, conj_sym):
    params, apply, p = _ssm(discretization, conj_sym)
    rng = np.random.default_rng(2)
    u = rng.normal(size=(T, B, H)).astype(np.float32)
    h0 = (rng.normal(size=(B, p)) + 1j * rng.normal(size=(B, p))).astype(np.complex64)
    for pattern in PATTERNS:
        r = _resets(pattern)
        h_got, y_got = apply(params, h0, u, r)
        h_ref, y_ref = _numpy_ssm(params, h0, u, r, discretization, conj_sym)
        np.testing.assert_allclose(np.asarray(y_got), y_ref, atol=2e-4, err_msg=pattern)
        np.testing.assert_allclose(np.asarray(h_got), h_ref, atol=2e-4, err_msg=pattern)


# --------------------------------------------------------------------------------------------
# The stack
# --------------------------------------------------------------------------------------------

# (activation, norm, discretization, blocks, conj_sym, scan)
CONFIGS = [
    ("full_glu", "pre", "zoh", 1, True, "doubling"),
    ("half_glu1", "post", "bilinear", 2, True, "associative"),
    ("half_glu2", "none", "zoh", 1, True, "sequential"),
    ("gelu", "pre", "zoh", 1, False, "auto"),
]


@functools.cache
def _stack(config):
    activation, norm, discretization, blocks, conj_sym, scan = config
    model = ResettableS5Stack(
        H,
        N,
        L,
        blocks=blocks,
        activation=activation,
        norm=norm,
        discretization=discretization,
        conj_sym=conj_sym,
        scan=scan,
    )
    h0 = model.initialize_carry(B)
    params = jax.jit(model.init)(
        jax.random.key(4), h0, jnp.zeros((T, B, H)), jnp.zeros((T, B), bool)
    )
    return model, params, jax.jit(model.apply)


def _hidden_for(model, seed=5):
    h = jax.random.normal(jax.random.key(seed), (*model.initialize_carry(B).shape, 2))
    return (h[..., 0] + 1j * h[..., 1]).astype(jnp.complex64)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c)))
def test_stack_parallel_scan_equals_stepping_one_input_at_a_time(config):
    model, params, apply = _stack(config)
    x, _ = _inputs()
    h0 = _hidden_for(model)
    for pattern in PATTERNS:
        r = jnp.asarray(_resets(pattern))
        h_par, y_par = apply(params, h0, x, r)
        h, ys = h0, []
        for t in range(T):
            h, y = apply(params, h, x[t : t + 1], r[t : t + 1])
            ys.append(y)
        np.testing.assert_allclose(y_par, jnp.concatenate(ys), atol=2e-5, err_msg=pattern)
        np.testing.assert_allclose(h_par, h, atol=2e-5, err_msg=pattern)


def _np_layer_norm(x, scale, bias):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-6) * scale + bias


def _np_gelu(x):  # flax's default (tanh) approximation
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_stack_matches_numpy_reference_of_pre_norm_full_glu_layers():
    model, params, apply = _stack(CONFIGS[0])
    x, _ = _inputs(seed=6)
    h0 = _hidden_for(model, seed=7)
    r = _resets("mixed")
    h_got, y_got = apply(params, h0, x, jnp.asarray(r))

    y, hs = np.asarray(x, np.float64), []
    for layer in range(L):
        p = jax.tree.map(lambda a, i=layer: np.asarray(a[i], np.float64), params["params"])
        p = p["layers"]
        z = _np_layer_norm(y, p["norm"]["scale"], p["norm"]["bias"])
        h_last, z = _numpy_ssm({"params": p["ssm"]}, h0[:, layer], z, r, "zoh", True)
        g = _np_gelu(z)
        dense = lambda q, v: v @ q["kernel"] + q["bias"]
        y = y + dense(p["out1"], g) * _np_sigmoid(dense(p["out2"], g))
        hs.append(h_last)
    np.testing.assert_allclose(np.asarray(y_got), y, atol=2e-4)
    np.testing.assert_allclose(np.asarray(h_got), np.stack(hs, axis=1), atol=2e-4)


def test_scan_schedules_give_equal_outputs_and_gradients_across_resets():
    # Reference: the sequential schedule, itself checked against a python loop above.
    x, _ = _inputs(seed=13)
    r = jnp.asarray(_resets("mixed"))
    cotangent = jax.random.normal(jax.random.key(14), (T, B, H))

    def run(scan):
        model = ResettableS5Stack(H, N, L, scan=scan)
        params = model.init(jax.random.key(4), model.initialize_carry(B), x, r)
        h0 = _hidden_for(model, seed=15)

        def loss(params, h0, x):
            h, y = model.apply(params, h0, x, r)
            return jnp.sum(y * cotangent) + jnp.sum(jnp.abs(h) ** 2)

        return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))(params, h0, x)

    value, reference = run("sequential")
    assert all(np.abs(g).sum() > 0 for g in jax.tree.leaves(reference))
    for scan in ("doubling", "associative", "auto"):
        other_value, other = run(scan)
        np.testing.assert_allclose(other_value, value, rtol=1e-5, err_msg=scan)
        for g, e in zip(jax.tree.leaves(other), jax.tree.leaves(reference)):
            np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4, err_msg=scan)


def test_auto_scan_is_sequential_on_cpu_and_parallel_on_accelerators():
    assert resolve_scan("auto", "cpu") == "sequential"
    assert resolve_scan("auto", "gpu") == AUTO_SCAN["gpu"] in ("doubling", "associative")
    assert resolve_scan("auto", "tpu") in ("doubling", "associative")
    for scan in SCANS:  # a named schedule is never replaced
        assert resolve_scan(scan, "gpu") == resolve_scan(scan, "cpu") == scan
    assert resolve_scan("auto") == AUTO_SCAN[jax.default_backend()]
    assert set(SCAN_MODES) == {"auto", *SCANS}
    with pytest.raises(ValueError, match="scan='parallel'"):
        resolve_scan("parallel")


def test_chunked_run_with_carried_hidden_equals_unchunked():
    model, params, apply = _stack(CONFIGS[1])
    x, _ = _inputs(seed=8)
    h0 = _hidden_for(model, seed=9)
    r = np.zeros((T, B), bool)
    r[4, 0] = True  # on a chunk boundary
    r[6, 1] = True  # inside a chunk
    r = jnp.asarray(r)
    h_full, y_full = apply(params, h0, x, r)
    h, ys = h0, []
    for start in range(0, T, 4):
        h, y = apply(params, h, x[start : start + 4], r[start : start + 4])
        ys.append(y)
    np.testing.assert_allclose(y_full, jnp.concatenate(ys), atol=2e-5)
    np.testing.assert_allclose(h_full, h, atol=2e-5)


@pytest.mark.parametrize("config", CONFIGS[:2], ids=lambda c: c[-1])
def test_nothing_before_a_reset_reaches_outputs_after_it(config):
    model, params, apply = _stack(config)
    x, _ = _inputs(seed=10)
    h0 = _hidden_for(model, seed=11)
    reset_at = np.array([0, 5, 6])  # per batch element; b=2 also resets at 7 (consecutive)
    r = np.zeros((T, B), bool)
    r[reset_at, np.arange(B)] = True
    r[7, 2] = True
    after = np.arange(T)[:, None] >= reset_at[None, :]  # [T, B]
    cotangent = jax.random.normal(jax.random.key(12), (T, B, H))

    @jax.jit
    def grads(h, x, cotangent):
        _, vjp = jax.vjp(lambda h, x: apply(params, h, x, jnp.asarray(r))[1], h, x)
        return vjp(cotangent)

    g_h, g_x = grads(h0, x, cotangent * after[..., None])
    g_x = np.asarray(g_x)
    for b in range(B):
        assert np.all(g_x[: reset_at[b], b] == 0.0), f"batch {b} leaks across its reset"
        assert np.all(np.abs(g_x[reset_at[b] :, b]).sum(-1) > 0)
    assert np.all(np.asarray(g_h) == 0.0)  # every element reset, so the carried state is unused
    # and the reverse: before its reset, batch element 1 depends on the carried state
    before_reset_of_b1 = np.zeros((T, B, 1), bool)
    before_reset_of_b1[:5, 1] = True
    g_h_before, _ = grads(h0, x, cotangent * before_reset_of_b1)
    assert np.abs(np.asarray(g_h_before[1])).sum() > 0


def test_reset_at_t0_makes_output_independent_of_carried_hidden():
    model, params, apply = _stack(CONFIGS[0])
    x, _ = _inputs(seed=13)
    r = jnp.zeros((T, B), bool).at[0, :2].set(True)
    _, y_zero = apply(params, model.initialize_carry(B), x, r)
    _, y_rand = apply(params, _hidden_for(model, seed=14), x, r)
    np.testing.assert_array_equal(y_zero[:, :2], y_rand[:, :2])
    assert not np.allclose(y_zero[:, 2], y_rand[:, 2])  # no reset: the carried state matters


def test_layers_share_one_traced_body_so_program_size_is_flat_in_depth():
    def num_eqns(num_layers):
        model = ResettableS5Stack(H, N, num_layers, unroll_layers=False)
        h0 = model.initialize_carry(B)
        args = (h0, jnp.zeros((T, B, H)), jnp.zeros((T, B), bool))
        params = jax.eval_shape(model.init, jax.random.key(0), *args)
        jaxpr = jax.make_jaxpr(model.apply)(params, *args)
        return len(jaxpr.jaxpr.eqns)

    assert num_eqns(1) == num_eqns(8)


def test_unrolled_layers_give_the_rolled_loops_outputs_and_gradients():
    x, _ = _inputs(seed=16)
    r = jnp.asarray(_resets("mixed"))
    rolled = ResettableS5Stack(H, N, 3, unroll_layers=False)
    unrolled = ResettableS5Stack(H, N, 3, unroll_layers=True)
    h0 = _hidden_for(rolled, seed=17)
    params = rolled.init(jax.random.key(18), h0, x, r)
    assert jax.tree.map(jnp.shape, unrolled.init(jax.random.key(18), h0, x, r)) == jax.tree.map(
        jnp.shape, params
    )

    def grads(model):
        loss = lambda p: jnp.sum(model.apply(p, h0, x, r)[1] ** 2)
        return jax.jit(jax.value_and_grad(loss))(params)

    (v_rolled, g_rolled), (v_unrolled, g_unrolled) = grads(rolled), grads(unrolled)
    np.testing.assert_allclose(v_unrolled, v_rolled, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(g_unrolled), jax.tree.leaves(g_rolled)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_dropout_is_off_by_default_and_on_with_an_rng():
    model, params, apply = _stack(CONFIGS[0])
    x, _ = _inputs()
    h0 = model.initialize_carry(B)
    r = jnp.zeros((T, B), bool)
    np.testing.assert_array_equal(apply(params, h0, x, r)[1], apply(params, h0, x, r)[1])
    noisy = ResettableS5Stack(H, N, L, dropout=0.5, deterministic=False)
    noisy_apply = jax.jit(lambda key: noisy.apply(params, h0, x, r, rngs={"dropout": key})[1])
    y1, y2 = noisy_apply(jax.random.key(0)), noisy_apply(jax.random.key(1))
    assert not np.allclose(y1, y2)


def test_float_resets_are_read_as_flags():
    r = _resets("mixed")
    got = check_sequence_inputs("test", jnp.zeros((T, B, H)), jnp.asarray(r, jnp.float32), H)
    assert got.dtype == jnp.bool_
    np.testing.assert_array_equal(got, r)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"d_model": 0}, "d_model=0"),
        ({"state_size": -4}, "state_size=-4"),
        ({"num_layers": 0}, "num_layers=0"),
        ({"blocks": 0}, "blocks=0"),
        ({"state_size": 7}, "state_size=7"),
        ({"state_size": 12, "blocks": 4}, "state_size=12, blocks=4"),
        ({"state_size": 8, "blocks": 3}, "blocks=3"),
        ({"activation": "relu"}, "activation='relu'"),
        ({"norm": "batch"}, "norm='batch'"),
        ({"discretization": "euler"}, "discretization='euler'"),
        ({"c_init": "zeros"}, "c_init='zeros'"),
        ({"scan": "serial"}, "scan='serial'"),
        ({"dt_min": 0.2, "dt_max": 0.1}, "dt_min=0.2, dt_max=0.1"),
        ({"dropout": 1.0}, "dropout=1.0"),
    ],
)
def test_bad_hyperparameters_fail_at_construction_naming_the_values(kwargs, match):
    cfg = {"d_model": H, "state_size": N, "num_layers": L, **kwargs}
    with pytest.raises(ValueError, match=match):
        ResettableS5Stack(**cfg)


def test_odd_state_size_is_fine_without_conjugate_symmetry():
    assert ResettableS5Stack(H, 7, L, conj_sym=False).initialize_carry(B).shape == (B, L, 7)


def test_bad_shapes_fail_at_trace_time_naming_the_shapes():
    model, params, _ = _stack(CONFIGS[0])
    h0 = model.initialize_carry(B)
    x = jnp.zeros((T, B, H))
    r = jnp.zeros((T, B), bool)
    with pytest.raises(ValueError, match=r"input width 5 .* d_model=8"):
        jax.eval_shape(model.apply, params, h0, jnp.zeros((T, B, 5)), r)
    with pytest.raises(ValueError, match=r"resets must have shape \[T, B\] = \(12, 3\).*\(3, 12\)"):
        jax.eval_shape(model.apply, params, h0, x, r.T)
    with pytest.raises(ValueError, match=r"resets must have shape.*got \(12,\)"):
        jax.eval_shape(model.apply, params, h0, x, r[:, 0])
    with pytest.raises(ValueError, match=r"time-major \[T, B, features\].*\(3, 8\)"):
        jax.eval_shape(model.apply, params, h0, x[0], r)
    with pytest.raises(ValueError, match=r"hidden must have shape .*\(2, 2, 4\).*got \(3, 2, 4\)"):
        jax.eval_shape(model.apply, params, h0, x[:, :2], r[:, :2])
    with pytest.raises(ValueError, match="batch_size=0"):
        model.initialize_carry(0)
