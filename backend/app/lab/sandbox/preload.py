"""What the sandbox forkserver imports once, before it forks any child.

Rules:
- Every module user code may import is preloaded, so a child never reads library files
  after its walls are up: the scientific packages and their commonly used submodules, the
  standard-library modules the code policy allows (taken from `app.lab.code_policy`, the one
  list, never copied here), and what the child itself needs to run a job.
- Preloading imports trusted code only and never the app's settings; the templates are run
  once on a synthetic frame to warm caches, then forgotten.
"""

import importlib
import sys
from typing import Any

from app.lab.code_policy import ALLOWED_MODULES

_SCIENTIFIC = (
    # The libraries user code may import, and the submodules it commonly uses.
    "numpy",
    "pandas",
    "scipy",
    "scipy.stats",
    "scipy.signal",
    "scipy.optimize",
    "scipy.special",
    "scipy.linalg",
    "scipy.interpolate",
    "scipy.ndimage",
    "scipy.sparse",
    "scipy.spatial",
    "scipy.fft",
    "scipy.integrate",
    "scipy.cluster",
    "sklearn",
    "sklearn.base",
    "sklearn.calibration",
    "sklearn.cluster",
    "sklearn.compose",
    "sklearn.covariance",
    "sklearn.decomposition",
    "sklearn.discriminant_analysis",
    "sklearn.dummy",
    "sklearn.ensemble",
    "sklearn.exceptions",
    "sklearn.feature_selection",
    "sklearn.gaussian_process",
    "sklearn.impute",
    "sklearn.isotonic",
    "sklearn.kernel_ridge",
    "sklearn.linear_model",
    "sklearn.metrics",
    "sklearn.model_selection",
    "sklearn.multioutput",
    "sklearn.naive_bayes",
    "sklearn.neighbors",
    "sklearn.neural_network",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "sklearn.svm",
    "sklearn.tree",
    "sklearn.utils",
    "sklearn.utils.validation",
)

_CHILD_NEEDS = (
    "collections.abc",
    "pickle",
    "linecache",
    "traceback",
    "mmap",
    "pyseccomp",
    "app.lab.sdk",
    "app.lab.validation",
    "app.lab.sandbox.runner",
    "app.lab.sandbox.causality",
    "app.lab.sandbox.walls",
)


PRELOAD: tuple[str, ...] = (
    *_SCIENTIFIC,
    *sorted(m for m in ALLOWED_MODULES if m not in _SCIENTIFIC and m != "app.lab.sdk"),
    *_CHILD_NEEDS,
)


def preload() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    from app.lab.sandbox import runner
    from app.lab.templates import TEMPLATES

    runner.warm_up([t.source for t in TEMPLATES], warm_up_frame())
    sys.modules.pop("app.lab.templates", None)


def warm_up_frame() -> Any:
    import numpy as np
    import pandas as pd

    n = 600
    rng = np.random.default_rng(0)
    last = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))
    index = pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC", name="timestamp")
    return pd.DataFrame({"bid": last * 0.999, "ask": last * 1.001, "last": last}, index=index)
