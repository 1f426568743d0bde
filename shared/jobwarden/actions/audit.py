"""The audit trail: one record per plan, dry run, execution and refusal of restart or delete.

Stored as `audit/<yyyy>/<mm>/<dd>/<id>.json` (UTC date of the request), never rewritten:
`{"id", "who", "groups", "via", "action", "phase", "cluster", "namespace", "name", "uid",
"when", "result", "httpStatus", "details"}`. `phase` is one of plan, dry_run, intent,
execute, refused, error; `result` is the response's status or error code. An execution
writes two records: `intent` before it acts (result `executing`, no `httpStatus`; if it
cannot be written, nothing is done) and the outcome after, whose `details.intentId` names
the first. `details.plan` is the redacted plan (digest, names, images, resources, env
variable names; never values), `details.actedAs` the user the writes impersonated. Tokens
and secrets are never written; the confirmation token is referred to by its id.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from jobwarden.jobevent import rfc3339
from jobwarden.redact import redact_json
from jobwarden.sinks.storage import ReportStore

Phase = Literal["plan", "dry_run", "intent", "execute", "refused", "error"]


@dataclass(frozen=True)
class AuditRecord:
    who: str | None
    action: str
    phase: Phase
    cluster: str | None
    namespace: str | None
    name: str | None
    uid: str | None
    when: dt.datetime
    result: str
    http_status: int | None
    groups: tuple[str, ...] = ()
    via: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: "")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "who": self.who,
            "groups": list(self.groups),
            "via": self.via,
            "action": self.action,
            "phase": self.phase,
            "cluster": self.cluster,
            "namespace": self.namespace,
            "name": self.name,
            "uid": self.uid,
            "when": rfc3339(self.when),
            "result": self.result,
            "httpStatus": self.http_status,
            "details": redact_json(self.details),
        }


#: Keys of an answer worth keeping in the audit record (never the token itself).
_KEPT = (
    "error",
    "newJob",
    "deletedPods",
    "memoryChanges",
    "jobGone",
    "podsGone",
    "removedPods",
    "orphanedPods",
    "timedOut",
    "expiresAt",
    "serverDryRun",
    "replayed",
    "resumed",
)


def summarize(details: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """`details` plus what the answer says happened (the new Job by name, uid and state)."""
    kept = dict(details) | {k: answer[k] for k in _KEPT if k in answer}
    if isinstance(kept.get("newJob"), dict):
        kept["newJob"] = {k: kept["newJob"].get(k) for k in ("name", "uid", "state")}
    return kept


def new_audit_id(when: dt.datetime) -> str:
    """Sortable by time, unique: `20250102T030405.123456Z-<8 hex>`."""
    return f"{when.astimezone(dt.UTC):%Y%m%dT%H%M%S.%fZ}-{secrets.token_hex(4)}"


def audit_key(when: dt.datetime, audit_id: str) -> str:
    day = when.astimezone(dt.UTC)
    return f"audit/{day:%Y}/{day:%m}/{day:%d}/{audit_id}.json"


def write_audit(store: ReportStore, record: AuditRecord) -> str:
    """Store `record` (giving it an id if it has none); returns its id."""
    audit_id = record.id or new_audit_id(record.when)
    data = record.to_json() | {"id": audit_id}
    store.put_json(audit_key(record.when, audit_id), data, only_if_absent=True)
    return audit_id


def read_audit(store: ReportStore, day: dt.date | None = None) -> list[dict[str, Any]]:
    """Audit records (of one UTC day, or all), oldest first."""
    prefix = f"audit/{day:%Y/%m/%d}/" if day else "audit/"
    keys = [k for k in store.list(prefix) if k.count("/") == 4 and k.endswith(".json")]
    return [r for r in (store.get_json(k) for k in keys) if isinstance(r, dict)]
