"""The rule for a missing component: a skip on a developer's machine, a failure in CI."""

from __future__ import annotations

import pytest

from tests.conftest import optional, require, service_url

VARIABLE = "DUBBING_STUDIO_TEST_EXAMPLE_URL"


@pytest.mark.parametrize("ci", ["true", "1", "yes"])
def test_in_ci_a_missing_required_component_fails(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="Redis is missing: not started.*CI=true"):
        require("Redis", False, "not started")


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_elsewhere_a_missing_required_component_skips(
    monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="Redis is missing: not started"):
        require("Redis", False, "not started")


@pytest.mark.parametrize("ci", [None, "true"])
def test_a_present_component_neither_skips_nor_fails(
    monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    require("Redis", True, "not started")
    optional("inotify", True, "Linux-only")


def test_an_optional_component_skips_even_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.skip.Exception, match="optional inotify is missing: Linux-only"):
        optional("inotify", False, "Linux-only")


def test_a_service_url_comes_from_the_environment_or_is_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv(VARIABLE, "redis://127.0.0.1:1/0")
    assert service_url(VARIABLE, "Redis") == "redis://127.0.0.1:1/0"
    monkeypatch.delenv(VARIABLE)
    with pytest.raises(pytest.fail.Exception, match=f"Redis is missing: {VARIABLE} is not set"):
        service_url(VARIABLE, "Redis")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="with-services.sh"):
        service_url(VARIABLE, "Redis")
