"""What a sandbox child does once its walls are up: load the user's code behind an import
hook, run the job (predict, fit, sweep or causality check), and write the reply.

Runs only inside sandbox children (and the forkserver's warm-up). Everything here treats
the user's code as hostile but needs no secrecy: the walls, not this module, are the
security boundary; this module's job is clear errors and a well-formed reply.
"""

import builtins
import copy
import errno
import hashlib
import io
import linecache
import mmap
import os
import pickle  # nosec B403
import sys
import traceback
import types
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from app.lab.code_policy import DENIED_MODULES, attribute_refusal, import_refusal
from app.lab.sandbox.causality import causality_check, positions_of
from app.lab.sandbox.modules import PolicyError, module_view, safe_value
from app.lab.sandbox.protocol import (
    MAX_MESSAGE_CHARS,
    MAX_OUTPUT_CHARS,
    MAX_TRACEBACK_CHARS,
    MODEL_MAGIC,
    ErrorInfo,
    FloatArray,
    JobHeader,
    ReplyHeader,
    SweepEntry,
    decode_job,
    frame_from_buffer,
    reply_parts,
)
from app.lab.sdk.base import Algorithm
from app.lab.sdk.params import ParameterError
from app.lab.sdk.positions import PositionsError

FILENAME = "algorithm.py"
USER_MODULE = "omc_user_algorithm"

# Builtins user code does not get at run time (the static check refuses them too).
REMOVED_BUILTINS = (
    "eval",
    "exec",
    "compile",
    "open",
    "input",
    "breakpoint",
    "globals",
    "locals",
    "vars",
    "help",
    "memoryview",
    "exit",
    "quit",
)


class ModelError(Exception):
    """A fitted model blob cannot be used with this code."""


class _Capture(io.TextIOBase):
    """A bounded text sink for the user's print() and warnings."""

    def __init__(self, limit: int = MAX_OUTPUT_CHARS) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.size < self.limit:
            chunk = str(text)[: self.limit - self.size]
            self.parts.append(chunk)
            self.size += len(chunk)
        return len(text)

    def getvalue(self) -> str:
        return "".join(self.parts)


# --- the user's module ----------------------------------------------------------------------


def _guarded_import(
    name: str,
    globals: Mapping[str, Any] | None = None,
    locals: Mapping[str, Any] | None = None,
    fromlist: tuple[str, ...] | list[str] | None = (),
    level: int = 0,
) -> types.ModuleType:
    """The import hook: the policy's allowlist, and a view of the module (see `modules`)."""
    if level:
        raise ImportError("relative imports are not allowed")
    refusal = import_refusal(name, binds_top_level=not fromlist)
    for item in fromlist or () if refusal is None else ():
        full = f"{name}.{item}"
        refusal = attribute_refusal(item) or (
            f"import of {full!r} is not allowed"
            if full in DENIED_MODULES or any(full.startswith(d + ".") for d in DENIED_MODULES)
            else None
        )
        if refusal:
            break
    if refusal:
        raise ImportError(refusal)
    module = builtins.__import__(name, globals, locals, fromlist or (), 0)
    try:
        for item in fromlist or ():
            value = getattr(module, item, None)
            if isinstance(value, types.ModuleType):
                module_view(value)
        return module_view(module)
    except PolicyError as exc:
        raise ImportError(str(exc)) from None


def _own(obj: object) -> bool:
    """The user's algorithm (or its class): private attributes are its own business."""
    return isinstance(obj, Algorithm) or (isinstance(obj, type) and issubclass(obj, Algorithm))


def _refuse_attribute(obj: object, name: object) -> None:
    if not isinstance(name, str):
        raise TypeError("attribute name must be a string")
    refusal = attribute_refusal(name, private_ok=_own(obj))
    if refusal:
        raise PolicyError(refusal)


def _guarded_getattr(obj: object, name: str, *default: Any) -> Any:
    _refuse_attribute(obj, name)
    return safe_value(getattr(obj, name, *default))


def _guarded_setattr(obj: object, name: str, value: Any) -> None:
    _refuse_attribute(obj, name)
    setattr(obj, name, value)


def _guarded_delattr(obj: object, name: str) -> None:
    _refuse_attribute(obj, name)
    delattr(obj, name)


def _guarded_hasattr(obj: object, name: str) -> bool:
    _refuse_attribute(obj, name)
    return hasattr(obj, name)


def user_builtins() -> dict[str, Any]:
    namespace = dict(vars(builtins))
    for name in REMOVED_BUILTINS:
        namespace.pop(name, None)
    namespace["__import__"] = _guarded_import
    namespace["getattr"] = _guarded_getattr
    namespace["setattr"] = _guarded_setattr
    namespace["delattr"] = _guarded_delattr
    namespace["hasattr"] = _guarded_hasattr
    return namespace


def load_user_module(code: str) -> types.ModuleType:
    """Execute the user's code as the module `USER_MODULE` (registered in sys.modules so that
    fitted models can be pickled and unpickled), with guarded builtins."""
    module = types.ModuleType(USER_MODULE)
    module.__dict__["__builtins__"] = user_builtins()
    sys.modules[USER_MODULE] = module
    linecache.cache[FILENAME] = (len(code), None, code.splitlines(True), FILENAME)
    compiled = compile(code, FILENAME, "exec", dont_inherit=True)
    # bandit B102: user code, only ever inside the walled sandbox child
    exec(compiled, module.__dict__)  # nosec B102
    return module


def find_algorithm(module: types.ModuleType) -> type[Algorithm]:
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Algorithm)
        and value is not Algorithm
        and value.__module__ == module.__name__
    ]
    if len(found) != 1:
        names = ", ".join(c.__name__ for c in found) or "none"
        raise TypeError(f"the code must define exactly one Algorithm subclass (found: {names})")
    return found[0]


# --- models ---------------------------------------------------------------------------------


def code_digest(code: str) -> bytes:
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).digest()


def dump_model(algorithm: Algorithm, code: str) -> bytes:
    return MODEL_MAGIC + code_digest(code) + pickle.dumps(algorithm, protocol=5)


def load_model(blob: bytes, code: str, cls: type[Algorithm]) -> Algorithm:
    head = len(MODEL_MAGIC)
    if blob[:head] != MODEL_MAGIC:
        raise ModelError("the stored model is not a fitted Lab model")
    if blob[head : head + 32] != code_digest(code):
        raise ModelError("the model was fitted with a different version of the code: fit it again")
    # bandit B301: inside the sandbox child, digest-checked
    algorithm = pickle.loads(blob[head + 32 :])  # nosec B301
    if not isinstance(algorithm, cls):
        raise ModelError("the stored model is not an instance of the algorithm class")
    return algorithm


# --- errors ---------------------------------------------------------------------------------


def _text(value: object, limit: int) -> str:
    try:
        text = str(value)
    except Exception:
        text = "<unprintable>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# numpy's C file functions (fromfile, tofile, ...) report a refused open() this way.
_NULL_WITHOUT_EXCEPTION = "returned NULL without setting an exception"
FILE_ACCESS_REFUSED = "file access is not allowed in the Lab sandbox"


def sandbox_refusal(exc: BaseException) -> str | None:
    """What the sandbox refused, in words, when `exc` is a wall saying no; else None."""
    if isinstance(exc, SystemError) and _NULL_WITHOUT_EXCEPTION in str(exc):
        return FILE_ACCESS_REFUSED
    if isinstance(exc, PermissionError):
        if exc.filename is not None:
            return FILE_ACCESS_REFUSED
        return (
            "blocked by the sandbox: no network, no files outside the job's directory, "
            "no new processes"
        )
    return None


def error_info(exc: BaseException, kind: str | None = None) -> ErrorInfo:
    """The user's exception, with the traceback trimmed to frames of the user's code."""
    if isinstance(exc, RuntimeError) and exc.__cause__ is not None and "__set_name__" in str(exc):
        exc = exc.__cause__  # a parameter declaration failed while the class was created
    if kind is None:
        if isinstance(exc, MemoryError):
            kind = "memory"
        elif isinstance(exc, ParameterError):
            kind = "parameters"
        elif isinstance(exc, PositionsError):
            kind = "positions"
        elif isinstance(exc, ModelError):
            kind = "model"
        else:
            kind = "user"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == FILENAME]
    line = frames[-1].lineno if frames else None
    if isinstance(exc, SyntaxError) and exc.filename == FILENAME:
        line = exc.lineno
    try:
        summary = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
    except Exception:
        summary = type(exc).__name__
    lines = (
        ["Traceback (most recent call last):\n", *traceback.format_list(frames)] if frames else []
    )
    message = _text(exc, MAX_MESSAGE_CHARS - 200) or type(exc).__name__
    refusal = sandbox_refusal(exc)
    if refusal and isinstance(exc, SystemError):
        what = str(exc).split(_NULL_WITHOUT_EXCEPTION)[0].strip() or "a numpy function"
        message = f"{refusal}: {_text(what, 200)} tried to open a file"
    elif refusal:
        message = f"{refusal} ({message})"
    elif isinstance(exc, BlockingIOError) and exc.errno == errno.EAGAIN:
        message += " (the sandbox's process limit was reached)"
    return ErrorInfo(
        kind=kind,  # type: ignore[arg-type]
        type=_text(type(exc).__name__, 200),
        message=message,
        traceback=_text("".join(lines) + summary, MAX_TRACEBACK_CHARS),
        line=line,
    )


# --- jobs -----------------------------------------------------------------------------------


def _start(
    header: JobHeader, cls: type[Algorithm], model: bytes | None, fit_frame: pd.DataFrame | None
) -> Algorithm:
    algorithm = load_model(model, header.code, cls) if model is not None else cls(**header.params)
    if fit_frame is not None:
        algorithm.fit(fit_frame)
    return algorithm


def execute(
    header: JobHeader, data: memoryview, model: bytes | None
) -> tuple[ReplyHeader, list[FloatArray], bytes | None]:
    """Run a decoded job; user errors become an error reply."""
    X = frame_from_buffer(header.frame, data) if header.frame else None
    fit_frame = frame_from_buffer(header.fit_frame, data) if header.fit_frame else None
    bars = len(X) if X is not None else 0
    try:
        cls = find_algorithm(load_user_module(header.code))
        if header.kind == "sweep":
            return _sweep(header, cls, X, fit_frame)
        algorithm = _start(header, cls, model, fit_frame)
        if header.kind == "causality":
            assert X is not None
            return causality_check(header, algorithm, X)
        arrays = [positions_of(algorithm, X)] if X is not None else []
        blob = None
        if header.return_model:
            blob = dump_model(algorithm, header.code)
            if len(blob) > header.max_model_bytes:
                raise ModelError(
                    f"the fitted model takes {len(blob) / 2**20:.1f} MiB, more than the "
                    f"{header.max_model_bytes / 2**20:.1f} MiB allowed"
                )
        return (
            ReplyHeader(ok=True, bars=bars, arrays=len(arrays), model_len=len(blob or b"")),
            arrays,
            blob,
        )
    except Exception as exc:
        return ReplyHeader(ok=False, bars=bars, error=error_info(exc)), [], None


def _sweep(
    header: JobHeader, cls: type[Algorithm], X: pd.DataFrame | None, fit_frame: pd.DataFrame | None
) -> tuple[ReplyHeader, list[FloatArray], bytes | None]:
    assert X is not None
    entries: list[SweepEntry] = []
    arrays: list[FloatArray] = []
    for params in header.param_sets:
        try:
            algorithm = cls(**params)
            if fit_frame is not None:
                algorithm.fit(fit_frame)
            arrays.append(positions_of(algorithm, X))
            entries.append(SweepEntry(ok=True))
        except Exception as exc:
            entries.append(SweepEntry(ok=False, error=error_info(exc)))
    return ReplyHeader(ok=True, bars=len(X), arrays=len(arrays), sweep=entries), arrays, None


def child_main(job_fd: int, out_fd: int, walls: Mapping[str, str]) -> None:
    """Entry point of a walled child: read the job, run it, write the reply."""
    size = os.fstat(job_fd).st_size
    with mmap.mmap(job_fd, size, prot=mmap.PROT_READ) as mapped:
        header, data, model = decode_job(memoryview(mapped))
        data = memoryview(bytes(data))  # frames are copied out; the mapping can go
    os.close(job_fd)
    captured = _Capture()
    sys.stdout = sys.stderr = captured
    try:
        reply, arrays, blob = execute(header, data, model)
    except BaseException as exc:  # SystemExit, KeyboardInterrupt from user code
        reply, arrays, blob = ReplyHeader(ok=False, error=error_info(exc)), [], None
    reply.output = captured.getvalue()
    reply.walls = dict(walls)
    for part in reply_parts(reply, arrays, blob):
        write_all(out_fd, part)


def write_all(fd: int, payload: bytes | memoryview) -> None:
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def warm_up(sources: Iterable[str], frame: pd.DataFrame) -> None:
    """Exercise the common paths once (in the forkserver, on our own template code) so that
    lazily imported modules are loaded before children fork: a child cannot read most of
    the Python installation."""
    for source in sources:
        cls = find_algorithm(load_user_module(source))
        algorithm = cls().fit(frame)
        positions_of(algorithm, frame)
        blob = dump_model(algorithm, source)
        load_model(blob, source, cls).score(frame)
        copy.deepcopy(algorithm)
    try:
        raise ValueError("warm-up")
    except ValueError as exc:
        error_info(exc)
    sys.modules.pop(USER_MODULE, None)
    linecache.cache.pop(FILENAME, None)
    str(frame.describe())
