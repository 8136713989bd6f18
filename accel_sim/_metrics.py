"""Metric declarations: the unit and direction of every figure a model reports.

Whoever produces a metric declares it: :class:`~accel_sim.Report` its summary metrics
(:data:`accel_sim._report.REPORT_METRICS`), a device the columns and extras it adds
(``Device.metrics``), a task its accuracy (``Task.accuracy_metric``), the server its serving
figures. Tables, plot axes and the explorer's objective directions read the declarations; the
device and serving contracts check that every reported figure is declared.

A declaration whose name contains ``*`` declares a family (``energy_*_j``: one energy
component per name).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from .errors import ConfigError

__all__ = ["DIRECTIONS", "Direction", "Metric", "MetricTable"]

Direction = Literal["minimize", "maximize"]

#: Allowed directions: what an optimiser should do with a metric (``None``: not an objective,
#: e.g. a flag or a parameter echoed in a summary).
DIRECTIONS = ("minimize", "maximize")


@dataclass(frozen=True)
class Metric:
    """One declared metric.

    Attributes:
        name: Key in summaries and column name (``*`` makes a family pattern).
        unit: Unit shown in headers and axes (``""``: dimensionless count or ratio with no
            better word).
        direction: ``"minimize"``, ``"maximize"`` or ``None`` (not an objective).
        doc: One line saying what it measures.
    """

    name: str
    unit: str
    direction: Direction | None = "minimize"
    doc: str = ""

    def __post_init__(self) -> None:
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise ConfigError(f"metric {self.name!r}: direction {self.direction!r} is not one "
                              "of minimize, maximize or None")


class MetricTable(Mapping[str, Metric]):
    """Declarations by name; families (``energy_*_j``) match any name of their pattern.

    Tables combine with ``|`` (the right side wins for a name declared twice).
    """

    def __init__(self, metrics: Iterable[Metric] = ()) -> None:
        self._exact: dict[str, Metric] = {}
        self._families: dict[str, Metric] = {}
        for m in metrics:
            (self._families if "*" in m.name else self._exact)[m.name] = m

    def __getitem__(self, name: str) -> Metric:
        if name in self._exact:
            return self._exact[name]
        for pattern, m in self._families.items():
            if fnmatch.fnmatchcase(name, pattern):
                return m
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        try:
            self[name]  # type: ignore[index]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        yield from self._exact
        yield from self._families

    def __len__(self) -> int:
        return len(self._exact) + len(self._families)

    def __or__(self, other: MetricTable) -> MetricTable:
        if not isinstance(other, MetricTable):
            return NotImplemented
        return MetricTable([*self.declarations(), *other.declarations()])

    def __repr__(self) -> str:
        return f"MetricTable({', '.join(self)})"

    def declarations(self) -> tuple[Metric, ...]:
        """Every declaration, exact names first."""
        return (*self._exact.values(), *self._families.values())

    def undeclared(self, names: Iterable[str]) -> list[str]:
        """The names no declaration covers."""
        return [n for n in names if n not in self]
