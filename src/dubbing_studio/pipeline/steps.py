"""The steps a dub is cut into when it runs on workers: each needs one kind of machine (a
recogniser, a translator, a synthesizer, a mixer), and each ends where its outputs are all
in the artifact store, so a later step re-enters the pipeline and finds them there."""

from __future__ import annotations

from dubbing_studio.domain.dub import DubPlan

RECOGNISE = "recognise"  # ingest, transcription, diarization
TRANSLATE = "translate"
SYNTHESIZE = "synthesize"  # casting and speaking the lines
HEAR_BACK = "hear_back"  # back-transcription of the dubbed lines
MIX = "mix"  # separation, mix, loudness, outputs, report
STEPS = (RECOGNISE, TRANSLATE, SYNTHESIZE, HEAR_BACK, MIX)

# The progress stages each step reports: a step re-entering the pipeline passes through the
# earlier steps' stages (found in the store) without reporting them again.
STEP_STAGES = {
    RECOGNISE: ("ingest", "transcribe"),
    TRANSLATE: ("translate",),
    SYNTHESIZE: ("synthesize",),
    HEAR_BACK: ("hear_back",),
    MIX: ("mix", "export"),
}


def steps_of(plan: DubPlan) -> tuple[str, ...]:
    """The steps a dub of ``plan`` takes: hearing the dub back only when the plan asks."""
    return tuple(step for step in STEPS if step != HEAR_BACK or plan.back_transcribe)


def next_step(plan: DubPlan, step: str) -> str | None:
    """The step after ``step``; None after the last."""
    steps = steps_of(plan)
    index = steps.index(step) + 1
    return steps[index] if index < len(steps) else None
