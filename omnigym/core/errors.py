"""Errors that tell the user what was expected and what came."""


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
