"""Batched stepping with auto-reset, and the strategies that make the resets.

Under ``vmap`` a per-env ``lax.cond`` becomes a select that computes both
branches, so "reset only the envs that are done" costs a reset for every env.
The strategies differ in how many resets they compute per step:

* :class:`PoolReset` (the default) keeps a pool of fresh start states in the
  vec state and hands one to each env whose episode ended. When the episodes
  that ended in a step would use more than the pool holds, it refills the
  pool, ``pool_size`` resets at once, under a scalar ``lax.cond``. The cost is
  the resets consumed, computed in batches, and no two episodes share a start
  state. The branch stays a branch only while the strategy is not vmapped.
  The start states are written into the batch in place, a chunk of envs per
  ``while_loop`` iteration and only as many iterations as the ended episodes
  need, so a step that ends few episodes does not rewrite every env's state
  (a select over the batch does, which on a large state costs more than the
  step: Craftax-Classic at 1024 envs ran at 0.32x the no-reset bound that
  way, and at 0.96x in place).
* :class:`RefillReset` is the pool with no branch: every step computes a fixed
  ``ceil(num_envs / refill_ratio)`` fresh states and pushes them into the pool.
  Under ``vmap`` (a learner vmapped over seeds) it costs that fixed number,
  where :class:`PoolReset` would refill the whole pool every step. If more
  episodes end than the pool holds, the extra envs start from a state another
  env got (counted in ``ResetPool.shared``); the default sizes make this rare.
* :class:`SelectReset` computes a reset for every env every step and selects
  it where an episode ended (the gymnax ``step``).
* :class:`OptimisticReset` computes ``ceil(num_envs / reset_ratio)`` resets
  per step and shares them out (Craftax_Baselines' optimistic wrapper): when
  more envs end at once, some episodes start from the same state.

Which to use: :class:`PoolReset` wherever the rollout is not vmapped (the
adapters, a single-seed learner, ``jit(scan(step))``); :class:`RefillReset`
where it is (``vmap`` over seeds or populations: ``reset_strategy="refill"``
in the learners' configs). :func:`make_reset_strategy` builds them by name.

The reference optimistic wrapper picks the envs that get a fresh reset with
``random.choice(p=done, replace=False)``, which is ill-defined when fewer envs
are done than there are resets. Here the done envs are ranked first by a
random key and ``top_k`` takes the slots, so every done env gets its own fresh
reset whenever there are enough.

:class:`AutoResetVecEnv` is the batched env our adapters and learners run:
``reset(key, params) -> (obs, VecState)`` and ``step(key, state, action,
params)`` over ``num_envs`` envs with same-step auto-reset, or
``step(..., reset_mask=mask)`` for next-step auto-reset. ``VecState.env`` is
the batched env state; ``VecState.pool`` the strategy's pool.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from omnigym.core import sharding
from omnigym.core.environment import Environment, select_where


@struct.dataclass
class ResetPool:
    """Fresh start states waiting for an episode: a stack, ``available`` deep.

    ``obs`` and ``state`` have ``pool_size`` rows; rows ``[0, available)`` are
    fresh and the top ones are handed out first. ``refills`` counts the
    batches of resets computed, ``shared`` the episodes that had to start
    from a state another env got (only :class:`RefillReset` can).
    """

    obs: Any
    state: Any
    available: jax.Array
    refills: jax.Array
    shared: jax.Array


@struct.dataclass
class VecState:
    """The state of :class:`AutoResetVecEnv`: the batched env state and the pool."""

    env: Any
    pool: ResetPool | None = None


class SelectReset:
    """Reset every env each call and keep the reset where ``mask`` is set.

    Calling a strategy returns ``(obs, state, pool)`` with the masked envs
    reset; ``carry_over`` sees ``previous_state`` (default ``state``), the
    state each env's episode ended in. Strategies without a pool take and
    return ``pool=None``.
    """

    def __init__(self, env: Environment, num_envs: int):
        self.env = env
        self.num_envs = num_envs

    def init_pool(self, key: jax.Array, params: Any) -> ResetPool | None:
        """The pool a fresh :class:`VecState` starts with (``None``: no pool)."""
        del key, params
        return None

    def __call__(self, key, mask, obs, state, params, pool=None, previous_state=None):
        key_reset, key_carry = jax.random.split(key)
        reset_obs, reset_state = self._fresh(key_reset, self.num_envs, params)
        return (
            *self._carry_and_select(
                key_carry, mask, obs, state, reset_obs, reset_state, params, previous_state
            ),
            pool,
        )

    def _fresh(self, key: jax.Array, count: int, params: Any) -> tuple[Any, Any]:
        """``count`` fresh start states."""
        return jax.vmap(self.env.initial, in_axes=(0, None))(jax.random.split(key, count), params)

    def _carry_over(self, key, previous_state, reset_obs, reset_state, params):
        """``env.carry_over`` over a batch of resets (one key each)."""
        count = jax.tree.leaves(reset_state)[0].shape[0]
        return jax.vmap(self.env.carry_over, in_axes=(0, 0, 0, 0, None))(
            jax.random.split(key, count), previous_state, reset_obs, reset_state, params
        )

    def _carry_and_select(
        self, key, mask, obs, state, reset_obs, reset_state, params, previous_state
    ):
        previous_state = state if previous_state is None else previous_state
        reset_obs, reset_state = self._carry_over(key, previous_state, reset_obs, reset_state, params)
        return select_where(mask, reset_obs, obs), select_where(mask, reset_state, state)

    def split(self, parts: int) -> SelectReset:
        """The same strategy for ``num_envs / parts`` envs: one device's share
        under ``shard_resets="local"`` (pools and reset counts scale with it)."""
        return type(self)(self.env, self.num_envs // parts, **self._split_options(parts))

    def _split_options(self, parts: int) -> dict:
        del parts
        return {}

    @property
    def key(self) -> tuple:
        """What identifies this strategy (for hashing jitted owners)."""
        return (type(self), self.env, self.num_envs)


def optimistic_reset_slots(key: jax.Array, mask: jax.Array, num_resets: int) -> jax.Array:
    """Which of ``num_resets`` fresh resets each env takes (int32, (num_envs,)).

    Envs where ``mask`` is set are ranked first (in random order) and the first
    ``num_resets`` of them get distinct slots; every other env gets a random
    slot, which for a masked env means sharing a start state.
    """
    key_rank, key_rest = jax.random.split(key)
    num_envs = mask.shape[0]
    priority = mask.astype(jnp.float32) + jax.random.uniform(key_rank, (num_envs,))
    _, chosen = jax.lax.top_k(priority, num_resets)
    slots = jax.random.randint(key_rest, (num_envs,), 0, num_resets, dtype=jnp.int32)
    return slots.at[chosen].set(jnp.arange(num_resets, dtype=jnp.int32))


class OptimisticReset(SelectReset):
    """Compute ``ceil(num_envs / reset_ratio)`` resets per call (see module doc)."""

    def __init__(self, env: Environment, num_envs: int, reset_ratio: int = 16):
        super().__init__(env, num_envs)
        if reset_ratio < 1:
            raise ValueError(f"reset_ratio must be at least 1, got {reset_ratio}.")
        self.reset_ratio = reset_ratio
        self.num_resets = max(1, math.ceil(num_envs / reset_ratio))

    def __call__(self, key, mask, obs, state, params, pool=None, previous_state=None):
        key_reset, key_slots, key_carry = jax.random.split(key, 3)
        fresh_obs, fresh_state = self._fresh(key_reset, self.num_resets, params)
        slots = optimistic_reset_slots(key_slots, mask, self.num_resets)
        reset_obs, reset_state = jax.tree.map(lambda x: x[slots], (fresh_obs, fresh_state))
        return (
            *self._carry_and_select(
                key_carry, mask, obs, state, reset_obs, reset_state, params, previous_state
            ),
            pool,
        )

    def _split_options(self, parts: int) -> dict:
        return {"reset_ratio": self.reset_ratio}

    @property
    def key(self) -> tuple:
        return (*super().key, self.reset_ratio)


class PoolReset(SelectReset):
    """A pool of ``pool_size`` fresh start states, refilled under a ``lax.cond``
    when the episodes that ended would use more than it holds (see module doc).

    ``pool_size`` must be at least ``num_envs`` (the most episodes that can end
    in one step). The pool starts empty, so ``reset`` costs ``num_envs``
    resets and the first episode to end pays for the first refill.
    """

    def __init__(self, env: Environment, num_envs: int, pool_size: int | None = None):
        super().__init__(env, num_envs)
        self.pool_size = num_envs if pool_size is None else pool_size
        if self.pool_size < num_envs:
            raise ValueError(
                f"pool_size must be at least num_envs ({num_envs}), the most episodes that "
                f"can end in one step; got {self.pool_size}."
            )

    def init_pool(self, key: jax.Array, params: Any) -> ResetPool:
        shapes = jax.eval_shape(partial(self._fresh, count=self.pool_size, params=params), key)
        empty = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        return ResetPool(*empty, *(jnp.zeros((), jnp.int32) for _ in range(3)))

    def __call__(self, key, mask, obs, state, params, pool=None, previous_state=None):
        key_refill, key_carry = jax.random.split(key)
        demand = jnp.sum(mask, dtype=jnp.int32)
        pool = jax.lax.cond(
            demand > pool.available,
            lambda p: self._push(p, *self._fresh(key_refill, self.pool_size, params)),
            lambda p: p,
            pool,
        )
        return self._hand_out(key_carry, mask, demand, obs, state, params, pool, previous_state)

    def _push(self, pool: ResetPool, fresh_obs: Any, fresh_state: Any) -> ResetPool:
        """``pool`` with rows ``[available, available + count)`` set to the fresh
        states (``count`` of them; those past the end are dropped)."""
        count = jax.tree.leaves(fresh_state)[0].shape[0]
        rows = pool.available + jnp.arange(count, dtype=jnp.int32)
        rows = jnp.where(rows < self.pool_size, rows, self.pool_size)  # past the end: dropped

        def put(stack: jax.Array, fresh: jax.Array) -> jax.Array:
            return stack.at[rows].set(fresh, mode="drop")

        return pool.replace(
            obs=jax.tree.map(put, pool.obs, fresh_obs),
            state=jax.tree.map(put, pool.state, fresh_state),
            available=jnp.minimum(pool.available + count, self.pool_size),
            refills=pool.refills + 1,
        )

    def _hand_out(self, key, mask, demand, obs, state, params, pool, previous_state):
        """Give each masked env a start state popped from the top of the stack.

        The ``k``-th masked env takes row ``available - 1 - k``; envs past what
        the pool holds wrap to the top rows again (shared; counted). The states
        are written into ``obs`` and ``state`` in place, ``chunk`` envs per
        loop iteration and only as many iterations as ``demand`` needs, so a
        step costs the resets handed out, not a select over every env.
        Returns ``(obs, state, pool)``.
        """
        previous_state = state if previous_state is None else previous_state
        chunk = self.chunk
        padded = -(-self.num_envs // chunk) * chunk
        # The masked envs in ascending order, then out-of-range fillers (dropped on write).
        envs = jnp.nonzero(mask, size=padded, fill_value=self.num_envs)[0].astype(jnp.int32)
        depth = jnp.maximum(pool.available, 1)

        def hand(carry):
            start, obs, state = carry
            slots = jax.lax.dynamic_slice(envs, (start,), (chunk,))
            rows = pool.available - 1 - jnp.mod(start + jnp.arange(chunk, dtype=jnp.int32), depth)
            rows = jnp.clip(rows, 0, self.pool_size - 1)
            fresh_obs, fresh_state = jax.tree.map(lambda x: x[rows], (pool.obs, pool.state))
            ended = jax.tree.map(lambda x: x.at[slots].get(mode="clip"), previous_state)
            fresh_obs, fresh_state = self._carry_over(
                jax.random.fold_in(key, start), ended, fresh_obs, fresh_state, params
            )
            put = lambda stack, fresh: stack.at[slots].set(fresh, mode="drop")  # noqa: E731
            return start + chunk, jax.tree.map(put, obs, fresh_obs), jax.tree.map(put, state, fresh_state)

        _, obs, state = jax.lax.while_loop(
            lambda carry: carry[0] < demand, hand, (jnp.zeros((), jnp.int32), obs, state)
        )
        short = jnp.maximum(demand - pool.available, 0)
        pool = pool.replace(
            available=jnp.maximum(pool.available - demand, 0), shared=pool.shared + short
        )
        return obs, state, pool

    @property
    def chunk(self) -> int:
        """Envs handed a start state per loop iteration: ``ceil(num_envs / 16)``."""
        return max(1, math.ceil(self.num_envs / 16))

    def _split_options(self, parts: int) -> dict:
        return {"pool_size": self.pool_size // parts}

    @property
    def key(self) -> tuple:
        return (*super().key, self.pool_size)


class RefillReset(PoolReset):
    """The pool without a branch: ``ceil(num_envs / refill_ratio)`` fresh states
    pushed every step (see module doc). It starts full."""

    def __init__(
        self,
        env: Environment,
        num_envs: int,
        refill_ratio: int = 8,
        pool_size: int | None = None,
    ):
        super().__init__(env, num_envs, pool_size)
        if refill_ratio < 1:
            raise ValueError(f"refill_ratio must be at least 1, got {refill_ratio}.")
        self.refill_ratio = refill_ratio
        self.num_refills = max(1, math.ceil(num_envs / refill_ratio))

    def init_pool(self, key: jax.Array, params: Any) -> ResetPool:
        return self._push(super().init_pool(key, params), *self._fresh(key, self.pool_size, params))

    def __call__(self, key, mask, obs, state, params, pool=None, previous_state=None):
        key_refill, key_carry = jax.random.split(key)
        pool = self._push(pool, *self._fresh(key_refill, self.num_refills, params))
        demand = jnp.sum(mask, dtype=jnp.int32)
        return self._hand_out(key_carry, mask, demand, obs, state, params, pool, previous_state)

    def _split_options(self, parts: int) -> dict:
        return {**super()._split_options(parts), "refill_ratio": self.refill_ratio}

    @property
    def key(self) -> tuple:
        return (*super().key, self.refill_ratio)


#: The strategies by the names configs and adapters use.
RESET_STRATEGIES = {
    "pool": PoolReset,
    "refill": RefillReset,
    "select": SelectReset,
    "optimistic": OptimisticReset,
}


def make_reset_strategy(
    env: Environment, num_envs: int, strategy: str = "pool", **options: Any
) -> SelectReset:
    """The reset strategy named ``strategy`` (``pool``, ``refill``, ``select`` or
    ``optimistic``) for ``num_envs`` copies of ``env``; ``options`` go to its
    constructor (``pool_size``, ``refill_ratio``, ``reset_ratio``)."""
    if strategy not in RESET_STRATEGIES:
        raise ValueError(
            f"reset strategy must be one of {sorted(RESET_STRATEGIES)}, got {strategy!r}."
        )
    return RESET_STRATEGIES[strategy](env, num_envs, **options)


#: Who hands out start states on a mesh (:class:`AutoResetVecEnv`).
SHARD_RESETS = ("global", "local")

_COUNTERS = ("available", "refills", "shared")


def _counters_stacked(pool: ResetPool | None) -> ResetPool | None:
    """A device's pool with its scalar counters as length-1 arrays (to be
    stacked over devices: one counter per device)."""
    if pool is None:
        return None
    return pool.replace(**{name: getattr(pool, name)[None] for name in _COUNTERS})


def _counters_unstacked(pool: ResetPool | None) -> ResetPool | None:
    if pool is None:
        return None
    return pool.replace(**{name: getattr(pool, name)[0] for name in _COUNTERS})


class AutoResetVecEnv:
    """``num_envs`` copies of ``env`` stepped in one call, with auto-reset.

    ``env`` is a single-agent env or a multi-agent one (dicts per agent; an
    episode ends when ``env.episode_done`` says so: every agent done).
    ``step`` returns ``(obs, state, reward, terminated, truncated, info)``,
    each batched, ``state`` a :class:`VecState`. With ``reset_mask=None``
    (same-step auto-reset) envs whose episode ended are reset before
    returning, and ``info["final_observation"]`` holds the observation they
    ended on. With a ``reset_mask`` (next-step auto-reset), the masked envs
    are reset instead of stepped: their action is ignored, reward is 0 and
    both flags are False. The reset strategy defaults to :class:`PoolReset`.

    With a ``mesh`` (:func:`omnigym.core.sharding.env_mesh`), or under an
    ambient one (``jax.set_mesh``), every batched output (obs, env state, the
    pool's rows, rewards, flags, info) is sharded over the mesh's ``"envs"``
    axis; ``num_envs`` (and the pool) must split evenly over its devices.
    ``shard_resets`` says who hands out the start states:

    * ``"global"`` (default): one pool for all envs, as on one device, so the
      numbers are the one-device run's, bit for bit. The compiler turns the
      hand-out into collectives (an all-gather of the done mask, an all-reduce
      per chunk of resets), which cost more than a cheap env's step where
      collectives are slow.
    * ``"local"``: each device resets its own envs from its own share of the
      pool (``reset_strategy.split``, under ``jax.shard_map``), with no
      collectives. Every episode still starts from its own fresh state, but
      which one depends on the device count: the numbers equal the
      one-device run's only on one device.
    """

    def __init__(
        self,
        env: Environment,
        num_envs: int,
        reset_strategy: SelectReset | str = "pool",
        mesh: jax.sharding.Mesh | None = None,
        shard_resets: str = "global",
    ):
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}.")
        if shard_resets not in SHARD_RESETS:
            raise ValueError(
                f"shard_resets must be one of {SHARD_RESETS}, got {shard_resets!r}."
            )
        self.env = env
        self.num_envs = num_envs
        if isinstance(reset_strategy, str):
            reset_strategy = make_reset_strategy(env, num_envs, reset_strategy)
        self.reset_strategy = reset_strategy
        self.mesh = mesh
        self.shard_resets = shard_resets
        self._check_mesh(mesh)

    def _check_mesh(self, mesh: Any) -> None:
        sharding.check_divisible(self.num_envs, mesh)
        pool_size = getattr(self.reset_strategy, "pool_size", None)
        if pool_size is not None:
            sharding.check_divisible(pool_size, mesh, "pool_size")

    def _current_mesh(self) -> Any:
        """The mesh this trace runs on (given or ambient; ``None``: one device)."""
        mesh = self.mesh if self.mesh is not None else sharding.ambient_mesh()
        if mesh is None or sharding.mesh_size(mesh) == 1:
            return None
        if self.mesh is None:  # met at trace time: the same clear error as at construction
            self._check_mesh(mesh)
        return mesh

    def _sharded(self, outputs: Any) -> Any:
        """``outputs`` (all batched over envs, but for the pool's counters) on the mesh."""
        mesh = self._current_mesh()
        if mesh is None:
            return outputs

        def constrain(tree: Any) -> Any:
            if isinstance(tree, VecState):
                pool = tree.pool
                if pool is not None:
                    pool = pool.replace(**sharding.constrain_envs(
                        {"obs": pool.obs, "state": pool.state}, mesh))
                return VecState(sharding.constrain_envs(tree.env, mesh), pool)
            return sharding.constrain_envs(tree, mesh)

        return tuple(constrain(part) for part in outputs)

    def _per_device(self, mesh: Any, function: Any, in_specs: tuple) -> Any:
        """``function(local_strategy, key, *args)`` run on each device's share
        (``shard_resets="local"``): the key folded with the device's index, the
        pool's counters one per device."""
        local = self.reset_strategy.split(sharding.mesh_size(mesh))
        envs, whole = sharding.env_spec(), jax.sharding.PartitionSpec()

        def run(key, *args):
            key = jax.random.fold_in(key, jax.lax.axis_index(sharding.ENV_AXIS))
            return function(local, key, *args)

        return jax.shard_map(run, mesh=mesh, in_specs=(whole, *(envs if s else whole
                                                                 for s in in_specs)),
                             out_specs=envs)

    def _init_pool(self, key: jax.Array, params: Any) -> ResetPool | None:
        mesh = self._current_mesh()
        if mesh is None or self.shard_resets == "global":
            return self.reset_strategy.init_pool(key, params)

        def init(local, key, params):
            return _counters_stacked(local.init_pool(key, params))

        return self._per_device(mesh, init, (False,))(key, params)

    def _reset(self, key, mask, obs, state, params, pool, previous_state=None):
        """The strategy's resets of the masked envs: ``(obs, state, pool)``."""
        mesh = self._current_mesh()
        if mesh is None or self.shard_resets == "global":
            return self.reset_strategy(key, mask, obs, state, params, pool, previous_state)

        def reset(local, key, mask, obs, state, params, pool, previous_state):
            obs, state, pool = local(key, mask, obs, state, params, _counters_unstacked(pool),
                                     previous_state)
            return obs, state, _counters_stacked(pool)

        previous_state = state if previous_state is None else previous_state
        return self._per_device(mesh, reset, (True, True, True, False, True, True))(
            key, mask, obs, state, params, pool, previous_state
        )

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key: jax.Array, params: Any) -> tuple[Any, VecState]:
        key_envs, key_pool = jax.random.split(key)
        obs, state = self.reset_strategy._fresh(key_envs, self.num_envs, params)
        return self._sharded((obs, VecState(state, self._init_pool(key_pool, params))))

    @partial(jax.jit, static_argnames=("self",))
    def step(
        self,
        key: jax.Array,
        state: VecState,
        action: jax.Array,
        params: Any,
        reset_mask: jax.Array | None = None,
    ) -> tuple[Any, VecState, jax.Array, jax.Array, jax.Array, dict]:
        key_step, key_reset = jax.random.split(key)
        obs, next_state, reward, terminated, truncated, info = jax.vmap(
            self.env.transition, in_axes=(0, 0, 0, None)
        )(jax.random.split(key_step, self.num_envs), state.env, action, params)
        if reset_mask is None:
            done = jax.vmap(self.env.episode_done)(terminated, truncated, info)
            info = {**info, "final_observation": obs}
            obs, next_state, pool = self._reset(
                key_reset, done, obs, next_state, params, state.pool
            )
            return self._sharded((obs, VecState(next_state, pool), reward, terminated, truncated,
                                  info))
        obs, next_state, pool = self._reset(
            key_reset, reset_mask, obs, next_state, params, state.pool, previous_state=state.env
        )
        keep = jnp.logical_not(reset_mask)
        return self._sharded((
            obs,
            VecState(next_state, pool),
            jax.tree.map(lambda r: jnp.where(keep, r, 0.0), reward),
            jax.tree.map(lambda t: jnp.logical_and(keep, t), terminated),
            jax.tree.map(lambda t: jnp.logical_and(keep, t), truncated),
            info,
        ))

    @property
    def key(self) -> tuple:
        """What identifies this vec env (for hashing jitted owners)."""
        return (self.reset_strategy.key, self.mesh, self.shard_resets)

    # Equal configurations share compiled functions (``self`` is static).
    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AutoResetVecEnv) and self.key == other.key
