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


#: Every supported OpenSpiel name (and factory setting) and what builds it.
BUILDERS: dict[str, Callable[[str, dict[str, Any]], tuple[MeanFieldGame, Any]]] = {
    "python_mfg_crowd_modelling": _crowd_1d,
    "mfg_crowd_modelling": _crowd_1d,
    "mfg_crowd_modelling_2d": _crowd_2d,
    **{setting: _crowd_2d for setting in CROWD_2D_SETTINGS},
    "mean_field_lin_quad": _lin_quad,
    "python_mfg_periodic_aversion": _periodic_aversion,
}


def from_openspiel(name: str, **openspiel_params: Any) -> tuple[MeanFieldGame, Any]:
    """Our game configured exactly as OpenSpiel's ``name`` with ``openspiel_params``
    (its defaults when none are given): ``(game, params)``. See the module doc."""
    if name not in BUILDERS:
        raise ValueError(f"unknown OpenSpiel mean-field game {name!r}; supported: {sorted(BUILDERS)}.")
    return BUILDERS[name](name, openspiel_params)
