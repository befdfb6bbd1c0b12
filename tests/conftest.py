"""Fixtures every test layer shares: each test gets its own device home."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """No test ever touches a real user's data: FIELDRM_HOME points into tmp_path."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("FIELDRM_HOME", str(home))
    monkeypatch.delenv("FIELDRM_NOW", raising=False)
    return home
