"""Errors that tell the user what was expected and what came."""

from typing import Any

import numpy as np


class OmnigymError(Exception):
    """Base class of omnigym's own errors."""


class UnknownEnvError(OmnigymError, KeyError):
    """An env id that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class X64NotSupportedError(OmnigymError, RuntimeError):
    """The env's underlying package does not work under ``jax_enable_x64``."""


class MissingDependencyError(OmnigymError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


class InvalidActionError(OmnigymError, ValueError):
    """An action outside the env's action space (the message says what was expected)."""


class InvalidGoalError(OmnigymError, ValueError):
    """A commanded goal the env cannot take (the message says what was expected)."""


class RenderModeError(OmnigymError, ValueError, TypeError):
    """A render mode the env does not have.

    Also a ``TypeError``, as Gymnasium envs without that render mode raise at
    construction, so clients that retry without a render mode (SB3's
    ``make_vec_env``) do so.
    """


class ForkedProcessError(OmnigymError, RuntimeError):
    """JAX was started in a parent process, then the process forked."""


def describe(value: Any) -> str:
    """A short description of ``value`` for an error message (arrays can be large)."""
    if value is None or isinstance(value, (str, bytes)):
        return repr(value)
    try:
        array = np.asarray(value)
    except Exception:  # ragged lists and other objects numpy cannot hold
        return f"{value!r} ({type(value).__name__})"
    if array.dtype.kind not in "biuf":
        return f"{value!r} ({type(value).__name__})"
    if array.size <= 8:
        shown = array.tolist()
        return f"{shown!r} (dtype {array.dtype}, shape {array.shape})"
    finite = array[np.isfinite(array)] if array.dtype.kind == "f" else array
    summary = f"an array of shape {array.shape}, dtype {array.dtype}"
    if finite.size:
        summary += f", finite values in [{finite.min()}, {finite.max()}]"
    if finite.size < array.size:
        summary += f", {array.size - finite.size} NaN or inf"
    return summary
