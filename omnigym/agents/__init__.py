"""The reference learners, one package per family over one shared library (``lib``).

``LEARNERS`` names every learner for the CLI, the runner and checkpoints; an
entry holds import strings only, so nothing loads (and jax is not imported)
until a learner is used. Every learner module follows one contract:

* a frozen config dataclass derived from :class:`~omnigym.agents.lib.config.LearnerConfig`
  (``env_id``, ``env_kwargs``; its budget is ``config.num_updates``);
* ``make_train(config, log=None) -> train`` with
  ``train(key, state=None, num_updates=None) -> (RunState, metrics)``, where
  the run state is the whole learner state (resumable, checkpointable);
* ``make_policy(config, state)``, what acts once trained (its form is the family's);
* optionally ``evaluate(config, state, seed=0) -> dict`` for run summaries,
  and ``JITTABLE = False`` where ``train`` drives a host env (HBS on NetHack).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from omnigym.agents.lib.config import with_fields

GOAL_DISCRETE_ENVS = ("GridWorld-GC-v0", "Craftax-Classic-GC-v0", "Craftax-GC-v0")
MEAN_FIELD_ENVS = ("MFG-Crowd-v0", "MFG-BeachBar-v0", "MFG-LinearQuadratic-v0", "MFG-Macro-v0")


@dataclass(frozen=True)
class Entry:
    """Where a learner lives and what it fits."""

    module: str  #: import path under ``omnigym.agents``
    config: str  #: its config class
    family: str
    envs: tuple[str, ...]  #: the env ids it trains on (the first is its default)
    preset: dict = field(default_factory=dict)  #: fields that make this learner of the module
    cpu: dict = field(default_factory=dict)  #: a laptop-sized setting (``--preset cpu``)
    #: fields the paper preset adds on Craftax ids (the reference's Craftax network)
    craftax: dict = field(default_factory=dict)


_SMALL_NET = {"hidden_sizes": (256, 256), "lr": 1e-3, "torso": "mlp"}
_SMALL_Q = {**_SMALL_NET, "minibatch_size": 256, "num_epochs": 2, "eps_decay": 0.5}
_SMALL_PPO = {**_SMALL_NET, "lr": 3e-4, "minibatch_size": 512, "num_epochs": 4, "ent_coef": 0.01}
#: 64 envs x 16 steps per update, 1M env steps, a 4 x 256-step greedy evaluation of every goal.
_SMALL_RUN = {
    "num_envs": 64, "num_steps": 16, "total_timesteps": 1_000_000,
    "eval_repeats": 4, "eval_steps": 256,
}


#: The reference's Craftax networks see the one-hot dict observation.
_ONEHOT = {"env_kwargs": {"observation_type": "onehot"}}
#: The CPU setting keeps the flat symbolic observation and dense layers.
_FLAT = {"env_kwargs": {}}


#: The reference's PPO network on Craftax: conv embedding of 1024, actor 2 and critic 4
#: layers of 1024, no normalisation.
_PPO_CONV = {"torso": "conv", "hidden_sizes": (1024,), "input_norm": False, "layer_norm": False}


def _goal(module: str, config: str, preset: dict, cpu: dict, craftax: dict) -> Entry:
    return Entry(f"goal_discrete.{module}", config, "goal_discrete", GOAL_DISCRETE_ENVS,
                 preset, {**_SMALL_RUN, **_FLAT, **cpu}, {**_ONEHOT, **craftax})


def _mean_field(module: str, config: str, preset: dict | None = None,
                envs: tuple[str, ...] = MEAN_FIELD_ENVS) -> Entry:
    return Entry(f"mean_field.{module}", config, "mean_field", envs, preset or {})


#: Structural policy gradients are built for common noise: the linear-quadratic game first.
_STRUCTURAL_ENVS = ("MFG-LinearQuadratic-v0", "MFG-BeachBar-v0", "MFG-Crowd-v0", "MFG-Macro-v0")


def _offline(preset: dict | None = None, module: str = "relativised_options",
             config: str = "RelativisedOptionsConfig") -> Entry:
    small = {"hidden_sizes": (128, 128, 128), "num_updates": 20_000}
    return Entry(f"offline.{module}", config, "offline", ("PointMaze-GC-v0",), preset or {}, small)


#: The DEGen repository's student (``minigrid/config/main_*.yaml``): 256 envs x 512 steps
#: per level, 30k updates, 4 epochs x 4 minibatches, clip 0.04, lr 5e-4 annealed
#: (DR, PLR, ACCEL; 2.4e-4 for DEGen), its PLR buffer of 8000 levels, its conv + LSTM(256)
#: student (and generator, for DEGen).
_UED_PAPER = {
    "network": "lstm", "num_envs": 256, "num_steps": 512, "total_timesteps": 256 * 512 * 30_000,
    "minibatch_size": 256 * 512 // 4, "num_epochs": 4, "lr": 5e-4, "anneal_lr": True,
    "max_grad_norm": 0.5, "clip_eps": 0.04, "ent_coef": 1e-3, "gamma": 0.995, "gae_lambda": 0.95,
}
#: The CPU setting (the configs' own defaults): a feed-forward student, 32 envs x 256 steps,
#: 1M steps, lr 3e-4, clip 0.2.
_UED_CPU = {
    "network": "mlp", "num_envs": 32, "num_steps": 256, "total_timesteps": 1_000_000, "minibatch_size": 2048,
    "num_epochs": 4, "lr": 3e-4, "anneal_lr": False, "clip_eps": 0.2,
}


def _ued(module: str, config: str, preset: dict | None = None) -> Entry:
    paper = {**_UED_PAPER, **({"buffer.capacity": 8000} if module == "plr" else {})}
    cpu = {**_UED_CPU, **({"buffer.capacity": 4000} if module == "plr" else {})}
    if module == "degen":
        paper.update(lr=2.4e-4, generator_network="lstm")
        cpu["generator_network"] = "mlp"
    return Entry(f"ued.{module}", config, "ued", ("UED-Maze-v0",), {**paper, **(preset or {})}, cpu)


LEARNERS: dict[str, Entry] = {
    "leo": _goal("leo", "LEOConfig", {}, _SMALL_Q, {"torso": "conv"}),
    "pqn": _goal("pqn", "PQNConfig", {}, _SMALL_Q, {"torso": "conv", "conv_features": 16}),
    "pqn_her": _goal("pqn", "PQNConfig", {"her_mode": "mixed", "her_random_proportion": 0.75,
                                          "minibatch_size": 2048, "lr": 1e-4}, _SMALL_Q,
                     {"torso": "conv", "conv_features": 16}),
    "ppo": _goal("ppo", "PPOConfig", {}, _SMALL_PPO, _PPO_CONV),
    "dual_leo_ppo": _goal("dual_leo_ppo", "DualLEOPPOConfig", {}, {
        "bc_coef": 0.5,
        **{f"ppo.{k}": v for k, v in _SMALL_PPO.items()},
        **{f"leo.{k}": v for k, v in _SMALL_Q.items()},
    }, {**{f"ppo.{k}": v for k, v in _PPO_CONV.items()}, "leo.torso": "conv",
        "leo.conv_features": 16}),
    "dual_leo_pqn": _goal("dual_leo_pqn", "DualLEOPQNConfig", {}, {
        **{f"uvfa.{k}": v for k, v in _SMALL_Q.items()},
        **{f"leo.{k}": v for k, v in _SMALL_Q.items()},
    }, {"uvfa.torso": "conv", "leo.torso": "conv"}),
    "leo_dpg": Entry("goal_continuous.leo_dpg", "TD3Config", "goal_continuous",
                     ("Brax-Reacher-GC-v0",)),
    "td3_her": Entry("goal_continuous.td3_her", "TD3HERConfig", "goal_continuous",
                     ("Brax-Reacher-GC-v0",)),
    "td3": Entry("goal_continuous.td3_her", "TD3HERConfig", "goal_continuous",
                 ("Brax-Reacher-GC-v0",), {"her_ratio": 0.0}),
    "gciql": _offline(module="gciql", config="GCIQLConfig"),
    "hiql": _offline(module="hiql", config="HIQLConfig"),
    "options": _offline(),
    "options_relative": _offline({"relative": True}),
    "dr": _ued("dr", "UEDConfig"),
    "plr": _ued("plr", "PLRConfig"),
    "accel": _ued("plr", "PLRConfig", {"mutate": True}),
    "degen": _ued("degen", "DEGenConfig"),
    "fictitious_play": _mean_field("fictitious_play", "FictitiousPlayConfig"),
    "mirror_descent": _mean_field("mirror_descent", "MirrorDescentConfig"),
    "spg": _mean_field("structural_pg", "StructuralPGConfig", {"recurrent": False},
                       _STRUCTURAL_ENVS),
    "rspg": _mean_field("structural_pg", "StructuralPGConfig", envs=_STRUCTURAL_ENVS),
    "hbs": Entry("hbs.hbs", "HBSConfig", "hbs", ("NetHack-HBS-v0",)),
    "nethack_ppo": Entry("hbs.hbs", "HBSConfig", "hbs", ("NetHack-HBS-Low-v0",),
                         {"env_id": "NetHack-HBS-Low-v0", "hierarchical": False}),
    "pdnca": Entry("nca.pdnca", "PDNCAConfig", "nca", ("PDNCA-v0",)),
    "pbt_nca": Entry("nca.pbt_nca", "PBTConfig", "nca", ("PDNCA-v0",)),
}


def entry(learner: str) -> Entry:
    if learner not in LEARNERS:
        raise ValueError(f"unknown learner {learner!r}; known: {sorted(LEARNERS)}.")
    return LEARNERS[learner]


def learner_module(learner: str) -> ModuleType:
    """The module that implements ``learner`` (``make_train``, ``make_policy``)."""
    return importlib.import_module(f"omnigym.agents.{entry(learner).module}")


def config_class(learner: str) -> type:
    return getattr(learner_module(learner), entry(learner).config)


def default_config(learner: str, **overrides: Any) -> Any:
    """The paper-scale config of ``learner`` with ``overrides`` (dotted keys too) applied.

    On Craftax ids the goal learners' paper preset is the reference's Craftax
    network on the one-hot observation (``Entry.craftax``)."""
    config = config_class(learner)()
    found = entry(learner)
    env_id = overrides.get("env_id", getattr(config, "env_id", ""))
    craftax = found.craftax if str(env_id).startswith("Craftax") else {}
    return with_fields(config, {**found.preset, **craftax, **overrides})


def cpu_config(learner: str, env_id: str | None = None, **overrides: Any) -> Any:
    """A small setting of ``learner`` that runs on a laptop CPU."""
    config = default_config(learner, **entry(learner).cpu)
    if env_id is not None:
        config = with_fields(config, {"env_id": env_id})
    return with_fields(config, overrides)
