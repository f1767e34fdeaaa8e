"""Supply chain: every dependency is pinned in requirements.lock, and pyproject's pins and ranges agree with it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)$")


def lock() -> dict[str, str]:
    pins: dict[str, str] = {}
    for number, raw in enumerate((ROOT / "requirements.lock").read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"requirements.lock:{number}: not an exact pin (name==version): {line!r}"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"requirements.lock:{number}: {name} pinned twice"
        pins[name] = match.group(2)
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    return [Requirement(text) for text in [*project["dependencies"], *extras.get("dev", [])]]


def test_lock_holds_only_exact_pins_and_no_urls_or_editables():
    pins = lock()
    assert len(pins) > 20
    assert "vigil" not in pins


@pytest.mark.parametrize("requirement", declared(), ids=str)
def test_every_pyproject_dependency_is_locked_at_a_version_it_allows(requirement):
    pins = lock()
    name = canonicalize_name(requirement.name)
    assert name in pins, f"{requirement} is in pyproject.toml but not in requirements.lock (regenerate it)"
    assert requirement.specifier.contains(pins[name], prereleases=True), (
        f"pyproject.toml says {requirement}, requirements.lock pins {pins[name]}")
