"""The Lab's code policy: which modules user code may import and which names and attributes
it may not touch. One policy, enforced twice:

- statically, by `app.lab.validation` (readable errors with line numbers, before anything
  runs);
- at run time, inside every sandbox child, by the import hook and the module views of
  `app.lab.sandbox.modules` (so code that slips past the static check meets the same rules).

Rules it keeps:

- A module is importable when it is inside `ALLOWED_MODULES` and not inside
  `DENIED_MODULES` (parts of allowed packages that reach files, processes or native code).
- No double-underscore names or attributes except a few harmless ones; no private
  attributes (a leading ``_``) except on ``self``/``cls``: ``random._os`` is the classic way
  from an allowed module to a forbidden one.
- No attribute named like a dangerous module or a frame internal (`FORBIDDEN_ATTRIBUTES`),
  whatever object it is looked up on.
- Attributes are looked up by literal names only: ``getattr`` and friends with a literal
  name, ``operator.attrgetter``/``methodcaller`` with literal names whose every part passes
  the rules above, and none of them passed around as values (``reduce(getattr, ...)``).

This is a policy layer for early, readable errors. It is NOT the security boundary: the
sandbox's operating-system walls hold even against code that passes it.
"""

import re
from collections.abc import Iterable

# --- the import allowlist (also enforced at run time by the sandbox's import hook) ---
# A module is allowed when it is one of these or inside one of these packages.
ALLOWED_MODULES: frozenset[str] = frozenset(
    {
        "app.lab.sdk",
        "numpy",
        "pandas",
        "sklearn",
        "scipy",
        "math",
        "cmath",
        "statistics",
        "random",
        "collections",
        "itertools",
        "functools",
        "operator",
        "dataclasses",
        "typing",
        "enum",
        "abc",
        "copy",
        "datetime",
        "decimal",
        "fractions",
        "numbers",
        "heapq",
        "bisect",
        "re",
        "json",
        "warnings",
        "__future__",
    }
)

# Parts of allowed packages that exist to reach files, processes or native code.
DENIED_MODULES: frozenset[str] = frozenset(
    {
        "numpy.ctypeslib",
        "numpy.f2py",
        "numpy.distutils",
        "numpy.testing",
        "pandas.io",
        "pandas.util",
        "scipy.io",
        "scipy.datasets",
        "sklearn.datasets",
        "sklearn.externals",
        "sklearn.utils._testing",
    }
)

SDK_MODULE = "app.lab.sdk"


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def import_refusal(name: str, *, binds_top_level: bool) -> str | None:
    """Why importing module `name` is refused, or None when it is allowed.

    `binds_top_level` is true for ``import a.b.c`` (which binds ``a`` in the namespace)
    and false for ``from a.b.c import x``.
    """
    if not name or name.startswith("."):
        return "relative imports are not allowed"
    if any(_within(name, denied) for denied in DENIED_MODULES):
        return f"import of {name!r} is not allowed (it reaches files, processes or native code)"
    if not any(_within(name, allowed) for allowed in ALLOWED_MODULES):
        return f"import of {name!r} is not allowed; allowed modules: {allowed_list()}"
    if binds_top_level and _within(name, SDK_MODULE):
        return f"write `from {SDK_MODULE} import ...` instead of `import {name}`"
    return None


def allowed_list() -> str:
    return ", ".join(sorted(m for m in ALLOWED_MODULES if m != "__future__"))


# Builtins that evaluate code, reach the file system or the interpreter's internals.
FORBIDDEN_NAMES = frozenset(
    {
        "eval",
        "exec",
        "compile",
        "open",
        "globals",
        "locals",
        "vars",
        "breakpoint",
        "input",
        "help",
        "memoryview",
        "__import__",
        "__builtins__",
        "__loader__",
        "__spec__",
    }
)
ATTRIBUTE_BUILTINS = frozenset({"getattr", "setattr", "delattr", "hasattr"})
# Double-underscore names that are harmless and common.
ALLOWED_DUNDER_ATTRIBUTES = frozenset({"__init__", "__name__", "__doc__"})
ALLOWED_DUNDER_NAMES = frozenset({"__name__", "__doc__"})
ALLOWED_DUNDER_METHODS = frozenset(
    {
        "__init__",
        "__repr__",
        "__str__",
        "__len__",
        "__iter__",
        "__next__",
        "__eq__",
        "__ne__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__hash__",
        "__call__",
        "__getitem__",
        "__contains__",
        "__bool__",
    }
)
# Attributes of frames, generators, coroutines and code objects: the classic ways back to
# an unrestricted namespace.
FORBIDDEN_ATTRIBUTES = frozenset(
    {
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "f_code",
        "gi_frame",
        "gi_code",
        "cr_frame",
        "cr_code",
        "ag_frame",
        "ag_code",
        "tb_frame",
        "tb_next",
        "co_code",
        "func_globals",
        # Modules that allowed libraries re-export (np.ctypeslib, pd.io.common.os, ...): the
        # walls stop what they could do, and the static check refuses reaching for them.
        "ctypeslib",
        "ctypes",
        "_ctypes",
        "os",
        "sys",
        "subprocess",
        "builtins",
        "importlib",
        "load_library",
        # More modules that reach files, processes, the interpreter or native code, as
        # re-exported by allowed ones (random._os, typing.sys, ...).
        "modules",
        "socket",
        "shutil",
        "pathlib",
        "posix",
        "mmap",
        "multiprocessing",
        "threading",
        "pickle",
        "marshal",
        "tempfile",
        "gc",
        "inspect",
        "weakref",
        "atexit",
        "faulthandler",
        "joblib",
        "threadpoolctl",
        # pandas' string evaluator (pd.eval, DataFrame.eval).
        "eval",
    }
)
_DUNDER = re.compile(r"^__\w+__$")
# "{0.__class__}".format(x) reaches attributes through a format string.
_FORMAT_DUNDER = re.compile(r"\{[^{}]*__\w*__")


# Callables that look attributes up by a name given as data.
DYNAMIC_GETTERS = frozenset({"attrgetter", "methodcaller"})
# Names private attributes may be used on: the algorithm's own state.
PRIVATE_OWNERS = frozenset({"self", "cls"})


def is_dunder(name: str) -> bool:
    return bool(_DUNDER.match(name))


def is_private(name: str) -> bool:
    return name.startswith("_") and not is_dunder(name)


def attribute_refusal(name: str, *, private_ok: bool = False) -> str | None:
    """Why looking up the attribute `name` is refused (anywhere), or None."""
    if is_dunder(name) and name not in ALLOWED_DUNDER_ATTRIBUTES:
        return f"access to the attribute `{name}` is not allowed"
    if name in FORBIDDEN_ATTRIBUTES:
        return f"access to the attribute `{name}` is not allowed"
    if is_private(name) and not private_ok:
        return (
            f"access to the private attribute `{name}` is not allowed "
            "(only `self._name` and `cls._name`)"
        )
    return None


def dotted_refusal(names: Iterable[str]) -> str | None:
    """Why an ``attrgetter("a.b.c")`` path is refused, or None: every part must pass."""
    for name in names:
        for part in name.split("."):
            refusal = attribute_refusal(part)
            if refusal:
                return refusal
    return None


def module_refusal(name: str) -> str | None:
    """Why the module `name` may not be reached (imported or through another module's
    attribute), or None."""
    return import_refusal(name, binds_top_level=False)
