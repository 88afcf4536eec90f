"""Temporary files disappear whatever happens inside the block."""

from __future__ import annotations

from pathlib import Path

import pytest

from dubbing_studio.media import temp_path


def test_temp_file_is_removed_after_use(tmp_path: Path) -> None:
    with temp_path(tmp_path, ".wav") as path:
        assert path.parent == tmp_path and path.suffix == ".wav"
        assert path.exists() and path.stat().st_size == 0
        path.write_bytes(b"data")
    assert list(tmp_path.iterdir()) == []


def test_temp_file_is_removed_after_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), temp_path(tmp_path) as path:
        path.write_bytes(b"half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_renaming_it_away_is_fine(tmp_path: Path) -> None:
    with temp_path(tmp_path, ".part") as path:
        path.write_bytes(b"done")
        path.replace(tmp_path / "final.bin")
    assert [p.name for p in tmp_path.iterdir()] == ["final.bin"]


def test_names_are_unique(tmp_path: Path) -> None:
    with temp_path(tmp_path) as first, temp_path(tmp_path) as second:
        assert first != second
