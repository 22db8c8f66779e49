"""OpenSpiel's mean-field games, configured exactly, as omnigym games.

``from_openspiel(name, **openspiel_params)`` returns ``(game, params)``: our
game with OpenSpiel's conventions switched on (``timing="openspiel"``, its
positional reward, its start cells) so that distributions, values and
``NashConv`` agree with ``pyspiel.load_game(name, openspiel_params)``.
Parameters are OpenSpiel's, under its names and in its formats (lists of
cells as ``"[x|y;x|y]"``, values as ``"[0.5;0.5]"``); missing ones take its
defaults. OpenSpiel reads a start cell ``"x|y"`` of ``mfg_crowd_modelling_2d``
as the cell ``(y, x)`` (its ``MergeXY`` and ``GetX``/``GetY`` disagree); so does
this mapping, to stay exact. The names of OpenSpiel's factory settings
(``open_spiel.python.mfg.games.factory.GAME_SETTINGS``) for these games are
accepted too, and given parameters override the setting's.

OpenSpiel itself is not imported: this module only maps names and parameters.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from omnigym.core.mean_field import MeanFieldGame
from omnigym.envs.mfg.crowd import CrowdModelling
from omnigym.envs.mfg.linear_quadratic import LinearQuadratic
from omnigym.envs.mfg.openspiel_order import first_actions
from omnigym.envs.mfg.periodic_aversion import PeriodicAversion
from omnigym.envs.mfg.populations import GridPopulations

CROWD_1D_DEFAULTS = {"size": 10, "horizon": 10}
CROWD_2D_DEFAULTS = {
    "size": 10,
    "horizon": 10,
    "only_distribution_reward": False,
    "forbidden_states": "[]",
    "initial_distribution": "[]",
    "initial_distribution_value": "[]",
    "positional_reward": "[]",
    "positional_reward_value": "[]",
    "with_congestion": False,
    "noise_intensity": 1.0,
    "crowd_aversion_coef": 1.0,
}


def _maze(rows: list[str]) -> str:
    """OpenSpiel's ``grid_to_forbidden_states``: '#' cells as ``"[x|y;...]"`` (x the column)."""
    cells = [f"{x}|{y}" for y, row in enumerate(rows) for x, cell in enumerate(row) if cell == "#"]
    return "[" + ";".join(cells) + "]"


FOUR_ROOMS = {
    "size": 13,
    "horizon": 40,
    "initial_distribution": "[1|1]",
    "initial_distribution_value": "[1.0]",
    "only_distribution_reward": True,
    "forbidden_states": _maze([
        "#############",
        "#     #     #",
        "#     #     #",
        "#           #",
        "#     #     #",
        "#     #     #",
        "### ##### ###",
        "#     #     #",
        "#     #     #",
        "#           #",
        "#     #     #",
        "#     #     #",
        "#############",
    ]),
}
MAZE = {
    "size": 22,
    "horizon": 100,
    "initial_distribution": "[1|1]",
    "initial_distribution_value": "[1.0]",
    "only_distribution_reward": True,
    "forbidden_states": _maze([
        "######################",
        "#      #     #     # #",
        "#      #     #     # #",
        "######    #  # ##  # #",
        "#         #  # #   # #",
        "#         #  # ### # #",
        "#  ########  #   #   #",
        "#    # # #  ##   #   #",
        "#    # # #     # # ###",
        "#    # # #     # # # #",
        "###### # ####### # # #",
        "#  #         #   # # #",
        "#  # ## ###  #   # # #",
        "## # #    #  ##### # #",
        "## # # #  #      # # #",
        "#    # ####        # #",
        "# ####  # ########   #",
        "#       #  #   # ### #",
        "#  #  # #  # # #   # #",
        "# ##### #    # #     #",
        "#            #       #",
        "######################",
    ]),
}
LIN_QUAD_DEFAULTS = {
    "size": 10,
    "horizon": 10,
    "dt": 1.0,
    "n_actions_per_side": 3,
    "volatility": 1.0,
    "mean_revert": 0.0,
    "cross_q": 0.01,
    "kappa": 0.5,
    "terminal_cost": 1.0,
    "spatial_bias": 0,
}
PERIODIC_AVERSION_DEFAULTS = {
    "size": 21,
    "horizon": 20,
    "dt": 0.01,
    "xmin": 0.0,
    "xmax": 1.0,
    "n_actions_per_side": 10,
    "volatility": 1.0,
    "coef_aversion": 1.0,
}
PREDATOR_PREY_DEFAULTS = {
    "size": 5,
    "horizon": 10,
    "players": 3,
    "reward_matrix": "0 -1 1 1 0 -1 -1 1 0",
    "geometry": 0,
    "init_distrib": None,  # OpenSpiel's: one corner cell per population
    "noise_probability": 0.8,
    "congestion_coeff": 1.0,
}
CROWD_AVOIDANCE_DEFAULTS = {
    "size": 7,
    "horizon": 10,
    "players": 2,
    "congestion_matrix": "0 1 1 0",
    "geometry": 0,
    "init_distrib": None,  # OpenSpiel's: 0.4, 0.4, 0.2 over three cells per population
    "proba_noise": 0.5,
    "coef_congestion": 0.0,
    "forbidden_states": _maze([
        "#######", "#  #  #", "#     #", "#  #  #", "#     #", "#  #  #", "#######",
    ]),
    "coef_target": 1.0,
}
#: Crowd avoidance's fixed targets (x, y), one per population.
CROWD_AVOIDANCE_TARGETS = ((5, 3), (1, 3))
#: OpenSpiel's factory settings of the 2-D crowd game.
CROWD_2D_SETTINGS = {
    "crowd_modelling_2d_10x10": {},
    "crowd_modelling_2d_four_rooms": FOUR_ROOMS,
    "crowd_modelling_2d_maze": MAZE,
}


def _checked(name: str, given: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(
            f"{name} takes the parameters {sorted(defaults)}; got unknown {unknown}."
        )
    return {**defaults, **given}


def _entries(text: str, key: str) -> list[str]:
    """OpenSpiel's list format ``"[a;b;c]"`` split into its entries."""
    text = str(text).strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise ValueError(f"{key}: expected OpenSpiel's list format like '[0|0;1|2]', got {text!r}.")
    body = text[1:-1].strip()
    return [entry.strip() for entry in body.split(";")] if body else []


def _cells(text: str, key: str, size: int) -> list[tuple[int, int]]:
    cells = []
    for entry in _entries(text, key):
        try:
            x, y = (int(v) for v in entry.split("|"))
        except ValueError:
            raise ValueError(f"{key}: expected cells 'x|y', got {entry!r} in {text!r}.") from None
        if not (0 <= x < size and 0 <= y < size):
            raise ValueError(f"{key}: cell {(x, y)} is outside the {size}x{size} grid.")
        cells.append((x, y))
    return cells


def _values(text: str, key: str, count: int) -> np.ndarray:
    try:
        values = np.array([float(v) for v in _entries(text, key)], np.float64)
    except ValueError:
        raise ValueError(f"{key}: expected numbers like '[0.5;0.5]', got {text!r}.") from None
    if len(values) != count:
        raise ValueError(f"{key}: expected {count} values (one per cell), got {len(values)}.")
    return values


def _crowd_1d(name: str, given: dict[str, Any]) -> tuple[MeanFieldGame, Any]:
    """``python_mfg_crowd_modelling`` / ``mfg_crowd_modelling``: a ring with
    ``r_x = 1 - |x - size//2| / (size//2)``, move cost ``|move| / size``."""
    p = _checked(name, given, CROWD_1D_DEFAULTS)
    size, horizon = int(p["size"]), int(p["horizon"])
    if size < 2:
        raise ValueError(f"size: expected at least 2 cells, got {size}.")
    game = CrowdModelling(size, 1, horizon, timing="openspiel").configure(
        target=np.array([[size // 2]], np.float64),
        target_weight=np.array([[1.0 / (size // 2)]]),
    )
    return game, game.default_params


def _crowd_2d(name: str, given: dict[str, Any]) -> tuple[MeanFieldGame, Any]:
    """``mfg_crowd_modelling_2d`` (and its factory settings): a torus with
    forbidden cells, several positional targets and optional congestion."""
    setting = CROWD_2D_SETTINGS.get(name, {})
    p = _checked("mfg_crowd_modelling_2d", {**setting, **given}, CROWD_2D_DEFAULTS)
    size, horizon = int(p["size"]), int(p["horizon"])
    walls = _cells(p["forbidden_states"], "forbidden_states", size)
    starts = _cells(p["initial_distribution"], "initial_distribution", size)
    mass = _values(p["initial_distribution_value"], "initial_distribution_value", len(starts))
    if set(starts) & set(walls):  # OpenSpiel's check, on the cells as listed
        raise ValueError("initial_distribution: a start cell is a forbidden state.")
    targets = _cells(p["positional_reward"], "positional_reward", size)
    weights = _values(p["positional_reward_value"], "positional_reward_value", len(targets))
    if not targets:  # OpenSpiel's default: the centre, value 1
        targets, weights = [(size // 2, size // 2)], np.ones(1)
    # OpenSpiel lists start cells as actions ``x * size + y`` in sorted order and
    # applies action ``i`` as the cell ``(i % size, i // size)``: "x|y" starts
    # at (y, x). Its walk follows that order (every cell when none is listed).
    actions = sorted(x * size + y for x, y in starts) or list(range(size * size))
    support = tuple((i % size) * size + i // size for i in actions)
    game = CrowdModelling(size, size, horizon, tuple(walls), timing="openspiel",
                          initial_support=support)
    initial = np.full(game.num_states, 1.0 / game.num_states)
    if starts:
        initial = np.zeros(game.num_states)
        np.add.at(initial, [y * size + x for x, y in starts], mass)
    only_distribution = bool(p["only_distribution_reward"])
    game = game.configure(
        initial_distribution=initial,
        target=np.array(targets, np.float64),
        target_weight=np.repeat(2.0 * weights[:, None] / size, 2, axis=1),
        noise_intensity=float(p["noise_intensity"]),
        crowd_aversion=float(p["crowd_aversion_coef"]),
        congestion=1.0 if p["with_congestion"] else 0.0,
        positional_weight=0.0 if only_distribution else 1.0,
        move_cost=0.0 if only_distribution else 1.0,
    )
    return game, game.default_params


def _node_moves(land: np.ndarray, noisy: np.ndarray, horizon: int, moves: np.ndarray) -> np.ndarray:
    """``(T, S)``: the move OpenSpiel's walk charges each decision node with, on a
    ring where every action is legal and ``noisy[y]`` lists the chance outcomes
    of the chance node at ``y`` (0 where the walk never goes)."""
    neutral = len(moves) // 2
    first = first_actions(
        range(len(land)), np.ones(land.shape, bool), land.astype(int), noisy.astype(int),
        horizon, neutral,
    )
    return np.where(first >= 0, moves[np.maximum(first, 0)], 0.0)


def _periodic_aversion(name: str, given: dict[str, Any]) -> tuple[MeanFieldGame, Any]:
    """``python_mfg_periodic_aversion``: moves and noise of ``-M..M`` cells on a ring;
    the node reward charges the move that reached the node first in OpenSpiel's walk."""
    p = _checked(name, given, PERIODIC_AVERSION_DEFAULTS)
    size, horizon, side = int(p["size"]), int(p["horizon"]), int(p["n_actions_per_side"])
    if size < 3 or horizon < 1 or side < 1:
        raise ValueError(
            f"expected size >= 3, horizon >= 1, n_actions_per_side >= 1; got {size}, {horizon}, {side}."
        )
    game = PeriodicAversion(size, horizon, side)
    moves = np.arange(-side, side + 1, dtype=np.float64)
    ring = np.mod(np.arange(size)[:, None] + moves[None].astype(int), size)
    game.configure(
        dt=float(p["dt"]), xmin=float(p["xmin"]), xmax=float(p["xmax"]),
        volatility=float(p["volatility"]), coef_aversion=float(p["coef_aversion"]),
        timing="openspiel", node_moves=_node_moves(ring, ring, horizon, moves),
    )
    return game, game.default_params


def _lin_quad(name: str, given: dict[str, Any]) -> tuple[MeanFieldGame, Any]:
    """``mean_field_lin_quad``: a ring, OpenSpiel's CDF-binned noise, and the node
    reward ``dt/2 (-m^2 + 2 q m (m_t - x) - kappa (m_t - x)^2)`` with the move
    ``m`` that reached the node first in OpenSpiel's walk.

    OpenSpiel never collects ``terminal_cost`` (its terminal state is a
    mean-field node, whose reward is 0) and never reads ``spatial_bias``; both
    are accepted and, as there, have no effect. ``mean_revert`` other than 0 is
    not supported: the move would depend on the mean, and so would the walk
    that fixes each node's move.
    """
    p = _checked(name, given, LIN_QUAD_DEFAULTS)
    if float(p["mean_revert"]) != 0.0:
        raise ValueError(
            "mean_revert: only 0 is supported (with mean reversion the moves, and so OpenSpiel's "
            f"cached node values, depend on the distribution); got {p['mean_revert']}."
        )
    size, side, dt = int(p["size"]), int(p["n_actions_per_side"]), float(p["dt"])
    if size < 2 or side < 1 or not dt > 0:
        raise ValueError(f"expected size >= 2, n_actions_per_side >= 1, dt > 0; got {size}, {side}, {dt}.")
    horizon = 0
    while horizon * dt < float(p["horizon"]):  # OpenSpiel ends once t = tick * dt >= horizon
        horizon += 1
    game = LinearQuadratic(size, horizon, side)
    moves = np.arange(-side, side + 1, dtype=np.float64)
    sigma = float(p["volatility"])
    positions = np.arange(size)
    land = np.mod(positions[:, None] + np.round(moves * dt)[None], size)
    noisy = np.mod(np.round(positions[:, None] + moves[None] * np.sqrt(dt) * sigma), size)
    game.configure(
        sigma=sigma, rho=0.0, common_noise=False, dt=dt, boundary="wrap", noise="cdf",
        timing="openspiel", node_moves=_node_moves(land, noisy, horizon, moves),
        action_cost=dt / 2, cross_cost=float(p["cross_q"]) * dt, kappa=float(p["kappa"]) * dt,
        terminal="after", terminal_cost=0.0,
    )
    return game, game.default_params


def _numbers(text: Any, key: str, count: int) -> np.ndarray:
    """OpenSpiel's space-separated numbers (``"0 -1 1 ..."``), ``count`` of them."""
    try:
        values = np.array([float(v) for v in str(text).split()], np.float64)
    except ValueError:
        raise ValueError(f"{key}: expected space-separated numbers, got {text!r}.") from None
    if len(values) != count:
        raise ValueError(f"{key}: expected {count} numbers, got {len(values)}.")
    return values


#: OpenSpiel's default ``init_distrib`` of each game (its grid size and
#: populations), as ``{i: mass}`` per population, ``i = row * size + column``
#: in the population's block of the flat vector.
DEFAULT_INITIAL = {
    "python_mfg_predator_prey": (5, ({0: 1.0}, {4: 1.0}, {20: 1.0})),
    "python_mfg_crowd_avoidance": (7, ({15: 0.4, 16: 0.4, 29: 0.2}, {19: 0.2, 32: 0.4, 33: 0.4})),
}
#: ``init_distrib`` of the factory's four-population predator-prey setting.
PREDATOR_PREY_FOUR = ({0: 1.0}, {20: 1.0}, {24: 1.0}, {4: 1.0})


def _flat_initial(blocks: tuple[dict[int, float], ...], cells: int) -> np.ndarray:
    flat = np.zeros((len(blocks), cells))
    for p, block in enumerate(blocks):
        for i, mass in block.items():
            flat[p, i] = mass
    return flat.reshape(-1)


def _populations(name: str, given: dict[str, Any]) -> tuple[MeanFieldGame, Any]:
    """``python_mfg_predator_prey`` and ``python_mfg_crowd_avoidance`` (see
    :mod:`omnigym.envs.mfg.populations`), and the factory's predator-prey settings."""
    game, fields = _population_game(name, given)
    game.configure(**fields)
    return game, game.default_params


def _population_game(name: str, given: dict[str, Any]) -> tuple[GridPopulations, dict[str, Any]]:
    """The grid and the parameter fields of a multi-population OpenSpiel game."""
    if name == "predator_prey_5x5x4":
        four = {"horizon": 20, "players": 4, "reward_matrix": "0 1 0 -1 -1 0 1 0 0 -1 0 1 1 0 -1 0",
                "init_distrib": " ".join(str(v) for v in _flat_initial(PREDATOR_PREY_FOUR, 25))}
        given, name = {**four, **given}, "python_mfg_predator_prey"
    elif name == "predator_prey_5x5x3":
        name = "python_mfg_predator_prey"
    avoidance = name == "python_mfg_crowd_avoidance"
    p = _checked(name, given, CROWD_AVOIDANCE_DEFAULTS if avoidance else PREDATOR_PREY_DEFAULTS)
    size, horizon, players = int(p["size"]), int(p["horizon"]), int(p["players"])
    if avoidance and players != 2:
        raise ValueError(f"players: OpenSpiel's crowd avoidance has exactly 2 populations, got {players}.")
    matrix_key = "congestion_matrix" if avoidance else "reward_matrix"
    matrix = _numbers(p[matrix_key], matrix_key, players**2).reshape(players, players)
    cells = size * size
    if p["init_distrib"] is None:
        default_size, blocks = DEFAULT_INITIAL[name]
        if (size, players) != (default_size, len(blocks)):
            raise ValueError(
                f"init_distrib: OpenSpiel's default is for a {default_size}x{default_size} grid and "
                f"{len(blocks)} populations; pass init_distrib for size {size}, {players} players."
            )
        flat = _flat_initial(blocks, cells)
    elif str(p["init_distrib"]).strip() == "":  # OpenSpiel: uniform
        flat = np.full(players * cells, 1.0 / cells)
    else:
        flat = _numbers(p["init_distrib"], "init_distrib", players * cells)
    # Population p's block: flat index i is the cell (i % size, i // size) ...
    ours = np.array([(i % size) * size + i // size for i in range(cells)])
    initial = np.zeros((players, cells))
    initial[:, ours] = flat.reshape(players, cells)
    # ... while its rewards at t = 0 read population q at (x, y) from q + K (y + size x).
    x, y = np.divmod(np.arange(cells), size)  # our cell index is x * size + y
    first = flat[np.arange(players)[:, None] + players * (y + size * x)[None]]
    geometry = {0: "square", 1: "torus"}.get(int(p["geometry"]))
    if geometry is None:
        raise ValueError(f"geometry: expected 0 (square) or 1 (torus), got {p['geometry']}.")
    walls = tuple(_cells(p["forbidden_states"], "forbidden_states", size)) if avoidance else ()
    game = GridPopulations(size, horizon, players, geometry, walls)
    if avoidance:
        targets = np.array([cx * size + cy for cx, cy in CROWD_AVOIDANCE_TARGETS])
        rewards = dict(
            noise=float(p["proba_noise"]), aversion=0.0, bonus=float(p["coef_target"]),
            interaction=-float(p["coef_congestion"]) * matrix, targets=targets,
        )
    else:
        rewards = dict(
            noise=float(p["noise_probability"]), aversion=float(p["congestion_coeff"]),
            interaction=matrix, targets=np.full(players, -1),
        )
    return game, dict(initial_distributions=initial, first_densities=first, **rewards)


def make_predator_prey(**params: Any) -> GridPopulations:
    """``MFG-PredatorPrey-v0``: OpenSpiel's three-population predator-prey (5x5
    square, horizon 10), with rewards at t = 0 reading the initial distributions
    (``from_openspiel`` keeps OpenSpiel's other layout there). Keywords override
    :class:`~omnigym.envs.mfg.populations.PopulationsParams` fields."""
    game, fields = _population_game("python_mfg_predator_prey", {})
    return game.configure(**{**fields, "first_densities": None, **params})


def make_crowd_avoidance(**params: Any) -> GridPopulations:
    """``MFG-CrowdAvoidance-v0``: OpenSpiel's two populations crossing a 7x7 room
    with walls to targets on either side (as :func:`make_predator_prey`, rewards
    at t = 0 read the initial distributions). Keywords override
    :class:`~omnigym.envs.mfg.populations.PopulationsParams` fields."""
    game, fields = _population_game("python_mfg_crowd_avoidance", {})
    return game.configure(**{**fields, "first_densities": None, **params})


#: Every supported OpenSpiel name (and factory setting) and what builds it.
BUILDERS: dict[str, Callable[[str, dict[str, Any]], tuple[MeanFieldGame, Any]]] = {
    "python_mfg_crowd_modelling": _crowd_1d,
    "mfg_crowd_modelling": _crowd_1d,
    "mfg_crowd_modelling_2d": _crowd_2d,
    **{setting: _crowd_2d for setting in CROWD_2D_SETTINGS},
    "mean_field_lin_quad": _lin_quad,
    "python_mfg_periodic_aversion": _periodic_aversion,
    "python_mfg_predator_prey": _populations,
    "python_mfg_crowd_avoidance": _populations,
    "predator_prey_5x5x3": _populations,
    "predator_prey_5x5x4": _populations,
}


def from_openspiel(name: str, **openspiel_params: Any) -> tuple[MeanFieldGame, Any]:
    """Our game configured exactly as OpenSpiel's ``name`` with ``openspiel_params``
    (its defaults when none are given): ``(game, params)``. See the module doc."""
    if name not in BUILDERS:
        raise ValueError(f"unknown OpenSpiel mean-field game {name!r}; supported: {sorted(BUILDERS)}.")
    return BUILDERS[name](name, openspiel_params)
