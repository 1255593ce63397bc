"""The data channel between the trusted process and a sandbox child.

Job (trusted -> child), written to a sealed memfd the child reads::

    b"OMCJ" | u32 header length | header (JSON) | frame arrays | model blob

Reply (child -> trusted), written to a pipe::

    b"OMCR" | u32 header length | header (JSON) | float64 position arrays | model blob

The trusted side never unpickles anything from a child: the reply header is JSON checked
against a strict pydantic model (sizes capped, no unknown fields), positions are raw
little-endian float64 whose count is known in advance and whose values are checked (finite,
in [0, 1]), and the model blob is opaque bytes that are only ever unpickled inside another
sandbox child.
"""

import struct
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

JOB_MAGIC = b"OMCJ"
REPLY_MAGIC = b"OMCR"
MODEL_MAGIC = b"OMCM\x01"
PREFIX = struct.Struct("<4sI")
MAX_REPLY_HEADER = 1 << 20
MAX_MESSAGE_CHARS = 4_000
MAX_TRACEBACK_CHARS = 16_000
MAX_OUTPUT_CHARS = 16_000

FloatArray = npt.NDArray[np.float64]
JobKind = Literal["run", "sweep", "causality"]
ErrorKind = Literal["user", "parameters", "positions", "memory", "model", "wall", "internal"]


class ProtocolError(ValueError):
    """The child's reply is malformed or breaks the contract."""


# --- frames ---------------------------------------------------------------------------------


class FrameSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: int = Field(ge=0)
    columns: list[list[str]]
    column_names: list[str | None]
    index_name: str | None
    offset: int = Field(ge=0)


def frame_to_bytes(frame: pd.DataFrame, offset: int) -> tuple[FrameSpec, bytes]:
    """A price frame as (spec, raw bytes): the UTC index as int64 nanoseconds, then each
    column as float64. Raises ValueError for anything else."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError("the price frame must be a pandas DataFrame")
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ValueError("the price frame must be indexed by timezone-aware (UTC) timestamps")
    if not (index.is_monotonic_increasing and index.is_unique):
        raise ValueError("the price frame's timestamps must be strictly increasing")
    columns = frame.columns
    levels = columns.nlevels
    names = [
        [str(part) for part in (c if isinstance(c, tuple) else (c,))] for c in columns.tolist()
    ]
    try:
        values = frame.to_numpy(dtype=np.float64, copy=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"every price frame column must be numeric: {exc}") from None
    naive = index.tz_convert("UTC").tz_localize(None)
    stamps = np.asarray(naive, dtype="datetime64[ns]").view(np.int64).astype("<i8", copy=False)
    body = stamps.tobytes() + np.ascontiguousarray(values.T, dtype="<f8").tobytes()
    spec = FrameSpec(
        rows=len(frame),
        columns=names,
        column_names=[None if n is None else str(n) for n in columns.names][:levels],
        index_name=None if index.name is None else str(index.name),
        offset=offset,
    )
    return spec, body


def frame_from_buffer(spec: FrameSpec, data: memoryview) -> pd.DataFrame:
    n = spec.rows
    k = len(spec.columns)
    stamps = np.frombuffer(data, dtype="<i8", count=n, offset=spec.offset)
    values = np.frombuffer(data, dtype="<f8", count=n * k, offset=spec.offset + 8 * n)
    index = pd.DatetimeIndex(stamps.astype("datetime64[ns]"), name=spec.index_name).tz_localize(
        "UTC"
    )
    matrix = values.reshape(k, n).T.copy() if k else np.empty((n, 0))
    if spec.columns and len(spec.columns[0]) > 1:
        columns: pd.Index = pd.MultiIndex.from_tuples(
            [tuple(c) for c in spec.columns], names=spec.column_names
        )
    else:
        columns = pd.Index([c[0] for c in spec.columns], name=(spec.column_names or [None])[0])
    return pd.DataFrame(matrix, index=index, columns=columns, copy=False)


# --- jobs -----------------------------------------------------------------------------------


class JobHeader(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: JobKind
    code: str
    params: dict[str, Any] = Field(default_factory=dict)
    param_sets: list[dict[str, Any]] = Field(default_factory=list)
    frame: FrameSpec | None = None  # predict on this
    fit_frame: FrameSpec | None = None  # fit on this first
    model_len: int = 0  # a fitted model to start from
    return_model: bool = False
    bars: list[int] = Field(default_factory=list)  # causality: sampled truncation points
    decision_bars: list[int] = Field(default_factory=list)  # causality: windowed truncations
    window: int = Field(default=0, ge=0)
    horizon: int = Field(default=0, ge=0)
    budget_seconds: float = Field(default=0.0, ge=0)  # causality: time for decision bars
    seed: int = Field(default=0, ge=0)
    auto_decisions: bool = False  # causality: the child picks the decision bars itself
    first_traded: int = Field(default=0, ge=0)
    max_decisions: int = Field(default=0, ge=0)
    budget_fraction: float = Field(default=0.0, ge=0)  # causality: budget share of predict
    min_budget_seconds: float = Field(default=0.0, ge=0)
    max_model_bytes: int = 0


def encode_job(
    header: JobHeader, frames: Sequence[tuple[str, pd.DataFrame]], model: bytes | None
) -> bytes:
    """The job as one byte string (header, frames, model)."""
    bodies: list[bytes] = []
    offset = 0
    for field_name, frame in frames:
        spec, body = frame_to_bytes(frame, offset)
        setattr(header, field_name, spec)
        bodies.append(body)
        offset += len(body)
    header.model_len = len(model or b"")
    head = header.model_dump_json().encode()
    return b"".join([PREFIX.pack(JOB_MAGIC, len(head)), head, *bodies, model or b""])


def decode_job(data: memoryview) -> tuple[JobHeader, memoryview, bytes | None]:
    magic, length = PREFIX.unpack_from(data, 0)
    if magic != JOB_MAGIC:
        raise ProtocolError("not a job")
    header = JobHeader.model_validate_json(bytes(data[PREFIX.size : PREFIX.size + length]))
    body = data[PREFIX.size + length :]
    frames_len = len(body) - header.model_len
    model = bytes(body[frames_len:]) if header.model_len else None
    return header, body[:frames_len], model


# --- replies --------------------------------------------------------------------------------

Message = Annotated[str, StringConstraints(max_length=MAX_MESSAGE_CHARS)]
Traceback = Annotated[str, StringConstraints(max_length=MAX_TRACEBACK_CHARS)]
ShortText = Annotated[str, StringConstraints(max_length=200)]


class ErrorInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    kind: ErrorKind
    type: ShortText
    message: Message
    traceback: Traceback = ""
    line: int | None = None


class SweepEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    ok: bool
    error: ErrorInfo | None = None


class CausalityInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    first_difference: int | None = Field(default=None, ge=0)
    truncated_at: int | None = Field(default=None, ge=0)
    checked: list[int] = Field(default_factory=list, max_length=100_000)
    decisions_checked: int = Field(default=0, ge=0)
    decisions_total: int = Field(default=0, ge=0)
    predict_ms: float = Field(default=0.0, ge=0)
    check_ms: float = Field(default=0.0, ge=0)


class ReplyHeader(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    ok: bool
    error: ErrorInfo | None = None
    bars: int = Field(default=0, ge=0)
    arrays: int = Field(default=0, ge=0)
    sweep: list[SweepEntry] | None = Field(default=None, max_length=100_000)
    causality: CausalityInfo | None = None
    model_len: int = Field(default=0, ge=0)
    output: Annotated[str, StringConstraints(max_length=MAX_OUTPUT_CHARS)] = ""
    walls: dict[ShortText, ShortText] = Field(default_factory=dict, max_length=32)


def reply_parts(
    header: ReplyHeader, arrays: Sequence[FloatArray], model: bytes | None
) -> list[bytes | memoryview]:
    """The reply as consecutive buffers (the arrays' own memory, not copies): a sweep's
    replies are tens of megabytes, written straight to the pipe part by part."""
    head = header.model_dump_json().encode()
    parts: list[bytes | memoryview] = [PREFIX.pack(REPLY_MAGIC, len(head)), head]
    for a in arrays:
        parts.append(np.ascontiguousarray(a, dtype="<f8").data.cast("B"))
    parts.append(model or b"")
    return parts


def encode_reply(header: ReplyHeader, arrays: Sequence[FloatArray], model: bytes | None) -> bytes:
    return b"".join(reply_parts(header, arrays, model))


def decode_reply(
    data: bytes, *, bars: int, max_model_bytes: int
) -> tuple[ReplyHeader, list[FloatArray], bytes | None]:
    """Parse and check a reply; raise `ProtocolError` on anything unexpected."""
    if len(data) < PREFIX.size:
        raise ProtocolError("the reply is empty or truncated")
    magic, length = PREFIX.unpack_from(data, 0)
    if magic != REPLY_MAGIC or length > MAX_REPLY_HEADER or PREFIX.size + length > len(data):
        raise ProtocolError("the reply does not start with a valid header")
    raw = data[PREFIX.size : PREFIX.size + length]
    try:
        header = ReplyHeader.model_validate_json(raw)
    except (ValueError, TypeError, RecursionError) as exc:
        raise ProtocolError(f"the reply header is invalid: {str(exc)[:300]}") from None
    if header.ok and header.arrays and header.bars != bars:
        raise ProtocolError(f"the reply has {header.bars} bars, expected {bars}")
    if header.model_len > max_model_bytes:
        raise ProtocolError("the reply's model is larger than allowed")
    if header.sweep is not None and header.arrays != sum(e.ok for e in header.sweep):
        raise ProtocolError("the reply's sweep entries do not match its arrays")
    body = memoryview(data)[PREFIX.size + length :]
    expected = header.arrays * bars * 8 + header.model_len
    if len(body) != expected:
        raise ProtocolError(f"the reply carries {len(body)} bytes of data, expected {expected}")
    arrays: list[FloatArray] = []
    for i in range(header.arrays):
        values = np.frombuffer(body, dtype="<f8", count=bars, offset=i * bars * 8).astype(
            np.float64
        )
        if not np.isfinite(values).all():
            raise ProtocolError("the reply's positions contain NaN or infinity")
        if values.size and (values.min() < 0.0 or values.max() > 1.0):
            raise ProtocolError("the reply's positions are outside [0, 1]")
        arrays.append(values)
    model = bytes(body[header.arrays * bars * 8 :]) if header.model_len else None
    return header, arrays, model
