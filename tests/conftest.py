"""Shared fixtures: the project's params.yaml as a dict, and tiny variants of it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def raw_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.fixture
def raw(raw_params) -> dict:
    """A fresh, editable copy of params.yaml."""
    return copy.deepcopy(raw_params)
