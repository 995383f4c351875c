"""The quick version of bench/load_bench.py: 300 mixed requests at concurrency 32 against a scripted toolproxy
in its own process — zero errors, server RSS within 10% of its post-warm-up value, gauges back to 0."""

from __future__ import annotations

from bench.load_bench import MAX_RSS_GROWTH, body_for, run_phase, scripted_server
from tests.hardening.conftest import scrape


def test_quick_load_on_the_scripted_backend() -> None:
    with scripted_server() as (url, process):
        phase = run_phase("scripted", url, process, 300, 32, body_for, warmup=64)
        print("\n" + phase.report())
        metrics = scrape(url)
    assert phase.result.errors == [], phase.result.errors[:5]
    assert len(phase.result.latencies) == 300
    assert phase.growth <= MAX_RSS_GROWTH
    assert metrics['toolproxy_requests_total{endpoint="/v1/chat/completions",status="200"}'] == 364
    assert metrics["toolproxy_streams_in_flight"] == 0 and metrics["toolproxy_queue_depth"] == 0
