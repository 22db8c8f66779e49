"""Input checks shared by every adapter (Gymnasium single and vector, SB3, PettingZoo).

Each adapter rejects exactly the same actions and goals, with the same message:
what was expected and what came. Nothing is cast before it is checked, so a
float for a discrete action, a string, ``None``, NaN, inf, an out-of-range value
or a wrong shape is an error, never a silently different action.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np

from omnigym.core.errors import InvalidActionError, describe

#: numpy dtype kinds each space takes: integers for discrete spaces, any real number for boxes.
_KINDS = {
    gymnasium.spaces.Discrete: "iu",
    gymnasium.spaces.MultiDiscrete: "iu",
    gymnasium.spaces.MultiBinary: "biu",
    gymnasium.spaces.Box: "iuf",
}


def _expected(space: gymnasium.Space) -> str:
    """What one action of ``space`` is, in words."""
    if isinstance(space, gymnasium.spaces.Discrete):
        low = int(space.start)
        return f"an integer in [{low}, {low + int(space.n)}) ({space})"
    if isinstance(space, gymnasium.spaces.MultiDiscrete):
        return f"integers of shape {space.shape}, each in [0, nvec) ({space})"
    if isinstance(space, gymnasium.spaces.MultiBinary):
        return f"0/1 integers of shape {space.shape} ({space})"
    if isinstance(space, gymnasium.spaces.Box):
        return f"finite numbers of shape {space.shape} within the bounds of {space}"
    raise TypeError(f"actions of {space} are not supported by omnigym's adapters.")


def _in_space(space: gymnasium.Space, array: np.ndarray) -> bool:
    """Whether every action in ``array`` (shape and dtype kind already checked) is in ``space``."""
    if isinstance(space, gymnasium.spaces.Discrete):
        low = int(space.start)
        if array.ndim == 0:  # one action: a Python compare costs a tenth of the array ops
            return low <= array.item() < low + int(space.n)
        return bool(((array >= low) & (array < low + int(space.n))).all())
    if isinstance(space, gymnasium.spaces.MultiDiscrete):
        if array.shape == space.nvec.shape and array.ndim == 1:  # one action: compare plain ints
            return all(0 <= v < n for v, n in zip(array.tolist(), space.nvec.tolist()))
        return bool(((array >= 0) & (array < space.nvec)).all())
    if isinstance(space, gymnasium.spaces.MultiBinary):
        return bool(np.all((array == 0) | (array == 1)))
    values = array.astype(np.float64)
    return bool(
        np.all(np.isfinite(values)) and np.all(values >= space.low) and np.all(values <= space.high)
    )


def check_action(
    space: gymnasium.Space, action: Any, who: str, num_envs: int | None = None
) -> np.ndarray:
    """``action`` as a numpy array of ``space``'s dtype, or :class:`InvalidActionError`.

    ``num_envs`` is the batch size of a vector adapter: the actions then have
    shape ``(num_envs, *space.shape)``, one per env, each checked.
    """
    shape = tuple(space.shape) if num_envs is None else (num_envs, *space.shape)
    kinds = next((k for cls, k in _KINDS.items() if isinstance(space, cls)), "")
    array = None
    if action is not None and not isinstance(action, (str, bytes)):
        try:
            array = np.asarray(action)
        except Exception:
            array = None
    if (
        array is not None
        and array.dtype.kind in kinds
        and array.shape == shape
        and _in_space(space, array)
    ):
        return array.astype(space.dtype)
    # The message is built only on failure: this check runs on every step.
    if num_envs is None:
        noun, expected = "action is", _expected(space)
    else:
        noun = "actions are"
        expected = f"actions of shape {shape} (one per env), each {_expected(space)}"
    raise InvalidActionError(
        f"{who}: the {noun} not in the action space; expected {expected}, "
        f"got {describe(action)}."
    )
