"""A confirmation token is used once: the ledger of used tokens, in the report store.

`audit/confirmations/<token id>.json` (under the store's reserved `audit/` prefix) is
created create-only when a confirmed call starts executing, so of two concurrent calls
with the same token exactly one executes. It holds what is being done (the plan) and,
once done, the answer, which a retried call gets back instead of a second execution.

States: `started` (executing; other calls get 409 until the lease runs out, after which
a crashed execution may be resumed), `retryable` (a temporary failure: the next call
resumes the same plan), `done` (with the HTTP status and body of the first answer).

The stored plan and answer are redacted (`jobwarden.redact.redact_manifest`): the Job's
literal env values, command-line secrets and annotations never reach the bucket. A plan
that lost something to redaction is marked `"redacted": true`; it cannot be re-executed
from the ledger (`RestartPlan.from_json` refuses it), only re-planned.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from jobwarden.actions.common import JSON
from jobwarden.jobevent import rfc3339
from jobwarden.kube.objects import parse_time
from jobwarden.redact import redact_json, redact_manifest
from jobwarden.sinks.storage import ReportStore

State = Literal["started", "retryable", "done"]


def ledger_key(token_id: str) -> str:
    return f"audit/confirmations/{token_id}.json"


@dataclass(frozen=True)
class Entry:
    state: State
    at: dt.datetime
    plan: JSON
    status: int | None = None
    body: JSON | None = None

    def resumable(self, now: dt.datetime, lease_seconds: float) -> bool:
        """True when a call may (re)execute this plan: retryable, or a lease that ran out."""
        if self.state == "retryable":
            return True
        return self.state == "started" and (now - self.at).total_seconds() > lease_seconds


def lookup(store: ReportStore, token_id: str) -> Entry | None:
    raw: Any = store.get_json(ledger_key(token_id))
    if not isinstance(raw, dict) or raw.get("state") not in ("started", "retryable", "done"):
        return None
    return Entry(
        state=raw["state"],
        at=parse_time(raw.get("at")) or dt.datetime.min.replace(tzinfo=dt.UTC),
        plan=dict(raw.get("plan") or {}),
        status=raw.get("status"),
        body=raw.get("body"),
    )


def stored_plan(plan: JSON) -> JSON:
    """`plan` as the ledger keeps it: redacted, and marked when redaction changed it."""
    kept = redact_manifest(plan)
    return kept if kept == plan else {**kept, "redacted": True}


def _record(
    state: State, now: dt.datetime, plan: JSON, status: int | None, body: JSON | None
) -> JSON:
    return {
        "state": state,
        "at": rfc3339(now),
        "plan": stored_plan(plan),
        "status": status,
        "body": redact_json(body) if body is not None else None,
    }


def claim(store: ReportStore, token_id: str, plan: JSON, now: dt.datetime) -> bool:
    """Mark the token used (create-only); False when another call already did."""
    record = _record("started", now, plan, None, None)
    return store.put_json(ledger_key(token_id), record, only_if_absent=True)


def resume(store: ReportStore, token_id: str, plan: JSON, now: dt.datetime) -> None:
    """Take over a retryable or abandoned execution (renews the lease)."""
    store.put_json(ledger_key(token_id), _record("started", now, plan, None, None))


def release(store: ReportStore, token_id: str, plan: JSON, now: dt.datetime) -> None:
    """A temporary failure: let the next call with this token resume the plan."""
    store.put_json(ledger_key(token_id), _record("retryable", now, plan, None, None))


def finish(
    store: ReportStore, token_id: str, plan: JSON, now: dt.datetime, status: int, body: JSON
) -> None:
    """Record the answer; later calls with this token get it back."""
    store.put_json(ledger_key(token_id), _record("done", now, plan, status, body))
