"""The API under load with quotas and rate limits on: concurrent clients, each with its own
API key, send transcribe, translate, tts and dub-creation requests to a real server process
on loopback, bounded in requests and in time.

Reports throughput, p50/p99 latency per endpoint, 429s (and whether each had Retry-After),
unexpected answers (5xx, connection errors, any status but 2xx and 429: there must be none),
what the server's own metrics counted, and the server's resident memory after a warm-up and
after each round of the same load (flat: the last round adds nothing). Clients do not
back off on 429: they model the abuse the limits exist for. The dubs they start are cancelled
at the end of each round.

    .venv/bin/python bench/load.py [--quick] [--clients N] [--requests N] [--seconds S]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from common import (
    BenchInput,
    Server,
    build_input,
    emit_json,
    finish,
    machine,
    print_table,
    revision,
)

ENDPOINTS = ("transcribe", "translate", "tts", "dub")
SENTENCES = (
    "The house is big.",
    "Ask not what your country can do for you.",
    "The horizon seems extremely distant.",
    "He began a confused complaint against the wizard.",
)
WARM_KEY = "load-warm"  # the scrapes' own client, apart from the load's
# The warm-up calls each endpoint as a client of its own: one client's burst may be smaller
# than the number of endpoints.
WARM_UP_KEYS = {endpoint: f"{WARM_KEY}-{endpoint}" for endpoint in ENDPOINTS}
SETTLE_TIMEOUT_S = 300.0
# The same load again and again: caches and pools fill during the first rounds (measured:
# 978, 1071, 1121, 1121, 1122, 1122 MB over 5 rounds of 4 clients x 16), a leak keeps growing.
ROUNDS = 3


@dataclass(frozen=True, slots=True)
class Limits:
    """The quotas and rate limits the server runs with: small, so the load meets them."""

    requests_per_minute: float = 6.0
    burst: int = 3
    concurrent_dubs: int = 1
    queued_dubs: int = 1
    max_queued_jobs: int = 4

    def env(self, keys: list[str]) -> dict[str, str]:
        return {
            "DUBBING_STUDIO_API_KEYS": json.dumps(keys),
            "DUBBING_STUDIO_RATE_LIMIT__REQUESTS_PER_MINUTE": str(self.requests_per_minute),
            "DUBBING_STUDIO_RATE_LIMIT__BURST": str(self.burst),
            "DUBBING_STUDIO_QUOTAS__CONCURRENT_DUBS": str(self.concurrent_dubs),
            "DUBBING_STUDIO_QUOTAS__QUEUED_DUBS": str(self.queued_dubs),
            "DUBBING_STUDIO_LIMITS__MAX_QUEUED_JOBS": str(self.max_queued_jobs),
            "DUBBING_STUDIO_MAX_CONCURRENT_JOBS": "1",
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    endpoint: str
    status: int | None  # None: no HTTP answer (connection error, timeout)
    seconds: float
    retry_after: bool
    dub_id: str | None = None
    unexpected_answer: str | None = None  # the start of the body of an unexpected answer


Request = Callable[[httpx.Client, int], httpx.Response]


def requests_for(speech: BenchInput) -> dict[str, Request]:
    """How each endpoint is called; ``i`` varies the text between calls."""
    audio = speech.path.read_bytes()

    def transcribe(client: httpx.Client, i: int) -> httpx.Response:
        return client.post(
            "/api/v1/audio/transcribe", files={"file": ("speech.wav", audio, "audio/wav")}
        )

    def translate(client: httpx.Client, i: int) -> httpx.Response:
        text = SENTENCES[i % len(SENTENCES)]
        return client.post(
            "/api/v1/audio/translate",
            json={"text": text, "source_language": "en", "target_language": "es"},
        )

    def tts(client: httpx.Client, i: int) -> httpx.Response:
        return client.post(
            "/api/v1/audio/tts",
            json={"text": SENTENCES[i % len(SENTENCES)], "voice": "onyx", "language": "en"},
        )

    def dub(client: httpx.Client, i: int) -> httpx.Response:
        return client.post(
            "/api/v1/dubs",
            files={"file": ("speech.wav", audio, "audio/wav")},
            data={"target_language": "es", "options": json.dumps({"audio_formats": ["wav"]})},
        )

    return {"transcribe": transcribe, "translate": translate, "tts": tts, "dub": dub}


def keyed(server: Server, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, timeout=120, headers={"Authorization": f"Bearer {key}"}
    )


def call(client: httpx.Client, endpoint: str, request: Request, i: int) -> Outcome:
    started = time.perf_counter()
    try:
        response = request(client, i)
    except httpx.HTTPError as e:
        return Outcome(endpoint, None, time.perf_counter() - started, False, None, repr(e))
    seconds = time.perf_counter() - started
    dub_id = response.json().get("id") if endpoint == "dub" and response.is_success else None
    odd = None if _success(response.status_code) else response.text[:300]
    return Outcome(
        endpoint, response.status_code, seconds, "retry-after" in response.headers, dub_id, odd
    )


def warm_up(server: Server, requests: dict[str, Request]) -> None:
    """One call of each endpoint, and the dub run to its end, so every model the load uses
    is loaded before the first memory reading."""
    for endpoint, request in requests.items():
        with keyed(server, WARM_UP_KEYS[endpoint]) as client:
            outcome = call(client, endpoint, request, 0)
            if not _success(outcome.status):
                raise RuntimeError(f"warm-up {endpoint} answered {outcome.status}")
            if outcome.dub_id:
                wait_idle(client)


def wait_idle(client: httpx.Client) -> None:
    """Until no dub is queued or running."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        response = client.get("/api/v1/dubs", params={"limit": 100})
        if response.status_code == 200 and not any(
            item["status"] in ("queued", "running") for item in response.json()["items"]
        ):
            return
        time.sleep(0.5)
    raise RuntimeError("dubs were still running after the load")


def load(
    server: Server, requests: dict[str, Request], keys: list[str], per_client: int, seconds: float
) -> tuple[list[Outcome], float]:
    """Every client sends ``per_client`` requests, endpoints in turn (each client starting
    at a different one), as fast as answers come, until done or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    start = threading.Barrier(len(keys))

    def client_run(index: int) -> list[Outcome]:
        outcomes = []
        with keyed(server, keys[index]) as client:
            start.wait()
            for i in range(per_client):
                if time.monotonic() > deadline:
                    break
                endpoint = ENDPOINTS[(index + i) % len(ENDPOINTS)]
                outcomes.append(call(client, endpoint, requests[endpoint], i))
        return outcomes

    began = time.perf_counter()
    with ThreadPoolExecutor(len(keys)) as pool:
        results = list(pool.map(client_run, range(len(keys))))
    return [o for outcomes in results for o in outcomes], time.perf_counter() - began


def cancel_dubs(server: Server, outcomes: list[Outcome]) -> None:
    with keyed(server, WARM_KEY) as client:
        for outcome in outcomes:
            if outcome.dub_id:
                client.post(f"/api/v1/dubs/{outcome.dub_id}/cancel")  # 409 once finished
        wait_idle(client)


def server_counts(server: Server) -> dict[str, float]:
    """What the server's own metrics counted, by status class (the warm-up included)."""
    with keyed(server, WARM_KEY) as client:
        text = client.get("/metrics").raise_for_status().text
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "dubbing_studio_http_requests_total":
                status = sample.labels["status"]
                counts["429" if status == "429" else f"{status[0]}xx"] += sample.value
    return dict(counts)


def _describe(outcome: Outcome) -> str:
    return f"{outcome.status}: {outcome.unexpected_answer}"


def _success(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def summarise(outcomes: list[Outcome], wall_s: float) -> dict[str, Any]:
    by_endpoint: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_endpoint[outcome.endpoint].append(outcome)
    endpoints = {}
    for endpoint in ENDPOINTS:
        done = by_endpoint.get(endpoint, [])
        ok = [o.seconds for o in done if o.status is not None and 200 <= o.status < 300]
        limited = [o for o in done if o.status == 429]
        unexpected = [
            o for o in done if o.status is None or not (200 <= o.status < 300 or o.status == 429)
        ]
        endpoints[endpoint] = {
            "requests": len(done),
            "ok": len(ok),
            "rate_limited": len(limited),
            "rate_limited_without_retry_after": sum(1 for o in limited if not o.retry_after),
            "unexpected": len(unexpected),
            "unexpected_answers": sorted({_describe(o) for o in unexpected}),
            "statuses": dict(Counter(str(o.status) for o in done)),
            "ok_per_s": len(ok) / wall_s,
            "ok_p50_ms": statistics.median(ok) * 1000 if ok else None,
            "ok_p99_ms": float(np.percentile(ok, 99)) * 1000 if ok else None,
            "all_p50_ms": statistics.median(o.seconds for o in done) * 1000 if done else None,
        }
    totals = {
        key: sum(e[key] for e in endpoints.values())
        for key in (
            "requests",
            "ok",
            "rate_limited",
            "rate_limited_without_retry_after",
            "unexpected",
        )
    }
    totals["requests_per_s"] = totals["requests"] / wall_s
    totals["ok_per_s"] = totals["ok"] / wall_s
    return {"endpoints": endpoints, "totals": totals}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 clients, 8 requests each")
    parser.add_argument("--clients", type=int, help="concurrent clients (default 8; quick 2)")
    parser.add_argument("--requests", type=int, help="per client a round (default 40; quick 8)")
    parser.add_argument("--seconds", type=float, help="a round's bound (default 300; quick 120)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="the same load this often")
    args = parser.parse_args()
    clients = args.clients or (2 if args.quick else 8)
    per_client = args.requests or (8 if args.quick else 40)
    seconds = args.seconds or (120.0 if args.quick else 300.0)
    figures: dict[str, Any] = {
        "quick": args.quick,
        "machine": machine(),
        "revision": revision(),
    }
    speech = build_input(quick=True)  # 5 s of real speech: many requests, not long audio
    limits = Limits()
    # Each round has keys of its own: full buckets and quotas, so every round does the same.
    keys = [[f"load-{round_}-{i}" for i in range(clients)] for round_ in range(args.rounds)]
    requests = requests_for(speech)
    outcomes: list[Outcome] = []
    wall_s = 0.0
    with tempfile.TemporaryDirectory(prefix="bench-load-") as root:
        server = Server(
            Path(root),
            limits.env([WARM_KEY, *WARM_UP_KEYS.values(), *(k for ks in keys for k in ks)]),
        )
        try:
            warm_up(server, requests)
            rss = [server.rss_mb()]
            for round_keys in keys:
                done, seconds_taken = load(server, requests, round_keys, per_client, seconds)
                cancel_dubs(server, done)
                outcomes += done
                wall_s += seconds_taken
                rss.append(server.rss_mb())
            counted = server_counts(server)
            alive = server.process.poll() is None
        except BaseException:
            print(server.log_tail())
            raise
        finally:
            server.stop()
    summary = summarise(outcomes, wall_s)
    rows = [
        [
            endpoint,
            e["requests"],
            e["ok"],
            e["rate_limited"],
            e["unexpected"],
            e["ok_per_s"],
            e["ok_p50_ms"],
            e["ok_p99_ms"],
        ]
        for endpoint, e in summary["endpoints"].items()
    ]
    print_table(
        f"{args.rounds} rounds of {clients} clients x {per_client} requests ({wall_s:.0f} s), "
        f"{limits.requests_per_minute:.0f}/min burst {limits.burst} per client",
        ["endpoint", "requests", "2xx", "429", "unexpected", "2xx/s", "p50 ms", "p99 ms"],
        rows,
    )
    print(
        "\nserver RSS (MB) after warm-up, then after each round: "
        + ", ".join(f"{mb:.0f}" for mb in rss)
        + f"; the server counted {counted}"
    )
    for endpoint, e in summary["endpoints"].items():
        for answer in e["unexpected_answers"]:
            print(f"unexpected answer from {endpoint}: {answer}")
    figures.update(
        input=speech.describe(),
        clients=clients,
        requests_per_client=per_client,
        time_bound_s=seconds,
        wall_s=wall_s,
        limits=dataclasses.asdict(limits),
        server_counts=counted,
        server_alive=alive,
        rounds=args.rounds,
        rss_mb={
            "after_warm_up": rss[0],
            "after_rounds": rss[1:],
            "growth_first_round": rss[1] - rss[0],
            "growth_last_round": rss[-1] - rss[-2],
        },
        **summary,
    )
    finish(figures)
    emit_json(figures)


if __name__ == "__main__":
    main()
