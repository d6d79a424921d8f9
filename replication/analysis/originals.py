"""The record of the original study's numbers: each with its source and precision (originals.json)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources


@cache
def _load() -> str:
    return resources.files("replication.analysis").joinpath("originals.json").read_text()


def originals() -> dict:
    """The original study's numbers (package data; a fresh copy each call)."""
    return json.loads(_load())
