"""An online store materialised from the resolved small world, for the online tests."""

from __future__ import annotations

import pytest

from features.online.materialize import materialize
from tests.conftest import copy_home

MATERIALISED_AT = "2025-12-01T00:00:00"


@pytest.fixture(scope="package")
def online_home(resolved_world, tmp_path_factory):
    """Settings of a home whose online store was materialised at MATERIALISED_AT.

    Reads may store recomputed rows: tests that read at other moments work on a copy.
    """
    settings = copy_home(resolved_world, tmp_path_factory.mktemp("online"))
    report = materialize(settings, MATERIALISED_AT)
    assert report["profiles"] > 1_000
    return settings
