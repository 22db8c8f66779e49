"""PBT-NCA: evolve a population of PD-NCA dishes towards novelty and diversity.

Every generation each of ``population_size`` dishes runs ``world_horizon``
epochs of online PD-NCA learning (``omnigym.agents.nca.pdnca``), all under one
``vmap``, and is scored (Berdica, Foerster, Hutter & Zela, 2026)::

    fitness = novelty + visual diversity - collapse_penalty * collapsed

* **Novelty** (historical): the mean distance from the dish's behaviour
  descriptor to its ``novelty_k`` nearest neighbours in a FIFO archive of past
  elites (0 while the archive is empty). The descriptor summarises the
  aliveness trajectory: per-entity mean, std and turnover of territory share,
  the normalised entropy of who wins each cell, and the mean change of
  aliveness; L2-normalised. The ``archive_top_m`` fittest join the archive.
* **Visual diversity** (contemporary): at every frame, each dish's median
  cosine distance to the other dishes' frames in embedding space, averaged
  over frames. The embedding needs no downloaded model (the reference uses
  DINOv2): a frozen random two-layer conv net (fixed seed) on the
  territory picture, pooled to means and standard deviations, plus a 4x4
  colour layout, L2-normalised. Random conv features are a known cheap
  stand-in for texture and layout statistics; they are not semantic.
* **Collapse**: a dish in which no species holds at least ``presence_mass``
  cells of aliveness is *dead*, one with exactly one is a *monoculture*, and
  one whose aliveness changes by less than ``frozen_change`` per cell and
  step (mean over the generation) is *frozen*: a static pattern or a
  structureless uniform mix, the "frozen equilibria" of the paper's
  abstract. All three are detected and reported every generation;
  ``collapse_penalty`` (default 0, like the public code, which penalises
  collapse only implicitly through low novelty) subtracts from the fitness
  of any collapsed dish. Without it, selection can favour collapse: a
  uniform or dead picture is far from the others in embedding space, so it
  scores high visual diversity (``benchmarks/bench_pbt_nca.py`` shows it).

Every ``exploit_interval`` generations the worst ``replace_fraction`` dishes
become Lamarckian copies (dish, networks, optimiser state, hyperparameters)
of parents drawn uniformly from the rest; then each hyperparameter keeps the
child's own old value with probability ``crossover_probability`` and is
multiplied by 0.8 or 1.2 with probability ``mutation_probability``, clipped
to its bounds.

Evolved hyperparameters: the learning rate, the second softmax's temperature
and the alive threshold. The public code evolves the learning rate, batch
size and the two step counts; those change compiled shapes here, so they
stay static (``NCAConfig``), while the paper's config also mutates the
threshold. Initial values are drawn from the priors (log-uniform learning
rate and temperature, uniform threshold).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from omnigym.agents.lib.config import LearnerConfig
from omnigym.agents.lib.loop import RunState, Train, make_loop
from omnigym.agents.nca.pdnca import Dish, DishState, PDNCAConfig, make_dish
from omnigym.core import sharding
from omnigym.envs.pdnca import territory, territory_rgb

#: (name, lower bound, upper bound, log scale) of every evolved hyperparameter.
SEARCH_SPACE = (
    ("learning_rate", 1e-5, 1e-1, True),
    ("softmax_temperature", 0.25, 4.0, True),
    ("alive_threshold", 0.2, 0.6, False),
)
EMBEDDING_SIDE = 32


@dataclass(frozen=True)
class PBTConfig(LearnerConfig):
    """The population, its scoring and evolution; ``dish`` sets every member's
    networks and learning (its env fields are this config's)."""

    env_id: str = "PDNCA-v0"
    num_generations: int = 50
    dish: PDNCAConfig = field(default_factory=PDNCAConfig)
    population_size: int = 8
    world_horizon: int = 12
    exploit_interval: int = 5
    replace_fraction: float = 0.25
    archive_size: int = 512
    archive_top_m: int = 2
    novelty_k: int = 8
    crossover_probability: float = 0.5
    mutation_probability: float = 0.1
    presence_mass: float = 1.0
    frozen_change: float = 1e-3
    collapse_penalty: float = 0.0

    @property
    def num_updates(self) -> int:
        return self.num_generations

    def check(self) -> None:
        super().check()
        if self.population_size < 2:
            raise ValueError(f"population_size: expected at least 2 dishes, got {self.population_size}.")
        for name in ("world_horizon", "exploit_interval", "archive_size", "archive_top_m", "novelty_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected at least 1, got {getattr(self, name)}.")
        if self.archive_top_m > self.population_size:
            raise ValueError(
                f"archive_top_m ({self.archive_top_m}) exceeds population_size ({self.population_size})."
            )
        for name in ("replace_fraction", "crossover_probability", "mutation_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: expected a value in [0, 1], got {getattr(self, name)}.")
        if self.num_replaced >= self.population_size:
            raise ValueError("replace_fraction leaves no parents; expected fewer replaced dishes.")

    @property
    def num_replaced(self) -> int:
        return int(round(self.population_size * self.replace_fraction))


@struct.dataclass
class PBTState:
    members: DishState  # every leaf has a leading population axis
    archive: jax.Array  # float32[archive_size, descriptor_dim], FIFO
    archive_count: jax.Array  # int32: entries written so far
    generation: jax.Array  # int32


# ------------------------------------------------------------- descriptors
def behaviour_descriptor(alphas: jax.Array) -> jax.Array:
    """float[3E + 2]: the L2-normalised summary of an aliveness trajectory ``[T, H, W, E]``."""
    entities = alphas.shape[-1]
    shares = alphas.mean(axis=(1, 2))  # [T, E]
    turnover = jnp.abs(jnp.diff(shares, axis=0)).mean(axis=0)
    winners = jax.nn.one_hot(jnp.argmax(alphas, axis=-1), entities).mean(axis=(0, 1, 2))
    entropy = -jnp.sum(jnp.where(winners > 0, winners * jnp.log(winners), 0.0)) / jnp.log(entities)
    volatility = jnp.abs(jnp.diff(alphas, axis=0)).mean()
    descriptor = jnp.concatenate(
        [shares.mean(axis=0), shares.std(axis=0), turnover, entropy[None], volatility[None]]
    )
    return descriptor / jnp.maximum(jnp.linalg.norm(descriptor), 1e-8)


def knn_novelty(descriptor: jax.Array, archive: jax.Array, count: jax.Array, k: int) -> jax.Array:
    """Mean distance to the ``k`` nearest of the archive's ``count`` entries (0 if empty)."""
    valid = jnp.arange(archive.shape[0]) < count
    distances = jnp.where(valid, jnp.linalg.norm(archive - descriptor, axis=-1), jnp.inf)
    k = min(k, archive.shape[0])
    nearest = -jax.lax.top_k(-distances, k)[0]
    used = jnp.arange(k) < jnp.minimum(count, k)
    return jnp.sum(jnp.where(used, nearest, 0.0)) / jnp.maximum(jnp.minimum(count, k), 1)


def embedding_kernels() -> tuple[jax.Array, jax.Array]:
    """The frozen random conv kernels of :func:`visual_embedding` (fixed seed)."""
    key_1, key_2 = jax.random.split(jax.random.key(0))
    first = jax.random.normal(key_1, (3, 3, 3, 16)) / jnp.sqrt(27.0)
    second = jax.random.normal(key_2, (3, 3, 16, 32)) / jnp.sqrt(144.0)
    return first, second


def visual_embedding(rgb: jax.Array, kernels: tuple[jax.Array, jax.Array]) -> jax.Array:
    """float[112]: a model-free embedding of a picture ``[H, W, 3]`` (see module doc)."""
    image = jax.image.resize(rgb, (EMBEDDING_SIDE, EMBEDDING_SIDE, 3), "linear")
    layout = image.reshape(4, EMBEDDING_SIDE // 4, 4, EMBEDDING_SIDE // 4, 3).mean(axis=(1, 3))
    features = image[None] - 0.5
    for kernel in kernels:
        features = jax.nn.relu(
            jax.lax.conv_general_dilated(
                features, kernel, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
        )
    embedding = jnp.concatenate(
        [layout.ravel() - layout.mean(), features.mean(axis=(0, 1, 2)), features.std(axis=(0, 1, 2))]
    )
    return embedding / jnp.maximum(jnp.linalg.norm(embedding), 1e-8)


def median_cosine_distances(embeddings: jax.Array) -> jax.Array:
    """float[P]: per member, the median cosine distance to the others, averaged over frames.

    ``embeddings`` is ``[P, T, D]`` (unit vectors).
    """
    population = embeddings.shape[0]
    distances = 1.0 - jnp.einsum("ptd,qtd->tpq", embeddings, embeddings)
    others = jnp.where(jnp.eye(population, dtype=bool), jnp.nan, distances)
    return jnp.nanmedian(others, axis=-1).mean(axis=0)


# ------------------------------------------------------- hyperparameters
def genes(members: DishState) -> jax.Array:
    """float[P, 3]: the evolved hyperparameters (``SEARCH_SPACE`` order)."""
    hypers = members.hypers
    return jnp.stack(
        [hypers.learning_rate[:, 0], hypers.env.softmax_temperature, hypers.env.alive_threshold],
        axis=-1,
    )


def with_genes(members: DishState, values: jax.Array) -> DishState:
    hypers = members.hypers
    rate = jnp.broadcast_to(values[:, :1], hypers.learning_rate.shape)
    env = hypers.env.replace(softmax_temperature=values[:, 1], alive_threshold=values[:, 2])
    return members.replace(hypers=hypers.replace(learning_rate=rate, env=env))


def sample_genes(key: jax.Array, population: int) -> jax.Array:
    """float[P, 3] drawn from the priors (log-uniform where the scale is log)."""
    columns = []
    for key_gene, (_, low, high, log) in zip(jax.random.split(key, len(SEARCH_SPACE)), SEARCH_SPACE):
        if log:
            u = jax.random.uniform(key_gene, (population,), minval=np.log(low), maxval=np.log(high))
            columns.append(jnp.exp(u))
        else:
            columns.append(jax.random.uniform(key_gene, (population,), minval=low, maxval=high))
    return jnp.stack(columns, axis=-1)


def clip_genes(values: jax.Array) -> jax.Array:
    low = jnp.asarray([s[1] for s in SEARCH_SPACE])
    high = jnp.asarray([s[2] for s in SEARCH_SPACE])
    return jnp.clip(values, low, high)


class Population:
    """Population-based training of PD-NCA dishes (see module doc)."""

    def __init__(self, dish: Dish, config: PBTConfig = PBTConfig()):
        config.check()
        self.dish = dish
        self.config = config
        self.descriptor_dim = 3 * dish.layout.num_entities + 2

    @partial(jax.jit, static_argnums=0)
    def init(self, key: jax.Array) -> PBTState:
        population = self.config.population_size
        key_genes, key_members = jax.random.split(key)
        base = self.dish.hyperparameters()
        members = jax.vmap(lambda k: self.dish.init(k, base))(
            jax.random.split(key_members, population)
        )
        members = with_genes(members, sample_genes(key_genes, population))
        archive = jnp.zeros((self.config.archive_size, self.descriptor_dim), jnp.float32)
        return PBTState(members, archive, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))

    # ------------------------------------------------------------ scoring
    def rollout(self, members: DishState) -> tuple[DishState, jax.Array]:
        """Every dish runs ``world_horizon`` epochs; returns alpha ``[P, T, H, W, E]``.
        Under an ambient mesh the dishes are split over its devices."""
        members = sharding.constrain_envs(members, what="population_size")

        def one(member):
            member, metrics = jax.lax.scan(
                self.dish.epoch, member, None, length=self.config.world_horizon
            )
            alphas = metrics["alpha"]
            return member, alphas.reshape(-1, *alphas.shape[2:])

        return jax.vmap(one)(members)

    def score(self, state: PBTState, alphas: jax.Array, members: DishState) -> dict:
        config = self.config
        descriptors = jax.vmap(behaviour_descriptor)(alphas)
        novelty = jax.vmap(lambda d: knn_novelty(d, state.archive, state.archive_count, config.novelty_k))(
            descriptors
        )
        kernels = embedding_kernels()
        embed = jax.vmap(jax.vmap(lambda a: visual_embedding(territory_rgb(a), kernels)))
        diversity = median_cosine_distances(embed(alphas))
        masses = jax.vmap(lambda w: territory(w.cells, self.dish.layout.num_species))(members.world)
        present = (masses >= config.presence_mass).sum(axis=-1)
        change = jnp.abs(jnp.diff(alphas, axis=1)).mean(axis=(1, 2, 3, 4))
        frozen = change < config.frozen_change
        collapsed = (present <= 1) | frozen
        fitness = novelty + diversity - config.collapse_penalty * collapsed
        return {
            "fitness": fitness,
            "novelty": novelty,
            "diversity": diversity,
            "descriptors": descriptors,
            "species_present": present,
            "dead": present == 0,
            "monoculture": present == 1,
            "frozen": frozen,
            "change": change,
            "territory": masses,
        }

    def add_to_archive(self, state: PBTState, descriptors: jax.Array, fitness: jax.Array) -> PBTState:
        top = jnp.argsort(-fitness)[: self.config.archive_top_m]
        slots = (state.archive_count + jnp.arange(top.shape[0])) % self.config.archive_size
        return state.replace(
            archive=state.archive.at[slots].set(descriptors[top]),
            archive_count=state.archive_count + top.shape[0],
        )

    # ---------------------------------------------------- exploit, explore
    def exploit_explore(self, key: jax.Array, members: DishState, fitness: jax.Array):
        """Bottom dishes become mutated Lamarckian copies of top ones; returns (members, source)."""
        config = self.config
        population, replaced = config.population_size, config.num_replaced
        key_parent, key_cross, key_mutate, key_factor = jax.random.split(key, 4)
        order = jnp.argsort(-fitness)
        parents = order[jax.random.randint(key_parent, (replaced,), 0, population - replaced)]
        source = jnp.arange(population).at[order[population - replaced :]].set(parents)
        is_child = source != jnp.arange(population)
        own = genes(members)
        children = jax.tree.map(lambda x: x[source], members)
        values = genes(children)
        shape = values.shape
        keep_own = jax.random.bernoulli(key_cross, config.crossover_probability, shape)
        values = jnp.where(keep_own, own, values)
        mutate = jax.random.bernoulli(key_mutate, config.mutation_probability, shape)
        factor = jnp.where(jax.random.bernoulli(key_factor, 0.5, shape), 1.2, 0.8)
        values = clip_genes(jnp.where(mutate, values * factor, values))
        values = jnp.where(is_child[:, None], values, own)
        return with_genes(children, values), source

    @partial(jax.jit, static_argnums=0)
    def generation(self, state: PBTState, key: jax.Array) -> tuple[PBTState, dict]:
        """Roll out, score, archive and (every ``exploit_interval``) exploit and explore."""
        members, alphas = self.rollout(state.members)
        metrics = self.score(state, alphas, members)
        metrics["genes"] = genes(members)
        state = self.add_to_archive(state, metrics.pop("descriptors"), metrics["fitness"])
        exploit = (state.generation + 1) % self.config.exploit_interval == 0
        identity = jnp.arange(self.config.population_size)
        members, source = jax.lax.cond(
            exploit,
            lambda m: self.exploit_explore(key, m, metrics["fitness"]),
            lambda m: (m, identity),
            members,
        )
        metrics["source"] = source
        return state.replace(members=members, generation=state.generation + 1), metrics


def make_population(config: PBTConfig) -> Population:
    dish_config = dataclasses.replace(config.dish, env_id=config.env_id, env_kwargs=config.env_kwargs)
    dish, _ = make_dish(dish_config)
    return Population(dish, config)


def make_train(config: PBTConfig, log: Callable[[dict], None] | None = None) -> Train[PBTState]:
    """The contract's ``train``: ``num_generations`` generations, one per update.

    Metrics per generation (per member where shaped ``[P]``): ``fitness``,
    ``novelty``, ``diversity``, ``species_present``, ``dead``, ``monoculture``,
    ``frozen``, ``change``, ``territory``, ``genes``, ``source``.
    """
    population = make_population(config)
    return make_loop(
        population.init, lambda state, index, key: population.generation(state, key),
        config.num_updates, log,
    )


def make_policy(config: PBTConfig, state: RunState[PBTState]) -> Callable:
    """``propose(cells) -> float[N, H, W, D]`` of the population's first member's species."""
    population = make_population(config)
    member = jax.tree.map(lambda x: x[0], state.learner.members)
    return lambda cells: population.dish.proposals(member.params, cells)
