"""Space helpers: membership of (dict) observations in gymnax spaces.

gymnax 1.0.1's ``Dict.contains`` reads ``getattr(x, key)`` and so fails on
plain dict observations; :func:`contains` handles dicts, and also checks shapes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnax.environments import spaces


def contains(space: spaces.Space, x: Any) -> bool:
    """Whether ``x`` (one unbatched value) lies in ``space``: shape, bounds, keys."""
    if isinstance(space, spaces.Dict):
        return isinstance(x, dict) and set(x) == set(space.spaces) and all(
            contains(sub, x[key]) for key, sub in space.spaces.items()
        )
    if isinstance(space, spaces.Tuple):
        return len(x) == len(space.spaces) and all(contains(s, v) for s, v in zip(space.spaces, x))
    x = np.asarray(x)
    if x.shape != tuple(space.shape):
        return False
    if isinstance(space, spaces.Discrete):
        return bool(np.all((x >= 0) & (x < space.n)))
    low = np.broadcast_to(np.asarray(space.low), x.shape)
    high = np.broadcast_to(np.asarray(space.high), x.shape)
    return bool(np.all(np.isfinite(x)) and np.all((x >= low) & (x <= high)))
