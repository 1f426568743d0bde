"""Deliver reports to webhooks: Slack, Microsoft Teams, and signed JSON.

Types and bodies
    slack   POST the Slack Block Kit message (`render.slack`)
    teams   POST a Teams message with an Adaptive Card 1.4 (`render.teams`)
    json    POST the canonical report JSON (`Report.to_json()`), signed
A CronJob's failure that continues a streak the same way is posted to slack and teams as
the short follow-up of `render.followup` (its full report is stored); json posts the full
report, whose `cronJob.followUpOf` names the streak's first report.

Headers on every post
    Content-Type: application/json
    User-Agent: jobwarden/<version>
    X-Jobwarden-Report-Id: <report id>      (receivers can deduplicate on it)
    X-Jobwarden-Timestamp: <unix seconds>   (json only; fresh on every attempt)
    X-Jobwarden-Signature: v1=<hex>         (json only, when the webhook has a secret)

The signature is `hex(hmac_sha256(secret, f"{timestamp}.{body}"))` over the exact
body bytes. Receivers check it with `verify_signature(secret, timestamp, body,
signature)`, which also refuses timestamps more than 5 minutes away (replays).

Retries: exponential backoff with full jitter on 408, 429 and 503 (honouring `Retry-After`
up to a cap), other 5xx, connection errors and timeouts. After the last attempt,
`WebhookUnavailableError` (temporary: the platform retries the event). Any other status
(a 4xx other than 408 and 429) is a refusal for good: resending cannot help, so it is
recorded like a delivery (which webhook refused, with its HTTP status) and never retried.
Redirects are not followed.

Once per (report, webhook), even across processes: before posting, a delivery *claims* the
post by creating `deliveries/<report id>/<webhook>.claim-<n>` (create-only, so of two
processes delivering the same report at once exactly one wins; the other is told the post
is in flight, a temporary error, and its event comes back later). After the post is
answered (2xx, or a refusal), the outcome `deliveries/<report id>/<webhook>.json` is
created (create-only; `outcome` is `delivered` or `refused`) and every later delivery
stops there. A claim whose outcome never appears (the process died mid-post) expires
after its lease (the webhook's `leaseSeconds`, default `DELIVERY_LEASE_S`; a delivery's
attempts all end within it, so two posts never overlap); the next delivery then claims
`claim-<n+1>` and posts again with the same `X-Jobwarden-Report-Id`, so receivers can
drop the repeat. Guarantee: at most one post per (report, webhook) unless a process dies
between claiming and recording; then one repeat per such death, with the same report id.
No object is ever rewritten.

A webhook URL is a secret: it is never logged and never put in an error; messages
name the webhook and its host only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import random
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from jobwarden import __version__
from jobwarden.errors import (
    ConfigError,
    DeliveryInProgressError,
    WebhookRejectedError,
    WebhookUnavailableError,
)
from jobwarden.names import DEFAULT_ROUTED
from jobwarden.report import Report
from jobwarden.sinks.storage import ReportStore, segment

if TYPE_CHECKING:
    from collections.abc import Mapping

    import requests

    from jobwarden.config import WebhookConfig

log = logging.getLogger(__name__)

WebhookType = Literal["slack", "teams", "json"]
TYPES: tuple[WebhookType, ...] = ("slack", "teams", "json")
HEADER_REPORT_ID = "X-Jobwarden-Report-Id"
HEADER_TIMESTAMP = "X-Jobwarden-Timestamp"
HEADER_SIGNATURE = "X-Jobwarden-Signature"
_MAX_BODY_IN_ERROR = 200


@dataclass(frozen=True)
class Webhook:
    """One webhook. `url` and `secret` are secrets: they never appear in repr, logs or errors."""

    name: str
    type: WebhookType
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    workflows: frozenset[str] | None = None  # None: `names.DEFAULT_ROUTED`
    timeout_s: float = 10.0
    lease_s: float = 300.0  # a claimed post's attempts all end within this (DELIVERY_LEASE_S)

    def __post_init__(self) -> None:
        where = f"sinks.webhooks[{self.name!r}]"
        if self.type not in TYPES:
            raise ConfigError(f"{where}.type: {self.type!r} is not one of {', '.join(TYPES)}")
        if urlsplit(self.url).scheme not in ("https", "http") or not urlsplit(self.url).hostname:
            raise ConfigError(f"{where}.url: not an http(s) URL (value hidden: it is a secret)")
        if self.workflows is not None and not isinstance(self.workflows, frozenset):
            object.__setattr__(self, "workflows", frozenset(self.workflows))

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "?"

    @property
    def label(self) -> str:
        """How errors and logs name this webhook: `oncall (hooks.slack.com)`."""
        return f"{self.name} ({self.host})"

    def wants(self, workflow: str) -> bool:
        return workflow in (DEFAULT_ROUTED if self.workflows is None else self.workflows)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_s: float = 0.5
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 60.0


DEFAULT_RETRY = RetryPolicy()
"""The policy of a `Poster` made without one (the event path's); tests may swap it for one
with no delays, so a webhook answering 503 or 429 costs them no sleeping."""


@dataclass(frozen=True)
class DeliveryResult:
    webhook: str
    status: Literal["delivered", "already delivered", "refused", "already refused", "not routed"]
    attempts: int = 0
    http_status: int | None = None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`v1=<hex hmac-sha256(secret, f"{timestamp}.{body}")>`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes | str,
    signature: str,
    tolerance_s: float = 300,
    *,
    now: float | None = None,
) -> bool:
    """True if `signature` (one or more comma-separated `v1=<hex>`) signs `body` at `timestamp`
    with `secret`, and `timestamp` is within `tolerance_s` of now."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance_s:
        return False
    data = body.encode() if isinstance(body, str) else body
    expected = sign(secret, str(sent), data)
    return any(
        hmac.compare_digest(expected, candidate.strip()) for candidate in signature.split(",")
    )


def payload(report: Report, webhook: Webhook, report_url: str | None) -> bytes:
    """The body posted to `webhook` for `report`."""
    if webhook.type == "json":
        return report.to_json().encode()  # a follow-up's `cronJob.followUpOf` threads it
    from jobwarden.render.followup import follow_up_message

    report = follow_up_message(report)  # a CronJob's repeated failure: the short message
    if webhook.type == "slack":
        from jobwarden.render.slack import render_slack

        message = render_slack(report, report_url=report_url)
    else:
        from jobwarden.render.teams import render_teams

        message = render_teams(report, report_url=report_url)
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def _retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - now)


def _scrub(text: str, webhook: Webhook) -> str:
    """A response body fit for an error: short, and without the webhook's URL or path."""
    text = text[:_MAX_BODY_IN_ERROR]
    path = urlsplit(webhook.url).path
    for secret in (webhook.url, path if len(path) > 1 else "", webhook.secret or ""):
        if secret:
            text = text.replace(secret, "***")
    return " ".join(text.split())


_session: requests.Session | None = None


def default_session() -> requests.Session:
    """One `requests.Session` per process (made on first use)."""
    global _session  # a per-process connection pool, created lazily
    if _session is None:
        import requests

        _session = requests.Session()
    return _session


class Poster:
    """Posts one body to one webhook with retries; injectable session, sleep and clock."""

    def __init__(
        self,
        session: requests.Session | None = None,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.session = session
        self.retry = retry or DEFAULT_RETRY
        self.sleep = sleep
        self.clock = clock
        self.jitter = jitter

    def _headers(self, webhook: Webhook, report: Report, body: bytes) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"jobwarden/{__version__}",
            HEADER_REPORT_ID: report.id,
        }
        if webhook.type == "json":
            timestamp = str(int(self.clock()))
            headers[HEADER_TIMESTAMP] = timestamp
            if webhook.secret:
                headers[HEADER_SIGNATURE] = sign(webhook.secret, timestamp, body)
        return headers

    def post(
        self, webhook: Webhook, report: Report, body: bytes, *, deadline: float | None = None
    ) -> tuple[int, int]:
        """Post until success; returns (HTTP status, attempts) or raises a webhook error.

        `deadline` (a `clock()` time, the end of the claim's lease): no attempt starts that
        could still be running then, so no other delivery's post can overlap this one's.
        """
        import requests

        session = self.session or default_session()
        problem, status, made = "", None, 0
        for attempt in range(1, self.retry.attempts + 1):
            made = attempt
            retry_after: float | None = None
            try:
                response = session.post(
                    webhook.url,
                    data=body,
                    headers=self._headers(webhook, report, body),
                    timeout=webhook.timeout_s,
                    allow_redirects=False,
                )
            except requests.Timeout:
                problem, status = f"timed out after {webhook.timeout_s:g}s", None
            except requests.RequestException as err:
                # str(err) would carry the URL: name the failure by its type only
                problem, status = f"connection failed ({type(err).__name__})", None
            else:
                status = response.status_code
                text = _scrub(response.text, webhook)
                if 200 <= status < 300:
                    legacy_error = webhook.type == "teams" and "returned HTTP error" in text
                    if not legacy_error:
                        return status, attempt
                    problem = f"answered {status} but reported: {text}"
                elif status in (408, 429) or status >= 500:
                    problem = f"answered {status} {text}".rstrip()
                    if status in (429, 503):
                        retry_after = _retry_after(
                            response.headers.get("Retry-After"), self.clock()
                        )
                else:
                    raise WebhookRejectedError(
                        f"webhook {webhook.label} rejected the {webhook.type} post of report "
                        f"{report.id} with HTTP {status}: {text or '(empty body)'}; "
                        "resending will not help: check the webhook's type and URL",
                        webhook=webhook.name,
                        status=status,
                    )
            if attempt == self.retry.attempts:
                break
            if retry_after is not None:
                delay = min(retry_after, self.retry.max_retry_after_s)
            else:
                cap = min(self.retry.max_backoff_s, self.retry.base_s * 2 ** (attempt - 1))
                delay = self.jitter(0.0, cap)
            if deadline is not None and self.clock() + delay + webhook.timeout_s > deadline:
                problem += "; no time left in the delivery's lease for another attempt"
                break
            log.warning(
                "webhook %s: attempt %d of %d %s; retrying in %.1fs",
                webhook.label,
                attempt,
                self.retry.attempts,
                problem,
                delay,
            )
            self.sleep(delay)
        raise WebhookUnavailableError(
            f"webhook {webhook.label}: report {report.id} not delivered after "
            f"{made} attempts; last: {problem}; the event will be retried",
            webhook=webhook.name,
            status=status,
        )


def delivery_key(report_id: str, webhook_name: str) -> str:
    return f"deliveries/{segment(report_id)}/{segment(webhook_name)}.json"


def claim_key(report_id: str, webhook_name: str, attempt: int) -> str:
    return f"deliveries/{segment(report_id)}/{segment(webhook_name)}.claim-{attempt}"


#: How long a claimed post may take before another delivery may post again (longer than a
#: Poster's retries: 5 attempts of at most the webhook timeout plus 30 s backoffs).
DELIVERY_LEASE_S = 300.0
_MAX_CLAIMS = 50


def claim(
    store: ReportStore, report_id: str, webhook: Webhook, *, now: float, lease_s: float
) -> str | None:
    """Claim the post of `report_id` to `webhook`: the claim's key if this delivery may post
    now, None when another delivery holds an unexpired claim.

    Claims are never rewritten: after an expired or released one comes the next number.
    Each claim carries a random `claimant`: when a create reached storage but its answer was
    lost (a connection cut mid-write; the client's retry is then refused as "exists"), the
    claim found is recognised as this delivery's own instead of blocking it for a lease.
    """
    claimant = secrets.token_hex(8)
    for attempt in range(_MAX_CLAIMS):
        key = claim_key(report_id, webhook.name, attempt)
        record = {
            "reportId": report_id,
            "webhook": webhook.name,
            "claimedAt": now,
            "leaseS": lease_s,
            "claimant": claimant,
        }
        if store.put_json(key, record, only_if_absent=True):
            return key
        held = store.get_json(key)
        if isinstance(held, dict) and held.get("claimant") == claimant:
            return key  # created by this very call; only its answer was lost
        if store.get_json(key + ".released") is not None:
            continue  # its post failed and was given up: claim the next one
        started = held.get("claimedAt") if isinstance(held, dict) else None
        lease = held.get("leaseS") if isinstance(held, dict) else None
        if (
            isinstance(started, int | float)
            and isinstance(lease, int | float)
            and now < started + min(lease, lease_s)
        ):
            return None  # in flight elsewhere
    raise DeliveryInProgressError(
        f"report {report_id}: {_MAX_CLAIMS} claims to post to webhook {webhook.label} all "
        "expired without an outcome; check the webhook and the function's logs",
        webhook=webhook.name,
    )


def webhooks_for(configs: Iterable[WebhookConfig], env: Mapping[str, str]) -> list[Webhook]:
    """The webhooks `configs` name (those `Settings.route` chose), with secrets resolved.

    A secret missing from the environment raises ConfigError (naming the variable only).
    """
    hooks = []
    for w in configs:
        secret = w.secret(env)
        hooks.append(
            Webhook(
                name=w.name,
                type=w.type,
                url=w.url(env).get_secret_value(),
                secret=secret.get_secret_value() if secret else None,
                workflows=frozenset(w.workflows) if w.workflows else None,
                timeout_s=float(w.timeout_seconds),
                lease_s=float(w.lease_seconds),
            )
        )
    return hooks


def deliver(
    report: Report,
    webhooks: Iterable[Webhook],
    store: ReportStore,
    *,
    report_url: str | None = None,
    poster: Poster | None = None,
    clock: Callable[[], float] = time.time,
    lease_s: float | None = None,
) -> list[DeliveryResult]:
    """Post `report` to every webhook routed its workflow, at most once per webhook.

    Every webhook is tried even when an earlier one fails. A refusal for good is recorded
    (and logged) like a delivery and not raised: the report is stored, resending cannot
    help, and retrying the event would only post to the other webhooks again. Then the
    first temporary error is raised if any (so the event is retried; answered webhooks are
    skipped next time).
    """
    poster = poster or Poster()
    results: list[DeliveryResult] = []
    errors: list[WebhookUnavailableError | DeliveryInProgressError] = []
    for webhook in webhooks:
        if not webhook.wants(report.workflow):
            results.append(DeliveryResult(webhook.name, "not routed"))
            continue
        key = delivery_key(report.id, webhook.name)
        previous = store.get_json(key)
        if previous is not None:
            refused = isinstance(previous, dict) and previous.get("outcome") == "refused"
            log.info(
                "report %s already %s webhook %s",
                report.id,
                "refused by" if refused else "delivered to",
                webhook.label,
            )
            results.append(
                DeliveryResult(webhook.name, "already refused" if refused else "already delivered")
            )
            continue
        lease = webhook.lease_s if lease_s is None else lease_s
        claimed_at = clock()
        try:
            claimed = claim(store, report.id, webhook, now=claimed_at, lease_s=lease)
        except DeliveryInProgressError as err:
            errors.append(err)
            continue
        if claimed is None:
            errors.append(
                DeliveryInProgressError(
                    f"report {report.id} is being posted to webhook {webhook.label} by another "
                    "delivery; this event will be retried and find its outcome",
                    webhook=webhook.name,
                )
            )
            continue
        body = payload(report, webhook, report_url)
        record: dict[str, object] = {
            "reportId": report.id,
            "webhook": webhook.name,
            "type": webhook.type,
            "host": webhook.host,
            "bytes": len(body),
        }
        try:
            status, attempts = poster.post(webhook, report, body, deadline=claimed_at + lease)
        except WebhookUnavailableError as err:
            log.error("%s", err)
            errors.append(err)
            # nothing was delivered: let the retry (or another delivery) claim the next post
            store.put_json(claimed + ".released", {"error": str(err)[:500]}, only_if_absent=True)
            continue
        except WebhookRejectedError as err:
            log.error("%s; recorded as refused, the event will not be retried for it", err)
            record |= {
                "outcome": "refused",
                "httpStatus": err.http_status,
                "error": str(err)[:500],
                "refusedAt": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
            store.put_json(key, record, only_if_absent=True)
            results.append(DeliveryResult(webhook.name, "refused", 1, err.http_status))
            continue
        record |= {
            "outcome": "delivered",
            "httpStatus": status,
            "attempts": attempts,
            "deliveredAt": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        store.put_json(key, record, only_if_absent=True)
        log.info(
            "delivered report %s to webhook %s (%d attempts)", report.id, webhook.label, attempts
        )
        results.append(DeliveryResult(webhook.name, "delivered", attempts, status))
    if errors:
        raise errors[0]
    return results
