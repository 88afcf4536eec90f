"""Speech/background separation (``--background separate``): how well and how fast.

Real speech (the benchmark reel, ≥ 60 s) over a synthetic music bed at several levels, at the
model's 48 kHz: SI-SDR of the speech estimate and of the background (mix minus speech) against
the true parts, before and after, the voice left in the background (its least-squares gain,
against ducking's -18 dB), and the real-time factor of one channel in wall and CPU time
(the machine is shared: CPU time is the steadier figure).

    .venv/bin/python bench/separation.py [--quick]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from common import build_input, emit_json, finish, machine, print_table, revision, si_sdr, timed
from dubbing_studio import media
from dubbing_studio.domain.dub import MixPolicy
from dubbing_studio.engines.local.deepfilter import MODEL_RATE, DeepFilterSeparator

# Music level relative to the speech (RMS): -3 is the "speech over a music bed at +3 dB".
MUSIC_DB = (-9.0, -3.0, 0.0, 3.0)


def gains_db(output: np.ndarray, *parts: np.ndarray) -> list[float]:
    """The least-squares gain (dB) of each part in ``output``, fitted jointly."""
    basis = np.stack(parts, axis=1).astype(np.float64)
    gains, *_ = np.linalg.lstsq(basis, output.astype(np.float64), rcond=None)
    return [float(20 * np.log10(abs(g))) for g in gains]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 5 s input, two music levels")
    args = parser.parse_args()
    source = build_input(quick=args.quick)
    speech, _ = media.decode_audio(source.path, sample_rate=MODEL_RATE)
    seconds = len(speech) / MODEL_RATE
    separator = DeepFilterSeparator()
    figures: dict[str, Any] = {
        "quick": args.quick,
        "machine": machine(),
        "revision": revision(),
        "input": source.describe(),
        "model": separator.model_id,
    }
    separator.separate(speech[:MODEL_RATE], MODEL_RATE)  # loads the networks once

    rows = []
    for music_db in MUSIC_DB[1:3] if args.quick else MUSIC_DB:
        mix, music = media.over_music(speech, MODEL_RATE, music_db)
        cpu = time.process_time()
        (estimate, background), elapsed = timed(lambda mix=mix: separator.separate(mix, MODEL_RATE))
        cpu = time.process_time() - cpu
        rows.append(
            {
                "music_db": music_db,
                "speech_before_db": si_sdr(mix, speech),
                "speech_after_db": si_sdr(estimate, speech),
                "background_before_db": si_sdr(mix, music),
                "background_after_db": si_sdr(background, music),
                "voice_left_db": gains_db(background, speech, music)[0],
                "rtf": elapsed / seconds,
                "cpu_rtf": cpu / seconds,
            }
        )
    print_table(
        f"DeepFilterNet3 on {seconds:.0f} s of real speech over music, 48 kHz mono (SI-SDR, dB)",
        [
            "music vs speech",
            "speech before",
            "after",
            "background before",
            "after",
            "voice left",
            "RTF",
            "CPU RTF",
        ],
        [
            [
                f"{r['music_db']:+.0f} dB",
                r["speech_before_db"],
                r["speech_after_db"],
                r["background_before_db"],
                r["background_after_db"],
                r["voice_left_db"],
                r["rtf"],
                r["cpu_rtf"],
            ]
            for r in rows
        ],
    )
    _, clean_background = separator.separate(speech, MODEL_RATE)
    clean_voice_left_db = gains_db(clean_background, speech)[0]
    duck_db = MixPolicy().duck_db
    print(
        f"\nclean speech (no music): the background keeps the voice at "
        f"{clean_voice_left_db:.1f} dB; ducking keeps it at {duck_db:.0f} dB"
    )
    figures.update(
        levels=rows,
        clean_speech_voice_left_db=clean_voice_left_db,
        duck_db=duck_db,
        rtf_median=float(np.median([r["rtf"] for r in rows])),
        cpu_rtf_median=float(np.median([r["cpu_rtf"] for r in rows])),
    )
    finish(figures)
    emit_json(figures)


if __name__ == "__main__":
    main()
