"""Apertium through the real ``apertium`` program (installed by scripts/setup.sh)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from dubbing_studio.config import ApertiumSettings
from dubbing_studio.domain.errors import EngineFailed, UnsupportedLanguage
from dubbing_studio.domain.speech import Glossary
from dubbing_studio.engines.local.apertium import ApertiumTranslator


class CountingRunner:
    """``subprocess.run`` that records every command, to count process launches."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def __call__(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.commands.append(command)
        return subprocess.run(command, **kwargs)


@pytest.fixture
def runner() -> CountingRunner:
    return CountingRunner()


@pytest.fixture
def apertium(runner: CountingRunner) -> ApertiumTranslator:
    return ApertiumTranslator(ApertiumSettings(), runner=runner)


def _fake(stdout: str = "", stderr: str = "", returncode: int = 0) -> Any:
    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, returncode, stdout, stderr)

    return run


def test_english_to_spanish(apertium: ApertiumTranslator) -> None:
    [spanish] = apertium.translate(["I have two cats."], "en", "es")

    assert "dos gatos" in spanish.lower()


def test_a_batch_is_one_process_and_keeps_its_order(
    apertium: ApertiumTranslator, runner: CountingRunner
) -> None:
    texts = [
        "Good morning.",
        "",
        "...!!! ???",
        "Where is the station?\nSecond line",
        "- Yes! (no) [maybe] <b>&amp;</b> 3.5 % $5 ^a$ @home",
    ]

    result = apertium.translate(texts, "en", "es")

    assert len(runner.commands) == 1
    assert len(result) == 5
    assert "buenos" in result[0].lower()
    assert result[1] == ""
    assert result[2] == "...!!! ???"
    assert "línea" in result[3]
    assert "<b>&amp;</b>" in result[4] and "3.5" in result[4]


def test_catalan_to_english(apertium: ApertiumTranslator) -> None:
    assert apertium.supports("ca", "en")
    [english] = apertium.translate(["El gos és molt gran."], "ca", "en")

    assert "dog" in english.lower()


@pytest.mark.parametrize(
    ("source", "text"), [("it", "Il cane è molto grande."), ("pt", "O cão é muito grande.")]
)
def test_pivot_through_spanish_runs_one_process_per_leg(
    apertium: ApertiumTranslator, runner: CountingRunner, source: str, text: str
) -> None:
    assert apertium.supports(source, "en")

    english, greeting = apertium.translate([text, "Ciao!"], source, "en")

    assert "dog" in english.lower() and greeting
    assert len(runner.commands) == 2
    assert apertium.info().extra["pivots"][f"{source}→en"][1] == "spa-eng"  # type: ignore[index]


def test_unsupported_pair_lists_the_installed_pairs(apertium: ApertiumTranslator) -> None:
    assert not apertium.supports("en", "de")

    with pytest.raises(UnsupportedLanguage, match="English to German") as error:
        apertium.translate(["Hello"], "en", "de")
    assert "en→es" in str(error.value) and "es→en" in str(error.value)


def test_same_language_and_empty_batches_start_no_process(
    apertium: ApertiumTranslator, runner: CountingRunner
) -> None:
    assert apertium.translate(["Hola, mundo."], "es", "es") == ["Hola, mundo."]
    assert apertium.translate([], "en", "es") == []
    assert apertium.translate(["", "  "], "en", "es") == ["", ""]
    assert runner.commands == []


def test_glossary_keeps_and_forces_terms(apertium: ApertiumTranslator) -> None:
    glossary = Glossary(keep=("Microsoft Word", "Bright Path"), force=(("save", "guarda"),))
    texts = [
        "Open the menu in Microsoft Word, then save the file.",
        "Bright Path is a good company.",
    ]

    word, company = apertium.translate(texts, "en", "es", glossary)

    assert "Microsoft Word" in word and "guarda" in word
    assert company.startswith("Bright Path")


def test_glossary_survives_a_pivot(apertium: ApertiumTranslator) -> None:
    [english] = apertium.translate(
        ["O Zé Carioca é muito grande."], "pt", "en", Glossary(keep=("Zé Carioca",))
    )

    assert "Zé Carioca" in english


def test_pairs_come_from_the_modes_folder(tmp_path: Path) -> None:
    # Variants (_US, -bytecode), odd names and unknown languages are not pairs.
    modes = ("eng-spa", "spa-eng_US", "es-pt", "en-eo-bytecode", "eco-es-fr", "xyz-eng")
    for mode in modes:
        (tmp_path / f"{mode}.mode").write_text("cat\n")

    info = ApertiumTranslator(ApertiumSettings(modes_dir=tmp_path)).info()

    assert info.available
    assert set(info.pairs) == {("en", "es"), ("es", "pt"), ("en", "pt")}
    assert info.extra["pivots"] == {"en→pt": ["eng-spa", "es-pt"]}


def test_no_pairs_or_no_program_make_it_unavailable(tmp_path: Path) -> None:
    no_pairs = ApertiumTranslator(ApertiumSettings(modes_dir=tmp_path)).info()
    no_program = ApertiumTranslator(ApertiumSettings(binary="no-such-apertium")).info()

    assert not no_pairs.available and "apt-get install" in (no_pairs.reason or "")
    assert not no_program.available and "not installed" in (no_program.reason or "")


def test_a_lost_separator_is_an_engine_failure() -> None:
    engine = ApertiumTranslator(ApertiumSettings(), runner=_fake(stdout="Hola y adiós"))

    with pytest.raises(EngineFailed, match="returned 1 texts for 2"):
        engine.translate(["Hello", "goodbye"], "en", "es")


def test_a_failing_process_reports_its_stderr() -> None:
    engine = ApertiumTranslator(
        ApertiumSettings(),
        runner=_fake(stderr="Error: Mode eng-spa does not exist\n", returncode=1),
    )

    with pytest.raises(EngineFailed, match="does not exist"):
        engine.translate(["Hello"], "en", "es")


def test_a_slow_process_times_out() -> None:
    def hang(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(command, kwargs["timeout"])

    engine = ApertiumTranslator(ApertiumSettings(timeout_s=2), runner=hang)

    with pytest.raises(EngineFailed, match="longer than 2 s"):
        engine.translate(["Hello"], "en", "es")
