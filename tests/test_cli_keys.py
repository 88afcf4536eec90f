"""``dubbing-studio keys``: add (shown once), list, revoke; bad settings exit 2 with a message."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dubbing_studio.cli import app


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DUBBING_STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_add_list_and_revoke(runner: CliRunner) -> None:
    added = runner.invoke(app, ["keys", "add", "editor laptop"])
    assert added.exit_code == 0, added.output
    key = added.stdout.strip()
    assert key.startswith("ds_") and len(key) > 40
    assert "shown only now" in added.stderr

    listing = runner.invoke(app, ["keys", "list"])
    assert listing.exit_code == 0, listing.output
    assert "editor laptop" in listing.stdout and key[:10] in listing.stdout
    assert key not in listing.stdout
    row = next(line for line in listing.stdout.splitlines() if "editor laptop" in line)
    key_id = row.split("│")[1].strip()
    assert "never" in row  # not used yet

    revoked = runner.invoke(app, ["keys", "revoke", key_id])
    assert revoked.exit_code == 0 and "revoked" in revoked.stderr
    row = next(
        line
        for line in runner.invoke(app, ["keys", "list"]).stdout.splitlines()
        if "editor laptop" in line
    )
    assert "UTC" in row.split("│")[-2]  # the revoked column

    unknown = runner.invoke(app, ["keys", "revoke", "nope"])
    assert unknown.exit_code == 2 and "No API key" in unknown.stderr
    blank = runner.invoke(app, ["keys", "add", " "])
    assert blank.exit_code == 2 and "name" in blank.stderr


def test_a_blank_environment_key_stops_the_server_before_it_starts(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUBBING_STUDIO_API_KEYS", '["a-real-key", " "]')
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())  # the console wraps long lines
    assert "invalid setting api_keys: DUBBING_STUDIO_API_KEYS entry 2 is blank" in message
    assert "Traceback" not in result.output
