"""Translation quality, speed and memory: the local LLM (two prompt styles) against Apertium.

Twenty spoken-style English sentences with reference Spanish translations written for this
benchmark (none of them is among the translator's few-shot examples). Each translator runs in
its own fresh process (its peak memory is its own): one warm-up line (loads the model:
``load_s``), then all sentences in one ``translate`` call, as a dub sends them. Quality is
corpus chrF (sacrebleu) against the references; ``length_ratio`` is output characters over
reference characters.

    .venv/bin/python bench/translate_quality.py [--quick]
"""

from __future__ import annotations

import argparse
import resource
from typing import Any

from common import (
    bench_settings,
    emit_json,
    finish,
    machine,
    print_table,
    revision,
    run_isolated,
    timed,
)
from dubbing_studio.bootstrap import build_registry
from dubbing_studio.config import LlamaCppSettings

# fmt: off
SENTENCES = (
    ("Wait, did you just say the meeting got moved to Thursday?",
     "Espera, ¿acabas de decir que han cambiado la reunión al jueves?"),
    ("I can't believe we missed the last train home.",
     "No puedo creer que hayamos perdido el último tren a casa."),
    ("Could you turn the music down a little? I'm trying to sleep.",
     "¿Puedes bajar un poco la música? Estoy intentando dormir."),
    ("My grandmother used to make this soup every Sunday.",
     "Mi abuela hacía esta sopa todos los domingos."),
    ("Don't worry about it, we'll figure something out.",
     "No te preocupes, ya se nos ocurrirá algo."),
    ("The doctor said I need to rest for at least a week.",
     "El médico dijo que necesito descansar al menos una semana."),
    ("How much does a ticket to the museum cost?",
     "¿Cuánto cuesta una entrada para el museo?"),
    ("We've been waiting here for almost an hour.",
     "Llevamos casi una hora esperando aquí."),
    ("If it rains tomorrow, we'll have to cancel the picnic.",
     "Si llueve mañana, tendremos que cancelar el picnic."),
    ("She left her phone in the taxi, and now she can't call anyone.",
     "Se dejó el teléfono en el taxi y ahora no puede llamar a nadie."),
    ("I'm really proud of you, you know that?",
     "Estoy muy orgulloso de ti, ¿lo sabías?"),
    ("Let me know when you get to the hotel.",
     "Avísame cuando llegues al hotel."),
    ("The kids are hungry, so let's stop for something to eat.",
     "Los niños tienen hambre, así que paremos a comer algo."),
    ("He's been working at the hospital for ten years.",
     "Lleva diez años trabajando en el hospital."),
    ("Sorry I'm late, the traffic was terrible.",
     "Perdón por llegar tarde, el tráfico estaba fatal."),
    ("Do you remember the name of that little restaurant by the beach?",
     "¿Te acuerdas del nombre de aquel restaurante pequeño junto a la playa?"),
    ("We should probably leave before it gets dark.",
     "Probablemente deberíamos irnos antes de que oscurezca."),
    ("I've never seen so many people in one place.",
     "Nunca he visto tanta gente en un mismo sitio."),
    ("Can I borrow your car this weekend? Mine is at the mechanic's.",
     "¿Me prestas tu coche este fin de semana? El mío está en el taller."),
    ("That was the best concert I've ever been to.",
     "Ese fue el mejor concierto al que he ido nunca."),
)
# fmt: on
WARMUP = "Good morning."
TIMEOUT_S = 3 * 3600.0  # the LLM at 0.3 lines/s idle; far slower on a busy shared machine
TRANSLATORS = {
    "llamacpp-few-shot": ("llamacpp", "few-shot"),
    "llamacpp-chat": ("llamacpp", "chat"),
    "apertium": ("apertium", None),
}


def cpu_s() -> float:
    """CPU seconds of this process and its waited-for children (apertium): on a shared,
    oversubscribed machine a steadier speed figure than wall time."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(engine: str, prompt: str | None, sources: list[str]) -> dict[str, Any]:
    """Runs in a fresh process: load with one line, then the whole set in one call."""
    settings = bench_settings()
    if prompt is not None:
        settings = settings.model_copy(update={"llamacpp": LlamaCppSettings(prompt=prompt)})
    translator = build_registry(settings).translator(engine)
    _, load_s = timed(lambda: translator.translate([WARMUP], "en", "es"))
    before = cpu_s()
    output, seconds = timed(lambda: translator.translate(sources, "en", "es"))
    return {"load_s": load_s, "seconds": seconds, "cpu_s": cpu_s() - before, "output": output}


def chrf(hypotheses: list[str], references: list[str]) -> float:
    from sacrebleu.metrics import CHRF

    return float(CHRF().corpus_score(hypotheses, [references]).score)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="five sentences, not twenty")
    parser.add_argument(
        "--translators",
        default=",".join(TRANSLATORS),
        help=f"comma-separated, of {', '.join(TRANSLATORS)}",
    )
    args = parser.parse_args()
    chosen = args.translators.split(",")
    pairs = SENTENCES[:5] if args.quick else SENTENCES
    sources = [source for source, _ in pairs]
    references = [reference for _, reference in pairs]
    figures: dict[str, Any] = {
        "quick": args.quick,
        "machine": machine(),
        "revision": revision(),
        "sentences": len(pairs),
        "translators": {},
    }
    for label in chosen:
        engine, prompt = TRANSLATORS[label]
        run = run_isolated(measure, engine, prompt, sources, timeout_s=TIMEOUT_S)
        output = run.value["output"]
        figures["translators"][label] = {
            "chrf": chrf(output, references),
            "sentences_per_s": len(sources) / run.value["seconds"],
            "seconds": run.value["seconds"],
            "cpu_s_per_sentence": run.value["cpu_s"] / len(sources),
            "load_s": run.value["load_s"],
            "peak_mb": run.peak_mb,
            "length_ratio": sum(map(len, output)) / sum(map(len, references)),
            "output": output,
        }
    rows = [
        [
            label,
            m["chrf"],
            m["sentences_per_s"],
            m["cpu_s_per_sentence"],
            m["load_s"],
            m["peak_mb"],
            m["length_ratio"],
        ]
        for label, m in figures["translators"].items()
    ]
    print_table(
        f"en→es on {len(pairs)} spoken sentences",
        ["translator", "chrF", "sentences/s", "CPU s/sentence", "load s", "peak MB", "len ratio"],
        rows,
    )
    finish(figures)
    emit_json(figures)


if __name__ == "__main__":
    main()
