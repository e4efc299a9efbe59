"""The evaluation protocol for any policy: per-trial returns on a fixed bank, random reference,
normalised scores, statistics with CIs, and exports for rliable / marl-eval style tooling.

One module per job: :mod:`~projected_envs.evaluation.policy` (the policy protocol),
:mod:`~projected_envs.evaluation.rollout` (the loop), :mod:`~projected_envs.evaluation.references`
(reference and normalised scores), :mod:`~projected_envs.evaluation.result` (:class:`EvalResult`
and its exports), :mod:`~projected_envs.evaluation.report` (:func:`evaluate_policy` and
:func:`format_table`); every public name is re-exported here.

Protocol (what :func:`evaluate_policy` runs; ``docs/reference/evaluation.md`` has the long form):

* **Tasks**: the deterministic bank ``task_set.eval_tasks(per_env)``: ``per_env`` tasks of every
  env of the set, from the evaluation seed space (disjoint from training tasks). The bank does
  not depend on ``num_trials``, so the same tasks are evaluated for any K.
* **Meta-episodes**: one slot per task (:meth:`projected_envs.VecEnv.from_bank`); each task runs
  once as one meta-episode of ``num_trials`` trials (default: the set's K; more tests
  extrapolation past the training horizon) from a **fresh carry** (``policy.init``, and
  ``reset=True`` on its first observation). The loop (one ``lax.while_loop``, capped at
  ``max_steps``) runs until every task finished its trials; slots that finish early keep running
  but are no longer counted.
* **Policy**: anything with ``init(batch_size) -> carry`` and ``step(carry, obs [N, O],
  reset [N], key) -> (carry, action [N, A])`` (:class:`Policy`); actions are clipped to
  ``[-1, 1]``.
* **Random reference**: the same tasks and env keys with uniform actions in ``[-1, 1]^A``.
* **Returns** are in the units the agent is trained on (after the set's per-env reward scale,
  if it normalises); ``raw_returns`` are in the base env's own reward units.
* **Normalised scores** per task and trial: ``(raw_return - random) / (reference - random)``,
  with ``random`` the random policy's mean raw return per trial on the same env's tasks and
  ``reference`` the shipped per-env reference (:func:`reference_scores`); NaN, with a warning
  naming ``scripts/compute_reference_scores.py``, where no valid reference exists.
* **Statistics**: :func:`projected_envs.statistics.summarize` (mean, IQM, stratified bootstrap
  95% CIs, per env and overall; per-trial curve; in-context gain = last trial minus first).

Keys: ``key, k_reset = split(PRNGKey(seed))``; the bank VecEnv resets with ``k_reset``; each
step splits ``key, k_act, k_env = split(key, 3)``, the policy acts with ``k_act`` (one key for
the whole batch ``[N]``) and the VecEnv steps with ``k_env``. Everything is a pure function of
``(policy, task_set, per_env, num_trials, seed)``.

Compilation: the loop is jitted once per (env stacks, static part of the policy, bank shape).
The policy's array leaves (``jax.tree.leaves``) are traced arguments and everything else is
static, so a policy that is a pytree of its parameters (a NamedTuple or ``flax.struct``
dataclass) evaluates new parameters without recompiling; the random reference shares the
same compiled program.
"""

from projected_envs.evaluation.policy import Policy, PolicyFns
from projected_envs.evaluation.references import (
    REFERENCE_SCRIPT,
    Reference,
    normalized_scores,
    reference_for,
    reference_scores,
)
from projected_envs.evaluation.report import evaluate_policy, format_table
from projected_envs.evaluation.result import EvalResult
from projected_envs.evaluation.rollout import (
    Rollout,
    max_meta_episode_steps,
    max_steps_in_episode,
    rollout_policy,
)

__all__ = [
    "REFERENCE_SCRIPT",
    "EvalResult",
    "Policy",
    "PolicyFns",
    "Reference",
    "Rollout",
    "evaluate_policy",
    "format_table",
    "max_meta_episode_steps",
    "max_steps_in_episode",
    "normalized_scores",
    "reference_for",
    "reference_scores",
    "rollout_policy",
]
