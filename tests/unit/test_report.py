"""The report says out loud what the listener will miss: words cut, speech not recognised,
lines set aside or flagged; its quality section sums up what was heard back."""

from __future__ import annotations

import pytest

from dubbing_studio.domain.dub import DubReport, SegmentReport, SetAsideLine


def _line(index: int, target: str, **changes: object) -> SegmentReport:
    values: dict[str, object] = {
        "id": f"seg-{index}",
        "speaker": "S1",
        "start": float(index),
        "end": index + 1.0,
        "slot_s": 1.0,
        "window_s": 1.0,
        "source_text": "source",
        "target_text": target,
        "engine": "kokoro",
        "voice": "jm_kumo",
        "synthesized_s": 1.0,
        "fitted_s": 1.0,
        "speed": 1.0,
        "overrun_s": 0.0,
        "outcome": "fits",
        "language": "en",
    }
    values.update(changes)
    return SegmentReport(**values)  # type: ignore[arg-type]


def test_a_clean_dub_has_nothing_to_warn_about() -> None:
    report = DubReport("en", "es", 2.0, (_line(0, "uno dos"),), {}, coverage=1.0)
    assert report.warnings() == []
    assert report.quality()["back_transcribed"] is False and report.quality()["wer"] is None


def test_every_loss_is_said() -> None:
    aside = SetAsideLine("seg-9", "S1", 54.6, 60.0, "en", "notice and the notice", ("repetition",))
    report = DubReport(
        "en",
        "es",
        60.0,
        (
            _line(0, "uno dos tres cuatro", outcome="trimmed", words_trimmed=2, speed=1.3),
            _line(1, "cinco seis", flags=("low_confidence",)),
        ),
        {},
        coverage=0.55,
        unrecognised=((28.9, 54.6),),
        set_aside=(aside,),
    )
    said = " ".join(report.warnings())
    assert "2 words cut from 1 line " in said and "fit natural" in said
    assert "28.9–54.6 s" in said and "1 recognised line set aside" in said
    assert "seg-1" in said
    totals = report.to_dict()["totals"]
    assert totals["words_trimmed"] == 2 and totals["flagged"] == 2
    quality = report.quality()
    assert quality["unrecognised_s"] == pytest.approx(25.7) and quality["lines_flagged"] == 2


def test_error_rates_are_weighted_by_words() -> None:
    report = DubReport(
        "en",
        "es",
        2.0,
        (
            _line(0, "uno dos tres", heard_text="uno dos tres", wer=0.0, cer=0.0),
            _line(1, "cuatro", heard_text="cuarto", wer=1.0, cer=0.5),
        ),
        {},
    )
    quality = report.quality()
    assert quality["wer"] == pytest.approx(0.25) and quality["max_wer"] == 1.0
    assert quality["cer"] == pytest.approx(0.125)
