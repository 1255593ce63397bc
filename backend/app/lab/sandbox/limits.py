"""Resource limits of sandbox jobs: defaults from settings, per-run overrides that may only
tighten them."""

from dataclasses import dataclass, fields, replace
from typing import Any, Self

MIN_MEMORY_MB = 768  # numpy + pandas + scikit-learn need this much address space to start


@dataclass(frozen=True)
class Limits:
    cpu_seconds: float = 60.0
    wall_seconds: float = 120.0
    memory_mb: int = 2048
    max_processes: int = 4
    max_output_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        if not self.cpu_seconds > 0 or not self.wall_seconds > 0:
            raise ValueError("cpu_seconds and wall_seconds must be positive")
        if self.memory_mb < MIN_MEMORY_MB:
            raise ValueError(f"memory_mb must be at least {MIN_MEMORY_MB}")
        if self.max_processes < 1:
            raise ValueError("max_processes must be at least 1")
        if self.max_output_bytes < 1024:
            raise ValueError("max_output_bytes must be at least 1024")

    @classmethod
    def from_settings(cls) -> Self:
        from app.core.config import settings

        return cls(
            cpu_seconds=settings.SANDBOX_CPU_SECONDS,
            wall_seconds=settings.SANDBOX_WALL_SECONDS,
            memory_mb=settings.SANDBOX_MEMORY_MB,
            max_processes=settings.SANDBOX_MAX_PROCESSES,
            max_output_bytes=settings.SANDBOX_MAX_OUTPUT_BYTES,
        )

    def narrowed(self, **overrides: Any) -> Self:
        """These limits with some tightened; raises ValueError if an override would loosen
        one (per-run overrides are bounded by the settings)."""
        known = {f.name for f in fields(self)}
        for name, value in overrides.items():
            if name not in known:
                raise ValueError(f"unknown limit {name!r}")
            if value > getattr(self, name):
                raise ValueError(
                    f"{name}={value} exceeds the configured limit {getattr(self, name)}"
                )
        return replace(self, **overrides)

    def check_within(self, bound: "Limits") -> None:
        for f in fields(self):
            if getattr(self, f.name) > getattr(bound, f.name):
                raise ValueError(
                    f"{f.name}={getattr(self, f.name)} exceeds the configured limit "
                    f"{getattr(bound, f.name)}"
                )
