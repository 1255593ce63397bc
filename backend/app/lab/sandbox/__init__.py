"""The Lab sandbox: user algorithm code runs only here, never in the API process.

    from app.lab.sandbox import PredictJob, get_pool
    result = await get_pool().run(PredictJob(code, frame, params))

See `pool` (the API), `forkserver` and `walls` (how children are confined), `protocol`
(the narrow data channel) and `runner` (what runs inside a child).

Nothing imported here may load the app's settings at import time: the forkserver imports
this package, and it must hold no secrets.
"""

from app.lab.sandbox.errors import (
    CodeRejectedError,
    ResourceLimitError,
    SandboxError,
    SandboxProtocolError,
    SandboxUnavailableError,
    UserCodeError,
    WorkerCrashedError,
)
from app.lab.sandbox.jobs import (
    CausalityJob,
    CausalityResult,
    FitJob,
    FitResult,
    Job,
    PredictJob,
    PredictResult,
    Result,
    RunStats,
    SweepJob,
    SweepOutcome,
    SweepResult,
    sample_bars,
)
from app.lab.sandbox.limits import Limits
from app.lab.sandbox.pool import SandboxPool
from app.lab.sandbox.service import get_pool, sandbox_status, start_default_pool, stop_default_pool

__all__ = [
    "CausalityJob",
    "CausalityResult",
    "CodeRejectedError",
    "FitJob",
    "FitResult",
    "Job",
    "Limits",
    "PredictJob",
    "PredictResult",
    "ResourceLimitError",
    "Result",
    "RunStats",
    "SandboxError",
    "SandboxPool",
    "SandboxProtocolError",
    "SandboxUnavailableError",
    "SweepJob",
    "SweepOutcome",
    "SweepResult",
    "UserCodeError",
    "WorkerCrashedError",
    "get_pool",
    "sample_bars",
    "sandbox_status",
    "start_default_pool",
    "stop_default_pool",
]
