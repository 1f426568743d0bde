"""Webhooks, once: a post is claimed (create-only) before it is made, across processes.

Real processes, a real HTTP receiver on loopback and a `file://` store: deliveries of the
same report racing in separate processes post it once. A claim whose post never finished
(the process died) expires after its lease; the next delivery posts again with the same
`X-Jobwarden-Report-Id`, so the receiver can drop the repeat.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from jobwarden.errors import DeliveryInProgressError
from jobwarden.sinks.storage import open_store
from jobwarden.sinks.webhooks import (
    HEADER_REPORT_ID,
    Poster,
    RetryPolicy,
    Webhook,
    claim_key,
    deliver,
    delivery_key,
)
from tests.support.reports import oomkilled_report
from tests.support.webhook import WebhookReceiver


def hook(receiver: WebhookReceiver) -> Webhook:
    return Webhook(name="oncall", type="json", url=receiver.url)


def _deliver_in_child(store_url: str, url: str, go: object, results: object) -> None:
    store = open_store(store_url)
    webhook = Webhook(name="oncall", type="json", url=url)
    go.wait()  # type: ignore[attr-defined]
    try:
        outcome = [r.status for r in deliver(oomkilled_report(), [webhook], store)]
    except DeliveryInProgressError:
        outcome = ["in progress elsewhere"]
    results.put(outcome)  # type: ignore[attr-defined]


def test_deliveries_racing_in_separate_processes_post_once(
    tmp_path: Path, webhook: WebhookReceiver
) -> None:
    ctx = multiprocessing.get_context("fork")
    go, results = ctx.Event(), ctx.Queue()
    store_url = f"file://{tmp_path / 'reports'}"
    procs = [
        ctx.Process(target=_deliver_in_child, args=(store_url, webhook.url, go, results))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    go.set()
    outcomes = sorted(str(results.get(timeout=30)) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    assert len(webhook.delivered()) == 1, outcomes
    assert outcomes.count("['delivered']") == 1, outcomes
    store = open_store(store_url)
    record = store.get_json(delivery_key(oomkilled_report().id, "oncall"))
    assert record["outcome"] == "delivered"
    # every later delivery stops at the outcome record
    assert [r.status for r in deliver(oomkilled_report(), [hook(webhook)], store)] == [
        "already delivered"
    ]
    assert len(webhook.delivered()) == 1


def test_a_claim_whose_post_never_finished_is_retried_after_its_lease_with_the_same_id(
    tmp_path: Path, webhook: WebhookReceiver
) -> None:
    store = open_store(f"file://{tmp_path / 'reports'}")
    report = oomkilled_report()
    # a process claimed the post and died before recording any outcome
    died = {"reportId": report.id, "webhook": "oncall", "claimedAt": time.time(), "leaseS": 300}
    assert store.put_json(claim_key(report.id, "oncall", 0), died, only_if_absent=True)
    with pytest.raises(DeliveryInProgressError, match=r"being posted .* by another delivery"):
        deliver(report, [hook(webhook)], store)
    assert webhook.delivered() == []  # within the lease: no second post
    later = time.time() + 301
    results = deliver(report, [hook(webhook)], store, clock=lambda: later)
    assert [r.status for r in results] == ["delivered"]
    (post,) = webhook.delivered()
    assert post.headers[HEADER_REPORT_ID] == report.id
    assert store.get_json(claim_key(report.id, "oncall", 1)) is not None  # claim 0 untouched


def test_a_failed_post_releases_its_claim_so_the_retry_posts(
    tmp_path: Path, webhook: WebhookReceiver
) -> None:
    store = open_store(f"file://{tmp_path / 'reports'}")
    poster = Poster(retry=RetryPolicy(attempts=2, base_s=0, max_backoff_s=0), sleep=lambda _: None)
    webhook.fail_next(2, status=503)
    with pytest.raises(Exception, match="not delivered after 2 attempts"):
        deliver(oomkilled_report(), [hook(webhook)], store, poster=poster)
    assert [
        r.status for r in deliver(oomkilled_report(), [hook(webhook)], store, poster=poster)
    ] == ["delivered"]


class _AnswerLost:
    """A real store whose first claim create is stored but answered "already there": what a
    bucket write looks like when the connection breaks after the write, and the client's
    retry is refused by `ifGenerationMatch=0`."""

    def __init__(self, store: object) -> None:
        self._store = store
        self.lost = 0

    def put_json(self, key: str, obj: object, *, only_if_absent: bool = False) -> bool:
        created = self._store.put_json(key, obj, only_if_absent=only_if_absent)  # type: ignore[attr-defined]
        if ".claim-" in key and created and not self.lost:
            self.lost += 1
            return False
        return bool(created)

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


def test_a_claim_stored_whose_answer_was_lost_is_still_this_deliverys_own(
    tmp_path: Path, webhook: WebhookReceiver
) -> None:
    store = _AnswerLost(open_store(f"file://{tmp_path / 'reports'}"))
    report = oomkilled_report()
    results = deliver(report, [hook(webhook)], store)  # type: ignore[arg-type]
    assert store.lost == 1
    assert [r.status for r in results] == ["delivered"]  # not "in progress elsewhere"
    (post,) = webhook.delivered()
    assert post.headers[HEADER_REPORT_ID] == report.id
    assert store.get_json(claim_key(report.id, "oncall", 1)) is None  # no second claim taken


def test_a_delivery_makes_no_attempt_that_could_outlast_its_lease(
    tmp_path: Path, webhook: WebhookReceiver
) -> None:
    """A claimed post ends within the webhook's lease, so a later delivery that finds the
    lease over can never post while this one still might (the lease is what makes a
    repeat after a crash safe to shorten)."""
    store = open_store(f"file://{tmp_path / 'reports'}")
    now = [1000.0]
    poster = Poster(
        retry=RetryPolicy(attempts=5, base_s=4, max_backoff_s=4),
        sleep=lambda s: now.__setitem__(0, now[0] + s),
        clock=lambda: now[0],
        jitter=lambda _low, high: high,
    )
    short = Webhook(name="oncall", type="json", url=webhook.url, timeout_s=5, lease_s=12)
    webhook.fail_next(5, status=503)
    with pytest.raises(Exception, match=r"after 2 attempts; .*no time left in the .* lease"):
        deliver(oomkilled_report(), [short], store, poster=poster, clock=lambda: now[0])
    # attempt 1 at 1000, backoff 4 s, attempt 2 at 1004 (ends by 1009); a third would start
    # at 1008 at the earliest and could run to 1013, past the lease's end at 1012
    assert len(webhook.requests) == 2
    assert now[0] <= 1000 + 12 - 5


def test_an_orphaned_claim_expires_after_the_webhooks_own_lease(
    tmp_path: Path, webhook: WebhookReceiver
) -> None:
    store = open_store(f"file://{tmp_path / 'reports'}")
    report = oomkilled_report()
    short = Webhook(name="oncall", type="json", url=webhook.url, timeout_s=5, lease_s=20)
    died = {"reportId": report.id, "webhook": "oncall", "claimedAt": 1000.0, "leaseS": 20}
    assert store.put_json(claim_key(report.id, "oncall", 0), died, only_if_absent=True)
    with pytest.raises(DeliveryInProgressError):
        deliver(report, [short], store, clock=lambda: 1019.0)
    results = deliver(report, [short], store, clock=lambda: 1021.0)
    assert [r.status for r in results] == ["delivered"]
    assert webhook.delivered()[0].headers[HEADER_REPORT_ID] == report.id
