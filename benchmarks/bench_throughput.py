"""Throughput of every registered JAX id, at 1, 64, 256 and 1024 envs, in one table.

For each id and batch size, in interleaved rounds (best of ``--rounds``), random
actions, steps per second of:

* ``bare``: ``scan(vmap(env.transition))`` with no resets at all (the bound);
* ``jax_path``: ``scan`` over ``AutoResetVecEnv.step`` with the default reset
  pool (:class:`~omnigym.wrappers.autoreset.PoolReset`);
* ``refill``: the same with the branch-free pool (``RefillReset``);
* ``previous_default``: the strategy that was the default before the pool
  (select for cheap resets, optimistic for Craftax and brax);
* ``make_vec`` and ``sb3``: ``gymnasium.make_vec`` and ``SB3VecEnv`` stepped from
  a host loop (one jitted call and one transfer per step), actions drawn
  beforehand;
* the native library's own batched loop where there is one: Craftax's symbolic
  env with Craftax_Baselines' optimistic reset wrapper (reproduced here: the
  ``craftax`` package does not ship it) and with no resets; ``vmap`` of
  gymnax's auto-resetting ``step``; jumanji's ``VmapAutoResetWrapper``; brax's
  training wrappers (``EpisodeWrapper`` + ``VmapWrapper`` + ``AutoResetWrapper``).

Multi-agent views (PD-NCA, a mean-field game's N players) are timed on the
JAX paths only (bound, pool, refill, select): no Gymnasium or SB3 adapter
takes them. At ``--vmap-num-envs`` it also times both pools under ``vmap`` over two seeds
(``vmap_pool``, ``vmap_refill``): there the pool's ``lax.cond`` becomes a
select that refills every step. ``resets_per_env_step`` is how many episodes
the pool handed a fresh start, per env step. ``host_overhead_us`` is what a
``make_vec`` / SB3 step costs beyond the JAX path's step, in microseconds.

The scan paths carry only the state from step to step, so XLA drops the
observations nothing reads, while the adapters hand them out every step. With
``--observe`` every scan path carries its observations too (what a learner
sees), written to ``throughput_observed_<backend>.json``: the fair reference for
the adapters' ratios on envs whose observations cost (Craftax renders its view).

    python benchmarks/bench_throughput.py                 # every JAX id
    python benchmarks/bench_throughput.py --env-ids UED-Maze-v0 --num-envs 64 256
    python benchmarks/bench_throughput.py --memory --env-ids Craftax-GC-v0 --num-envs 1024
    python benchmarks/bench_throughput.py --learners leo:Craftax-Classic-GC-v0 ppo:GridWorld-GC-v0
    python benchmarks/bench_throughput.py --observe --env-ids Craftax-GC-v0 --num-envs 256

Writes ``benchmarks/results/throughput_<backend>.json`` (rows merged by id and
size with what is there) and ``throughput_<backend>.png``; ``--table`` prints
the README's table from the JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp

import omnigym
from omnigym import benchmarking
from omnigym.benchmarking import observed, state_of
from omnigym.core.compilation_cache import enable_compilation_cache
from omnigym.core.environment import select_where
from omnigym.core.registry import make_multi_agent, make_single_agent
from omnigym.wrappers.autoreset import AutoResetVecEnv

RESULTS = Path(__file__).parent / "results"
SIZES = (1, 64, 256, 1024)
#: Steps per call: enough for several episodes of each env under random actions.
STEPS = {"Craftax-GC-v0": 100, "Craftax-Classic-GC-v0": 200, "PDNCA-v0": 20,
         "MFG-Crowd-v0:n_player": 50}
DEFAULT_STEPS = 200
#: The strategies that were the default before the pool (optimistic for expensive resets).
PREVIOUS = {"Craftax-GC-v0": "optimistic", "Craftax-Classic-GC-v0": "optimistic",
            "Brax-Reacher-GC-v0": "optimistic"}
RESET_RATIO = 16
#: What the scan paths do with each step's observations (``--observe``): a scan
#: that carries only the state lets XLA drop them; the adapters always compute them.
OBSERVATIONS = {False: "dropped by XLA in the scan paths (only the state is carried)",
                True: "computed every step in every path (carried with the state)"}


#: Multi-agent views timed on the JAX paths only (no Gymnasium/SB3 adapter takes them).
MULTI_AGENT = {"PDNCA-v0": {}, "MFG-Crowd-v0:n_player": {"num_agents": 10}}


def jax_ids() -> list[str]:
    """Every id with a single-agent JAX view (mean-field games: the representative
    agent), then the multi-agent views."""
    single = [i for i in omnigym.list_envs() if omnigym.spec(i).kind in ("jax", "mean_field")]
    return single + list(MULTI_AGENT)


def multi_agent_row(env_id: str, num_envs: int, steps: int, rounds: int, observe: bool) -> dict:
    """A multi-agent view on the JAX paths: bound, pool, refill and select."""
    env, params = make_multi_agent(env_id.split(":")[0], **MULTI_AGENT[env_id])
    paths = {
        "bare": benchmarking.bare_rollout(env, params, num_envs, steps, observe=observe),
        **{name: benchmarking.vec_rollout(env, params, num_envs, steps, strategy, observe=observe)
           for name, strategy in (("jax_path", "pool"), ("refill", "refill"),
                                  ("previous_default", "select"))},
    }
    rates = benchmarking.interleaved_steps_per_s(paths, dict.fromkeys(paths, num_envs * steps), rounds)
    return {"env_id": env_id, "num_envs": num_envs, "steps_per_call": steps, "steps_per_s": rates,
            "previous_default_strategy": "select", "observations": OBSERVATIONS[observe],
            "ratio": {f"{name}_vs_bare": rates[name] / rates["bare"] for name in paths if name != "bare"},
            "command": "python " + " ".join(sys.argv)}


# ------------------------------------------------------------- native anchors
def craftax_native(classic: bool, num_envs: int, steps: int, optimistic: bool,
                   observe: bool) -> Callable:
    """Craftax's symbolic env in ``scan(vmap(step_env))``: with Craftax_Baselines'
    ``OptimisticResetVecEnvWrapper`` logic (``num_envs / 16`` resets per step, the
    done envs drawn by ``choice(p=done, replace=False)``), or with no resets."""
    from craftax.craftax_env import make_craftax_env_from_params

    env = make_craftax_env_from_params(classic=classic, symbolic=True, auto_reset=False)
    params = env.default_params
    num_resets = max(1, num_envs // RESET_RATIO)

    def reset(key):
        return observed(*jax.vmap(env.reset_env, in_axes=(0, None))(
            jax.random.split(key, num_envs), params), observe)

    def step(key, carried, actions):
        state = state_of(carried, observe)
        key_step, key_reset, key_pick = jax.random.split(key, 3)
        obs, state, _, done, _ = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))(
            jax.random.split(key_step, num_envs), state, actions, params
        )
        if not optimistic:
            return observed(obs, state, observe)
        fresh_obs, fresh = jax.vmap(env.reset_env, in_axes=(0, None))(
            jax.random.split(key_reset, num_resets), params
        )
        slots = jnp.arange(num_resets).repeat(math.ceil(num_envs / num_resets))[:num_envs]
        chosen = jax.random.choice(
            key_pick, num_envs, (num_resets,), replace=False,
            p=(done + 1e-9) / jnp.sum(done + 1e-9),
        )
        slots = slots.at[chosen].set(jnp.arange(num_resets))
        obs, state = select_where(done, jax.tree.map(lambda x: x[slots], (fresh_obs, fresh)),
                                  (obs, state))
        return observed(obs, state, observe)

    sample = lambda key: jax.random.randint(key, (num_envs,), 0, env.num_actions)  # noqa: E731
    return benchmarking.scan_rollout(reset, step, sample, steps)


def gymnax_native(gymnax_id: str, num_envs: int, steps: int, observe: bool) -> Callable:
    """``vmap`` of gymnax's ``step`` (it auto-resets)."""
    import gymnax

    env, params = gymnax.make(gymnax_id)

    def reset(key):
        return observed(*jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(key, num_envs), params), observe)

    def step(key, carried, actions):
        state = state_of(carried, observe)
        keys = jax.random.split(key, num_envs)
        return observed(*jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            keys, state, actions, params)[:2], observe)

    sample = benchmarking.random_actions(env, params, num_envs)
    return benchmarking.scan_rollout(reset, step, sample, steps)


def jumanji_native(jumanji_id: str, num_envs: int, steps: int, observe: bool) -> Callable:
    """jumanji's ``VmapAutoResetWrapper``."""
    import jumanji
    from jumanji.wrappers import VmapAutoResetWrapper

    batched = VmapAutoResetWrapper(jumanji.make(jumanji_id))
    spec = batched.action_spec

    def sample(key):
        keys = jax.random.split(key, num_envs)
        return jax.vmap(lambda k: jax.random.randint(k, spec.shape, 0, spec.num_values))(keys)

    def carry(state, timestep):
        return observed(timestep.observation, state, observe)

    return benchmarking.scan_rollout(
        lambda key: carry(*batched.reset(jax.random.split(key, num_envs))),
        lambda key, carried, actions: carry(
            *batched.step(state_of(carried, observe), actions)),
        sample, steps,
    )


def brax_native(num_envs: int, steps: int, episode_length: int) -> Callable:
    """brax's reacher under its training wrappers (Episode + Vmap + AutoReset); its
    state holds the observation, so it is always computed."""
    import brax.envs
    from brax.envs.wrappers import training

    native = brax.envs.get_environment("reacher", backend="spring")
    batched = training.wrap(native, episode_length=episode_length)

    def sample(key):
        return jax.random.uniform(key, (num_envs, native.action_size), minval=-1, maxval=1)

    return benchmarking.scan_rollout(
        # brax's wrappers read the batch shape off raw (uint32) keys
        lambda key: batched.reset(jax.random.key_data(jax.random.split(key, num_envs))),
        lambda key, state, actions: batched.step(state, actions),
        sample, steps,
    )


def natives(env_id: str, env: Any, num_envs: int, steps: int, observe: bool
            ) -> dict[str, Callable]:
    """The native library's batched loops for ``env_id`` (none for our own envs)."""
    kwargs = omnigym.spec(env_id).kwargs
    if env_id.startswith("Craftax"):
        classic = "Classic" in env_id
        return {
            "native_optimistic": craftax_native(classic, num_envs, steps, True, observe),
            "native_no_reset": craftax_native(classic, num_envs, steps, False, observe),
        }
    if "gymnax_id" in kwargs:
        return {"native": gymnax_native(kwargs["gymnax_id"], num_envs, steps, observe)}
    if "jumanji_id" in kwargs:
        return {"native": jumanji_native(kwargs["jumanji_id"], num_envs, steps, observe)}
    if env_id == "Brax-Reacher-GC-v0":
        return {"native": brax_native(num_envs, steps, env.default_params.max_steps_in_episode)}
    return {}


# ----------------------------------------------------------------- one row
def measure(env_id: str, num_envs: int, steps: int, rounds: int, vmap_seeds: int | None,
            observe: bool) -> dict:
    env, params = make_single_agent(env_id)
    started = time.perf_counter()
    venv, actions = benchmarking.make_vec_env(env_id, num_envs)
    vec_rollout = partial(benchmarking.vec_rollout, env, params, num_envs, steps, observe=observe)
    paths: dict[str, Callable] = {
        "bare": benchmarking.bare_rollout(env, params, num_envs, steps, observe=observe),
        "jax_path": vec_rollout("pool"),
        "refill": vec_rollout("refill"),
        "previous_default": vec_rollout(PREVIOUS.get(env_id, "select")),
        **natives(env_id, env, num_envs, steps, observe),
        "make_vec": benchmarking.host_loop(venv.step, actions, steps),
        "make_vec_jitted_step": benchmarking.jitted_step_loop(venv, actions, steps),
        "sb3": benchmarking.sb3_loop(env_id, num_envs, steps),
    }
    if vmap_seeds:
        for strategy in ("pool", "refill"):
            paths[f"vmap_{strategy}"] = vec_rollout(strategy, seeds=vmap_seeds)
    env_steps = {name: num_envs * steps * (vmap_seeds if name.startswith("vmap") else 1)
                 for name in paths}
    rates = benchmarking.interleaved_steps_per_s(paths, env_steps, rounds)
    carry = paths["jax_path"].carry
    pool = state_of(carry["state"], observe).pool
    handed_out = int(pool.refills) * num_envs - int(pool.available)
    row: dict[str, Any] = {
        "env_id": env_id,
        "num_envs": num_envs,
        "steps_per_call": steps,
        "steps_per_s": rates,
        "resets_per_env_step": handed_out / (num_envs * steps * carry["calls"]),
        "timing": "steady state: every call carries on from the last one's state",
        "observations": OBSERVATIONS[observe],
        "previous_default_strategy": PREVIOUS.get(env_id, "select"),
        "seconds_with_compiles": time.perf_counter() - started,
        "command": "python " + " ".join(sys.argv),
    }
    row["ratio"] = {
        "jax_path_vs_bare": rates["jax_path"] / rates["bare"],
        "refill_vs_bare": rates["refill"] / rates["bare"],
        "previous_default_vs_bare": rates["previous_default"] / rates["bare"],
        "make_vec_vs_jax_path": rates["make_vec"] / rates["jax_path"],
        "sb3_vs_jax_path": rates["sb3"] / rates["jax_path"],
        **{f"jax_path_vs_{name}": rates["jax_path"] / rates[name]
           for name in rates if name.startswith("native")},
    }
    if vmap_seeds:
        row["ratio"]["vmap_refill_vs_vmap_pool"] = rates["vmap_refill"] / rates["vmap_pool"]
    row["host_overhead_us"] = {
        name: 1e6 * num_envs * (1 / rates[name] - 1 / rates["jax_path"]) for name in ("make_vec", "sb3")
    }
    # Of make_vec's overhead: the jitted step called alone from the host (XLA's
    # per-call cost) and the adapter's Python (checks, fetch, infos).
    row["host_overhead_us"]["make_vec_jitted_call"] = 1e6 * num_envs * (
        1 / rates["make_vec_jitted_step"] - 1 / rates["jax_path"])
    row["host_overhead_us"]["make_vec_python"] = 1e6 * num_envs * (
        1 / rates["make_vec"] - 1 / rates["make_vec_jitted_step"])
    return row


# ------------------------------------------------------------------ memory
def tree_bytes(tree: Any) -> int:
    return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(tree))


def memory(env_id: str, num_envs: int) -> dict:
    """The pool's size and bytes, and XLA's memory plan of one jitted vec step with
    the pool and with the previous default (compiled, not run): arguments, outputs
    and temporaries, in bytes."""
    env, params = make_single_agent(env_id)
    key = jax.random.key(0)
    row: dict[str, Any] = {"env_id": env_id, "num_envs": num_envs, "step_bytes": {}}
    for strategy in ("pool", PREVIOUS.get(env_id, "select")):
        vec = AutoResetVecEnv(env, num_envs, strategy)
        obs, state = jax.eval_shape(vec.reset, key, params)
        actions = jax.eval_shape(benchmarking.random_actions(env, params, num_envs), key)
        compiled = jax.jit(vec.step).lower(key, state, actions, params).compile()
        analysis = compiled.memory_analysis()
        row["step_bytes"][strategy] = {
            "arguments": analysis.argument_size_in_bytes,
            "outputs": analysis.output_size_in_bytes,
            "temporaries": analysis.temp_size_in_bytes,
        }
        if strategy == "pool":
            row["env_state_bytes"] = tree_bytes(state.env) + tree_bytes(obs)
            row["pool_states"] = vec.reset_strategy.pool_size
            row["pool_bytes"] = tree_bytes(state.pool)
    print(json.dumps(row), flush=True)
    return row


# ---------------------------------------------------------------- learners
def learner_speed(learner: str, env_id: str, updates: int, rounds: int) -> dict:
    """Env steps/s of ``learner``'s whole jitted ``train`` (its CPU setting, ``updates``
    updates) with the pool against the previous default strategy, interleaved."""
    from omnigym import agents
    from omnigym.agents.lib.config import with_fields

    config = agents.cpu_config(learner, env_id)
    config = with_fields(config, {"total_timesteps": config.batch_size_per_update * updates})
    paths = {}
    for strategy in ("pool", PREVIOUS.get(env_id, "select")):
        train = jax.jit(agents.learner_module(learner).make_train(
            with_fields(config, {"reset_strategy": strategy})))
        paths[strategy] = lambda train=train: train(jax.random.key(0))
    env_steps = config.batch_size_per_update * updates
    rates = benchmarking.interleaved_steps_per_s(paths, dict.fromkeys(paths, env_steps), rounds)
    row = {"learner": learner, "env_id": env_id, "num_envs": config.num_envs, "updates": updates,
           "env_steps_per_s": rates, "pool_vs_previous": rates["pool"] / rates[list(rates)[1]],
           "command": "python " + " ".join(sys.argv)}
    print(json.dumps(row), flush=True)
    return row


# ----------------------------------------------------------- results, table
def load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"rows": []}


def merged(old: list[dict], new: list[dict]) -> list[dict]:
    """``old`` rows with those of the same id and size replaced by ``new``."""
    keys = {(r["env_id"], r["num_envs"]) for r in new}
    rows = [r for r in old if (r["env_id"], r["num_envs"]) not in keys] + new
    return sorted(rows, key=lambda r: (r["env_id"], r["num_envs"]))


def table(rows: list[dict]) -> str:
    """The README's table: steps/s of the JAX path, and every ratio that matters."""
    lines = [
        "| env id | envs | bare (no resets) | JAX path | vs bare | vs previous | vs native "
        "| make_vec / JAX | SB3 / JAX | host us/step: make_vec (its Python), SB3 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        rates, ratio = r["steps_per_s"], r["ratio"]
        if "make_vec" not in rates:  # a multi-agent view: JAX paths only
            lines.append(
                f"| {r['env_id']} | {r['num_envs']} | {rates['bare']:,.0f} | {rates['jax_path']:,.0f} "
                f"| {ratio['jax_path_vs_bare']:.2f}x "
                f"| {rates['jax_path'] / rates['previous_default']:.2f}x | - | - | - | - |"
            )
            continue
        native = ratio.get("jax_path_vs_native", ratio.get("jax_path_vs_native_optimistic"))
        overhead = r["host_overhead_us"]
        lines.append(
            f"| {r['env_id']} | {r['num_envs']} | {rates['bare']:,.0f} | {rates['jax_path']:,.0f} "
            f"| {ratio['jax_path_vs_bare']:.2f}x "
            f"| {rates['jax_path'] / rates['previous_default']:.2f}x "
            f"| {'-' if native is None else f'{native:.2f}x'} "
            f"| {ratio['make_vec_vs_jax_path']:.2f} | {ratio['sb3_vs_jax_path']:.2f} "
            f"| {overhead['make_vec']:.0f} ({overhead['make_vec_python']:.0f}), "
            f"{overhead['sb3']:.0f} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ids = sorted({r["env_id"] for r in rows})
    columns = 4
    fig, axes = plt.subplots(math.ceil(len(ids) / columns), columns, squeeze=False,
                             figsize=(4 * columns, 3 * math.ceil(len(ids) / columns)))
    for ax, env_id in zip(axes.flat, ids):
        mine = [r for r in rows if r["env_id"] == env_id]
        sizes = [r["num_envs"] for r in mine]
        for name in mine[0]["steps_per_s"]:
            if name.startswith("vmap") or not all(name in r["steps_per_s"] for r in mine):
                continue
            ax.plot(sizes, [r["steps_per_s"][name] for r in mine], marker="o", label=name)
        ax.set(xscale="log", yscale="log", title=env_id, xlabel="num_envs", ylabel="steps/s")
        ax.title.set_fontsize(9)
    for ax in list(axes.flat)[len(ids):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"saved {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-ids", nargs="+", default=None, help="default: every JAX id")
    parser.add_argument("--num-envs", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--steps", type=int, default=None, help="default: per id (STEPS)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--vmap-num-envs", type=int, default=256)
    parser.add_argument("--vmap-seeds", type=int, default=2)
    parser.add_argument("--table", action="store_true", help="print the table of the saved JSON")
    parser.add_argument("--learners", nargs="+", default=None, metavar="LEARNER:ENV_ID",
                        help="only the learners' env steps/s, pool against the previous default")
    parser.add_argument("--learner-updates", type=int, default=4)
    parser.add_argument("--memory", action="store_true",
                        help="only the pool's memory (compiled steps, not run) of --env-ids")
    parser.add_argument("--observe", action="store_true",
                        help="every scan path computes its observations (results: "
                             "throughput_observed_<backend>.json)")
    args = parser.parse_args()
    stem = "throughput_observed" if args.observe else "throughput"
    path = RESULTS / f"{stem}_{jax.default_backend()}.json"
    if args.table:
        print(table(load(path)["rows"]))
        return
    enable_compilation_cache()
    if args.learners:
        report = load(path)
        rows = [learner_speed(*item.split(":"), args.learner_updates, args.rounds)
                for item in args.learners]
        keep = {(r["learner"], r["env_id"]) for r in rows}
        report["learners"] = [r for r in report.get("learners", [])
                              if (r["learner"], r["env_id"]) not in keep] + rows
        benchmarking.write_result(RESULTS, stem, {k: v for k, v in report.items()
                                                          if k not in ("machine", "command")})
        return
    if args.memory:
        report = load(path)
        rows = [memory(env_id, n) for env_id in args.env_ids or jax_ids() for n in args.num_envs]
        report["memory"] = merged(report.get("memory", []), rows)
        benchmarking.write_result(RESULTS, stem, {k: v for k, v in report.items()
                                                          if k not in ("machine", "command")})
        return
    rows = []
    for env_id in args.env_ids or jax_ids():
        for num_envs in args.num_envs:
            steps = args.steps or STEPS.get(env_id, DEFAULT_STEPS)
            seeds = args.vmap_seeds if num_envs == args.vmap_num_envs else None
            if env_id in MULTI_AGENT:
                row = multi_agent_row(env_id, num_envs, steps, args.rounds, args.observe)
            else:
                row = measure(env_id, num_envs, steps, args.rounds, seeds, args.observe)
            row["commit"] = benchmarking.commit()
            rows.append(row)
            # Free this row's executables: a process that compiles every id's paths
            # otherwise runs out of memory mappings (LLVM "Unable to allocate section memory").
            jax.clear_caches()
            print(json.dumps(row), flush=True)
            report = {
                **load(path),
                "benchmark": "throughput of every JAX id: bound, JAX path, adapters, native",
                "policy": "uniform random actions",
                "rows": merged(load(path)["rows"], rows),
            }
            benchmarking.write_result(RESULTS, stem, report)
    plot(load(path)["rows"], RESULTS / f"{stem}_{jax.default_backend()}.png")


if __name__ == "__main__":
    main()
