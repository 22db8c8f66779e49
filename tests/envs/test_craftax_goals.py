"""Goal predicates of goal-conditioned Craftax on crafted states, and goal semantics."""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest


@pytest.fixture(scope="module")
def classic(make_env):
    env, params = make_env("Craftax-Classic-GC-v0")
    _, state = env.reset(jax.random.key(0), params)
    return env, params, state


@pytest.fixture(scope="module")
def full(make_env):
    env, params = make_env("Craftax-GC-v0")
    _, state = env.reset(jax.random.key(0), params)
    return env, params, state


def _achieved(env, params, base_state) -> set[str]:
    mask = np.asarray(jax.jit(env.achieved_goals)(base_state, params.base))
    return {env.goal_names[i] for i in np.flatnonzero(mask)}


def _with_inventory(base_state, **counts):
    return base_state.replace(inventory=base_state.inventory.replace(**counts))


def test_goal_sets_follow_the_reference_listing(classic, full):
    classic_env, full_env = classic[0], full[0]
    assert classic_env.num_goals == 136 and full_env.num_goals == 512
    assert len(set(classic_env.goal_names)) == 136 and len(set(full_env.goal_names)) == 512
    expected = {
        0: "inventory/wood_1", 54: "tools/wood_pickaxe", 60: "block_map/OUT_OF_BOUNDS_left",
        120: "mob_map/zombie_left", 135: "mob_map/arrow_down",
    }  # fmt: skip
    assert {i: classic_env.goal_names[i] for i in expected} == expected
    expected = {
        114: "inventory/stone_40-44", 208: "block_map/WATER_up", 446: "item_map/TORCH_left",
        462: "tools/wood_pickaxe", 492: "dungeon_level/dlvl_1", 511: "intrinsics/dexterity_5",
    }  # fmt: skip
    assert {i: full_env.goal_names[i] for i in expected} == expected


def test_three_wood_satisfies_wood_3_and_no_other_wood_goal(classic):
    env, params, state = classic
    achieved = _achieved(env, params, _with_inventory(state.base, wood=3))
    assert {g for g in achieved if g.startswith("inventory/wood")} == {"inventory/wood_3"}


def test_a_tool_goal_holds_for_any_positive_count(classic):
    env, params, state = classic
    assert "tools/stone_sword" not in _achieved(env, params, state.base)
    for count in (1, 4):
        base = _with_inventory(state.base, stone_sword=count)
        assert "tools/stone_sword" in _achieved(env, params, base)


def test_adjacent_block_goals_use_the_tile_in_that_direction(classic):
    env, params, state = classic
    from craftax.craftax_classic.constants import BlockType

    row, col = (int(v) for v in state.base.player_position)
    game_map = state.base.map.at[row, col - 1].set(BlockType.DIAMOND.value)
    game_map = game_map.at[row - 1, col].set(BlockType.LAVA.value)
    achieved = _achieved(env, params, state.base.replace(map=game_map))
    assert {"block_map/DIAMOND_left", "block_map/LAVA_up"} <= achieved
    assert not {"block_map/DIAMOND_right", "block_map/DIAMOND_up", "block_map/LAVA_left"} & achieved


def test_full_craftax_inventory_ranges_and_dungeon_level(full):
    env, params, state = full
    base = _with_inventory(state.base, stone=42).replace(player_level=jnp.int32(1))
    achieved = _achieved(env, params, base)
    assert {g for g in achieved if g.startswith("inventory/stone")} == {"inventory/stone_40-44"}
    assert {g for g in achieved if g.startswith("dungeon_level")} == {"dungeon_level/dlvl_1"}


def test_commanded_goal_gives_reward_and_terminates(classic):
    env, params, state = classic
    goal = env.goal_index("inventory/wood_3")
    _, state = env.with_goal(state.replace(base=_with_inventory(state.base, wood=3)), goal, params)
    obs, _, reward, terminated, truncated, info = env.step(jax.random.key(0), state, 0, params)
    assert float(reward) == 1.0 and bool(terminated) and not bool(truncated)
    assert bool(info["goal_achieved"]) and int(info["goal"]) == goal
    assert float(info["achieved_goals"][goal]) == 1.0
    assert float(env.compute_reward(info["final_observation"]["achieved_goal"],
                                    info["final_observation"]["desired_goal"], None)) == 1.0


def test_resample_keeps_the_world_and_commands_a_new_goal(make_env):
    env, params = make_env("Craftax-Classic-GC-v0", on_success="resample")
    _, state = env.reset(jax.random.key(0), params)
    goal = env.goal_index("inventory/wood_2")
    _, state = env.with_goal(state.replace(base=_with_inventory(state.base, wood=2)), goal, params)
    obs, next_state, reward, terminated, _, info = env.step(jax.random.key(3), state, 0, params)
    assert float(reward) == 1.0 and bool(info["goal_achieved"]) and not bool(terminated)
    assert int(next_state.base.inventory.wood) == 2, "same world"
    assert int(next_state.time) == 1, "same episode"
    assert int(next_state.goal) != goal or env.num_goals == 1
    assert float(obs["desired_goal"][next_state.goal]) == 1.0


def test_seen_goal_sampling_draws_only_seen_goals(make_env):
    env, params = make_env("Craftax-Classic-GC-v0", goal_sampling="seen")
    keys = jax.random.split(jax.random.key(0), 8)
    _, states = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    seen = np.asarray(states.goals_seen)
    goals = np.asarray(states.goal)
    assert all(seen[i, goals[i]] for i in range(len(goals)))


def test_goal_out_of_range_is_a_clear_error(classic):
    env, params, state = classic
    with pytest.raises(ValueError, match=r"goal index 136 out of range.*0\.\.135"):
        env.with_goal(state, 136, params)
    with pytest.raises(ValueError, match="unknown goal 'inventory/wod_3'"):
        env.goal_index("inventory/wod_3")


def test_bad_options_are_clear_errors():
    import omnigym

    with pytest.raises(ValueError, match="on_success must be one of"):
        omnigym.make("Craftax-Classic-GC-v0", on_success="stop")
    with pytest.raises(ValueError, match="observation_type must be one of"):
        omnigym.make("Craftax-Classic-GC-v0", observation_type="pixels")


def test_onehot_observation_is_the_goal_dict(make_env):
    env, params = make_env("Craftax-Classic-GC-v0", observation_type="onehot")
    obs, _ = env.reset(jax.random.key(0), params)
    assert obs["observation"]["block_map"].shape == (7, 9, 17)
    assert obs["observation"]["inventory"].shape == (12, 10)
    assert float(obs["observation"]["inventory"][0, 0]) == 1.0  # no wood at the start


def test_x64_is_detected_with_a_clear_error():
    code = (
        "import jax; jax.config.update('jax_enable_x64', True)\n"
        "import omnigym\n"
        "try:\n"
        "    omnigym.make('Craftax-Classic-GC-v0')\n"
        "except omnigym.core.X64NotSupportedError as e:\n"
        "    print('RAISED', e)\n"
        "env, params = omnigym.make('GridWorld-GC-v0')\n"
        "obs, s = env.reset(jax.random.key(0), params)\n"
        "out = env.step(jax.random.key(1), s, 1, params)\n"
        "print('GRID', out[2].dtype, int(out[1].time))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert "RAISED" in result.stdout and "jax_enable_x64" in result.stdout, result.stderr
    assert "int32 and int64" in result.stdout
    assert "GRID float32 1" in result.stdout, result.stderr
