"""Dub projects as jobs: their lifecycle, and the events a watcher receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from dubbing_studio.domain.dub import DubPlan


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class DubJob:
    """One dub project: its input, plan and where its run stands."""

    id: str
    created_at: datetime
    updated_at: datetime
    status: JobStatus
    input_name: str  # the client's file name, for display only
    input_path: str  # where the upload lives, inside the project's folder
    input_digest: str
    plan: DubPlan
    stage: str | None = None
    progress: float = 0.0  # 0..1 over the whole run
    eta_s: float | None = None
    error: str | None = None
    error_code: str | None = None
    source_language: str | None = None
    duration_s: float | None = None
    outputs: dict[str, str] = field(default_factory=dict)  # output name -> file name
    idempotency_key: str | None = None
    segments_done: int = 0
    segments_total: int = 0
    attempts: int = 0  # runs started; see ``JobRow.attempts``
    client_id: str | None = None  # who submitted it, for quotas
    batch_id: str | None = None  # the batch it belongs to, if any
    step: str | None = None  # on workers: the step of its run next to run
    # On workers: whether the run began from recognition (True) or from the stored lines,
    # so each later step re-enters the pipeline as the run's first step did.
    recognising: bool = False


@dataclass(frozen=True, slots=True)
class RejectedDub:
    """A dub of a batch that could not even be queued (its file would not open, a quota)."""

    input_name: str
    target_language: str
    detail: str
    error_code: str


@dataclass(frozen=True, slots=True)
class DubBatch:
    """Files times target languages submitted together: a group of dub jobs (each carries
    the batch's id), plus the dubs that were refused when the batch was made."""

    id: str
    created_at: datetime
    target_languages: tuple[str, ...]
    input_names: tuple[str, ...]
    client_id: str | None = None
    rejected: tuple[RejectedDub, ...] = ()


@dataclass(frozen=True, slots=True)
class JobEvent:
    """A numbered event of one job; numbers let an SSE client resume with Last-Event-ID."""

    job_id: str
    seq: int
    type: str  # "status", "progress", "segment", "done", "error"
    data: dict[str, Any]
    created_at: datetime
