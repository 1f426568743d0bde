"""The test webhook receiver really listens, records, and fails on request."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.support.webhook import WebhookReceiver


def _post(url: str, body: bytes) -> int:
    req = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture
def receiver() -> WebhookReceiver:
    r = WebhookReceiver().start()
    yield r  # type: ignore[misc]
    r.stop()


def test_receiver_records_posts_and_fails_the_next_n(receiver: WebhookReceiver) -> None:
    receiver.fail_next(2, status=503)
    codes = [_post(receiver.url + "/hook", b'{"n": %d}' % i) for i in range(3)]
    assert codes == [503, 503, 200]
    assert [r.json()["n"] for r in receiver.delivered()] == [2]
    assert len(receiver.requests) == 3


def test_receiver_fails_for_a_while_then_recovers(receiver: WebhookReceiver) -> None:
    import time

    receiver.fail_for(1.0)
    assert _post(receiver.url, b"{}") == 500
    time.sleep(1.05)
    assert _post(receiver.url, b"{}") == 200
