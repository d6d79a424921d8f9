"""The report's settings: params.yaml's report section, on top of every other floor's; the one floor that
refuses a top-level section nobody reads.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, field_validator

from replication.analysis import settings as analysis
from replication.core import settings as core
from replication.core.settings import ConfigError, Name, Section, Str

__all__ = ["ConfigError", "Params", "ReportConfig", "default_title", "load", "parse"]


class ReportConfig(Section):
    title: Str  # report title
    titles: dict[Name, Str] = {}  # network -> display name where default_title's is not the one wanted
    main_targets: tuple[Name, ...]  # smoothness targets of the first alpha figure
    overlays: dict[Name, dict[Name, Name]]  # figure -> pairs of targets drawn on one axis (first: second)

    @field_validator("title")
    @classmethod
    def _printable(cls, value: str) -> str:
        return _no_control(value)

    @field_validator("titles")
    @classmethod
    def _printable_titles(cls, value: dict[str, str]) -> dict[str, str]:
        for title in value.values():
            _no_control(title)
        return value


def _no_control(text: str) -> str:
    """A title is printed in the HTML, the PDF and figure captions: no control character (a newline, an escape)."""
    bad = next((c for c in text if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        raise ValueError(f"holds the control character {bad!r}; use printable text")
    return text


class Params(analysis.Params):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    report: ReportConfig

    def network_title(self, network: str) -> str:
        """The display name of a network: report.titles, else default_title."""
        return self.report.titles.get(network) or default_title(network)

    def run_title(self, run: str) -> str:
        """The display name of a run's network."""
        return self.network_title(self.run_config(run).network)


_FAMILIES = {"resnet": "ResNet", "plain": "Plain"}
_SUFFIXES = {"tanh": "with tanh", "noavgpool": "no AvPool"}


def default_title(network: str) -> str:
    """A network key as the original report names it: resnet12_tanh -> 'ResNet12 with tanh', plain6_noavgpool ->
    'Plain6 no AvPool'; a key outside that scheme is its own title."""
    head, *tail = network.split("_")
    family = next((f for f in _FAMILIES if head.startswith(f) and head[len(f):].isdigit()), None)
    if family is None or any(t not in _SUFFIXES for t in tail):
        return network
    return " ".join([_FAMILIES[family] + head[len(family):], *(_SUFFIXES[t] for t in tail)])


def check(p: Params, source: str) -> None:
    """Names that point into other sections must exist there."""
    analysis.check(p, source)
    for network in p.report.titles:
        core.need(source, network, p.networks, "report.titles key", "networks")
    overlaid = (t for pairs in p.report.overlays.values() for pair in pairs.items() for t in pair)
    for name in (*p.report.main_targets, *overlaid):
        core.need(source, name, p.smoothness.targets, "report.main_targets/overlays entry", "smoothness.targets")


def parse(raw: Any, source: str = "params.yaml") -> Params:
    """Every setting of params.yaml from an already-loaded mapping, checking every key, type and reference."""
    params = core.validate(Params, raw, source)
    check(params, source)
    return params


def load(path: str | Path = core.PARAMS_FILE) -> Params:
    """Load and validate all of params.yaml."""
    return parse(core.read(path), str(path))
