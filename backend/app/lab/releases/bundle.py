"""The release bundle: its canonical manifest, its content hash and the downloadable file.

Rules:
- The content hash is sha256 over the canonical JSON (sorted keys, no spaces, UTF-8) of the
  manifest: code and its hash, class, type, parameters, parameter schema, fitted models (by
  their sha256), library versions, costs, warm-up window, training window and the evidence
  (run ids and their metrics). Change any of these and the hash changes; change nothing and
  it does not. The checklist is not hashed: it records when and how fast the check ran.
- The file a user downloads is a zip with fixed timestamps (the same release always gives
  the same bytes): `manifest.json` (with `content_hash`), `algorithm.py`, and
  `models/<COIN>.bin` for fitted state. Model bytes are copied as stored, never loaded.
"""

import hashlib
import io
import json
import platform
import zipfile
from importlib import metadata
from typing import Any

LIBRARIES = ("numpy", "pandas", "scikit-learn")
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def library_versions() -> dict[str, str]:
    """Versions the release is checked with (the sandbox runs the app's interpreter)."""
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def manifest(
    *,
    code: str,
    code_hash: str,
    class_name: str,
    algorithm_type: str,
    parameters: dict[str, Any],
    parameter_schema: dict[str, Any],
    models: dict[str, str],
    libraries: dict[str, str],
    costs: dict[str, Any],
    warmup_bars: int,
    training: dict[str, Any] | None,
    evidence: dict[str, Any],
) -> dict[str, Any]:
    return {
        "format": 1,
        "code": code,
        "code_hash": code_hash,
        "class_name": class_name,
        "algorithm_type": algorithm_type,
        "parameters": parameters,
        "parameter_schema": parameter_schema,
        "models": dict(sorted(models.items())),
        "libraries": libraries,
        "costs": costs,
        "warmup_bars": warmup_bars,
        "training": training,
        "evidence": evidence,
    }


def content_hash(manifest_: dict[str, Any]) -> str:
    return sha256(canonical(manifest_))


def archive(manifest_: dict[str, Any], hash_: str, models: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:

        def add(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)

        body = {**manifest_, "content_hash": hash_}
        add("manifest.json", json.dumps(body, sort_keys=True, indent=2).encode())
        add("algorithm.py", str(manifest_["code"]).encode())
        for coin, data in sorted(models.items()):
            add(f"models/{coin}.bin", data)
    return buffer.getvalue()
