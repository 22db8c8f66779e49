"""The registry table: every env id omnigym ships, with its factory and limits."""

from omnigym.core.registry import EnvSpec, register

CRAFTAX = (("craftax", "craftax"),)

register(
    EnvSpec(
        id="Craftax-GC-v0",
        entry_point="omnigym.envs.craftax_gc:GoalConditionedCraftax",
        description="Goal-conditioned full Craftax, 512 goals (symbolic).",
        kwargs={"classic": False},
        max_episode_steps=100_000,
        requires=CRAFTAX,
    )
)
register(
    EnvSpec(
        id="Craftax-Classic-GC-v0",
        entry_point="omnigym.envs.craftax_gc:GoalConditionedCraftax",
        description="Goal-conditioned Craftax-Classic, 136 goals (symbolic).",
        kwargs={"classic": True},
        max_episode_steps=10_000,
        requires=CRAFTAX,
    )
)
register(
    EnvSpec(
        id="GridWorld-GC-v0",
        entry_point="omnigym.envs.gridworld_gc:GridWorldGC",
        description="Tiny open grid, goals are cells: a fast test bed for goal agents.",
        max_episode_steps=50,
    )
)
register(
    EnvSpec(
        id="UED-Maze-v0",
        entry_point="omnigym.envs.maze:make_maze",
        description="UED maze: turn/forward on a 13x13 (size=...) grid, 5x5 egocentric view.",
        max_episode_steps=250,
    )
)
register(
    EnvSpec(
        id="UED-Maze-DEGen-v0",
        entry_point="omnigym.envs.maze.degen:make_degen",
        description="DEGen: a generator builds the maze tile by tile where the student looks.",
        max_episode_steps=512 + 13 * 13,
    )
)

MEAN_FIELD_GAMES = (
    ("MFG-LinearQuadratic-v0", "make_linear_quadratic", 30,
     "Linear-quadratic MFG with a common shock; the public obs is the mean only."),
    ("MFG-BeachBar-v0", "make_beach_bar", 30,
     "Beach bar that may close at T/2 (common noise); crowd aversion as an option."),
    ("MFG-Crowd-v0", "make_crowd", 10,
     "Crowd modelling: 1-D ring (default), 2-D torus or four rooms, as in OpenSpiel."),
    ("MFG-Macro-v0", "make_macro", 128,
     "Heterogeneous-agent macroeconomy: wealth x income grid, TFP shocks, prices."),
    ("MFG-PredatorPrey-v0", "make_predator_prey", 10,
     "Three populations chasing each other on a 5x5 grid (OpenSpiel's predator-prey)."),
    ("MFG-CrowdAvoidance-v0", "make_crowd_avoidance", 10,
     "Two populations crossing a 7x7 room to opposite targets (OpenSpiel's crowd avoidance)."),
)
for _id, _factory, _horizon, _description in MEAN_FIELD_GAMES:
    register(
        EnvSpec(
            id=_id,
            entry_point=f"omnigym.envs.mfg:{_factory}",
            description=_description,
            kind="mean_field",
            max_episode_steps=_horizon,
        )
    )

register(
    EnvSpec(
        id="PDNCA-v0",
        entry_point="omnigym.envs.pdnca:PDNCA",
        description="Petri-dish NCA: species compete for cells of a 32x32 torus (multi-agent).",
        kind="multi_agent",
        max_episode_steps=256,
    )
)

NETHACK = (("nle", "nle"),)
NETHACK_BEHAVIOUR_SPACES = (
    ("NetHack-HBS-v0", {},
     "NetHack (NLE) whose reward mixes 5 reward functions; the action picks them too."),
    ("NetHack-HBS-Low-v0", {"behaviour": "external"},
     "NetHack behaviour space with weights set from outside (set_behaviour)."),
)
for _id, _kwargs, _description in NETHACK_BEHAVIOUR_SPACES:
    register(
        EnvSpec(
            id=_id,
            entry_point="omnigym.envs.nethack:NetHackBehaviourEnv",
            description=_description,
            kind="host",
            requires=NETHACK,
            kwargs=_kwargs,
        )
    )

register(
    EnvSpec(
        id="PointMaze-GC-v0",
        entry_point="omnigym.envs.pointmaze:PointMaze",
        description="OGBench's point maze in JAX (layout=medium|large|giant), goals are positions.",
        max_episode_steps=1000,
    )
)

# Envs of other JAX libraries, through the interop adapters (omnigym/wrappers/interop.py):
# (source, factory, its id argument, required packages, examples as (native id, limit, description)).
INTEROP_EXAMPLES = (
    ("Jumanji", "make_jumanji", "jumanji_id", (("jumanji", "jumanji"),), (
        ("Snake-v1", 4000, "jumanji's Snake: grow by eating fruit on a 12x12 grid."),
        ("Maze-v0", 100, "jumanji's Maze: reach the target in a random 10x10 maze."),
    )),
    ("Gymnax", "make_gymnax", "gymnax_id", (), (
        ("CartPole-v1", 500, "gymnax's CartPole: balance a pole (discrete actions)."),
        ("MountainCarContinuous-v0", 999, "gymnax's continuous MountainCar: drive up the hill."),
    )),
)
for _source, _factory, _argument, _requires, _examples in INTEROP_EXAMPLES:
    for _native_id, _limit, _description in _examples:
        register(
            EnvSpec(
                id=f"omnigym/{_source}-{_native_id}",
                entry_point=f"omnigym.wrappers.interop:{_factory}",
                description=_description,
                max_episode_steps=_limit,
                kwargs={_argument: _native_id},
                requires=_requires,
            )
        )

register(
    EnvSpec(
        id="Brax-Reacher-GC-v0",
        entry_point="omnigym.envs.reacher_gc:ReacherGC",
        description="brax's reacher; goals: 49 fingertip targets on a grid, for HER and LEO.",
        max_episode_steps=50,
        requires=(("brax", "brax"),),
    )
)
