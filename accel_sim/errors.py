"""Exceptions raised for bad input.

Every error a user can cause (a malformed file, an unknown name, a value out of range) is an
:class:`AccelSimError`. Its message is one line that names the offending field, file or line and
what is allowed; the CLI prints it and exits with status 2.
"""

from __future__ import annotations

__all__ = ["AccelSimError", "ConfigError", "Interrupted", "NumericError", "ResourceError",
           "UnknownNameError", "WorkloadError", "first_line"]


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


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal (SIGINT: Ctrl-C, or SIGTERM).

    A :class:`KeyboardInterrupt`, so no ``except Exception`` swallows it. ``exit_status`` is
    the shell's convention, 128 + signal number (130 for SIGINT, 143 for SIGTERM); ``detail``
    says what was kept (e.g. how many trials were written) and is added by whoever cleans up.
    """

    def __init__(self, signum: int, detail: str = "") -> None:
        super().__init__(signum, detail)
        self.signum = int(signum)
        self.detail = detail

    @property
    def exit_status(self) -> int:
        """128 + the signal number."""
        return 128 + self.signum

    @property
    def signal_name(self) -> str:
        """``SIGINT``, ``SIGTERM``, ..."""
        import signal

        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    def with_detail(self, detail: str) -> Interrupted:
        """The same interruption with a note on what was kept."""
        return Interrupted(self.signum, detail)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when the message is empty),
    for quoting another library's error inside one of ours."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
