"""Webhook delivery: payloads, signatures, retries, idempotency, routing, secrets kept secret."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
import requests
import responses
from responses import matchers

from jobwarden.errors import (
    ConfigError,
    TemporaryError,
    WebhookUnavailableError,
)
from jobwarden.report import Report
from jobwarden.sinks.storage import ReportStore, open_store
from jobwarden.sinks.webhooks import (
    HEADER_REPORT_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    Poster,
    RetryPolicy,
    Webhook,
    deliver,
    delivery_key,
    sign,
    verify_signature,
)
from tests.support.reports import oomkilled_report, performance_report

SLACK_URL = "https://hooks.slack.com/services/T000/B000/SECRETTOKEN123"
TEAMS_URL = "https://prod.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=TEAMSSECRET"
JSON_URL = "https://audit.example.com/hooks/jobwarden?key=JSONSECRET"
SECRETS = ("SECRETTOKEN123", "TEAMSSECRET", "JSONSECRET", "/services/T000")
NOW = 1_714_528_800.0


@pytest.fixture
def store(tmp_path: Path) -> ReportStore:
    return open_store(f"file://{tmp_path}")


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def poster(sleeps: list[float]) -> Poster:
    return Poster(
        requests.Session(),
        retry=RetryPolicy(attempts=4, base_s=1.0, max_backoff_s=8.0, max_retry_after_s=20.0),
        sleep=sleeps.append,
        clock=lambda: NOW,
        jitter=lambda low, high: high,  # the top of the full-jitter range, to see the backoff
    )


def slack(**kw: object) -> Webhook:
    return Webhook(name="oncall", type="slack", url=SLACK_URL, **kw)  # type: ignore[arg-type]


def teams() -> Webhook:
    return Webhook(name="team-channel", type="teams", url=TEAMS_URL)


HMAC_SECRET = "s3cr3t"


def audit(secret: str | None = HMAC_SECRET) -> Webhook:
    return Webhook(name="audit", type="json", url=JSON_URL, secret=secret)


def outcomes(store: ReportStore) -> list[str]:
    """The delivery outcome records (not the claims taken before posting)."""
    return [k for k in store.list("deliveries/") if k.endswith(".json")]


@responses.activate
def test_slack_webhook_receives_a_block_kit_message(store: ReportStore, poster: Poster) -> None:
    responses.post(SLACK_URL, body="ok")
    report = oomkilled_report()
    (result,) = deliver(
        report, [slack()], store, report_url="https://r.example.com/x.html", poster=poster
    )
    assert result.status == "delivered" and result.attempts == 1
    body = json.loads(responses.calls[0].request.body)
    assert body["blocks"][0]["type"] == "header"
    assert "OOMKilled" in body["text"]
    assert "<https://r.example.com/x.html|Full report>" in json.dumps(body)
    assert responses.calls[0].request.headers[HEADER_REPORT_ID] == report.id


@responses.activate
def test_teams_webhook_receives_an_adaptive_card_message(
    store: ReportStore, poster: Poster
) -> None:
    responses.post(TEAMS_URL, status=202)
    deliver(oomkilled_report(), [teams()], store, poster=poster)
    body = json.loads(responses.calls[0].request.body)
    assert body["type"] == "message"
    card = body["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"


@responses.activate
def test_json_webhook_gets_the_canonical_report_signed_and_the_signature_verifies(
    store: ReportStore, poster: Poster
) -> None:
    responses.post(JSON_URL)
    report = oomkilled_report()
    deliver(report, [audit()], store, poster=poster)
    request = responses.calls[0].request
    assert request.body == report.to_json().encode()
    assert Report.from_json(request.body) == report
    timestamp = request.headers[HEADER_TIMESTAMP]
    signature = request.headers[HEADER_SIGNATURE]
    assert timestamp == str(int(NOW))
    assert signature.startswith("v1=") and len(signature) == 3 + 64
    assert verify_signature("s3cr3t", timestamp, request.body, signature, now=NOW)
    assert request.headers["Content-Type"] == "application/json"


def test_verify_signature_refuses_tampering_wrong_secrets_and_stale_timestamps() -> None:
    body = b'{"id":"r1"}'
    good = sign("s3cr3t", "1000", body)
    assert verify_signature("s3cr3t", "1000", body, good, now=1000)
    assert verify_signature("s3cr3t", "1000", body.decode(), good, now=1299)
    assert verify_signature("s3cr3t", "1000", body, f"v1=deadbeef, {good}", now=1000)  # rotation
    assert not verify_signature("s3cr3t", "1000", b'{"id":"r2"}', good, now=1000)
    assert not verify_signature("other", "1000", body, good, now=1000)
    assert not verify_signature("s3cr3t", "1000", body, good, now=1301)
    assert not verify_signature("s3cr3t", "1001", body, good, now=1001)
    assert not verify_signature("s3cr3t", "soon", body, good, now=1000)


@responses.activate
def test_json_webhook_without_a_secret_is_sent_unsigned(store: ReportStore, poster: Poster) -> None:
    responses.post(JSON_URL)
    deliver(oomkilled_report(), [audit(secret=None)], store, poster=poster)
    headers = responses.calls[0].request.headers
    assert HEADER_SIGNATURE not in headers and HEADER_TIMESTAMP in headers


@responses.activate
def test_500_then_429_then_success_posts_once_and_records_exactly_one_delivery(
    store: ReportStore, poster: Poster, sleeps: list[float]
) -> None:
    responses.post(SLACK_URL, status=500, body="oops")
    responses.post(SLACK_URL, status=429, headers={"Retry-After": "3"})
    responses.post(SLACK_URL, body="ok")
    report = oomkilled_report()
    (result,) = deliver(report, [slack()], store, poster=poster)
    assert result.status == "delivered" and result.attempts == 3 and result.http_status == 200
    assert len(responses.calls) == 3
    assert sleeps == [1.0, 3.0]  # backoff, then Retry-After
    assert outcomes(store) == [f"deliveries/{report.id}/oncall.json"]
    record = store.get_json(f"deliveries/{report.id}/oncall.json")
    assert record["attempts"] == 3 and record["host"] == "hooks.slack.com"
    assert "SECRETTOKEN123" not in json.dumps(record)


@responses.activate
def test_backoff_doubles_up_to_its_cap_and_retry_after_is_capped(
    store: ReportStore, poster: Poster, sleeps: list[float]
) -> None:
    responses.post(SLACK_URL, status=502)
    responses.post(SLACK_URL, status=500)
    responses.post(SLACK_URL, status=429, headers={"Retry-After": "3600"})
    responses.post(SLACK_URL, body="ok")
    deliver(oomkilled_report(), [slack()], store, poster=poster)
    assert sleeps == [1.0, 2.0, 20.0]


@responses.activate
def test_retry_after_as_an_http_date_is_honoured_on_503(
    store: ReportStore, poster: Poster, sleeps: list[float]
) -> None:
    responses.post(SLACK_URL, status=503, headers={"Retry-After": "Wed, 01 May 2024 02:00:07 GMT"})
    responses.post(SLACK_URL, body="ok")
    deliver(oomkilled_report(), [slack()], store, poster=poster)
    assert sleeps == [7.0]  # NOW is 2024-05-01 02:00:00 UTC


@responses.activate
def test_connection_errors_and_timeouts_are_retried(
    store: ReportStore, poster: Poster, sleeps: list[float]
) -> None:
    responses.post(SLACK_URL, body=requests.ConnectionError(f"refused {SLACK_URL}"))
    responses.post(SLACK_URL, body=requests.ReadTimeout(f"read timed out {SLACK_URL}"))
    responses.post(SLACK_URL, body="ok")
    (result,) = deliver(oomkilled_report(), [slack()], store, poster=poster)
    assert result.attempts == 3 and len(sleeps) == 2


@responses.activate
def test_a_400_is_not_retried_and_is_recorded_as_refused_naming_webhook_and_status(
    store: ReportStore, poster: Poster, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    responses.post(SLACK_URL, status=400, body="invalid_blocks")
    report = oomkilled_report()
    results = deliver(report, [slack()], store, poster=poster)
    assert [(r.webhook, r.status, r.http_status) for r in results] == [("oncall", "refused", 400)]
    assert len(responses.calls) == 1 and sleeps == []
    logged = caplog.text
    assert "oncall (hooks.slack.com)" in logged and "400" in logged and "invalid_blocks" in logged
    record = store.get_json(delivery_key(report.id, "oncall"))
    assert record["outcome"] == "refused" and record["httpStatus"] == 400
    assert "invalid_blocks" in record["error"]
    again = deliver(report, [slack()], store, poster=poster)  # a redelivery: no second post
    assert [r.status for r in again] == ["already refused"] and len(responses.calls) == 1


@responses.activate
def test_a_408_is_retried_like_a_429(store: ReportStore, poster: Poster) -> None:
    responses.post(SLACK_URL, status=408, body="request timeout")
    responses.post(SLACK_URL, status=200, body="ok")
    results = deliver(oomkilled_report(), [slack()], store, poster=poster)
    assert [(r.status, r.attempts) for r in results] == [("delivered", 2)]


@responses.activate
def test_a_redirect_is_not_followed(store: ReportStore, poster: Poster) -> None:
    responses.post(SLACK_URL, status=302, headers={"Location": "https://elsewhere.example.com/"})
    results = deliver(oomkilled_report(), [slack()], store, poster=poster)
    assert [(r.status, r.http_status) for r in results] == [("refused", 302)]
    assert len(responses.calls) == 1


@responses.activate
def test_exhausted_retries_raise_a_temporary_error_and_record_nothing(
    store: ReportStore, poster: Poster
) -> None:
    responses.post(SLACK_URL, status=503, body="busy")
    with pytest.raises(WebhookUnavailableError) as caught:
        deliver(oomkilled_report(), [slack()], store, poster=poster)
    assert isinstance(caught.value, TemporaryError)
    assert len(responses.calls) == 4
    assert "not delivered after 4 attempts; last: answered 503 busy" in str(caught.value)
    assert outcomes(store) == []


@responses.activate
def test_a_redelivered_event_never_posts_twice(store: ReportStore, poster: Poster) -> None:
    responses.post(SLACK_URL, body="ok")
    responses.post(JSON_URL)
    report = oomkilled_report()
    first = deliver(report, [slack(), audit()], store, poster=poster)
    again = deliver(Report.from_json(report.to_json()), [slack(), audit()], store, poster=poster)
    assert [r.status for r in first] == ["delivered", "delivered"]
    assert [r.status for r in again] == ["already delivered", "already delivered"]
    assert len(responses.calls) == 2


@responses.activate
def test_a_failed_webhook_is_retried_alone_on_redelivery(
    store: ReportStore, poster: Poster
) -> None:
    slack_ok = responses.post(SLACK_URL, body="ok")
    audit_down = responses.post(JSON_URL, status=503)
    report = oomkilled_report()
    with pytest.raises(WebhookUnavailableError, match="audit"):
        deliver(report, [slack(), audit()], store, poster=poster)
    assert slack_ok.call_count == 1 and audit_down.call_count == 4
    responses.replace(responses.POST, JSON_URL, status=200)
    results = deliver(report, [slack(), audit()], store, poster=poster)
    assert [r.status for r in results] == ["already delivered", "delivered"]
    assert slack_ok.call_count == 1


@responses.activate
def test_webhooks_only_get_the_workflows_routed_to_them(store: ReportStore, poster: Poster) -> None:
    responses.post(SLACK_URL, body="ok")
    responses.post(JSON_URL)
    oncall = slack(workflows=["jobFailureReporter"])
    everything = audit()
    failure = deliver(oomkilled_report(), [oncall, everything], store, poster=poster)
    perf = deliver(performance_report(), [oncall, everything], store, poster=poster)
    assert [r.status for r in failure] == ["delivered", "delivered"]
    assert [r.status for r in perf] == ["not routed", "delivered"]
    assert [c.request.url.split("?")[0] for c in responses.calls] == [
        SLACK_URL,
        JSON_URL.split("?")[0],
        JSON_URL.split("?")[0],
    ]


@responses.activate
def test_webhook_urls_never_appear_in_errors_logs_records_or_reprs(
    store: ReportStore, poster: Poster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    responses.post(SLACK_URL, body=requests.ConnectionError(f"cannot reach {SLACK_URL}"))
    responses.post(JSON_URL, status=403, body=f"forbidden for {JSON_URL}")
    report = oomkilled_report()
    with pytest.raises(WebhookUnavailableError) as caught:
        deliver(report, [slack(), audit()], store, poster=poster)
    err = caught.value
    refusal = store.get_json(delivery_key(report.id, "audit"))
    seen = [str(err), repr(err), repr(slack()), repr(audit()), json.dumps(refusal)]
    seen += [r.getMessage() for r in caplog.records]
    seen += [str(err.__cause__), str(err.__context__)]
    for text in seen:
        for secret in (*SECRETS, "s3cr3t"):
            assert secret not in text, text
    assert "connection failed (ConnectionError)" in str(err)
    assert refusal["outcome"] == "refused" and refusal["httpStatus"] == 403
    assert "audit (audit.example.com)" in refusal["error"]


@responses.activate
def test_legacy_teams_connector_errors_inside_a_200_are_retried(
    store: ReportStore, poster: Poster
) -> None:
    responses.post(
        TEAMS_URL, body="Microsoft Teams endpoint returned HTTP error 429 with ContextId abc"
    )
    responses.post(TEAMS_URL, body="1")
    (result,) = deliver(oomkilled_report(), [teams()], store, poster=poster)
    assert result.attempts == 2


def test_a_webhook_with_a_bad_type_or_url_is_a_config_error_that_hides_the_url() -> None:
    with pytest.raises(ConfigError, match=r"sinks.webhooks\['x'\].type"):
        Webhook(name="x", type="discord", url=SLACK_URL)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not an http") as caught:
        Webhook(name="x", type="slack", url="ftp://hooks.example.com/SECRETTOKEN123")
    assert "SECRETTOKEN123" not in str(caught.value)


def test_the_real_clock_and_sleep_are_the_defaults() -> None:
    poster = Poster()
    assert poster.sleep is time.sleep and poster.clock is time.time


@responses.activate
def test_the_same_bytes_that_were_signed_are_sent(store: ReportStore, poster: Poster) -> None:
    responses.post(
        JSON_URL,
        match=[
            matchers.header_matcher({HEADER_REPORT_ID: oomkilled_report().id}, strict_match=False)
        ],
    )
    deliver(oomkilled_report(), [audit()], store, poster=poster)
    request = responses.calls[0].request
    expected = sign("s3cr3t", request.headers[HEADER_TIMESTAMP], request.body)
    assert request.headers[HEADER_SIGNATURE] == expected
