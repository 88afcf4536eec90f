"""Many files into several languages in one run: every (file, language) pair is a dub of its
own, run one after another over one pipeline, so a file's second language finds its transcript
stored (one recognition per file) and a failure of one dub never stops the others."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dubbing_studio.domain.dub import DubPlan
from dubbing_studio.domain.errors import StudioError
from dubbing_studio.domain.languages import resolve_language
from dubbing_studio.pipeline.context import ProgressCallback
from dubbing_studio.pipeline.runner import DubPipeline, DubResult

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatchItem:
    source: Path
    plan: DubPlan
    out_dir: Path

    @property
    def language(self) -> str:
        return resolve_language(self.plan.target_language).code


@dataclass(slots=True)
class BatchOutcome:
    item: BatchItem
    result: DubResult | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.result is not None

    def to_dict(self) -> dict[str, Any]:
        result = self.result
        return {
            "input": str(self.item.source),
            "target_language": self.item.language,
            "status": "succeeded" if result else "failed",
            "error": self.error,
            "out_dir": str(self.item.out_dir),
            "segments": len(result.segments) if result else 0,
            "engine_calls": dict(result.engine_calls) if result else {},
        }


@dataclass(slots=True)
class BatchSummary:
    outcomes: list[BatchOutcome] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for o in self.outcomes if not o.ok)

    def engine_calls(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for outcome in self.outcomes:
            if outcome.result:
                total.update(outcome.result.engine_calls)
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "dubs": len(self.outcomes),
            "failed": self.failed,
            "engine_calls": dict(self.engine_calls()),
            "items": [o.to_dict() for o in self.outcomes],
        }


def batch_items(sources: Sequence[Path], plans: Sequence[DubPlan], out: Path) -> list[BatchItem]:
    """Each file times each plan, file by file. One file and one plan write into ``out`` as a
    single dub does; more files get a folder each (named after the file, made unique), more
    languages a folder each inside it."""
    folders = _unique_stems(sources)
    items = []
    for source, folder in zip(sources, folders, strict=True):
        for plan in plans:
            out_dir = out / folder if len(sources) > 1 else out
            if len(plans) > 1:
                out_dir = out_dir / resolve_language(plan.target_language).code
            items.append(BatchItem(source, plan, out_dir))
    return items


def _unique_stems(sources: Sequence[Path]) -> list[str]:
    seen: Counter[str] = Counter()
    stems = []
    for source in sources:
        seen[source.stem] += 1
        count = seen[source.stem]
        stems.append(source.stem if count == 1 else f"{source.stem}-{count}")
    return stems


async def run_batch(
    pipeline: DubPipeline,
    items: Sequence[BatchItem],
    *,
    progress: Callable[[int, BatchItem], ProgressCallback],
    finished: Callable[[int, BatchOutcome], None] = lambda index, outcome: None,
) -> BatchSummary:
    """Run the dubs in order; ``progress(index, item)`` gives each dub's progress callback."""
    summary = BatchSummary()
    for index, item in enumerate(items):
        outcome = BatchOutcome(item)
        try:
            outcome.result = await pipeline.run(
                item.source, item.plan, item.out_dir, progress=progress(index, item)
            )
        except StudioError as exc:
            outcome.error = exc.detail
        except Exception as exc:  # one broken file must not end the batch
            log.exception("Dub of %s into %s failed", item.source, item.language)
            outcome.error = f"unexpected {type(exc).__name__}: {exc}"
        summary.outcomes.append(outcome)
        finished(index, outcome)
    return summary
