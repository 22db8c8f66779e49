"""The mean-field game contract (docs/architecture.md, contract 4) and the views derived from it.

A :class:`MeanFieldGame` moves a whole population at once. Its state holds the
distribution ``mu`` over the ``num_states`` individual states, the common
noise and the time. Its action is a *policy table* ``pi[s, a]``: what every
individual in state ``s`` plays. One step

* pushes ``mu`` forward exactly: ``mu'[s'] = sum_{s,a,k} mu[s] pi[s,a] p_k(s,a)``
  with ``s' = next_k(s, a)`` (idiosyncratic noise integrated, no sampling);
* samples the common noise (the only randomness left at population level);
* returns the reward table ``r[s, a]`` every individual would get, and a
  public observation shared by all.

A game only says what its kernel, rewards and common noise are (the hooks
``successors``, ``reward_table``, ``terminal_reward``, ``next_noise``,
``public_observation``); the operators ``transition`` (the pushforward,
``A^T mu``) and ``expected_value`` (``A V``) are generic and jit/vmap freely.

Two views derive from any game without more code:

* :class:`RepresentativeAgentEnv`: one individual plays against a population
  that follows a given population policy (a single-agent omnigym env, so it
  is registered with Gymnasium);
* :class:`NPlayerEnv`: N sampled individuals whose empirical distribution
  stands in for ``mu`` (a multi-agent env, exposed through PettingZoo).

Episodes have a fixed horizon ``T``: after ``T`` steps the game terminates
and each individual collects ``terminal_reward(state_T)[s_T]``.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar, Generic

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

from omnigym.core.environment import (
    ConfigEquality,
    Environment,
    TEnvParams,
    canonicalize,
    select_where,
    x64_enabled,
)
from omnigym.core.multi_agent import MultiAgentEnvironment


@struct.dataclass
class PopulationState:
    """The aggregate state: distribution, common noise and time."""

    #: Distribution over individual states, shape ``(num_states,)``, sums to 1.
    distribution: jax.Array
    #: The game's common-noise state, a float vector (may be empty).
    noise: jax.Array
    #: Steps taken so far.
    time: jax.Array


def float_dtype() -> Any:
    """float64 under ``jax_enable_x64`` (for exact cross-checks), else float32."""
    return jnp.float64 if x64_enabled() else jnp.float32


def is_concrete(*values: Any) -> bool:
    """Whether every array leaf is a concrete value (not a tracer under jit)."""
    return not any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(values))


def check_distribution(name: str, distribution: Any, num_states: int) -> None:
    """Raise a clear error unless ``distribution`` is a distribution over ``num_states``."""
    mu = np.asarray(distribution, dtype=np.float64)
    if mu.shape != (num_states,):
        raise ValueError(f"{name}: expected shape ({num_states},), got {mu.shape}.")
    if not np.all(np.isfinite(mu)) or np.any(mu < 0):
        raise ValueError(f"{name}: expected finite, non-negative probabilities, got {mu}.")
    if abs(mu.sum() - 1.0) > 1e-4:
        raise ValueError(f"{name}: expected probabilities that sum to 1, got sum {mu.sum():.6f}.")


def check_nonnegative(params: Any, *names: str) -> None:
    """Raise a clear error if a named parameter is NaN or negative."""
    for name in names:
        value = np.asarray(getattr(params, name), dtype=np.float64)
        if not np.all(np.isfinite(value)) or np.any(value < 0):
            raise ValueError(f"{name}: expected a finite value >= 0, got {value}.")


class MeanFieldGame(ConfigEquality, Generic[TEnvParams]):
    """Base class of population-level games (see module doc).

    Subclasses set ``num_states``, ``num_actions`` and ``horizon`` (static
    ints) and implement the hooks. ``params`` is the game's frozen
    ``EnvParams`` dataclass.
    """

    num_states: int
    num_actions: int
    horizon: int
    #: Bounds of the public observation (state features and t/T lie in [0, 1]).
    observation_bounds: ClassVar[tuple[float, float]] = (0.0, 1.0)

    # ------------------------------------------------------------- game hooks
    def base_params(self) -> Any:
        """The game's parameters before any override."""
        raise NotImplementedError

    @property
    def default_params(self) -> Any:
        params = getattr(self, "_default_params", None)
        return self.base_params() if params is None else params

    def configure(self, **overrides: Any) -> "MeanFieldGame":
        """Set default-parameter overrides (checked); returns ``self``.

        The overrides join ``config``, so games with different defaults never
        share a compiled function that bakes the defaults in. Array overrides
        are stored as floats (float64 under ``jax_enable_x64``).
        """
        base = self.base_params()
        fields = set(base.__dataclass_fields__)
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise TypeError(
                f"{self.name} has no parameter(s) {unknown}; it has {sorted(fields)}."
            )
        params = base.replace(
            **{k: jnp.asarray(v, float_dtype()) if np.ndim(v) else v for k, v in overrides.items()}
        )
        self.check_params(params)
        self._default_params = params
        frozen = tuple(
            (k, v if isinstance(v, str) else tuple(np.asarray(v, np.float64).ravel().tolist()))
            for k, v in sorted(overrides.items())
        )
        self.config = (*self.config, frozen)
        return self

    def check_params(self, params: Any) -> None:
        """Raise a clear error on invalid concrete parameters."""

    def initial_distribution(self, noise: jax.Array, params: Any) -> jax.Array:
        """The distribution at reset, given the initial common noise."""
        raise NotImplementedError

    def initial_noise(self, key: jax.Array, params: Any) -> jax.Array:
        """Common noise at reset; no common noise by default."""
        del key, params
        return jnp.zeros((0,), jnp.float32)

    def next_noise(self, key: jax.Array, state: PopulationState, params: Any) -> jax.Array:
        """Common noise after a step from ``state``; constant by default."""
        del key, params
        return state.noise

    def successors(self, state: PopulationState, params: Any) -> tuple[jax.Array, jax.Array]:
        """The kernel as atoms: ``next_state[s, a, k]`` (int32) and ``prob[s, a, k]``."""
        raise NotImplementedError

    def reward_table(
        self, state: PopulationState, next_state: PopulationState, params: Any
    ) -> jax.Array:
        """Reward ``r[s, a]`` of a step from ``state`` to ``next_state``."""
        raise NotImplementedError

    def terminal_reward(self, state: PopulationState, params: Any) -> jax.Array:
        """Reward ``g[s]`` collected at the horizon; zero by default."""
        del params
        return jnp.zeros_like(state.distribution)

    def public_observation(self, state: PopulationState, params: Any) -> jax.Array:
        """The observation every individual shares (float32 vector)."""
        raise NotImplementedError

    def state_features(self, params: Any) -> jax.Array:
        """A float feature vector per individual state, ``(num_states, F)``."""
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__

    # ---------------------------------------------------------------- spaces
    def observation_space(self, params: Any) -> spaces.Box:
        shape = jax.eval_shape(
            lambda: self.public_observation(self.initial_state(jax.random.key(0), params), params)
        ).shape
        return spaces.Box(*self.observation_bounds, shape, jnp.float32)

    def action_space(self, params: Any) -> spaces.Box:
        """The action is a policy table: a distribution over actions per state."""
        return spaces.Box(0.0, 1.0, (self.num_states, self.num_actions), jnp.float32)

    # --------------------------------------------------------------- operators
    def pushforward(
        self, distribution: jax.Array, policy: jax.Array, state: PopulationState, params: Any
    ) -> jax.Array:
        """``A^T mu``: the exact next distribution when ``distribution`` plays ``policy``."""
        return pushforward(distribution, policy, self.successors(state, params))

    def continuation(self, values: jax.Array, state: PopulationState, params: Any) -> jax.Array:
        """``E[V(s') | s, a]`` for every state and action, shape ``(S, A)``."""
        next_index, prob = self.successors(state, params)
        return jnp.sum(prob * values[next_index], axis=-1)

    def expected_value(
        self, values: jax.Array, policy: jax.Array, state: PopulationState, params: Any
    ) -> jax.Array:
        """``A V``: ``sum_a pi(a|s) E[V(s') | s, a]`` for every state."""
        return jnp.sum(policy * self.continuation(values, state, params), axis=-1)

    # ----------------------------------------------------------------- contract
    def check_policy(self, policy: Any) -> None:
        """Trace-time check of the policy table's shape."""
        shape = tuple(np.shape(policy))
        if shape != (self.num_states, self.num_actions):
            raise ValueError(
                f"{self.name}: expected a policy table of shape "
                f"({self.num_states}, {self.num_actions}) (states x actions), got {shape}."
            )

    def initial_state(self, key: jax.Array, params: Any) -> PopulationState:
        noise = jnp.asarray(self.initial_noise(key, params), float_dtype())
        return canonicalize(
            PopulationState(
                distribution=jnp.asarray(self.initial_distribution(noise, params), float_dtype()),
                noise=noise,
                time=jnp.int32(0),
            )
        )

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key: jax.Array, params: Any = None) -> tuple[jax.Array, PopulationState]:
        """``(public_obs, state)`` at time 0."""
        params = self.default_params if params is None else params
        if is_concrete(params):
            self.check_params(params)
        state = self.initial_state(key, params)
        return self.public_observation(state, params), state

    def transition(
        self, key: jax.Array, state: PopulationState, policy: jax.Array, params: TEnvParams
    ) -> tuple[jax.Array, PopulationState, jax.Array, jax.Array, jax.Array, dict]:
        """One step without auto-reset.

        Returns ``(obs, next_state, reward_table, terminated, truncated, info)``;
        ``info["terminal_reward"]`` is ``g[s]`` at the horizon and 0 before.
        """
        self.check_policy(policy)
        policy = jnp.asarray(policy, float_dtype())
        next_distribution = self.pushforward(state.distribution, policy, state, params)
        next_state, rewards, terminated, terminal = self.advance(
            key, state, next_distribution, params
        )
        info = {"terminal_reward": terminal}
        obs = self.public_observation(next_state, params)
        return obs, next_state, rewards, terminated, jnp.bool_(False), info

    def advance(
        self, key: jax.Array, state: PopulationState, next_distribution: jax.Array, params: Any
    ) -> tuple[PopulationState, jax.Array, jax.Array, jax.Array]:
        """Everything a step does after the population has moved to ``next_distribution``
        (exactly, or as N players' histogram): the clock, the common noise, the
        reward table and the horizon.

        Returns ``(next_state, reward_table, terminated, terminal_reward)``; the
        terminal reward ``g[s]`` is 0 before the horizon.
        """
        moved = state.replace(distribution=next_distribution, time=state.time + 1)
        next_state = canonicalize(moved.replace(noise=self.next_noise(key, moved, params)))
        rewards = jnp.asarray(self.reward_table(state, next_state, params), float_dtype())
        terminated = next_state.time >= self.horizon
        terminal = jnp.where(terminated, self.terminal_reward(next_state, params), 0.0)
        return next_state, rewards, terminated, jnp.asarray(terminal, float_dtype())

    @partial(jax.jit, static_argnames=("self",))
    def step(
        self, key: jax.Array, state: PopulationState, policy: jax.Array, params: Any = None
    ) -> tuple[jax.Array, PopulationState, jax.Array, jax.Array, jax.Array, dict]:
        """``transition`` and, at the horizon, a reset (gymnax semantics).

        The pre-reset observation and state are in ``info["final_observation"]``
        and ``info["final_state"]``.
        """
        params = self.default_params if params is None else params
        key_step, key_reset = jax.random.split(key)
        obs_st, state_st, rewards, terminated, truncated, info = self.transition(
            key_step, state, policy, params
        )
        state_re = self.initial_state(key_reset, params)
        obs_re = self.public_observation(state_re, params)
        obs = select_where(terminated, obs_re, obs_st)
        next_state = select_where(terminated, state_re, state_st)
        info = {**info, "final_observation": obs_st, "final_state": state_st}
        return obs, next_state, rewards, terminated, truncated, info

    # -------------------------------------------------------------------- views
    def representative_agent(
        self, population_policy: Any = None, params: Any = None, population: int | None = None
    ) -> tuple["RepresentativeAgentEnv", "RepresentativeParams"]:
        """The single-agent view: ``(env, params)``; the population plays
        ``population_policy`` (a ``(T, S, A)`` or ``(S, A)`` table, uniform if None);
        ``population`` picks the individual's in a multi-population game."""
        env = RepresentativeAgentEnv(self, population)
        return env, env.make_params(population_policy, params)

    def n_player(self, num_agents: int, params: Any = None) -> tuple["NPlayerEnv", Any]:
        """The N-player view: ``(env, params)``."""
        return NPlayerEnv(self, num_agents), self.default_params if params is None else params


class MultiPopulationGame(MeanFieldGame):
    """``num_populations`` populations sharing ``num_cells`` cells and the actions.

    An individual never changes population, so the game is a mean-field game
    over the states ``p * num_cells + x`` (population ``p`` in cell ``x``): the
    distribution stacks the populations' distributions, each summing to 1 (the
    whole sums to ``num_populations``), a policy table stacks their tables, and
    ``reward_table`` sees every population's distribution (:meth:`by_population`).
    Everything exact on :class:`MeanFieldGame` (pushforward, values, best
    responses) then runs for every population at once; summed over states,
    exploitability is the sum over populations (OpenSpiel's ``NashConv``), and
    ``omnigym.agents.mean_field.exact.exploitability_by_population`` splits it.
    Subclasses set ``num_populations`` and ``num_cells`` (``num_states`` follows).
    """

    num_populations: int
    num_cells: int

    @property
    def num_states(self) -> int:
        return self.num_populations * self.num_cells

    def by_population(self, values: jax.Array) -> jax.Array:
        """A per-state array ``(K * C, ...)`` as ``(K, C, ...)``."""
        return values.reshape(self.num_populations, self.num_cells, *values.shape[1:])


def pushforward(
    distribution: jax.Array, policy: jax.Array, kernel: tuple[jax.Array, jax.Array]
) -> jax.Array:
    """``mu'[s'] = sum_{s,a,k} mu[s] pi[s,a] p_k(s,a)`` over the kernel's atoms."""
    next_index, prob = kernel
    mass = distribution[:, None, None] * policy[:, :, None] * prob
    return jnp.zeros_like(distribution).at[next_index].add(mass)


def uniform_policy(game: MeanFieldGame) -> jax.Array:
    """The uniform policy table, ``(T, S, A)``."""
    shape = (game.horizon, game.num_states, game.num_actions)
    return jnp.full(shape, 1.0 / game.num_actions, jnp.float32)


def time_indexed_policy(game: MeanFieldGame, policy: Any) -> jax.Array:
    """A ``(T, S, A)`` policy table from ``None`` (uniform), ``(S, A)`` or ``(T, S, A)``."""
    if policy is None:
        return uniform_policy(game)
    policy = jnp.asarray(policy, jnp.float32)
    if policy.shape == (game.num_states, game.num_actions):
        policy = jnp.broadcast_to(policy, (game.horizon, *policy.shape))
    expected = (game.horizon, game.num_states, game.num_actions)
    if policy.shape != expected:
        raise ValueError(
            f"{game.name}: expected a population policy of shape {expected} "
            f"(time x states x actions) or {expected[1:]}, got {policy.shape}."
        )
    if is_concrete(policy):
        sums = np.asarray(policy.sum(-1))
        if not np.all(np.isfinite(sums)) or np.any(np.abs(sums - 1) > 1e-4):
            raise ValueError(f"{game.name}: every policy row must sum to 1.")
    return policy


def individual_observation(
    game: MeanFieldGame, individual: jax.Array, population: PopulationState, params: Any
) -> jax.Array:
    """What one individual sees: its state's features, the public obs, and t/T."""
    features = game.state_features(params)[individual]
    public = game.public_observation(population, params)
    clock = jnp.asarray(population.time, jnp.float32)[None] / game.horizon
    return jnp.concatenate([features, public, clock]).astype(jnp.float32)


def individual_observation_space(game: MeanFieldGame, params: Any) -> spaces.Box:
    """The space of :func:`individual_observation`."""
    size = int(game.state_features(params).shape[1])
    size += int(game.observation_space(params).shape[0]) + 1
    low, high = game.observation_bounds
    return spaces.Box(min(low, 0.0), max(high, 1.0), (size,), jnp.float32)


def sample_successor(
    key: jax.Array, kernel: tuple[jax.Array, jax.Array], individual: jax.Array, action: jax.Array
) -> jax.Array:
    """Draw one individual's next state from the kernel ``game.successors(...)``."""
    next_index, prob = kernel
    atom = jax.random.categorical(key, jnp.log(prob[individual, action]))
    return next_index[individual, action, atom].astype(jnp.int32)


def state_populations(game: MeanFieldGame) -> np.ndarray:
    """``(S,)``: the population of each individual state (all 0 with one population)."""
    cells = getattr(game, "num_cells", game.num_states)
    return np.arange(game.num_states) // cells


def start_logits(game: MeanFieldGame, distribution: jax.Array, population: Any) -> jax.Array:
    """Logits of an individual's start state: ``distribution`` within ``population``'s
    states (``None``: every state, so a population in proportion to its mass)."""
    logits = jnp.log(distribution)
    if population is None:
        return logits
    inside = jnp.asarray(state_populations(game)) == population
    return jnp.where(inside, logits, -jnp.inf)


# ---------------------------------------------------------------------------
# The representative-agent view
# ---------------------------------------------------------------------------
@struct.dataclass
class RepresentativeParams:
    """The game's params and the policy the rest of the population plays."""

    game: Any
    population_policy: jax.Array  # (T, S, A)
    max_steps_in_episode: int = struct.field(pytree_node=False, default=0)


@struct.dataclass
class RepresentativeState:
    individual: jax.Array  # int32 state index
    population: PopulationState  # its ``time`` is the episode's clock


class RepresentativeAgentEnv(Environment[RepresentativeState, RepresentativeParams]):
    """One individual against a population that plays ``population_policy``.

    The population moves by the exact pushforward, the individual by a draw
    from the same kernel. The observation is the individual's state features,
    the public observation and ``t/T``; the reward is ``r_t[s, a]`` (plus the
    terminal reward on the last step). The episode terminates at ``T``. In a
    :class:`MultiPopulationGame` the individual belongs to ``population``
    (``None``: a population drawn uniformly at each reset).
    """

    def __init__(self, game: MeanFieldGame, population: int | None = None):
        k = getattr(game, "num_populations", 1)
        if population is not None and not 0 <= population < k:
            raise ValueError(f"population: expected one of 0..{k - 1}, got {population}.")
        self.game, self.population = game, population
        self.config = (game, population)

    @property
    def name(self) -> str:
        suffix = "" if self.population is None else f"-Population{self.population}"
        return f"{self.game.name}-RepresentativeAgent{suffix}"

    @property
    def num_actions(self) -> int:
        return self.game.num_actions

    def make_params(self, population_policy: Any = None, game_params: Any = None):
        game_params = self.game.default_params if game_params is None else game_params
        self.game.check_params(game_params)
        return RepresentativeParams(
            game=game_params,
            population_policy=time_indexed_policy(self.game, population_policy),
            max_steps_in_episode=self.game.horizon,
        )

    @property
    def default_params(self) -> RepresentativeParams:
        return self.make_params()

    def observation_space(self, params: RepresentativeParams) -> spaces.Box:
        return individual_observation_space(self.game, params.game)

    def action_space(self, params: RepresentativeParams) -> spaces.Discrete:
        return spaces.Discrete(self.game.num_actions)

    def reset_env(self, key: jax.Array, params: RepresentativeParams):
        key_pop, key_ind = jax.random.split(key)
        population = self.game.initial_state(key_pop, params.game)
        logits = start_logits(self.game, population.distribution, self.population)
        individual = jax.random.categorical(key_ind, logits)
        state = RepresentativeState(individual.astype(jnp.int32), population)
        return individual_observation(self.game, state.individual, population, params.game), state

    def step_env(self, key: jax.Array, state: RepresentativeState, action: jax.Array, params):
        key_pop, key_ind = jax.random.split(key)
        game, population = self.game, state.population
        policy = params.population_policy[jnp.minimum(population.time, game.horizon - 1)]
        kernel = game.successors(population, params.game)
        individual = sample_successor(key_ind, kernel, state.individual, action)
        next_distribution = pushforward(population.distribution, policy, kernel)
        next_population, rewards, terminated, terminal = game.advance(
            key_pop, population, next_distribution, params.game
        )
        reward = rewards[state.individual, action] + terminal[individual]
        next_state = RepresentativeState(individual, next_population)
        obs = individual_observation(game, individual, next_population, params.game)
        return obs, next_state, reward, terminated, {}

    def is_terminal(self, state: RepresentativeState, params) -> jax.Array:
        return state.population.time >= self.game.horizon

    def is_truncated(self, state: RepresentativeState, params) -> jax.Array:
        return jnp.bool_(False)


# ---------------------------------------------------------------------------
# The N-player view
# ---------------------------------------------------------------------------
@struct.dataclass
class NPlayerState:
    individuals: jax.Array  # (N,) int32
    population: PopulationState  # distribution = the empirical histogram


class NPlayerEnv(MultiAgentEnvironment[NPlayerState, Any]):
    """N sampled individuals; their empirical distribution stands in for ``mu``.

    Each agent's action moves it by a draw from the game's kernel, evaluated
    at the empirical distribution; rewards come from the game's reward table
    at the empirical distributions before and after the step. As ``N`` grows
    the empirical distribution converges to the exact pushforward. In a
    :class:`MultiPopulationGame` agent ``i`` belongs to population ``i % K``
    and each population's histogram is over its own ``N / K`` agents.
    """

    def __init__(self, game: MeanFieldGame, num_agents: int):
        if num_agents < 1:
            raise ValueError(f"num_agents: expected at least 1, got {num_agents}.")
        k = getattr(game, "num_populations", 1)
        if num_agents % k:
            raise ValueError(
                f"num_agents: {game.name} has {k} populations; expected a multiple of {k} "
                f"(the same number of agents in each), got {num_agents}."
            )
        self.game = game
        self.num_agents = int(num_agents)
        self.populations = np.arange(self.num_agents) % k
        self.agents = tuple(f"agent_{i}" for i in range(self.num_agents))
        self.config = (game, self.num_agents)

    @property
    def name(self) -> str:
        return f"{self.game.name}-{self.num_agents}Player"

    @property
    def default_params(self) -> Any:
        return self.game.default_params

    def observation_space(self, agent: str, params: Any) -> spaces.Box:
        return individual_observation_space(self.game, params)

    def action_space(self, agent: str, params: Any) -> spaces.Discrete:
        return spaces.Discrete(self.game.num_actions)

    def histogram(self, individuals: jax.Array) -> jax.Array:
        counts = jnp.zeros(self.game.num_states, jnp.float32).at[individuals].add(1.0)
        return counts * getattr(self.game, "num_populations", 1) / self.num_agents

    def _observations(self, state: NPlayerState, params: Any) -> dict[str, jax.Array]:
        obs = jax.vmap(lambda s: individual_observation(self.game, s, state.population, params))(
            state.individuals
        )
        return self.unstack(obs)

    def reset_env(self, key: jax.Array, params: Any):
        key_pop, key_ind = jax.random.split(key)
        population = self.game.initial_state(key_pop, params)
        logits = jax.vmap(lambda p: start_logits(self.game, population.distribution, p))(
            jnp.asarray(self.populations)
        )
        individuals = jax.random.categorical(key_ind, logits).astype(jnp.int32)
        population = population.replace(distribution=self.histogram(individuals))
        state = NPlayerState(individuals, population)
        return self._observations(state, params), state

    def step_env(self, key: jax.Array, state: NPlayerState, actions: jax.Array, params: Any):
        game = self.game
        key_noise, key_move = jax.random.split(key)
        keys = jax.random.split(key_move, self.num_agents)
        kernel = game.successors(state.population, params)
        individuals = jax.vmap(lambda k, s, a: sample_successor(k, kernel, s, a))(
            keys, state.individuals, actions
        )
        population, table, terminated, terminal = game.advance(
            key_noise, state.population, self.histogram(individuals), params
        )
        rewards = table[state.individuals, actions] + terminal[individuals]
        next_state = NPlayerState(individuals, population)
        dones = jnp.broadcast_to(terminated, (self.num_agents,))
        return self._observations(next_state, params), next_state, rewards, dones, {}
