"""Fixtures every test folder may use, and the one rule for components a test needs."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def in_ci() -> bool:
    """``CI`` set to anything but empty, ``0`` or ``false``: the set-up ran, so every
    component it installs is there."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def require(component: str, available: bool, why: str) -> None:
    """Skip the test when a component that ``scripts/setup.sh`` installs is missing here, or,
    under ``CI=true``, fail it: in CI a missing component is a broken set-up, and a skip would
    pass it off as green. Call it from a test, a fixture or (at import) a test module."""
    if available:
        return
    message = f"{component} is missing: {why}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a required component may not be skipped)", False)
    pytest.skip(message, allow_module_level=True)


def optional(component: str, available: bool, why: str) -> None:
    """Skip the test when a component that no set-up promises is missing (e.g. one of another
    operating system); skipped in CI too."""
    if not available:
        pytest.skip(f"optional {component} is missing: {why}", allow_module_level=True)


def service_url(variable: str, component: str) -> str:
    """A server's URL from the environment, as ``scripts/with-services.sh`` exports it
    (``DUBBING_STUDIO_TEST_POSTGRES_URL``, ``DUBBING_STUDIO_TEST_REDIS_URL``)."""
    url = os.environ.get(variable, "")
    require(component, bool(url), f"{variable} is not set (run: bash scripts/with-services.sh …)")
    return url


def require_echo_plugin() -> None:
    """The engine plugin under tests/plugins, which ``scripts/setup.sh`` installs."""
    try:
        importlib.metadata.distribution("dubbing-studio-echo")
    except importlib.metadata.PackageNotFoundError:
        require(
            "the echo test plugin",
            False,
            "pip install -e tests/plugins/dubbing_studio_echo (scripts/setup.sh does)",
        )


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """Real speech with reference transcripts, in ``../shared/samples`` beside the repository."""
    return REPO_ROOT.parent / "shared" / "samples"
