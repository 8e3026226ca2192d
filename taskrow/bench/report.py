"""What a scenario reports: named figures, printed as a table or as JSON."""

from __future__ import annotations

import dataclasses
import json
import platform
import statistics
from typing import Any

import psutil


@dataclasses.dataclass
class Report:
    """Rows of (label, value, unit) for people; ``figures`` (flat, numeric) for machines."""

    scenario: str
    rows: list[tuple[str, float | str, str]] = dataclasses.field(default_factory=list)
    figures: dict[str, Any] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)

    def add(self, key: str, label: str, value: float | str | None, unit: str = "") -> None:
        """Record one figure (None: not measured, shown as ``-``)."""
        self.figures[key] = value
        self.rows.append((label, "-" if value is None else value, unit))

    def table(self) -> str:
        width = max([len(label) for label, _, _ in self.rows] + [10])
        lines = [f"taskrow bench {self.scenario}", ""]
        lines += [
            f"  {label:<{width}}  {_fmt(value):>12} {unit}" for label, value, unit in self.rows
        ]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines).rstrip()

    def json(self) -> str:
        document = {
            "scenario": self.scenario,
            "figures": self.figures,
            "notes": self.notes,
            "machine": machine(),
        }
        return json.dumps(document, indent=2)


def machine() -> dict[str, Any]:
    return {
        "cpus": psutil.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1m": round(psutil.getloadavg()[0], 2),
    }


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def ratio(value: float | None, base: float | None) -> float | None:
    if value is None or not base:
        return None
    return round(value / base, 3)


def _fmt(value: float | str) -> str:
    if isinstance(value, str):
        return value
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
