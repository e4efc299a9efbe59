"""The environment protocol every env and wrapper in this package follows.

Every env here is a gymnax 1.x :class:`gymnax.environments.environment.Environment`
with three additions that make tasks explicit and wrappers composable:

* ``transition(key, state, action, params)`` is one step **without** auto-reset and
  returns the gymnax 1.x six-tuple ``(obs, state, reward, terminated, truncated, info)``.
  Wrappers compose ``transition`` (and ``reset``) of the env they wrap.
* ``step`` is ``transition`` followed by an auto-reset that draws a **fresh** initial state
  from its own key (never a cached first state); the observation of the finished episode is
  kept in ``info["final_observation"]``.
* ``sample_task(key) -> params`` returns the pytree that fixes the whole MDP. Base envs
  return their default params; each wrapper adds its own sampled part. ``reset`` and
  ``step`` never sample a task.

Flag semantics: ``terminated`` is a real end of the MDP (a fall, a goal), ``truncated`` a
time limit; at most one of them is True on a step.

Tasks are explicit: an env whose :attr:`Environment.samples_task` is True (any stack with a
projection, or a base env that draws goals per task) refuses ``params=None`` in ``reset`` /
``step`` / ``transition`` at trace time, naming ``env.sample_task(key)``; params of another
tree structure (another stack's, or the inner params of a wrapper) are refused the same way.
Envs that sample nothing fall back to ``default_params`` as in gymnax.

Nothing here is jitted: jit once at the top of your program.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import jax
import jax.numpy as jnp
from gymnax.environments import environment as gymnax_environment
from gymnax.environments import spaces
from jax.custom_batching import custom_vmap
from jax.extend import core as jax_core

TEnvState = TypeVar("TEnvState")
TEnvParams = TypeVar("TEnvParams")

# (obs, state, reward, terminated, truncated, info)
StepResult = tuple[jax.Array, Any, jax.Array, jax.Array, jax.Array, dict[str, Any]]


class Environment(gymnax_environment.Environment, Generic[TEnvState, TEnvParams]):
    """Base class of every env and wrapper in ``projected_envs`` (see module docstring)."""

    @property
    def samples_task(self) -> bool:
        """True if :meth:`sample_task` draws anything at random (a projection, a goal).

        Such an env has no meaningful default task, so ``reset`` / ``step`` / ``transition``
        refuse ``params=None`` (pass ``env.sample_task(key)``). Base envs: False unless they
        draw goals per task; wrappers: True if they sample a part of their own or the env
        they wrap samples.
        """
        return False

    def check_params(self, params: Any, where: str | None = None) -> Any:
        """``params`` checked against this env's task structure (trace time, no cost at run).

        Returns ``default_params`` for ``None`` when this env samples nothing.

        Raises:
            ValueError: ``params`` is None and :attr:`samples_task` is True, or ``params`` has
                another tree structure than ``default_params`` (another env's or stack's task,
                or a wrapper's inner params); the message names ``sample_task``.
        """
        where = where or self.name
        if params is None:
            if self.samples_task:
                raise ValueError(
                    f"{where}: params=None, but this env samples a task (projection matrices or "
                    "goals): without one it would silently run a single fixed default task. "
                    "Pass task = env.sample_task(key) to reset/step (one per env under vmap; "
                    "resample when a task ends), or env.default_params explicitly if a fixed "
                    "identity task is really meant."
                )
            return self.default_params
        expected = jax.tree.structure(self.default_params)
        got = jax.tree.structure(params)
        if got != expected:
            raise ValueError(
                f"{where}: params do not have this env's task structure (got "
                f"{type(params).__name__}, expected {type(self.default_params).__name__}); "
                "they belong to another env or stack, or to a layer inside this one. Pass "
                "params made by this (outermost) env: env.sample_task(key) or env.default_params."
                f"\n  got:      {got}\n  expected: {expected}"
            )
        return params

    @property
    def num_actions(self) -> int:
        """Length of the action vector (gymnax name, same as :attr:`action_size`)."""
        return self.action_size

    # ----------------------------------------------------------------- to implement
    def reset(
        self, key: jax.Array, params: TEnvParams | None = None
    ) -> tuple[jax.Array, TEnvState]:
        """Start an episode of the task ``params``; returns ``(obs, state)``."""
        raise NotImplementedError

    def transition(
        self, key: jax.Array, state: TEnvState, action: jax.Array, params: TEnvParams
    ) -> StepResult:
        """One step without auto-reset: ``(obs, state, reward, terminated, truncated, info)``."""
        raise NotImplementedError

    def sample_task(self, key: jax.Array) -> TEnvParams:
        """Sample a task: the params pytree that fixes the whole MDP. Base envs: default params."""
        del key
        return self.default_params

    # ----------------------------------------------------------------- provided
    def step(
        self,
        key: jax.Array,
        state: TEnvState,
        action: jax.Array,
        params: TEnvParams | None = None,
    ) -> StepResult:
        """``transition`` then, where the episode ended, a fresh reset from ``key``.

        ``info["final_observation"]`` holds the observation that ended the episode (equal to
        ``obs`` on steps that did not end one); ``info["terminated"]`` and
        ``info["truncated"]`` repeat the flags (the keys gymnax 1.x's ``step`` adds).

        Raises:
            ValueError: ``params=None`` on an env that samples tasks, foreign params, or a
                ``state`` that is None (call ``reset`` first); see :meth:`check_params`.
        """
        params = self.check_params(params)
        check_state(state, self.name)
        obs_st, state_st, reward, terminated, truncated, info = self.transition(
            step_key(key), state, action, params
        )
        done = jnp.logical_or(terminated, truncated)
        obs, state = reset_where(
            reset_from_step_key(self.reset), done, key, params, obs_st, state_st
        )
        info = {
            **info,
            "terminated": terminated,
            "truncated": truncated,
            "final_observation": obs_st,
        }
        return obs, state, reward, terminated, truncated, info

    def reset_env(self, key: jax.Array, params: TEnvParams) -> tuple[jax.Array, TEnvState]:
        """gymnax hook, kept for code that calls it directly: same as :meth:`reset`."""
        return self.reset(key, params)

    def step_env(self, key: jax.Array, state: TEnvState, action: jax.Array, params: TEnvParams):
        """gymnax < 1.0 style hook: ``(obs, state, reward, done, info)`` without auto-reset."""
        obs, state, reward, terminated, truncated, info = self.transition(
            key, state, action, params
        )
        info = {**info, "terminated": terminated, "truncated": truncated}
        return obs, state, reward, jnp.logical_or(terminated, truncated), info

    @property
    def obs_size(self) -> int:
        """Length of the (flat) observation vector."""
        return int(self.observation_space(self.default_params).shape[0])

    @property
    def action_size(self) -> int:
        """Length of the action vector; actions live in ``[-1, 1]``."""
        return int(self.action_space(self.default_params).shape[0])


def reset_where(
    reset: Callable[[jax.Array, Any], tuple[Any, Any]],
    done: jax.Array,
    key: jax.Array,
    params: Any,
    obs: Any,
    state: Any,
) -> tuple[Any, Any]:
    """``(obs, state)``, replaced by a fresh ``reset(key, params)`` where ``done`` is True.

    Same result as computing the reset and selecting with ``jnp.where``, but the reset only
    runs where it is needed. For one env: a ``lax.cond`` on ``done``. Under ``jax.vmap`` (a
    custom batching rule), one ``lax.switch`` on the number of finished members: none, no
    reset; at most :func:`reset_chunk_size` (16 of 256), only they are gathered, reset and
    scattered back; more, the whole batch is reset and the finished members are selected.
    Under nested ``vmap`` the outer levels batch that rule normally. Works under ``jit``,
    ``scan``, autodiff (forward and reverse), and inside ``lax.cond`` / ``lax.switch`` with a
    batched index.
    """
    done = jnp.asarray(done, dtype=bool)
    current = (obs, state)
    # ``reset`` as a jaxpr plus its closed-over values (``consts``), passed as explicit
    # arguments: a custom batching rule must see everything that may be batched.
    flat_in, in_tree = jax.tree.flatten((key, params))
    closed, out_shape = jax.make_jaxpr(
        lambda *xs: reset(*jax.tree.unflatten(in_tree, xs)), return_shape=True
    )(*flat_in)
    out_tree = jax.tree.structure(out_shape)
    jaxpr, consts = closed.jaxpr, list(closed.consts)

    def fresh(consts: list[Any], flat_in: list[Any]) -> Any:
        flat_out = jax_core.jaxpr_as_fun(jax_core.ClosedJaxpr(jaxpr, consts))(*flat_in)
        return jax.tree.unflatten(out_tree, flat_out)

    @custom_vmap
    def select(done, consts, flat_in, current):
        return jax.lax.cond(
            done,
            lambda: _cast_like(fresh(consts, flat_in), current),
            lambda: _cast_like(current, current),
        )

    @select.def_vmap
    def select_batched(axis_size, in_batched, done, consts, flat_in, current):
        done_b, consts_b, flat_b, current_b = in_batched

        def batched(x, is_batched):
            return x if is_batched else jnp.broadcast_to(x, (axis_size, *jnp.shape(x)))

        done = batched(done, done_b)
        out = _cast_like(jax.tree.map(batched, current, current_b), current)
        axes = ([0 if b else None for b in consts_b], [0 if b else None for b in flat_b])

        def reset_members(idx):  # fresh resets of the members ``idx`` (clipped; None: all)
            take = lambda x, b: (
                jnp.take(x, idx, axis=0, mode="clip") if b and idx is not None else x
            )
            size = axis_size if idx is None else idx.shape[0]
            new = jax.vmap(fresh, in_axes=axes, axis_size=size)(
                [take(c, b) for c, b in zip(consts, consts_b)],
                [take(x, b) for x, b in zip(flat_in, flat_b)],
            )
            return _cast_like(new, out)

        def few(out):  # at most `chunk` finished: reset those only, scatter them back
            idx = jnp.nonzero(done, size=chunk, fill_value=axis_size)[0]
            new = reset_members(idx)
            return jax.tree.map(lambda o, n: o.at[idx].set(n, mode="drop"), out, new)

        def many(out):  # reset the whole batch, keep the finished members
            new = reset_members(None)

            def where(o, n):
                return jnp.where(done.reshape(done.shape + (1,) * (n.ndim - 1)), n, o)

            return jax.tree.map(where, out, new)

        chunk = reset_chunk_size(axis_size)
        num_done = jnp.sum(done)
        if chunk >= axis_size:
            out = jax.lax.cond(num_done > 0, many, lambda o: o, out)
        else:
            branch = jnp.where(num_done == 0, 0, jnp.where(num_done <= chunk, 1, 2))
            out = jax.lax.switch(branch, [lambda o: o, few, many], out)
        return out, jax.tree.map(lambda _: True, out)

    return select(done, consts, flat_in, current)


def step_key(key: jax.Array) -> jax.Array:
    """The key a ``step(key, ...)`` gives its ``transition``: ``split(key)[0]``."""
    return jax.random.split(key)[0]


def reset_from_step_key(
    reset: Callable[[jax.Array, Any], tuple[Any, Any]],
) -> Callable[[jax.Array, Any], tuple[Any, Any]]:
    """``reset`` taking the step's key: it resets from ``split(key)[1]``.

    The key pair of a step is ``split(key)``: :func:`step_key` for the transition, the
    second key for the reset. Splitting inside the reset that :func:`reset_where` runs only
    for the members that finished, rather than up front for all of them, leaves the per-step
    split of every env to XLA's dead-code elimination wherever the transition ignores its key
    (deterministic dynamics: brax, Playground, gymnax Pendulum; docs/reference/speed.md has the
    measurement). Same keys, same results as splitting up front.
    """

    def reset_with_second_key(key: jax.Array, params: Any) -> tuple[Any, Any]:
        return reset(jax.random.split(key)[1], params)

    return reset_with_second_key


def reset_chunk_size(batch_size: int) -> int:
    """Up to how many finished members :func:`reset_where` resets alone under ``vmap``: a
    sixteenth of the batch (16 of 256), or the whole batch up to 64 members."""
    return batch_size if batch_size <= 64 else -(-batch_size // 16)


def _cast_like(tree: Any, like: Any) -> Any:
    """``tree`` with each leaf cast to the dtype of the matching leaf of ``like`` (strong)."""

    def cast(x, ref):
        dtype = jnp.asarray(ref).dtype if not hasattr(ref, "dtype") else ref.dtype
        if jax.dtypes.issubdtype(dtype, jax.dtypes.extended):  # PRNG keys
            return x
        return jax.lax.convert_element_type(x, dtype)

    return jax.tree.map(cast, tree, like)


def check_state(state: Any, where: str) -> None:
    """Refuse ``state=None`` (a ``step`` before any ``reset``) with a message naming the fix."""
    if state is None:
        raise ValueError(
            f"{where}: state is None. Call obs, state = env.reset(key, task) first and pass "
            "that state to step."
        )


def sanitize_action(action: jax.Array) -> tuple[jax.Array, jax.Array]:
    """An action made safe for ``[-1, 1]`` envs: non-finite entries set to 0, then clipped.

    Args:
        action: float ``[A]`` as the agent produced it.

    Returns:
        ``(used, num_nonfinite)``: float32 ``[A]`` in ``[-1, 1]``, and int32 ``[]`` how many
        entries were NaN or +-inf (and replaced by 0).
    """
    action = jnp.asarray(action, jnp.float32)
    finite = jnp.isfinite(action)
    used = jnp.clip(jnp.where(finite, action, 0.0), -1.0, 1.0)
    return used, jnp.sum(jnp.logical_not(finite)).astype(jnp.int32)


def check_action(action: jax.Array, action_size: int, where: str) -> jax.Array:
    """Validate an action's shape at trace time and cast it to float32.

    Raises:
        ValueError: naming the expected shape ``(action_size,)``; batch with ``jax.vmap``.
    """
    action = jnp.asarray(action)
    if action.shape != (action_size,):
        raise ValueError(
            f"{where}: action has shape {action.shape}, expected ({action_size},). "
            "Pass one action vector per env; use jax.vmap for a batch of envs."
        )
    return action.astype(jnp.float32)


def unit_box(size: int) -> spaces.Box:
    """The ``[-1, 1]^size`` float32 action box shared by every env."""
    return spaces.Box(low=-1.0, high=1.0, shape=(size,), dtype=jnp.float32)


def real_box(size: int) -> spaces.Box:
    """An unbounded float32 observation box."""
    return spaces.Box(low=-jnp.inf, high=jnp.inf, shape=(size,), dtype=jnp.float32)


class Wrapper(Environment):
    """Base wrapper: forwards everything to ``self.env``; subclasses override one job.

    A wrapper that samples its own part of a task stores it next to the inner params
    (``params.inner``) in a ``flax.struct`` dataclass of its own, and reports
    :attr:`samples_task` True. ``num_actions``, ``observation_space()`` and ``action_space()``
    (default params) and ``name`` answer as a gymnax env's do.
    """

    def __init__(self, env: Environment):
        if not isinstance(env, Environment):
            raise TypeError(
                f"{type(self).__name__} wraps projected_envs environments; "
                f"got {type(env).__name__}. "
                "Build envs with projected_envs.make(...)."
            )
        self.env = env

    @property
    def unwrapped(self) -> Environment:
        """The base env under all wrappers."""
        env = self.env
        while isinstance(env, Wrapper):
            env = env.env
        return env

    @property
    def default_params(self):
        return self.env.default_params

    @property
    def samples_task(self) -> bool:
        """True if the wrapped env samples a task (wrappers that sample override this)."""
        return self.env.samples_task

    def sample_task(self, key: jax.Array):
        return self.env.sample_task(key)

    def reset(self, key, params=None):
        return self.env.reset(key, self.check_params(params))

    def transition(self, key, state, action, params):
        check_state(state, self.name)
        return self.env.transition(key, state, action, self.check_params(params))

    def observation_space(self, params=None):
        return self.env.observation_space(self.default_params if params is None else params)

    def action_space(self, params=None):
        return self.env.action_space(self.default_params if params is None else params)

    @property
    def num_actions(self) -> int:
        """Length of the agent's action vector (gymnax name)."""
        return self.action_size

    @property
    def name(self) -> str:
        return f"{type(self).__name__}<{self.env.name}>"
