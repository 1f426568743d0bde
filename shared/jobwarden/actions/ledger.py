"""An action executes once: the ledger of confirmations and idempotency keys, in the report store.

`audit/confirmations/<id>.json` (under the store's reserved `audit/` prefix) is created
create-only when an action starts executing, so of two concurrent calls with the same
confirmation token (or `Idempotency-Key`) exactly one executes. A retried call gets the
first answer back instead of a second execution.

The record cannot be trusted for what it says: every report function can write the
bucket. So it is bound and authenticated:
- `binding` is what the execution must be (`Binding`: the id, action, Job, uid, caller,
  the plan's digest and new name, and for an idempotency key the request's fingerprint).
  A call checks it against its signed token (or, for a key, against its own request)
  before anything runs.
- `mac` is HMAC-SHA256, with a key derived from the confirmation key, over the record's
  canonical JSON (sorted keys, no spaces, ASCII), checked on every read. A record that does
  not verify, was made for another id, or does not match the token is `StaleError` (409
  `stale`): nothing runs.
- `plan` is the redacted plan (what a reviewer needs; never env values). The manifest is
  not stored: a resumed restart derives it again from the live Job and checks its digest.

States: `started` (executing; other calls get 409 until the lease runs out, after which
a crashed execution may be resumed), `retryable` (a temporary failure: the next call
resumes), `done` (with the HTTP status and body of the first answer).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from jobwarden.actions.common import JSON
from jobwarden.errors import StaleError
from jobwarden.jobevent import rfc3339
from jobwarden.kube.objects import parse_time
from jobwarden.redact import redact_json
from jobwarden.sinks.storage import ReportStore

State = Literal["started", "retryable", "done"]
VERSION = 1
_MAC_CONTEXT = b"jobwarden ledger record v1"


def ledger_key(entry_id: str) -> str:
    return f"audit/confirmations/{entry_id}.json"


def idempotency_id(caller: str, key: str) -> str:
    """The ledger id of `caller`'s `Idempotency-Key` (the key itself is not stored)."""
    digest = hashlib.sha256(f"{caller}\0{key}".encode()).hexdigest()
    return f"idem-{digest[:40]}"


def canonical(data: object) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


@dataclass(frozen=True)
class Binding:
    """What an execution is bound to; a ledger record must carry exactly this."""

    id: str
    action: str
    cluster: str
    namespace: str
    name: str
    uid: str
    caller: str
    digest: str
    new_name: str | None = None
    request: str | None = None  # an idempotent request's fingerprint
    memory: tuple[JSON, ...] = field(default=())  # a restart's memory changes

    def to_json(self) -> JSON:
        return {**asdict(self), "memory": list(self.memory)}

    @classmethod
    def from_json(cls, data: Any) -> Binding:
        if not isinstance(data, dict):
            raise TypeError("binding is not an object")
        text = ("id", "action", "cluster", "namespace", "name", "uid", "caller", "digest")
        values = {k: data[k] for k in text}
        if not all(isinstance(v, str) for v in values.values()):
            raise TypeError("binding fields are not strings")
        memory = data.get("memory") or []
        if not isinstance(memory, list) or not all(isinstance(m, dict) for m in memory):
            raise TypeError("binding.memory is not a list of objects")
        return cls(
            **values,
            new_name=_optional_str(data.get("new_name")),
            request=_optional_str(data.get("request")),
            memory=tuple(memory),
        )

    def mismatch(self, expected: Binding) -> str | None:
        """The first field where this record's binding differs from `expected`, or None.

        `memory` is not compared: a restart's digest covers the memory it sets.
        """
        mine, theirs = self.to_json(), expected.to_json()
        for key in ("id", "action", "cluster", "namespace", "name", "uid", "caller"):
            if mine[key] != theirs[key]:
                return key
        for key in ("digest", "new_name", "request"):
            if mine[key] != theirs[key]:
                return key
        return None


def _optional_str(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError("expected a string or null")


@dataclass(frozen=True)
class Entry:
    state: State
    at: dt.datetime
    binding: Binding
    plan: JSON
    status: int | None = None
    body: JSON | None = None

    def resumable(self, now: dt.datetime, lease_seconds: float) -> bool:
        """True when a call may (re)execute this plan: retryable, or a lease that ran out."""
        if self.state == "retryable":
            return True
        return self.state == "started" and (now - self.at).total_seconds() > lease_seconds


def _mac_key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, _MAC_CONTEXT, hashlib.sha256).digest()


def _mac(record: JSON, secret: str | bytes) -> str:
    unsigned = {k: v for k, v in record.items() if k != "mac"}
    return hmac.new(_mac_key(secret), canonical(unsigned), hashlib.sha256).hexdigest()


def _refuse(entry_id: str, why: str) -> StaleError:
    return StaleError(
        f"the ledger record of confirmation {entry_id} {why}: it was altered or belongs to "
        "another confirmation; nothing was done. Ask for a new plan (and check who can write "
        "the reports bucket)"
    )


def lookup(
    store: ReportStore, entry_id: str, *, secret: str | bytes, expected: Binding | None
) -> Entry | None:
    """The record of `entry_id`, authenticated and checked against `expected`; None if absent.

    StaleError (409) when a record exists but is unreadable, not signed with our key, made for
    another id, or bound to anything but `expected` (another plan, Job, caller or request).
    With `expected` None (an idempotency key: the record is the first request's), the
    caller compares what it needs.
    """
    raw: Any = store.get_json(ledger_key(entry_id))
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("mac"), str):
        raise _refuse(entry_id, "is not a signed record")
    if not hmac.compare_digest(raw["mac"], _mac(raw, secret)):
        raise _refuse(entry_id, "does not carry jobwarden's signature")
    try:
        binding = Binding.from_json(raw.get("binding"))
        state = raw["state"]
        if state not in ("started", "retryable", "done") or raw.get("v") != VERSION:
            raise ValueError(f"unknown state {state!r} or version")
        at = parse_time(raw.get("at"))
        if at is None:
            raise ValueError("no time")
        plan, status, body = raw.get("plan") or {}, raw.get("status"), raw.get("body")
        if not isinstance(plan, dict) or not (status is None or isinstance(status, int)):
            raise TypeError("plan or status of the wrong type")
        if not (body is None or isinstance(body, dict)):
            raise TypeError("body of the wrong type")
    except (KeyError, TypeError, ValueError) as err:
        raise _refuse(entry_id, f"is malformed ({err})") from err
    if binding.id != entry_id:
        raise _refuse(entry_id, f"was made for {binding.id}")
    differs = binding.mismatch(expected) if expected is not None else None
    if differs:
        raise _refuse(entry_id, f"names another {differs.replace('_', ' ')} than the plan")
    return Entry(state=state, at=at, binding=binding, plan=plan, status=status, body=body)


def _record(
    entry: Entry,
    secret: str | bytes,
) -> JSON:
    record: JSON = {
        "v": VERSION,
        "state": entry.state,
        "at": rfc3339(entry.at),
        "binding": entry.binding.to_json(),
        "plan": redact_json(entry.plan),
        "status": entry.status,
        "body": redact_json(entry.body) if entry.body is not None else None,
    }
    return {**record, "mac": _mac(record, secret)}


class Ledger:
    """The ledger record of one execution, written with the confirmation key."""

    def __init__(self, store: ReportStore, binding: Binding, plan: JSON, *, secret: str | bytes):
        self.store, self.binding, self.plan, self._secret = store, binding, plan, secret
        self.key = ledger_key(binding.id)

    def _put(self, state: State, now: dt.datetime, **answer: Any) -> JSON:
        entry = Entry(state, now, self.binding, self.plan, answer.get("status"), answer.get("body"))
        return _record(entry, self._secret)

    def claim(self, now: dt.datetime) -> bool:
        """Mark the execution started (create-only); False when another call already did."""
        return self.store.put_json(self.key, self._put("started", now), only_if_absent=True)

    def resume(self, now: dt.datetime) -> None:
        """Take over a retryable or abandoned execution (renews the lease)."""
        self.store.put_json(self.key, self._put("started", now))

    def release(self, now: dt.datetime) -> None:
        """A temporary failure: let the next call resume the plan."""
        self.store.put_json(self.key, self._put("retryable", now))

    def finish(self, now: dt.datetime, status: int, body: JSON) -> None:
        """Record the answer; later calls get it back."""
        self.store.put_json(self.key, self._put("done", now, status=status, body=body))
