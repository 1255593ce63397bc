"""Preparing sandbox jobs and interpreting their replies — the pure half of `SandboxPool`.

Rules:
- Nothing reaches the sandbox unchecked: the code passes the static policy
  (`lab.validation.validate_code`, unless a test switched it off) and every parameter set is
  checked against the schema the code declares, before any process is involved.
- Bounds are enforced here, on the trusted side: at most `MAX_SWEEP_SETS` parameter sets,
  at most `MAX_CAUSALITY_BARS` truncation/decision bars inside the frame, a lookahead budget
  of at most a quarter of the job's wall and CPU limits.
- A reply is believed only after its shape is checked (`_need`): one positions array per
  prediction, one entry per sweep set, a causality difference inside the frame. Anything
  else is a `SandboxProtocolError`, never a partial result.
- How the child ended decides the error: the wall-clock time-out, an oversized output, CPU
  (SIGXCPU, or SIGKILL once the CPU limit was reached), a wall that could not be raised, a
  crash by signal or exit code; only a clean exit's reply is decoded. User errors keep the
  user's own message, line and traceback.
- The job payload travels in a sealed memfd (no later writes, no resizing), so the child
  reads exactly what was checked.
"""

import contextlib
import fcntl
import os
import signal
from collections.abc import Mapping
from typing import Any

import pandas as pd

from app.lab.sandbox import protocol
from app.lab.sandbox.errors import (
    CodeRejectedError,
    ResourceLimitError,
    SandboxProtocolError,
    SandboxUnavailableError,
    UserCodeError,
    WorkerCrashedError,
)
from app.lab.sandbox.forkserver import EXIT_WALL_FAILED
from app.lab.sandbox.jobs import (
    MIN_DECISION_BUDGET_SECONDS,
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

MAX_CAUSALITY_BARS = 2000
MAX_SWEEP_SETS = 10_000
_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def check_code(code: str, enabled: bool = True) -> dict[str, Any] | None:
    if not enabled:
        return None
    from app.lab.validation import validate_code

    validation = validate_code(code)
    if not validation.valid:
        raise CodeRejectedError(validation)
    return validation.parameter_schema


def checked_params(
    schema: dict[str, Any] | None, params: Mapping[str, Any], label: str = ""
) -> dict[str, Any]:
    from app.lab.sdk.params import ParameterError
    from app.lab.validation import check_parameters

    if schema is None:
        return dict(params)
    try:
        return check_parameters(schema, params)
    except ParameterError as exc:
        raise UserCodeError("parameters", "ParameterError", f"{label}{exc}") from None


def prepare(
    job: Job, limits: Limits, check: bool = True
) -> tuple[protocol.JobHeader, list[tuple[str, pd.DataFrame]], bytes | None, int]:
    schema = check_code(job.code, check)
    frames: list[tuple[str, pd.DataFrame]] = [("frame", job.frame)]
    common = {"code": job.code, "max_model_bytes": limits.max_output_bytes}
    model: bytes | None = None
    if isinstance(job, PredictJob | CausalityJob) and job.model is not None:
        if job.params:
            raise ValueError("pass either params or a fitted model, not both")
        model = job.model
    if isinstance(job, PredictJob):
        params = {} if model else checked_params(schema, job.params)
        header = protocol.JobHeader(kind="run", params=params, **common)
    elif isinstance(job, FitJob):
        frames = [("fit_frame", job.frame)]
        if job.predict_frame is not None:
            frames.append(("frame", job.predict_frame))
        params = checked_params(schema, job.params)
        header = protocol.JobHeader(kind="run", params=params, return_model=True, **common)
    elif isinstance(job, SweepJob):
        if not job.param_sets or len(job.param_sets) > MAX_SWEEP_SETS:
            raise ValueError(f"a sweep needs 1 to {MAX_SWEEP_SETS} parameter sets")
        param_sets = [
            checked_params(schema, p, f"parameter set {i + 1}: ")
            for i, p in enumerate(job.param_sets)
        ]
        header = protocol.JobHeader(kind="sweep", param_sets=param_sets, **common)
        if job.fit_frame is not None:
            frames.append(("fit_frame", job.fit_frame))
    elif isinstance(job, CausalityJob):
        n = len(job.frame)
        bars = list(job.bars) if job.bars is not None else sample_bars(n, job.samples)
        decisions = [int(b) for b in job.decision_bars]
        if len(bars) + len(decisions) > MAX_CAUSALITY_BARS or any(
            not 0 <= int(b) < n for b in [*bars, *decisions]
        ):
            raise ValueError(
                f"causality bars must be up to {MAX_CAUSALITY_BARS} bars within the frame"
            )
        if job.window < 0 or job.horizon < 1 or job.budget_seconds < 0 or job.seed < 0:
            raise ValueError("causality window, budget and seed must be >= 0 and horizon >= 1 bars")
        if job.auto_decisions and (
            decisions
            or not 0 <= job.first_traded <= n
            or not 0 <= job.max_decisions <= MAX_CAUSALITY_BARS - len(bars)
        ):
            raise ValueError(
                "auto_decisions takes no decision_bars, a first_traded bar within the frame and "
                f"at most {MAX_CAUSALITY_BARS} bars in all"
            )
        if not 0 <= job.budget_fraction <= 10:
            raise ValueError("causality budget_fraction must be within [0, 10]")
        budget = min(job.budget_seconds, limits.wall_seconds / 4, limits.cpu_seconds / 4)
        params = {} if model else checked_params(schema, job.params)
        header = protocol.JobHeader(
            kind="causality",
            params=params,
            bars=[int(b) for b in bars],
            decision_bars=decisions,
            window=job.window,
            horizon=job.horizon,
            budget_seconds=budget,
            seed=job.seed,
            auto_decisions=job.auto_decisions,
            first_traded=job.first_traded,
            max_decisions=job.max_decisions if job.auto_decisions else 0,
            budget_fraction=job.budget_fraction,
            min_budget_seconds=min(MIN_DECISION_BUDGET_SECONDS, budget),
            **common,
        )
        if job.fit_frame is not None:
            frames.append(("fit_frame", job.fit_frame))
    else:
        raise TypeError(f"not a sandbox job: {type(job).__name__}")
    predict_frame = dict(frames).get("frame")
    bars_count = len(predict_frame) if predict_frame is not None else 0
    return header, frames, model, bars_count


def interpret(
    job: Job,
    limits: Limits,
    data: bytes,
    too_large: bool,
    exit_info: dict[str, Any],
    bars: int,
    elapsed_ms: float,
) -> Result:
    code = exit_info.get("exit_code")
    sig = exit_info.get("signal")
    cpu = float(exit_info.get("cpu_seconds") or 0.0)
    if exit_info.get("timed_out"):
        raise ResourceLimitError(
            "wall",
            f"the algorithm ran longer than the {limits.wall_seconds:g} s wall-clock limit and was stopped",
        )
    if too_large:
        raise ResourceLimitError(
            "output",
            f"the algorithm's output exceeded {limits.max_output_bytes} bytes and was discarded",
        )
    # SIGXCPU comes only from RLIMIT_CPU (the child's own usage may be reported a little
    # under the limit); SIGKILL counts as the CPU limit when the usage reached it (the
    # hard limit kills a process that ignores SIGXCPU).
    cpu_spent = cpu >= limits.cpu_seconds - 0.05
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_spent):
        raise ResourceLimitError(
            "cpu",
            f"the algorithm used more than {limits.cpu_seconds:g} s of CPU time and was stopped",
        )
    if code == EXIT_WALL_FAILED:
        detail = "a sandbox wall could not be raised"
        with contextlib.suppress(protocol.ProtocolError):
            header, _, _ = protocol.decode_reply(data, bars=bars, max_model_bytes=0)
            if header.error is not None:
                detail = f"a sandbox wall could not be raised: {header.error.message}"
        raise SandboxUnavailableError(detail)
    if code != 0:
        if sig is not None:
            name = (
                signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
            )
            raise WorkerCrashedError(f"the algorithm's process was killed by signal {name}")
        raise WorkerCrashedError(f"the algorithm's process exited unexpectedly (code {code})")
    try:
        header, arrays, model = protocol.decode_reply(
            data, bars=bars, max_model_bytes=limits.max_output_bytes
        )
    except protocol.ProtocolError as exc:
        raise SandboxProtocolError(f"the sandbox returned an invalid reply: {exc}") from None
    stats = RunStats(
        wall_ms=elapsed_ms,
        cpu_seconds=cpu,
        max_rss_mb=float(exit_info.get("max_rss_kb") or 0) / 1024.0,
        output=header.output,
    )
    if not header.ok:
        error = header.error
        if error is None:
            raise SandboxProtocolError("the sandbox reported a failure without an error")
        if error.kind == "memory":
            raise ResourceLimitError(
                "memory",
                f"the algorithm ran out of memory (limit {limits.memory_mb} MiB): {error.message}",
            )
        if error.kind == "wall":
            raise SandboxUnavailableError(error.message)
        raise _user_error(error, header.output)
    return _result(job, header, arrays, model, stats, bars)


def expected_arrays(job: Job) -> int:
    if isinstance(job, SweepJob):
        return len(job.param_sets)
    if isinstance(job, FitJob):
        return 1 if job.predict_frame is not None else 0
    return 1


def _user_error(error: protocol.ErrorInfo, output: str) -> UserCodeError:
    return UserCodeError(error.kind, error.type, error.message, error.traceback, error.line, output)


def _need(condition: bool, what: str) -> None:
    if not condition:
        raise SandboxProtocolError(f"the sandbox returned an invalid reply: {what}")


def _result(
    job: Job,
    header: protocol.ReplyHeader,
    arrays: list[protocol.FloatArray],
    model: bytes | None,
    stats: RunStats,
    bars: int,
) -> Result:
    if isinstance(job, PredictJob):
        _need(len(arrays) == 1 and model is None, "expected one positions array")
        return PredictResult(positions=arrays[0], stats=stats)
    if isinstance(job, FitJob):
        expected = 1 if job.predict_frame is not None else 0
        _need(model is not None and len(arrays) == expected, "expected a model and positions")
        assert model is not None
        return FitResult(model=model, positions=arrays[0] if arrays else None, stats=stats)
    if isinstance(job, SweepJob):
        entries = header.sweep
        _need(
            entries is not None and len(entries) == len(job.param_sets),
            "expected one entry per set",
        )
        assert entries is not None
        outcomes: list[SweepOutcome] = []
        pending = iter(arrays)
        for params, entry in zip(job.param_sets, entries, strict=True):
            if entry.ok:
                outcomes.append(SweepOutcome(params=params, positions=next(pending), error=None))
            else:
                _need(entry.error is not None, "a failed sweep entry without an error")
                assert entry.error is not None
                outcomes.append(
                    SweepOutcome(params=params, positions=None, error=_user_error(entry.error, ""))
                )
        return SweepResult(outcomes=outcomes, stats=stats)
    info = header.causality
    _need(info is not None and len(arrays) == 1, "expected a causality report")
    assert info is not None
    first = info.first_difference
    _need(first is None or first < bars, "difference outside the frame")
    return CausalityResult(
        first_difference=first,
        first_difference_at=None if first is None else job.frame.index[first].to_pydatetime(),
        truncated_at=info.truncated_at,
        checked_bars=list(info.checked),
        positions=arrays[0],
        stats=stats,
        decision_bars_checked=info.decisions_checked,
        decision_changes=info.decisions_total,
        predict_ms=info.predict_ms,
        check_ms=info.check_ms,
    )


def sealed_memfd(payload: bytes) -> int:
    fd = os.memfd_create("omc-sandbox-job", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(payload)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd
