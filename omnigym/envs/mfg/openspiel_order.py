"""The previous action OpenSpiel's value functions see at each decision node.

OpenSpiel's crowd-modelling and linear-quadratic games reward a decision node
``(x, t)`` with the move that led there (the last action), but its value
functions (``PolicyValue``, ``BestResponse``, hence ``NashConv``) cache values
under the node's string ``"(x, t)"``, which does not hold that action. A node
keeps the reward of whichever action reached it *first* in their depth-first
walk. That walk is fixed by the game's structure alone: the initial states in
their order, the legal actions in their order, the chance outcomes in their
order, and a chance node ``"(x', t)_a_mu"`` that is only expanded the first
time. :func:`first_actions` replays it, so a game can charge that action's
cost at the node and reproduce OpenSpiel's values exactly.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

#: When a game charges a move: with the action, or at the node it leads to, as OpenSpiel does.
TIMINGS = ("action", "openspiel")


def first_actions(
    initial: Sequence[int],
    legal: np.ndarray,
    land: np.ndarray,
    outcomes: Sequence[Sequence[int]],
    horizon: int,
    neutral: int,
) -> np.ndarray:
    """``(horizon, S)`` int: the action that first reached each decision node in
    OpenSpiel's depth-first walk (``neutral`` at ``t = 0``; -1 where no path goes).

    ``legal[s]`` (bool, ``(S, A)``) are the actions offered at ``s``, in index
    order; ``land[s, a]`` the chance node the action moves to; ``outcomes[y]``
    the states, in order, that the chance node at ``y`` leads to at ``t + 1``.
    """
    num_states = legal.shape[0]
    first = np.full((horizon, num_states), -1, np.int32)
    expanded = np.zeros((horizon, num_states), bool)  # chance nodes already walked

    def children(x: int, t: int) -> Iterator[tuple[int, int, int]]:
        for action in np.flatnonzero(legal[x]):
            landed = int(land[x, action])
            if expanded[t, landed]:
                continue
            expanded[t, landed] = True
            for nxt in outcomes[landed]:
                yield int(nxt), t + 1, int(action)

    stack: list[Iterator[tuple[int, int, int]]] = [iter([(int(x), 0, neutral) for x in initial])]
    while stack:
        step = next(stack[-1], None)
        if step is None:
            stack.pop()
            continue
        x, t, last = step
        if t == horizon or first[t, x] >= 0:
            continue
        first[t, x] = last
        stack.append(children(x, t))
    return first
