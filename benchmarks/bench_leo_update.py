"""Update throughput of LEO against naive all-goals relabelling, on the same batch.

Both learn every goal from every transition of one batch. LEO makes one
forward and backward pass per transition through its all-goals head;
all-goals relabelling (``pqn.py`` with ``her_mode="all"``) makes one pass of
the goal-conditioned network per (transition, goal). The batch has the
shapes of goal-conditioned Craftax: Classic (1345 inputs, 17 actions, 136
goals) and full Craftax (8268 inputs, 43 actions, 512 goals); contents are
random, which does not change the cost. Networks: the paper's torso (4 dense
layers of 1024 with LayerNorm) unless ``--hidden`` says otherwise.

    python benchmarks/bench_leo_update.py --batch 128

Timed: one jitted gradient step (forward, backward, RAdam update) on the
whole batch, median of ``--repeats`` calls after compilation. Writes
``benchmarks/results/leo_update_throughput_<backend>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from omnigym import benchmarking
from omnigym.agents.goal_discrete import leo, pqn
from omnigym.agents.lib import networks
from omnigym.core.compilation_cache import enable_compilation_cache

SHAPES = {  # name: (input size, actions, goals)
    "Craftax-Classic-GC-v0": (1345, 17, 136),
    "Craftax-GC-v0": (8268, 43, 512),
}


def timed(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def make_step(loss_fn, tx):
    @jax.jit
    def step(params, opt_state, batch):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


def measure(env_id: str, batch_size: int, hidden: tuple[int, ...], repeats: int) -> dict:
    inputs, actions, goals = SHAPES[env_id]
    key = jax.random.key(0)
    keys = jax.random.split(key, 3)
    x = jax.random.uniform(keys[0], (batch_size, inputs))
    action = jax.random.randint(keys[1], (batch_size,), 0, actions)
    target = jax.random.uniform(keys[2], (batch_size, goals))
    valid = jnp.ones((batch_size,), bool)
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.radam(2e-4))

    leo_net = networks.AllGoalsQNetwork(goals, actions, networks.TorsoSpec(tuple(hidden)))
    leo_params = leo_net.init(key, x)
    leo_step = make_step(
        lambda p, b: leo.leo_loss(p, leo_net, b["x"], b["action"], b["target"], b["valid"]), tx
    )
    leo_batch = {"x": x, "action": action, "target": target, "valid": valid}
    leo_s = timed(leo_step, leo_params, tx.init(leo_params), leo_batch, repeats=repeats)

    uvfa_net = networks.GoalQNetwork(goals, actions, networks.TorsoSpec(tuple(hidden)))
    uvfa_params = uvfa_net.init(key, x, jnp.zeros((batch_size,), jnp.int32))
    all_goals = jnp.broadcast_to(jnp.arange(goals, dtype=jnp.int32), (batch_size, goals))
    naive_step = make_step(lambda p, b: pqn.pqn_loss(p, uvfa_net, b), tx)
    naive_batch = {**leo_batch, "goals": all_goals}
    naive_s = timed(naive_step, uvfa_params, tx.init(uvfa_params), naive_batch, repeats=repeats)
    row = {
        "env_id": env_id,
        "num_goals": goals,
        "batch_transitions": batch_size,
        "leo_seconds_per_update": leo_s,
        "all_goals_relabelling_seconds_per_update": naive_s,
        "leo_transitions_per_s": batch_size / leo_s,
        "all_goals_relabelling_transitions_per_s": batch_size / naive_s,
        "speedup": naive_s / leo_s,
    }
    print(
        f"{env_id} ({goals} goals, batch {batch_size}): LEO {leo_s * 1e3:.1f} ms, "
        f"all-goals relabelling {naive_s * 1e3:.1f} ms per update -> {row['speedup']:.0f}x"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128, help="transitions per update")
    parser.add_argument("--hidden", type=int, nargs="+", default=[1024] * 4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--env-ids", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    args = parser.parse_args()
    enable_compilation_cache()
    rows = [measure(e, args.batch, tuple(args.hidden), args.repeats) for e in args.env_ids]
    report = {
        "what": "one gradient step on every goal of a batch: LEO vs naive all-goals relabelling",
        "hidden_sizes": args.hidden,
        "results": rows,
        "paper_reference": "more than 250x on GPU (LEO paper abstract)",
        **benchmarking.provenance(),
    }
    out = Path(__file__).parent / "results" / f"leo_update_throughput_{jax.default_backend()}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
