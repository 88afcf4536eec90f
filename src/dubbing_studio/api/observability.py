"""Request ids and Prometheus metrics for the HTTP shell.

Every app owns its ``Metrics`` (its own ``CollectorRegistry``, nothing process-wide), fed by:

- ``RequestObserver``, the outermost middleware: each request gets an id (a sane incoming
  ``X-Request-ID``, or a new one) that the response, the log lines and any error body carry,
  and is counted and timed by its route *template* (never the raw path, which would make a
  series per dub id);
- the engine gate: seconds of inference per engine, queueing excluded;
- the dub service: seconds per pipeline stage, for stages that finished;
- the job store, read when Prometheus scrapes: jobs per state.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dubbing_studio.api.deps import require_api_key
from dubbing_studio.api.request_ids import REQUEST_ID_HEADER
from dubbing_studio.engines.gate import EngineGate
from dubbing_studio.logs import request_id, valid_request_id
from dubbing_studio.services.dubs import DubService

PREFIX = "dubbing_studio"
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
ENGINE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
STAGE_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the route label of requests no route took (404s, CORS preflights)


class Metrics:
    """The studio's Prometheus metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        labels = ("method", "route", "status")
        self.requests = Counter(
            f"{PREFIX}_http_requests",
            "HTTP requests answered, by route template, method and status.",
            labels,
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route template.",
            labels,
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.engine_seconds = Histogram(
            f"{PREFIX}_engine_inference_seconds",
            "Seconds one engine call computed (waiting for the engine's slot excluded).",
            ("engine",),
            buckets=ENGINE_BUCKETS,
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            f"{PREFIX}_stage_duration_seconds",
            "Seconds a dub spent in each pipeline stage that finished.",
            ("stage",),
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self._job_counts: Callable[[], Mapping[str, int]] | None = None
        self.registry.register(_JobsByState(lambda: self._job_counts))

    def watch(self, gate: EngineGate, dubs: DubService) -> Callable[[], None]:
        """Take figures from the studio's gate and the app's dub service (at start-up);
        returns what stops it (at shutdown: tests share one studio between apps)."""
        remove_timer = gate.add_timer(self.observe_engine)
        dubs.on_stage_done = self.observe_stage
        self._job_counts = dubs.store.count_by_status

        def stop() -> None:
            remove_timer()
            self._job_counts = None

        return stop

    def observe_engine(self, engine: str, seconds: float) -> None:
        self.engine_seconds.labels(engine).observe(seconds)

    def observe_stage(self, stage: str, seconds: float) -> None:
        self.stage_seconds.labels(stage).observe(seconds)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method if method in _METHODS else "OTHER", route, str(status))
        self.requests.labels(*labels).inc()
        self.request_seconds.labels(*labels).observe(seconds)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes (reads the store: call it off the loop)."""
        return generate_latest(self.registry)


class _JobsByState:
    """``dubbing_studio_jobs{state}``, counted in the store at scrape time, so it is right
    after restarts and with several processes sharing one database."""

    def __init__(self, counts: Callable[[], Callable[[], Mapping[str, int]] | None]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        counts = self._counts()
        if counts is None:  # before start-up or after shutdown: no store to ask
            return
        family = GaugeMetricFamily(
            f"{PREFIX}_jobs", "Dub jobs in the store, by state.", labels=("state",)
        )
        for state, count in counts().items():
            family.add_metric((str(state),), count)
        yield family


def route_template(scope: Scope, root_path: str) -> str:
    """The matched route's path template (``/api/v1/dubs/{dub_id}``); for a mounted app
    (the page's static files) its mount path; ``unmatched`` when no route took it."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(template, str):
        return template
    mounted = str(scope.get("root_path", ""))[len(root_path) :]
    return f"{mounted}/{{path}}" if mounted else UNMATCHED


class RequestObserver:
    """Pure ASGI middleware (streamed responses and Server-Sent Events pass untouched): gives
    each request its id and records it in the metrics once its response is sent."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = valid_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER)) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id.set(rid)
        root_path = str(scope.get("root_path", ""))
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                if REQUEST_ID_HEADER not in headers:
                    headers.append(REQUEST_ID_HEADER, rid)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.metrics.observe_request(
                scope["method"],
                route_template(scope, root_path),
                status,
                time.perf_counter() - started,
            )
        # Reset only on success: after an exception the outermost handler logs it and answers
        # 500 once this middleware has returned, still in this request's own task.
        request_id.reset(token)


router = APIRouter(tags=["service"], dependencies=[Depends(require_api_key)])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: requests, jobs by state, stage durations, engine time, process.
    Behind the API keys when keys are configured."""
    observed: Metrics = request.app.state.metrics
    body = await anyio.to_thread.run_sync(observed.exposition)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def install_observability(app: FastAPI, metrics: Metrics) -> None:
    """Add ``/metrics`` and the request observer; call last in the app factory, so the
    observer is the outermost middleware and sees the requests others refuse."""
    app.state.metrics = metrics
    app.include_router(router)
    app.add_middleware(RequestObserver, metrics=metrics)
