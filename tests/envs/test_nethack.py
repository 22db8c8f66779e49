"""NetHack behaviour spaces on the real NLE: the reward library, weights, conformance."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from nle import nethack
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import omnigym
from omnigym.envs.nethack import REWARDS, NetHackBehaviourEnv, RewardLibrary

BL = {name: getattr(nethack, f"NLE_BL_{name}") for name in ("SCORE", "GOLD", "DEPTH", "AC", "EXP", "HP", "DNUM", "DLEVEL")}


def crafted(seen: int = 0, nutrition: int = 900, **stats: int) -> dict:
    """An NLE-like observation with ``seen`` non-blank cells and the given bottom-line stats."""
    blstats = np.zeros(nethack.NLE_BLSTATS_SIZE, np.int64)
    blstats[BL["DEPTH"]] = blstats[BL["DLEVEL"]] = 1
    for name, value in stats.items():
        blstats[BL[name.upper()]] = value
    glyphs = np.full((21, 79), nethack.GLYPH_CMAP_OFF, np.int16)
    glyphs.flat[:seen] = 2360
    internal = np.zeros(9, np.int32)
    internal[7] = nutrition
    return {"blstats": blstats, "glyphs": glyphs, "internal": internal}


def rewards_along(sequence: list[dict], names=tuple(REWARDS)) -> list[dict]:
    library = RewardLibrary(names)
    library.reset(sequence[0])
    return [dict(zip(names, library.step(obs).tolist())) for obs in sequence[1:]]


def test_score_gold_experience_and_health_pay_their_increases():
    steps = rewards_along([
        crafted(score=0, gold=0, exp=0, hp=14),
        crafted(score=50, gold=10, exp=20, hp=10),
        crafted(score=40, gold=4, exp=20, hp=12),
    ])
    assert steps[0]["score"] == 50 and steps[0]["gold"] == 10 and steps[0]["experience"] == 20
    assert steps[0]["health"] == -4
    assert steps[1]["score"] == 0 and steps[1]["gold"] == 0, "losing score or spending gold is not negative"
    assert steps[1]["experience"] == 0 and steps[1]["health"] == 2


def test_descend_ascend_eating_and_armour():
    steps = rewards_along([
        crafted(depth=1, ac=6, nutrition=900),
        crafted(depth=2, ac=4, nutrition=1100),
        crafted(depth=1, ac=6, nutrition=1099),
    ])
    assert (steps[0]["descend"], steps[0]["ascend"]) == (1, 0)
    assert (steps[1]["descend"], steps[1]["ascend"]) == (0, 1)
    assert steps[0]["eating"] == 200 and steps[1]["eating"] == 0
    assert steps[0]["armour"] == 2 and steps[1]["armour"] == -2


def test_exploration_counts_cells_new_to_each_level():
    steps = rewards_along([
        crafted(seen=10),
        crafted(seen=15),
        crafted(seen=3, dlevel=2, depth=2),
        crafted(seen=12),  # back on level 1: nothing new until more than 15 cells show
        crafted(seen=18),
    ])
    assert [s["exploration"] for s in steps] == [5, 3, 0, 3]


def test_scaled_rewards_and_episode_end():
    library = RewardLibrary(("score", "exploration"))
    library.reset(crafted(seen=0))
    np.testing.assert_allclose(library.step(crafted(seen=100, score=30), scaled=True), [0.3, 1.0])
    np.testing.assert_array_equal(library.step(crafted(seen=300, score=90), done=True), [0.0, 0.0])
    with pytest.raises(ValueError, match="unknown reward"):
        RewardLibrary(("score", "fame"))
    with pytest.raises(RuntimeError, match="reset"):
        RewardLibrary().step(crafted())


@pytest.fixture(scope="module")
def env():
    env = NetHackBehaviourEnv(episode_limit=200)
    yield env
    env.close()


def test_reward_is_the_weighted_scaled_vector_on_real_play(env):
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    explored = 0
    for _ in range(60):
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        scaled = info["rewards"] * env.library.scales
        assert reward == pytest.approx(float(np.dot(info["weights"], scaled)), abs=1e-6)
        assert info["rewards"].shape == (5,) and np.all(np.isfinite(info["rewards"]))
        explored += info["rewards"][env.reward_names.index("exploration")]
        assert info["controller_reward"] == pytest.approx(0.01 * env.library.last_values["score"])
        if terminated or truncated:
            env.reset(seed=int(rng.integers(1000)))
    assert explored > 0, "moving around a fresh level shows new cells"


def test_controller_decisions_set_weights_and_option_length(env):
    obs, _ = env.reset(seed=1)
    assert obs["behaviour"][-1] == 1.0, "the first step of an episode is a decision"
    levels = [2, 0, 1, 0, 2]
    _, _, _, _, info = env.step(np.asarray([1, *levels, 1]))  # length index 1: 2 steps
    np.testing.assert_allclose(info["weights"], [1.0, 0.0, 0.5, 0.0, 1.0])
    assert info["decision"] and info["option_length"] == 2
    obs, _, _, _, info = env.step(np.asarray([1, 0, 0, 0, 0, 0, 7]))  # not a decision: ignored
    assert not info["decision"] and info["option_length"] == 2
    np.testing.assert_allclose(info["weights"], [1.0, 0.0, 0.5, 0.0, 1.0])
    assert obs["behaviour"][-1] == 1.0, "the option ran its 2 steps: next step decides"
    _, _, _, _, info = env.step(np.asarray([1, 0, 0, 0, 0, 0, 3]))
    np.testing.assert_allclose(info["weights"], 0.2)  # all-zero weights mean uniform
    assert info["option_length"] == 8


def test_external_weights_and_their_errors():
    env = NetHackBehaviourEnv(behaviour="external", episode_limit=50)
    obs, _ = env.reset(seed=2)
    env.set_behaviour([0.0, 1.0, 0.0, 0.0, 0.5], option_length=4)
    obs, *_ = env.step(0)
    np.testing.assert_allclose(obs["behaviour"], [0.0, 1.0, 0.0, 0.0, 0.5, 0.0])
    with pytest.raises(ValueError, match="expected 5 weights"):
        env.set_behaviour([1.0, 0.0])
    with pytest.raises(ValueError, match="option_length must be a positive"):
        env.set_behaviour([1.0] * 5, option_length=-3)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        env.set_behaviour([1.0, float("nan"), 0.0, 0.0, 0.0])
    # The adapters' shared check: nothing is cast, so 2.5 is not 2 (nor 3.0 an integer).
    for bad in (23, -1, 2.5, 3.0, float("nan"), [1, 2], "3", None):
        with pytest.raises(ValueError, match=r"not in the action space; expected an integer in \[0, 23\)"):
            env.step(bad)
    env.step(np.int32(3))
    env.close()
    controller = NetHackBehaviourEnv(episode_limit=50)
    controller.reset(seed=0)
    for bad in ([0, 1, 1, 1, 1, 1], [0, 1, 1, 3, 1, 1, 0], [0.5, 1, 1, 1, 1, 1, 0]):
        with pytest.raises(ValueError, match=r"expected integers of shape \(7,\), each in \[0, nvec\)"):
            controller.step(bad)
    with pytest.raises(ValueError, match="controller: the action is not in the action space"):
        controller.set_controller_action([1, 1, 1, 1, 1, 8])
    controller.close()
    with pytest.raises(ValueError, match="behaviour"):
        NetHackBehaviourEnv(behaviour="random")


def test_observations_are_copies_not_nle_buffers():
    env = NetHackBehaviourEnv(behaviour="external", episode_limit=50)
    first, _ = env.reset(seed=4)
    kept = {key: value.copy() for key, value in first.items()}
    for action in (1, 2, 3, 4, 5, 6):
        latest, *_ = env.step(action)
    for key, value in first.items():
        np.testing.assert_array_equal(value, kept[key], err_msg=key)
        assert not np.shares_memory(value, latest[key]), key
    env.close()


def test_no_notice_about_the_internal_observation(caplog):
    with caplog.at_level("WARNING"):
        gymnasium.make("NetHack-HBS-v0").close()
    assert not [r for r in caplog.records if "internal" in r.getMessage()]


def test_episode_statistics_at_the_time_limit():
    env = NetHackBehaviourEnv(behaviour="external", episode_limit=30)
    env.reset(seed=3)
    info, done = {}, False
    while not done:
        _, _, terminated, truncated, info = env.step(18)  # search in place
        done = terminated or truncated
    episode = info["episode"]
    assert set(episode) == {"score", "depth", "deepest", "turns", "explored", "death"}
    assert episode["depth"] == 1 and episode["deepest"] == 1 and episode["turns"] >= 1
    assert episode["death"] == ("time limit" if truncated else episode["death"])
    env.close()


@pytest.mark.parametrize("env_id", ["NetHack-HBS-v0", "NetHack-HBS-Low-v0"])
def test_gymnasium_and_sb3_checkers(env_id):
    env = gymnasium.make(env_id).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gymnasium_check_env(env, skip_render_check=True)
        sb3_check_env(env)
    env.close()


def test_async_vector_env_steps_every_copy():
    envs = gymnasium.make_vec(
        "NetHack-HBS-v0", num_envs=2, vectorization_mode="async", vector_kwargs={"context": "spawn"}
    )
    obs, _ = envs.reset(seed=0)
    assert obs["glyphs_crop"].shape == (2, 9, 9) and obs["behaviour"].shape == (2, 6)
    for _ in range(5):
        obs, rewards, terminated, truncated, info = envs.step(envs.action_space.sample())
    assert rewards.shape == (2,) and info["rewards"].shape == (2, 5)
    envs.close()
    with pytest.raises(TypeError, match="unexpected keyword"):
        omnigym.make("NetHack-HBS-v0", weights=3)


def test_ansi_render_shows_the_screen():
    env = NetHackBehaviourEnv(behaviour="external", render_mode="ansi", episode_limit=20)
    env.reset(seed=4)
    env.step(18)
    screen = env.render()
    assert len(screen.splitlines()) == 24 and "@" in screen  # the player is on the map
    env.close()
    quiet = NetHackBehaviourEnv(behaviour="external")
    quiet.reset(seed=4)
    assert quiet.render() is None
    quiet.close()
