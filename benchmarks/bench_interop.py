"""Interop overhead: gymnax, jumanji and brax envs through omnigym's adapters vs natively.

For one env of each source, steps per second of a jitted ``lax.scan`` over a
batch of envs with auto-reset and random actions, in the same run:

* ``native``: the source's own batched auto-reset loop: ``vmap(gymnax step)``
  (its step auto-resets), jumanji's ``VmapAutoResetWrapper``, and brax's
  training wrappers (``EpisodeWrapper`` + ``VmapWrapper`` + ``AutoResetWrapper``);
* ``omnigym_step``: ``vmap`` of the adapter's ``step`` (gymnax semantics: a
  reset computed every step, selected where an episode ended);
* ``omnigym_vec``: ``AutoResetVecEnv`` with the reset strategy
  ``GymnasiumVectorEnv`` picks for the env (the JAX path of our adapters).

``ratio`` is ours / native (1.0 = no overhead).

    python benchmarks/bench_interop.py [--num-envs 256] [--steps 200] [--rounds 5]

Paths are timed in interleaved rounds (best of each), so they share the machine's load.

Writes ``benchmarks/results/interop_throughput_<backend>.json``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax

from omnigym import benchmarking
from omnigym.wrappers.autoreset import AutoResetVecEnv
from omnigym.wrappers.interop import from_brax, from_gymnax, from_jumanji

RESULTS = Path(__file__).parent / "results"


def rollout(
    reset: Callable[[jax.Array], Any],
    step: Callable[[jax.Array, Any, jax.Array], Any],
    sample_actions: Callable[[jax.Array], jax.Array],
    steps: int,
) -> Callable[[], Any]:
    """A jitted ``scan(step)`` from ``reset``; ``step(key, state, actions) -> state``."""

    @jax.jit
    def run(key):
        state = reset(key)

        def body(state, key):
            key_act, key_step = jax.random.split(key)
            return step(key_step, state, sample_actions(key_act)), None

        return jax.lax.scan(body, state, jax.random.split(key, steps))[0]

    return lambda: run(jax.random.key(0))


def interleaved_steps_per_s(paths: dict[str, Callable[[], Any]], env_steps: int, rounds: int) -> dict[str, float]:
    """Best steps/s of each path over ``rounds`` rounds that time every path once.

    Interleaving puts the paths under the same machine load; on a shared CPU the
    timing of one path alone drifts by tens of percent between runs.
    """
    for run in paths.values():  # compile
        jax.block_until_ready(run())
    best = {name: float("inf") for name in paths}
    for _ in range(rounds):
        for name, run in paths.items():
            best[name] = min(best[name], benchmarking.timed(run))
    return {name: env_steps / seconds for name, seconds in best.items()}


def omnigym_paths(env: Any, sample_actions, num_envs: int, steps: int) -> dict[str, Callable]:
    """Our two JAX paths on an adapted env: vmapped ``step`` and ``AutoResetVecEnv``."""
    params = env.default_params

    def reset(key):
        return jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)[1]

    def step(key, state, actions):
        keys = jax.random.split(key, num_envs)
        return jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, state, actions, params)[1]

    vec = AutoResetVecEnv(env, num_envs)
    return {
        "omnigym_step": rollout(reset, step, sample_actions, steps),
        "omnigym_vec": rollout(
            lambda key: vec.reset(key, params)[1],
            lambda key, state, actions: vec.step(key, state, actions, params)[1],
            sample_actions, steps,
        ),
    }


def gymnax_case(num_envs: int, steps: int) -> dict[str, Callable]:
    import gymnax

    native, params = gymnax.make("CartPole-v1")

    def sample(key):
        return jax.random.randint(key, (num_envs,), 0, 2)

    def reset(key):
        return jax.vmap(native.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)[1]

    def step(key, state, actions):
        keys = jax.random.split(key, num_envs)
        return jax.vmap(native.step, in_axes=(0, 0, 0, None))(keys, state, actions, params)[1]

    return {"native": rollout(reset, step, sample, steps),
            **omnigym_paths(from_gymnax(native, params), sample, num_envs, steps)}


def jumanji_case(num_envs: int, steps: int) -> dict[str, Callable]:
    import jumanji
    from jumanji.wrappers import VmapAutoResetWrapper

    native = jumanji.make("Snake-v1")
    batched = VmapAutoResetWrapper(native)

    def sample(key):
        return jax.random.randint(key, (num_envs,), 0, 4)

    return {"native": rollout(
                lambda key: batched.reset(jax.random.split(key, num_envs))[0],
                lambda key, state, actions: batched.step(state, actions)[0],
                sample, steps),
            **omnigym_paths(from_jumanji(native), sample, num_envs, steps)}


def brax_case(num_envs: int, steps: int, episode_length: int) -> dict[str, Callable]:
    import brax.envs
    from brax.envs.wrappers import training

    native = brax.envs.get_environment("reacher", backend="spring")
    batched = training.wrap(native, episode_length=episode_length)  # Episode + Vmap + AutoReset

    def sample(key):
        return jax.random.uniform(key, (num_envs, native.action_size), minval=-1, maxval=1)

    return {"native": rollout(
                # brax's wrappers read the batch shape off raw (uint32) keys
                lambda key: batched.reset(jax.random.key_data(jax.random.split(key, num_envs))),
                lambda key, state, actions: batched.step(state, actions),
                sample, steps),
            **omnigym_paths(from_brax(native, episode_length), sample, num_envs, steps)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--brax-episode-length", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    cases = []
    for name, paths in (
        ("gymnax CartPole-v1", gymnax_case(args.num_envs, args.steps)),
        ("jumanji Snake-v1", jumanji_case(args.num_envs, args.steps)),
        ("brax reacher (spring backend)", brax_case(args.num_envs, args.steps, args.brax_episode_length)),
    ):
        rates = interleaved_steps_per_s(paths, args.num_envs * args.steps, args.rounds)
        ratio = {k: rates[k] / rates["native"] for k in ("omnigym_step", "omnigym_vec")}
        cases.append({"env": name, "steps_per_s": rates, "ratio": ratio})
        print(f"{name:32s} native {rates['native']:>12,.0f}  step {rates['omnigym_step']:>12,.0f}"
              f" ({ratio['omnigym_step']:.2f}x)  vec {rates['omnigym_vec']:>12,.0f}"
              f" ({ratio['omnigym_vec']:.2f}x) steps/s")
    benchmarking.write_result(RESULTS, "interop_throughput", {
        "num_envs": args.num_envs, "steps": args.steps,
        "brax_episode_length": args.brax_episode_length, "rounds": args.rounds, "cases": cases,
    })


if __name__ == "__main__":
    main()
