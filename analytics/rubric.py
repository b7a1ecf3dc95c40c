"""The rubric file: maximum points, bands from index to points, group weights."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from conversations.datafile import DataFileError, read_toml

DEFAULT = Path(__file__).parent / "data" / "rubric.toml"


class RubricError(DataFileError):
    """A rubric file is wrong; the message names the file, the entry and the fix."""


@dataclass(frozen=True, slots=True)
class Rubric:
    """How an index becomes points, with its name and note shown on every output."""

    name: str
    note: str
    max_points: float
    bands: tuple[tuple[float, float], ...]
    weights: tuple[float, float] = (0.5, 0.5)

    def points(self, index: float | None) -> float | None:
        """Points for an index: the first band whose minimum it reaches; None without an index."""
        if index is None:
            return None
        return next((points for low, points in self.bands if index >= low), 0.0)

    @property
    def edges(self) -> tuple[float, ...]:
        """The indices where the points change, lowest first."""
        return tuple(sorted({low for low, _ in self.bands if low > 0}))

    def near(self, ci95: tuple[float, float] | None) -> bool:
        """Whether a 95% interval straddles a band edge, so the points could differ ('sát ngưỡng')."""
        return ci95 is not None and any(ci95[0] < edge <= ci95[1] for edge in self.edges)


def load(path: Path = DEFAULT) -> Rubric:
    """Read and check a rubric file."""
    where = path.name
    doc = read_toml(path, "rubric file", RubricError)
    name, note = str(doc.get("name", "")).strip(), str(doc.get("note", "")).strip()
    if not name or not note:
        raise RubricError(f"{where}: name and note are required; they are printed on every output")
    top = _number(doc.get("max_points"), f"{where}: max_points")
    if top <= 0:
        raise RubricError(f"{where}: max_points must be above 0")
    bands = []
    for n, band in enumerate(doc.get("bands", []), 1):
        low = _number(band.get("min_index"), f"{where}: band {n} min_index")
        points = _number(band.get("points"), f"{where}: band {n} points")
        if not 0 <= low <= 1 or not 0 <= points <= top:
            raise RubricError(f"{where}: band {n} needs 0 <= min_index <= 1 and 0 <= points <= max_points")
        bands.append((low, points))
    bands.sort(reverse=True)
    if not bands or bands[-1][0] != 0:
        raise RubricError(f"{where}: add a last band with min_index = 0 so every index gets points")
    if any(a[1] < b[1] for a, b in pairwise(bands)):
        raise RubricError(f"{where}: points must not fall as the index rises; check the bands' points")
    weights = doc.get("weights", {})
    pair = (_number(weights.get("children", 0.5), f"{where}: weights.children"),
            _number(weights.get("residents", 0.5), f"{where}: weights.residents"))
    if min(pair) < 0 or sum(pair) <= 0:
        raise RubricError(f"{where}: weights must be 0 or more and not both 0")
    return Rubric(name, note, top, tuple(bands), pair)


def _number(value: object, what: str) -> float:
    """A number from the file, or a clear error."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RubricError(f"{what} must be a number, not {value!r}")
    return float(value)
