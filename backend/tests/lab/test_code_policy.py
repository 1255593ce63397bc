"""The code policy holds on both layers: routes from allowed modules to os, sys, socket,
subprocess and ctypes (private attributes of modules, attribute lookups by computed names,
modules reached through other modules) are refused by the static check, and the same code
run without the static check is stopped inside the sandbox by the module views, with a
clear message. File access through numpy says that file access is not allowed."""

from collections.abc import Iterator

import pandas as pd
import pytest

from app.lab.sandbox import (
    CodeRejectedError,
    Limits,
    PredictJob,
    SandboxPool,
    UserCodeError,
)
from app.lab.templates import TEMPLATES
from app.lab.validation import validate_code

pytestmark = pytest.mark.anyio

HEADER = (
    "import numpy as np\nimport pandas as pd\nfrom app.lab.sdk import Algorithm, to_positions\n"
)


def algorithm(body: str, imports: str = "") -> str:
    lines = "\n".join("        " + line for line in body.strip().splitlines())
    return (
        HEADER
        + imports
        + '\n\nclass Attack(Algorithm):\n    algorithm_type = "rule"\n\n'
        + "    def predict(self, X):\n"
        + lines
        + "\n        return pd.Series(0.0, index=X.index)\n"
    )


# name: (imports, body). Each reaches os, sys, socket, subprocess or ctypes (or a module
# that does) from code that names only allowed modules.
BYPASSES: dict[str, tuple[str, str]] = {
    "random_private_os": ("import random", "random._os.getpid()"),
    "from_random_import_private_os": ("from random import _os", "_os.getpid()"),
    "attrgetter_through_pandas": (
        "import operator",
        "operator.attrgetter('io.common.os')(pd).getpid()",
    ),
    "attrgetter_sys_modules": (
        "import warnings\nfrom operator import attrgetter",
        "attrgetter('sys.modules')(warnings)['socket'].socket()",
    ),
    "attrgetter_alias": (
        "import warnings\nfrom operator import attrgetter as ag",
        "ag('sys')(warnings).modules['subprocess']",
    ),
    "reduce_getattr": (
        "import functools",
        "functools.reduce(getattr, ['io', 'common', 'os'], pd).getpid()",
    ),
    "getattr_as_a_value": ("", "g = getattr\ng(pd, 'io').common.os.getpid()"),
    "getattr_computed_name": ("", "getattr(pd, 'i' + 'o').common.os.getpid()"),
    "typing_sys": ("import typing", "typing.sys.modules['ctypes'].CDLL(None)"),
    "dataclasses_sys": ("import dataclasses", "dataclasses.sys.modules['os'].getpid()"),
    "numpy_ctypeslib_by_getattr": ("", "getattr(np, 'ctypeslib').load_library('libc', '/lib')"),
    "pandas_io_chain": ("", "pd.io.common.get_handle('/etc/passwd', 'r')"),
    "scipy_io": ("import scipy", "scipy.io.loadmat('/etc/passwd')"),
    "methodcaller_dunder": ("import operator", "operator.methodcaller('__reduce_ex__', 2)(self)"),
    "attrgetter_computed": ("import operator", "operator.attrgetter('o' + 's')(pd.io.common)"),
    "pandas_eval": ("", "pd.eval('1 + 1')"),
}


@pytest.mark.parametrize("name", sorted(BYPASSES))
def test_the_static_check_refuses_each_bypass_on_its_line(name: str) -> None:
    imports, body = BYPASSES[name]
    code = algorithm(body, imports)
    result = validate_code(code)
    assert not result.valid, name
    lines = code.splitlines()
    bypass_lines = {
        i
        for i, line in enumerate(lines, start=1)
        if line.strip() in {*imports.splitlines(), *body.splitlines()} and line.strip()
    }
    assert any(e.line in bypass_lines for e in result.errors), [
        e.model_dump() for e in result.errors
    ]
    assert all("not allowed" in e.message or "literal" in e.message for e in result.errors), [
        e.message for e in result.errors
    ]


def test_legitimate_uses_stay_allowed() -> None:
    code = algorithm(
        "self._cache = 1\n"
        "self.signal = X.query('bid > 0').index\n"
        "value = getattr(self, '_cache')\n"
        "key = attrgetter('index')\n"
        "rows = sorted([X], key=key)\n"
        "total = functools.reduce(operator.add, [1, 2, 3])\n"
        "window = np.random.default_rng(0).normal(size=3)",
        "import functools\nimport operator\nfrom operator import attrgetter",
    )
    result = validate_code(code)
    assert result.valid, result.errors
    for template in TEMPLATES:
        assert validate_code(template.source).valid, template.key


@pytest.fixture(scope="module")
def unchecked_pool() -> Iterator[SandboxPool]:
    """A pool that skips the static check: what the sandbox does on its own."""
    sandbox = SandboxPool(
        workers=1,
        limits=Limits(cpu_seconds=20, wall_seconds=30, memory_mb=2048, max_processes=4),
        uid_base=61100,
        check_code=False,
    )
    sandbox.start()
    yield sandbox
    sandbox.close()


@pytest.mark.parametrize("name", sorted(BYPASSES))
async def test_without_the_static_check_the_sandbox_stops_each_bypass_clearly(
    unchecked_pool: SandboxPool, coin_frame: pd.DataFrame, name: str
) -> None:
    imports, body = BYPASSES[name]
    with pytest.raises(UserCodeError) as stopped:
        await unchecked_pool.predict(PredictJob(code=algorithm(body, imports), frame=coin_frame))
    message = stopped.value.message
    assert "not allowed" in message or "not available in the Lab sandbox" in message, message
    assert stopped.value.error_type in ("PolicyError", "ImportError"), stopped.value.error_type


async def test_templates_run_unchanged_behind_the_module_views(
    unchecked_pool: SandboxPool, coin_frame: pd.DataFrame
) -> None:
    template = next(t for t in TEMPLATES if t.key == "ma_crossover")
    result = await unchecked_pool.predict(PredictJob(code=template.source, frame=coin_frame))
    assert len(result.positions) == len(coin_frame)


NUMPY_FILE_ACCESS = {
    "save": "np.save('/tmp/omc-escape.npy', np.ones(3))",
    "fromfile": "np.fromfile('/etc/passwd', dtype=np.uint8)",
    "tofile": "np.ones(3).tofile('/tmp/omc-escape.bin')",
    "load": "np.load('/etc/passwd', allow_pickle=False)",
}


@pytest.mark.parametrize("name", sorted(NUMPY_FILE_ACCESS))
async def test_file_access_with_numpy_says_file_access_is_not_allowed(
    pool: SandboxPool, coin_frame: pd.DataFrame, name: str
) -> None:
    code = algorithm(NUMPY_FILE_ACCESS[name])
    assert validate_code(code).valid  # nothing in it is refused statically
    with pytest.raises(UserCodeError) as stopped:
        await pool.predict(PredictJob(code=code, frame=coin_frame))
    message = stopped.value.message
    assert "file access is not allowed in the Lab sandbox" in message, message
    assert "NULL without setting an exception" not in message


async def test_a_rejected_bypass_names_the_rule(
    pool: SandboxPool, coin_frame: pd.DataFrame
) -> None:
    imports, body = BYPASSES["random_private_os"]
    with pytest.raises(CodeRejectedError) as refused:
        await pool.predict(PredictJob(code=algorithm(body, imports), frame=coin_frame))
    assert "private attribute `_os`" in str(refused.value)
