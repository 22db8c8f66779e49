"""RSPG against MFAX's own: the same initial weights through both training loops.

MFAX (CWibault/mfax) is not a PyPI package: pass its checkout with ``--mfax``
(it needs ``distrax``, ``tyro`` and ``wandb`` importable; on Python 3.11 its
dataclass fields with array defaults must be wrapped in ``default_factory``).
On MFAX's linear-quadratic setting (99 index states, common noise, discount
0.99, 8 paths, lr 1e-3 annealed to 1e-4, clip 1.0, 500 iterations), for each
seed it trains four runs:

* MFAX's ``rspg.py`` train step from MFAX's initial weights (its seed), and
  omnigym's ``rspg`` learner from those same weights;
* MFAX's train step from omnigym's initial weights (``rspg`` seed), and
  omnigym's learner from its own (the plain ``omnigym train rspg`` run).

Every final policy is scored by omnigym's exploitability on 16 fixed paths;
MFAX's own exploitability of its run is recorded beside it.

    python benchmarks/bench_rspg_mfax.py --mfax /path/to/mfax --seeds 0 1 2 3 4 5

Writes ``benchmarks/results/rspg_vs_mfax_<backend>.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training.train_state import TrainState

from omnigym import benchmarking
from omnigym.agents.mean_field import structural_pg
from omnigym.agents.mean_field.training import MeanFieldState, make_game, policy_scores

SETTING = {"states": 99, "paths": 8, "gamma": 0.99, "lr": 1e-3, "final_lr": 1e-4, "clip": 1.0,
           "hidden": 128}


def to_omnigym(weights: dict) -> dict:
    """MFAX's RecurrentMeanFieldPolicy weights as omnigym's MFAXPolicy weights."""
    encoder, policy = weights["encoder"], weights["policy"]
    return {"params": {
        "memory": encoder["GRUCell_0"], "Dense_0": encoder["Dense_0"],
        "Embed_0": policy["state_embedding"], "Dense_1": policy["obs_embedding"],
        "Dense_2": policy["features"]["Dense_0"], "Dense_3": policy["features"]["Dense_1"],
        "Dense_4": policy["action_logits"],
    }}


def to_mfax(weights: dict) -> dict:
    """The inverse of :func:`to_omnigym`."""
    p = weights["params"]
    return {
        "encoder": {"GRUCell_0": p["memory"], "Dense_0": p["Dense_0"]},
        "policy": {"state_embedding": p["Embed_0"], "obs_embedding": p["Dense_1"],
                   "features": {"Dense_0": p["Dense_2"], "Dense_1": p["Dense_3"]},
                   "action_logits": p["Dense_4"]},
    }


def optimizer(iterations: int) -> optax.GradientTransformation:
    """Both loops' optimiser: clip, then Adam with the rate falling linearly to a tenth."""
    rate = optax.linear_schedule(SETTING["lr"], SETTING["final_lr"], iterations)
    return optax.chain(optax.clip_by_global_norm(SETTING["clip"]), optax.adam(rate, eps=1e-8))


class MFAX:
    """MFAX's linear-quadratic env, policy and RSPG train step, set up as its ``rspg.py`` does."""

    def __init__(self, iterations: int):
        from mfax.algos.hsm.algos import rspg
        from mfax.algos.hsm.exploitability import make_exploitability
        from mfax.algos.hsm.utils.make_act import MFRecurrentActorWrapper
        from mfax.algos.hsm.utils.mf_policy_wrappers import RecurrentMeanFieldPolicy
        from mfax.envs import make_env

        self.rspg, self.iterations = rspg, iterations
        self.exploitability_of, self.wrapper = make_exploitability, MFRecurrentActorWrapper
        self.env = make_env("pushforward/linear_quadratic", common_noise=True)
        width = SETTING["hidden"]
        self.net = RecurrentMeanFieldPolicy(
            state_type="indices", num_states=self.env.n_states,
            encoder_kwargs={"hidden_size": width, "embed_size": width, "activation": "relu"},
            policy_kwargs={"n_actions": self.env.n_actions, "hidden_layer_sizes": (width,) * 3,
                           "activation": "relu", "state_type": "indices",
                           "num_states": self.env.n_states},
        )
        self.states = jnp.arange(self.env.n_states)

    def init(self, seed: int) -> tuple[dict, jax.Array]:
        """MFAX's initial weights and training key for ``seed`` (``rspg.py``'s draws)."""
        key, key_weights, key_action = jax.random.split(jax.random.PRNGKey(seed), 3)
        paths = SETTING["paths"]
        weights = self.net.init(
            key_weights, self.states, self.env.normalize_obs(jnp.ones((paths, self.env.obs_dim)), True),
            self.net.init_hidden(paths, SETTING["hidden"]), jnp.zeros(paths, bool), key_action,
        )
        return weights, key

    def train(self, seed: int, weights: dict, key: jax.Array) -> dict:
        args = self.rspg.args(
            task="linear_quadratic", state_type="indices", discount_factor=SETTING["gamma"],
            normalize_obs=True, normalize_states=False, common_noise=True, seed=seed,
            num_envs=SETTING["paths"], num_iterations=self.iterations, lr=SETTING["lr"],
            anneal_lr=True, max_grad_norm=SETTING["clip"], activation="relu", log=False,
            save=False,
        )
        step = jax.jit(self.rspg.make_train_step(args, self.env, self.net, self.states))
        state = TrainState.create(apply_fn=(), params=weights, tx=optimizer(self.iterations))
        (state, _), _ = jax.lax.scan(step, (state, key), None, self.iterations)
        return jax.block_until_ready(state.params)

    def exploitability(self, weights: dict) -> float:
        agent = self.wrapper(self.net, weights, self.env.normalize_obs, True,
                             self.env.normalize_individual_s, False)
        measure = self.exploitability_of(
            env=self.env, agent=agent, state_type="indices", gamma=SETTING["gamma"],
            num_envs=SETTING["paths"], max_steps_in_episode=self.env.params.max_steps_in_episode,
        )
        return float(measure(jax.random.PRNGKey(7), weights).exploitability.exploitability)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mfax", type=Path, required=True, help="a checkout of CWibault/mfax")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=500)
    args = parser.parse_args()
    sys.path.insert(0, str(args.mfax.resolve()))
    mfax = MFAX(args.iterations)

    config = structural_pg.StructuralPGConfig(
        num_iterations=args.iterations, eval_every=args.iterations, eval_paths=16,
    )
    game, params = make_game(config)
    _, carry0, policy_fn_of, _ = structural_pg.policy_network(game, params, config)
    score = jax.jit(lambda w: policy_scores(
        jax.random.key(123), game, params, policy_fn_of(w), carry0, config
    )["exploitability"])
    train = jax.jit(structural_pg.make_train(config), static_argnames="num_updates")

    def omnigym_from(seed: int, weights: Any) -> tuple[Any, float]:
        start = time.perf_counter()
        state, _ = train(jax.random.key(seed), num_updates=0)
        if weights is not None:
            learner = MeanFieldState((weights, optimizer(args.iterations).init(weights)),
                                     state.learner.eval_key)
            state = state.replace(learner=learner)
        state, _ = jax.block_until_ready(train(jax.random.key(seed), state, num_updates=args.iterations))
        return state.learner.learner[0], time.perf_counter() - start

    runs = []
    for seed in args.seeds:
        mfax_init, mfax_key = mfax.init(seed)
        own_init = train(jax.random.key(seed), num_updates=0)[0].learner.learner[0]
        start = time.perf_counter()
        mfax_trained = mfax.train(seed, mfax_init, mfax_key)
        mfax_seconds = time.perf_counter() - start
        ours_from_mfax, _ = omnigym_from(seed, to_omnigym(mfax_init))
        ours, ours_seconds = omnigym_from(seed, None)
        row = {
            "seed": seed,
            "initial_exploitability": {"mfax_init": float(score(to_omnigym(mfax_init))),
                                       "omnigym_init": float(score(own_init))},
            "final_exploitability": {
                "mfax_loop_mfax_init": float(score(to_omnigym(mfax_trained))),
                "mfax_loop_mfax_init_by_mfax": mfax.exploitability(mfax_trained),
                "omnigym_loop_mfax_init": float(score(ours_from_mfax)),
                "mfax_loop_omnigym_init": float(score(to_omnigym(
                    mfax.train(seed, to_mfax(own_init), mfax_key)))),
                "omnigym_loop_omnigym_init": float(score(ours)),
            },
            "seconds": {"mfax_loop_incl_compile": round(mfax_seconds, 1),
                        "omnigym_loop_after_compile": round(ours_seconds, 1)},
        }
        print(row, flush=True)
        runs.append(row)
        finals = {k: [r["final_exploitability"][k] for r in runs] for k in row["final_exploitability"]}
        benchmarking.write_result(Path(__file__).parent / "results", "rspg_vs_mfax", {
            "what": "RSPG exploitability after training on MFAX's linear-quadratic game, "
                    "MFAX's and omnigym's training loops crossed with both libraries' initial weights",
            "setting": {**SETTING, "iterations": args.iterations, "eval_paths": 16},
            "mfax": "CWibault/mfax e22ab46",
            "runs": runs,
            "median": {k: float(np.median(v)) for k, v in finals.items()},
            "runs_below_50": {k: int(sum(x < 50 for x in v)) for k, v in finals.items()},
        })


if __name__ == "__main__":
    main()
