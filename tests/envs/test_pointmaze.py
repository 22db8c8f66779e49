"""PointMaze-GC: dynamics against ogbench, layouts, tasks, goals and datasets."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import ogbench
import pytest

from omnigym.envs.pointmaze import LAYOUTS, MazeGeometry, PointMaze, cell_centre, move
from omnigym.envs.pointmaze.datasets import (
    CollectorConfig,
    Oracle,
    collect,
    load_dataset,
    save_dataset,
)
from omnigym.envs.pointmaze.env import WALL_SOFTNESS

#: Open-loop divergence allowed over 300 noisy oracle steps (world units; cells are 4 wide).
TRAJECTORY_TOLERANCE = 0.25
#: Largest one-step gap from the same position and action (corner contacts).
ONE_STEP_TOLERANCE = 0.1


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def layout(request):
    return request.param


@pytest.fixture(scope="module")
def reference(layout):
    return ogbench.make_env_and_datasets(f"pointmaze-{layout}-navigate-v0", env_only=True)


@pytest.fixture(scope="module")
def jitted_move(layout):
    walls = PointMaze(layout).walls
    return jax.jit(lambda p, a: move(p, a, walls))


def test_layouts_and_tasks_match_ogbench(layout, reference):
    maze = reference.unwrapped
    np.testing.assert_array_equal(MazeGeometry(layout).walls, maze.maze_map == 1)
    ours = MazeGeometry(layout).task_cells
    theirs = [(info["init_ij"], info["goal_ij"]) for info in maze.task_infos]
    np.testing.assert_array_equal(ours, np.asarray(theirs))
    np.testing.assert_allclose(cell_centre(ours[:, 1]), [info["goal_xy"] for info in maze.task_infos])


def test_oracle_subgoal_matches_ogbench(layout, reference):
    maze, oracle = reference.unwrapped, Oracle.from_layout(layout)
    free = MazeGeometry(layout).free_cells
    rng = np.random.default_rng(0)
    for start, goal in rng.integers(0, len(free), (40, 2)):
        xy, goal_xy = cell_centre(free[start]) + 0.3, cell_centre(free[goal])
        subgoal, _ = maze.get_oracle_subgoal(xy, goal_xy)
        ours = oracle.centres[oracle.next_cell[start, goal]]
        np.testing.assert_allclose(ours, subgoal, atol=1e-6)


def test_free_motion_and_flat_walls_match_mujoco(reference, jitted_move):
    """Away from walls the step is exact; against a flat wall MuJoCo leaves
    WALL_SOFTNESS of the overlap, which is what we model."""
    maze = reference.unwrapped
    reference.reset(seed=0, options={"task_id": 1})
    start = np.asarray(maze.ij_to_xy(maze.task_infos[0]["init_ij"]), np.float64)
    for action in ([1.0, 0.5], [-0.3, 0.9], [0.0, 0.0]):
        maze.set_xy(start)
        ob, *_ = reference.step(np.asarray(action, np.float32))
        ours = jitted_move(jnp.asarray(start, jnp.float32), jnp.asarray(action, jnp.float32))
        np.testing.assert_allclose(ours, ob, atol=1e-5)
    # Every layout's cell (1, 1) has a wall on its left: x = -2 is the wall face.
    maze.set_xy(np.array([-1.3, 0.0]))
    ob, *_ = reference.step(np.array([-1.0, 0.6], np.float32))
    ours = np.asarray(jitted_move(jnp.array([-1.3, 0.0]), jnp.array([-1.0, 0.6])))
    np.testing.assert_allclose(ours, ob, atol=1e-4)
    assert ob[0] == pytest.approx(-1.3 - 0.2 * WALL_SOFTNESS, abs=1e-4)


def test_trajectories_stay_close_to_ogbench(layout, reference, jitted_move):
    """Noisy oracle play on three tasks, the same actions in both envs."""
    maze, oracle = reference.unwrapped, Oracle.from_layout(layout)
    direction = jax.jit(oracle.direction)
    rng = np.random.default_rng(1)
    worst_open_loop, worst_one_step = 0.0, 0.0
    for task in (1, 2, 3):
        ob, _ = reference.reset(seed=task, options={"task_id": task})
        ours = jnp.asarray(ob, jnp.float32)
        goal = jnp.asarray(maze.cur_goal_xy, jnp.float32)
        for _ in range(300):
            action = np.clip(np.asarray(direction(ours, goal)) + rng.normal(0, 0.5, 2), -1, 1)
            action = action.astype(np.float32)
            before = np.asarray(maze.get_xy(), np.float32)
            ob, *_ = reference.step(action)
            one_step = jitted_move(jnp.asarray(before), jnp.asarray(action))
            ours = jitted_move(ours, jnp.asarray(action))
            worst_one_step = max(worst_one_step, float(np.linalg.norm(one_step - ob)))
            worst_open_loop = max(worst_open_loop, float(np.linalg.norm(ours - ob)))
    assert worst_one_step < ONE_STEP_TOLERANCE
    assert worst_open_loop < TRAJECTORY_TOLERANCE


def test_oracle_reaches_every_task_goal_without_noise(layout):
    env = PointMaze(layout)
    params = env.make_params(noise=0.0)
    oracle = Oracle.from_layout(layout)

    @jax.jit
    def run(key, params):
        obs, state = env.reset(key, params)

        def body(carry, key):
            state, done = carry
            action = oracle.direction(state.position, state.goal)
            _, state, _, terminated, _, _ = env.transition(key, state, action, params)
            return (state, done | terminated), None

        (state, done), _ = jax.lax.scan(body, (state, False), jax.random.split(key, 600))
        return done

    for task in range(1, 6):
        assert bool(run(jax.random.key(task), params.replace(task_id=task))), f"task {task}"


def test_reset_follows_the_task_and_noise():
    env = PointMaze("large")
    for task in range(1, 6):
        start, goal = cell_centre(env.geometry.task_cells[task - 1])
        _, state = env.reset(jax.random.key(task), env.make_params(task_id=task))
        assert int(state.task_id) == task
        assert np.all(np.abs(np.asarray(state.position) - start) <= 1.0 + 1e-6)
        assert np.all(np.abs(np.asarray(state.goal) - goal) <= 1.0 + 1e-6)
        _, exact = env.reset(jax.random.key(task), env.make_params(task_id=task, noise=0.0))
        np.testing.assert_allclose(exact.position, start)
    tasks = {int(env.reset(jax.random.key(k))[1].task_id) for k in range(40)}
    assert tasks == {1, 2, 3, 4, 5}


def test_success_terminates_with_reward_one():
    env = PointMaze("medium")
    params = env.make_params(task_id=1, noise=0.0)
    _, state = env.reset(jax.random.key(0), params)
    near = state.replace(position=state.goal - jnp.array([0.9 + 0.2, 0.0]))
    obs, _, reward, terminated, truncated, info = env.transition(
        jax.random.key(1), near, jnp.array([1.0, 0.0]), params
    )
    assert float(reward) == 1.0 and bool(terminated) and not bool(truncated)
    assert float(info["success"]) == 1.0
    np.testing.assert_allclose(obs["achieved_goal"], obs["observation"])
    far = env.transition(jax.random.key(1), state, jnp.array([0.0, 0.0]), params)
    assert float(far[2]) == 0.0 and not bool(far[3])


def test_time_limit_truncates():
    env = PointMaze("medium", max_steps_in_episode=3)
    params = env.make_params(task_id=1)
    _, state = env.reset(jax.random.key(0), params)
    flags = []
    for t in range(3):
        _, state, _, terminated, truncated, _ = env.transition(
            jax.random.key(t), state, jnp.zeros(2), params
        )
        flags.append((bool(terminated), bool(truncated)))
    assert flags == [(False, False), (False, False), (False, True)]


def test_compute_reward_is_batched_for_numpy_and_jax():
    env = PointMaze("medium")
    achieved = np.zeros((4, 3, 2), np.float32)
    desired = np.stack([np.full((3, 2), d, np.float32) for d in (0.0, 0.5, 0.8, 2.0)])
    reward = env.compute_reward(achieved, desired, None)
    assert isinstance(reward, np.ndarray) and reward.dtype == np.float32
    np.testing.assert_array_equal(reward[:, 0], [1.0, 1.0, 0.0, 0.0])
    assert isinstance(env.compute_reward(jnp.asarray(achieved), jnp.asarray(desired), None), jax.Array)


def test_commanded_goal_and_clear_errors():
    env = PointMaze("medium")
    _, state = env.reset(jax.random.key(0))
    goal = env.check_goal([4.0, 8.0])
    obs, state = env.with_goal(state, goal, env.default_params)
    np.testing.assert_allclose(obs["desired_goal"], [4.0, 8.0])
    with pytest.raises(ValueError, match="outside the maze floor"):
        env.check_goal([-4.0, -4.0])  # cell (0, 0) is a wall
    with pytest.raises(ValueError, match="finite"):
        env.check_goal([np.nan, 0.0])
    with pytest.raises(ValueError, match="task_id must be 0"):
        env.make_params(task_id=6)
    with pytest.raises(ValueError, match="noise must be finite"):
        env.make_params(noise=float("nan"))
    with pytest.raises(ValueError, match="unknown layout"):
        PointMaze("tiny")


def test_render_shows_walls_goal_and_point():
    env = PointMaze("medium")
    _, state = env.reset(jax.random.key(0), env.make_params(task_id=1, noise=0.0))
    frame = env.render(state)
    assert frame.shape == (8 * 16, 8 * 16, 3) and frame.dtype == np.uint8
    colours = {tuple(c) for c in frame.reshape(-1, 3)}
    assert {(200, 200, 200), (245, 66, 84), (179, 128, 77)} <= colours


# ------------------------------------------------------------------ datasets
@pytest.fixture(scope="module")
def small_navigate():
    config = CollectorConfig("medium", "navigate", num_episodes=6, episode_length=120, chunk_episodes=4)
    return config, collect(config, seed=3, progress=False)


def test_dataset_has_ogbench_keys_shapes_and_episode_ends(small_navigate):
    config, data = small_navigate
    rows = config.num_episodes * config.episode_length
    assert set(data) == {"observations", "actions", "terminals", "qpos", "qvel"}
    assert data["observations"].shape == data["actions"].shape == (rows, 2)
    assert data["observations"].dtype == np.float32 and data["terminals"].dtype == bool
    ends = np.flatnonzero(data["terminals"])
    np.testing.assert_array_equal(ends, np.arange(1, 7) * config.episode_length - 1)
    assert np.all(np.abs(data["actions"]) <= 1.0)


def test_dataset_replays_under_the_env_dynamics(small_navigate):
    config, data = small_navigate
    walls = PointMaze("medium").walls
    obs = data["observations"].reshape(config.num_episodes, config.episode_length, 2)
    actions = data["actions"].reshape(obs.shape)
    replay = jax.vmap(jax.vmap(lambda p, a: move(p, a, walls)))(obs[:, :-1], actions[:, :-1])
    np.testing.assert_allclose(replay, obs[:, 1:], atol=1e-5)


def test_ogbench_loader_reads_our_files_and_ours_reads_the_same(tmp_path, small_navigate):
    _, data = small_navigate
    path = save_dataset(tmp_path / "pointmaze-medium-navigate-v0.npz", data)
    theirs = ogbench.utils.load_dataset(str(path))
    ours = load_dataset(path)
    assert set(ours) == {"observations", "actions", "next_observations", "terminals"}
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key])
    assert len(ours["observations"]) == len(data["observations"]) - 6


def test_stitch_episodes_are_short_and_local():
    config = CollectorConfig("large", "stitch", num_episodes=8, chunk_episodes=8)
    assert config.episode_length == 201
    data = collect(config, seed=0, progress=False)
    obs = data["observations"].reshape(8, 201, 2)
    # Four cells (16 units) of path at most 0.2 per step: no episode wanders far.
    travelled = np.linalg.norm(obs[:, -1] - obs[:, 0], axis=-1)
    assert np.all(travelled <= 4 * 4.0 + 2 * 1.0 + 1.5)


def test_collector_config_defaults_and_errors():
    assert (CollectorConfig("giant", "navigate").num_episodes, CollectorConfig("giant").episode_length) == (500, 2001)
    assert CollectorConfig("medium").num_episodes * CollectorConfig("medium").episode_length >= 1_000_000
    with pytest.raises(ValueError, match="kind must be"):
        CollectorConfig("medium", "explore")
    with pytest.raises(ValueError, match="unknown layout"):
        CollectorConfig("huge")
    with pytest.raises(ValueError, match="action_noise"):
        CollectorConfig(action_noise=float("nan"))


def test_vector_adapters_pass_fractional_actions_through():
    """The adapters once cast every action to int32, which froze a continuous agent."""
    import gymnasium

    from omnigym.wrappers import SB3VecEnv

    vec = gymnasium.make_vec("PointMaze-GC-v0", num_envs=3)
    obs, _ = vec.reset(seed=0)
    actions = np.tile(np.array([[0.5, -0.25]], np.float32), (3, 1))
    moved, *_ = vec.step(actions)
    np.testing.assert_allclose(moved["observation"] - obs["observation"], 0.2 * actions, atol=1e-5)
    venv = SB3VecEnv(PointMaze("medium"), 2)
    start = venv.reset()
    after, *_ = venv.step(actions[:2])
    np.testing.assert_allclose(after["observation"] - start["observation"], 0.2 * actions[:2], atol=1e-5)
    with pytest.raises(ValueError, match="expected actions of shape"):
        venv.step(np.zeros(3, np.float32))
