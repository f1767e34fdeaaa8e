"""Glucose scenarios for the emulated wearables: a CSV file of `minutes,value` rows or a list."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Scenario:
    """(minute offset, glucose mg/dL) points, in time order."""

    points: tuple[tuple[int, float], ...]

    @classmethod
    def of(cls, values: Iterable[float], step_min: int = 5) -> Scenario:
        return cls(tuple((i * step_min, float(v)) for i, v in enumerate(values)))

    @classmethod
    def from_csv(cls, path: str | Path) -> Scenario:
        """Reads `minutes,value` rows; a header row and blank lines are skipped."""
        points: list[tuple[int, float]] = []
        with open(path, newline="") as fh:
            for row in csv.reader(fh):
                if not row or not row[0].strip() or not row[0].strip().lstrip("-").isdigit():
                    continue
                points.append((int(row[0]), float(row[1])))
        if any(b[0] <= a[0] for a, b in itertools.pairwise(points)):
            raise ValueError(f"{path}: minutes must increase")
        return cls(tuple(points))

    def __len__(self) -> int:
        return len(self.points)

    def at(self, index: int) -> tuple[int, float]:
        """The index-th point; past the end, the scenario repeats shifted by its span."""
        minutes, value = self.points[index % len(self.points)]
        span = self.points[-1][0] + (self.points[1][0] - self.points[0][0] if len(self.points) > 1 else 5)
        return minutes + (index // len(self.points)) * span, value


DEFAULT = Scenario.of(
    [112, 118, 126, 139, 151, 160, 158, 149, 135, 121, 104, 92, 81, 72, 66, 61, 64, 70, 83, 97]
)
