"""pyenvdoctor's errors: one base class, one subclass per failure kind, each with an exit code.

The CLI turns any :class:`DoctorError` into a one-line message on stderr and its
:attr:`~DoctorError.exit_code` (documented in the README); nothing else reaches the user as a
traceback.
"""

from __future__ import annotations

__all__ = [
    "DoctorError",
    "InterpreterError",
    "Interrupted",
    "NotConfirmedError",
    "OutputError",
    "ReportFormatError",
    "UsageError",
]


class DoctorError(Exception):
    """Base class. :attr:`exit_code` is the process exit status the CLI returns for it."""

    exit_code = 1


class UsageError(DoctorError):
    """The command line asks for something that does not exist (``--fix CODE`` with a code no
    repair resolves). Exit status 2, as for argparse's own usage errors."""

    exit_code = 2


class InterpreterError(DoctorError):
    """The target interpreter could not be inspected: missing, not Python, unsupported (older
    than 3.8), timed out, or its probe printed no valid report. Exit status 3."""

    exit_code = 3


class OutputError(DoctorError):
    """The report could not be written (``--output`` not writable). Exit status 4."""

    exit_code = 4


class ReportFormatError(DoctorError):
    """A saved JSON report does not match the schema (wrong key or type). Exit status 5."""

    exit_code = 5


class NotConfirmedError(DoctorError):
    """``--fix`` was not confirmed: no terminal and no ``--yes``, or the user said no. Nothing
    was changed. Exit status 6."""

    exit_code = 6


class Interrupted(DoctorError):
    """SIGINT or SIGTERM arrived: the current file operation was finished (never left half
    done), the ``--log`` written, nothing else started. Exit status 128 + the signal number
    (130 for SIGINT, 143 for SIGTERM), as a shell reports a process the signal ended.

    :ivar signum: the signal number.
    """

    def __init__(self, signum: int, message: str = "") -> None:
        import signal

        self.signum = signum
        self.exit_code = 128 + signum
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        super().__init__(f"interrupted by {name}" + (f": {message}" if message else ""))
