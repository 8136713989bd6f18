"""Exceptions raised for bad input.

Every error a user can cause (a malformed file, an unknown name, a value out of range) is an
:class:`AccelSimError`. Its message is one line that names the offending field, file or line and
what is allowed; the CLI prints it and exits with status 2.
"""

from __future__ import annotations

__all__ = ["AccelSimError", "ConfigError", "NumericError", "ResourceError", "UnknownNameError",
           "WorkloadError"]


class AccelSimError(ValueError):
    """Base class of every user-facing error of accel_sim."""


class ConfigError(AccelSimError):
    """A device or run parameter is missing, of the wrong type or out of its allowed range."""


class UnknownNameError(AccelSimError, KeyError):
    """An unknown device, workload or parameter name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WorkloadError(AccelSimError):
    """A workload file or workload specification cannot be turned into a trace."""


class NumericError(AccelSimError):
    """A device produced a figure that is not a finite, non-negative number (NaN, infinite or
    negative): a bug of the device model, refused before anything is written."""


class ResourceError(AccelSimError):
    """A computation would need more memory than the machine has available (refused with the
    estimate before anything is allocated)."""
