"""What can go wrong when running user code in the sandbox, as exceptions with a readable
`detail` (routes turn them into 4xx/503 answers)."""

from typing import Literal

from app.lab.validation import ValidationResult

LimitKind = Literal["cpu", "wall", "memory", "processes", "output"]


class SandboxError(Exception):
    """Base class; `detail` is a message fit for the user."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class CodeRejectedError(SandboxError):
    """The static check refused the code; `validation.errors` has line numbers."""

    def __init__(self, validation: ValidationResult) -> None:
        first = validation.errors[0] if validation.errors else None
        where = f" (line {first.line}: {first.message})" if first else ""
        super().__init__(f"the code was rejected{where}")
        self.validation = validation


class UserCodeError(SandboxError):
    """The user's code raised an exception (or broke the algorithm contract).

    `kind` is "user" (an exception in the code), "parameters" (a parameter value was
    refused), "positions" (predict returned something other than positions in [0, 1]) or
    "model" (a stored model does not fit this code); `traceback` shows only the user's
    frames; `line` is the line of the user's code where it happened, when known.
    """

    def __init__(
        self,
        kind: str,
        error_type: str,
        message: str,
        traceback: str = "",
        line: int | None = None,
        output: str = "",
    ) -> None:
        super().__init__(f"{error_type}: {message}")
        self.kind = kind
        self.error_type = error_type
        self.message = message
        self.traceback = traceback
        self.line = line
        self.output = output


class ResourceLimitError(SandboxError):
    """The job hit a limit: `limit` is cpu, wall, memory, processes or output."""

    def __init__(self, limit: LimitKind, detail: str) -> None:
        super().__init__(detail)
        self.limit = limit


class SandboxProtocolError(SandboxError):
    """The child's reply was malformed or broke the contract (never trusted)."""


class WorkerCrashedError(SandboxError):
    """The child died without a valid reply (a signal, or the forkserver went away)."""


class SandboxUnavailableError(SandboxError):
    """The sandbox cannot run user code here (walls missing, pool not started or closed)."""
