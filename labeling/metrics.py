"""Prometheus metrics, shared by every process of one host (multiprocess mode).

Why multiprocess mode: a host runs several processes that do the work being
measured (uvicorn workers answer requests and hold sockets, Celery workers run the
jobs), and the scraper reaches one `/metrics`. prometheus_client's multiprocess mode
has each process write its samples to files in PROMETHEUS_MULTIPROC_DIR (by default
ANYMASK_VAR_DIR/metrics, on that host's disk) and `/metrics` sums them. Another host
has its own directory and its own `/metrics`: scrape each web node.

The directory must be set before prometheus_client is imported (it picks its value
class at import), so this module sets it, and everything that measures imports
prometheus_client through here. Queue depth and the embedding backlog are read at
scrape time (`ScrapeTimeCollector`), not counted by any process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings

_DIR = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or Path(settings.VAR_DIR) / "metrics")
_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_DIR)

from prometheus_client import (  # noqa: E402 - needs PROMETHEUS_MULTIPROC_DIR first
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily  # noqa: E402
from prometheus_client.registry import Collector  # noqa: E402

logger = logging.getLogger(__name__)

REQUESTS = Counter("anymask_http_requests_total", "HTTP requests answered", ["method", "status"])
REQUEST_SECONDS = Histogram(
    "anymask_http_request_duration_seconds", "Time to answer an HTTP request", ["method"]
)
OPEN_SOCKETS = Gauge(
    "anymask_open_sockets", "Open websockets", ["kind"], multiprocess_mode="livesum"
)
DECODE_SECONDS = Histogram(
    "anymask_decode_duration_seconds",
    "Time of one prompt decode (prompt encoder and mask decoder)",
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)
JOB_SECONDS = Histogram(
    "anymask_job_duration_seconds",
    "Time of one background job (Celery task), by kind and outcome",
    ["kind", "outcome"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
)

METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def method_label(method: str) -> str:
    """A client chooses the method: anything unusual is one label, not a new series."""
    return method if method in METHODS else "other"


class ScrapeTimeCollector(Collector):
    """Figures read when scraped: messages waiting per named queue (when the broker
    answers) and images whose embedding is pending or running."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from labeling.models import EmbeddingStatus, Image
        from labeling.queueing import waiting

        backlog = GaugeMetricFamily(
            "anymask_embedding_backlog", "Images whose embedding is not done", labels=["status"]
        )
        for status in (EmbeddingStatus.PENDING, EmbeddingStatus.RUNNING):
            count = Image.objects.filter(embedding_status=status).count()
            backlog.add_metric([str(status)], count)
        yield backlog
        depth = GaugeMetricFamily(
            "anymask_queue_depth", "Tasks waiting in a broker queue", labels=["queue"]
        )
        if settings.REDIS_URL:
            try:
                for queue in sorted(set(settings.ANYMASK_TASK_QUEUES.values())):
                    depth.add_metric([queue], waiting(queue))
            except Exception as error:  # the broker is down: no figure, not a failed scrape
                logger.warning("metrics: broker unreachable (%s)", type(error).__name__)
        yield depth


def exposition() -> bytes:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(ScrapeTimeCollector())
    return generate_latest(registry)


def process_exited(pid: int) -> None:
    """A process of this host is gone: its live gauges no longer count."""
    multiprocess.mark_process_dead(pid)


def observe(histogram: Any, seconds: float, *labels: str) -> None:
    (histogram.labels(*labels) if labels else histogram).observe(seconds)
