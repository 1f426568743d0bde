"""The exporter's HTTP endpoints: liveness never asks about the watch, readiness does."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from jobwarden_exporter.metrics import Metrics
from jobwarden_exporter.server import StatusServer


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode()


@pytest.fixture
def server() -> Iterator[tuple[StatusServer, list[str]]]:
    asked: list[str] = []

    def health() -> tuple[bool, str]:
        asked.append("health")
        return False, "watch failing: the API server is unreachable"

    running = StatusServer(Metrics(), health, host="127.0.0.1", port=0).start()
    yield running, asked
    running.stop()


def test_livez_answers_ok_while_the_watch_is_unhealthy_without_asking_about_it(
    server: tuple[StatusServer, list[str]],
) -> None:
    running, asked = server
    assert _get(f"http://127.0.0.1:{running.port}/livez") == (200, "ok: serving\n")
    assert asked == []  # liveness never depends on the API server


def test_healthz_reports_the_unhealthy_watch_for_readiness(
    server: tuple[StatusServer, list[str]],
) -> None:
    running, asked = server
    status, text = _get(f"http://127.0.0.1:{running.port}/healthz")
    assert (status, text) == (503, "unhealthy: watch failing: the API server is unreachable\n")
    assert asked == ["health"]
