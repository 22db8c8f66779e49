"""Mean-field games with common noise (population level; see ``omnigym.core.mean_field``)."""

from omnigym.envs.mfg.beach_bar import BeachBar, BeachBarParams, make_beach_bar
from omnigym.envs.mfg.crowd import CrowdModelling, CrowdParams, four_rooms_walls, make_crowd
from omnigym.envs.mfg.linear_quadratic import (
    LinearQuadratic,
    LinearQuadraticParams,
    make_linear_quadratic,
)
from omnigym.envs.mfg.macro import Macroeconomy, MacroParams, make_macro
from omnigym.envs.mfg.openspiel import from_openspiel, make_crowd_avoidance, make_predator_prey
from omnigym.envs.mfg.periodic_aversion import PeriodicAversion, PeriodicAversionParams
from omnigym.envs.mfg.populations import GridPopulations, PopulationsParams

__all__ = [
    "BeachBar", "BeachBarParams", "CrowdModelling", "CrowdParams", "GridPopulations",
    "LinearQuadratic",
    "LinearQuadraticParams", "Macroeconomy", "MacroParams", "PeriodicAversion",
    "PeriodicAversionParams", "PopulationsParams", "four_rooms_walls",
    "from_openspiel", "make_beach_bar", "make_crowd", "make_crowd_avoidance",
    "make_linear_quadratic", "make_macro", "make_predator_prey",
]
