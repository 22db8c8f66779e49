"""The UED maze: level text round-trips and errors, generators, mutator, solver, dynamics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import omnigym
from omnigym.envs.maze import (
    HOLDOUT_13,
    LevelMutator,
    Maze,
    MazeLevel,
    PrefabGenerator,
    RandomWallsGenerator,
    SolvableOnly,
    distance_to_goal,
    holdout_names,
    is_solvable,
    load_level,
    load_levels,
    shortest_path_length,
)

CORRIDOR = """
>...G
#####
"""


@pytest.fixture(scope="module")
def maze():
    return omnigym.make("UED-Maze-v0")


@pytest.mark.parametrize("name", holdout_names())
def test_shipped_levels_round_trip_and_are_solvable(name):
    level = load_level(name)
    assert MazeLevel.from_str(level.to_str()).to_str() == level.to_str()
    assert bool(is_solvable(level))


def test_from_str_reads_positions_as_x_y():
    level = MazeLevel.from_str(CORRIDOR)
    assert level.agent_pos.tolist() == [0, 0] and level.goal_pos.tolist() == [4, 0]
    assert int(level.agent_dir) == 0 and (int(level.width), int(level.height)) == (5, 2)
    assert level.wall_map[1].all() and not level.wall_map[0].any()


@pytest.mark.parametrize(
    "text, match",
    [
        (">...\n####", "exactly one goal"),
        ("....G\n#####", "exactly one agent"),
        (">..G\n###", "same length"),
        (">..X.G", "unexpected character 'X' at row 0, column 3"),
        (">GG", "exactly one goal"),
    ],
)
def test_malformed_text_gets_a_clear_error(text, match):
    with pytest.raises(ValueError, match=match):
        MazeLevel.from_str(text)


def test_malformed_parts_get_a_clear_error():
    walls = np.zeros((3, 3), bool)
    walls[1, 1] = True
    with pytest.raises(ValueError, match=r"goal_pos \(1, 1\) is inside a wall"):
        MazeLevel.create(walls, (1, 1), (0, 0), 0)
    with pytest.raises(ValueError, match=r"agent_pos \(5, 0\) is out of bounds"):
        MazeLevel.create(walls, (2, 2), (5, 0), 0)
    with pytest.raises(ValueError, match="share the cell"):
        MazeLevel.create(walls, (2, 2), (2, 2), 0)
    with pytest.raises(ValueError, match="agent_dir must be 0..3"):
        MazeLevel.create(walls, (2, 2), (0, 0), 4)


def test_padding_adds_walls_and_keeps_the_level():
    level = MazeLevel.from_str(CORRIDOR).pad_to(4, 6)
    assert level.wall_map.shape == (4, 6)
    assert level.wall_map[:, 5].all() and level.wall_map[2:].all()
    assert level.to_str() == MazeLevel.from_str(CORRIDOR).to_str()
    with pytest.raises(ValueError, match="does not fit"):
        level.pad_to(3, 6)


def test_solver_counts_moves_and_detects_walls():
    level = MazeLevel.from_str(CORRIDOR)
    assert int(shortest_path_length(level)) == 4
    assert distance_to_goal(level)[0].tolist() == [4, 3, 2, 1, 0]
    blocked = MazeLevel.from_str(">.#.G\n#####")
    assert not bool(is_solvable(blocked))
    around = MazeLevel.from_str(">.#.G\n.....")
    assert int(shortest_path_length(around)) == 6


def test_random_walls_generator_makes_well_formed_levels():
    generator = RandomWallsGenerator(13, 13, num_walls=60, max_height=15, max_width=15)
    levels = jax.jit(jax.vmap(generator))(jax.random.split(jax.random.key(0), 64))
    assert levels.wall_map.shape == (64, 15, 15)
    walls_inside = levels.wall_map[:, :13, :13].sum(axis=(1, 2))
    assert int(walls_inside.max()) <= 60 and int(walls_inside.min()) > 30  # with replacement
    assert levels.wall_map[:, 13:].all() and levels.wall_map[:, :, 13:].all()
    for i in range(64):
        jax.tree.map(lambda x: x[i], levels).check()
    solvable = jax.vmap(is_solvable)(levels)
    assert 0 < int(solvable.sum()) < 64  # some are not: that is what filtering is for
    with pytest.raises(ValueError, match="num_walls"):
        RandomWallsGenerator(5, 5, num_walls=26)


def test_equal_generators_compare_equal_so_envs_share_compiled_functions():
    assert RandomWallsGenerator(13, 13, 60) == RandomWallsGenerator(13, 13, 60)
    assert RandomWallsGenerator(13, 13, 60) != RandomWallsGenerator(13, 13, 50)
    assert omnigym.make("UED-Maze-v0")[0] == omnigym.make("UED-Maze-v0")[0]


def test_prefab_generator_draws_every_level(tmp_path):
    generator = PrefabGenerator.from_names(HOLDOUT_13)
    levels = jax.vmap(generator)(jax.random.split(jax.random.key(1), 256))
    drawn = {MazeLevel.to_str(jax.tree.map(lambda x: x[i], levels)) for i in range(256)}
    assert drawn == {load_level(name).to_str() for name in HOLDOUT_13}
    path = tmp_path / "corridor.txt"
    path.write_text(CORRIDOR)
    from_file = PrefabGenerator.from_files([str(path)], max_height=13, max_width=13)
    assert from_file(jax.random.key(0)).wall_map.shape == (13, 13)
    assert MazeLevel.to_str(from_file(jax.random.key(0))) == MazeLevel.from_str(CORRIDOR).to_str()


def test_mutator_edits_walls_or_goal_and_keeps_levels_well_formed():
    level = load_level("SixteenRooms")
    mutate = jax.jit(jax.vmap(LevelMutator(max_edits=5), in_axes=(0, None)))
    mutated = mutate(jax.random.split(jax.random.key(0), 64), level)
    flips = (mutated.wall_map != level.wall_map).sum(axis=(1, 2))
    goal_moved = jnp.any(mutated.goal_pos != level.goal_pos, axis=-1)
    assert int(flips.max()) <= 5 and bool(jnp.all((flips > 0) | goal_moved))
    assert bool(jnp.all(mutated.agent_pos == level.agent_pos))
    for i in range(64):
        jax.tree.map(lambda x: x[i], mutated).check()


def test_reaching_the_goal_pays_the_time_discounted_reward(maze):
    env, params = maze
    obs, state = env.reset_to_level(jax.random.key(0), MazeLevel.from_str(CORRIDOR), params)
    rewards, terminated = [], []
    for _ in range(4):
        obs, state, reward, term, trunc, _ = env.transition(
            jax.random.key(0), state, jnp.int32(2), params
        )
        rewards.append(float(reward))
        terminated.append(bool(term))
    assert rewards[:3] == [0.0, 0.0, 0.0] and terminated == [False, False, False, True]
    assert rewards[3] == pytest.approx(1.0 - 0.9 * 4 / 250)
    assert state.agent_pos.tolist() == [4, 0]


def test_walls_and_edges_block_and_turns_rotate(maze):
    env, params = maze
    _, state = env.reset_to_level(jax.random.key(0), MazeLevel.from_str(CORRIDOR), params)
    def step(s, a):
        return env.transition(jax.random.key(0), s, jnp.int32(a), params)[1]
    state = step(state, 1)  # turn right: now facing down, into the wall row
    assert int(state.agent_dir) == 1
    assert step(state, 2).agent_pos.tolist() == [0, 0]
    state = step(step(state, 0), 0)  # two left turns: facing up, out of the level
    assert int(state.agent_dir) == 3 and step(state, 2).agent_pos.tolist() == [0, 0]


def test_time_limit_truncates_without_terminating(maze):
    env, params = maze
    params = params.replace(max_steps_in_episode=3)
    _, state = env.reset_to_level(jax.random.key(0), MazeLevel.from_str(CORRIDOR), params)
    flags = []
    for _ in range(3):
        _, state, _, term, trunc, _ = env.transition(jax.random.key(0), state, jnp.int32(0), params)
        flags.append((bool(term), bool(trunc)))
    assert flags == [(False, False), (False, False), (False, True)]


def test_partial_view_is_egocentric(maze):
    env, params = maze
    obs, _ = env.reset_to_level(jax.random.key(0), load_level("SixteenRooms"), params)
    # SixteenRooms: agent at (1, 1) facing right; row 0 of the view is 4 cells ahead,
    # column 0 is two cells to the agent's left (y = -1: outside, a wall).
    expected_walls = [
        [1, 0, 0, 0, 0],
        [1, 0, 0, 0, 1],
        [1, 1, 0, 1, 1],
        [1, 0, 0, 0, 1],
        [1, 0, 0, 0, 0],
    ]
    np.testing.assert_array_equal(obs["image"][..., 0], expected_walls)
    assert obs["image"][4, 2, 2] == 1.0 and obs["image"][..., 2].sum() == 1.0
    assert int(obs["agent_dir"]) == 0


def test_fully_observable_view_and_larger_sizes():
    env = Maze(25, 25, fully_observable=True, generator=RandomWallsGenerator(25, 25, 150))
    obs, state = env.reset_to_level(jax.random.key(0), load_level("PerfectMaze25"))
    assert obs["image"].shape == (25, 25, 3)
    level = load_level("PerfectMaze25")
    np.testing.assert_array_equal(obs["image"][..., 0], level.wall_map)
    assert obs["image"][0, 24, 1] == 1.0 and obs["image"][24, 0, 2] == 1.0
    padded = Maze(25, 25, generator=RandomWallsGenerator(13, 13, 60, 25, 25))
    _, state = padded.reset_to_level(jax.random.key(0), load_level("SixteenRooms"))
    assert state.level.wall_map.shape == (25, 25)
    with pytest.raises(ValueError, match="does not fit this 13x13 maze"):
        Maze().reset_to_level(jax.random.key(0), level)


def test_rgb_render_shows_walls_goal_and_agent(maze):
    env, params = maze
    _, state = env.reset_to_level(jax.random.key(0), load_level("Labyrinth"), params)
    image = env.render(state, params)
    assert image.shape == (13 * 16, 13 * 16, 3) and image.dtype == np.uint8
    goal_x, goal_y = load_level("Labyrinth").goal_pos.tolist()
    assert tuple(image[goal_y * 16 + 8, goal_x * 16 + 8]) == (0, 200, 0)
    agent_x, agent_y = load_level("Labyrinth").agent_pos.tolist()
    assert tuple(image[agent_y * 16 + 8, agent_x * 16 + 6]) == (230, 0, 0)


def test_batched_holdout_levels_step_under_vmap(maze):
    env, params = maze
    levels = load_levels(HOLDOUT_13, 13, 13)
    keys = jax.random.split(jax.random.key(0), len(HOLDOUT_13))
    obs, state = jax.vmap(env.reset_to_level, in_axes=(0, 0, None))(keys, levels, params)
    assert obs["image"].shape == (8, 5, 5, 3)
    out = jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, state, jnp.full(8, 2), params)
    assert out[2].shape == (8,)


def test_default_wall_count_keeps_the_13x13_density():
    assert RandomWallsGenerator(13, 13).num_walls == 60
    assert RandomWallsGenerator(25, 25).num_walls == 222
    assert Maze(5, 5).generator.num_walls == 9
    env, params = omnigym.make("UED-Maze-DEGen-v0", size=5)
    assert env.reset(jax.random.key(0), params)[1].wall_map.shape == (5, 5)


def test_solvable_only_filters_unsolvable_levels():
    dense = RandomWallsGenerator(9, 9, num_walls=35)
    keys = jax.random.split(jax.random.key(0), 64)
    assert not bool(jnp.all(jax.vmap(is_solvable)(jax.vmap(dense)(keys))))
    filtered = jax.jit(jax.vmap(SolvableOnly(dense)))(keys)
    assert bool(jnp.all(jax.vmap(is_solvable)(filtered)))
    walled_in = MazeLevel.from_str(">#G")
    never = SolvableOnly(PrefabGenerator([walled_in]), max_tries=3)
    assert MazeLevel.to_str(never(jax.random.key(0))) == ">#G"  # gives up, no hang
