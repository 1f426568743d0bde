"""Hide secrets before anything leaves jobwarden (reports, webhook bodies, logs, ledger, audit).

Every text copied from a cluster passes through here. The key is kept, the secret becomes
`[redacted]` (`--db-password=[redacted]`, `postgres://app:[redacted]@db`, `NOTIFY=[redacted]`).

By name: a name with a secret word hides its value. Words: password(s), passwd, pass, pwd,
passphrase, secret(s), token, api key, access key, private key, secret key, account key,
signing key, credential(s), creds, auth, authorization, dsn, connection string, cookie,
signature, sig, webhook; also compounds ending in one (`dbpassword`, `accesstoken`). Not
when the last word says it is a reference or a setting (`TOKEN_FILE`, `SECRET_NAME`,
`AUTH_TYPE`, `PASSWORD_LENGTH`...). Applies to env vars, annotation and label keys,
`key=value`, `key: value`, `"key": "value"`, `--flag=value` and `--flag value`.

Headers, to the end of the line (the scheme kept): `Authorization:`, `Proxy-Authorization:`,
`Cookie:`, `Set-Cookie:`, `X-Api-Key:`, `X-Auth-Token:`, `Private-Token:`,
`X-Amz-Security-Token:`; and `Bearer <token>` / `Basic <credentials>` anywhere.

By shape, anywhere: URL userinfo (`scheme://user:[redacted]@host`); JWTs; PEM private keys
(the whole block, or a tail whose BEGIN line was cut); AWS access key ids (AKIA/ASIA) and
secret keys (40 base64 characters mixing upper, lower and digits); GitHub (ghp_, gho_, ghu_,
ghs_, ghr_, github_pat_), GitLab (glpat-, gldt-, glrt-, glptt-), Slack (xox[abposr]-,
xapp-), Stripe (sk_live_, rk_live_) and Google API (AIza...) keys; webhook URLs of Slack
(hooks.slack.com/services|workflows|triggers/), Discord (discord.com/api/webhooks/),
Teams/Office (*.webhook.office.com/) and Power Automate/Logic Apps
(*.logic.azure.com/workflows/), whose path is the secret.

Values: an env var, annotation or label value is hidden whole when its name is secret, it
holds any shape above, or it looks random (32+ characters of letters, digits and `+/=_-`
mixing upper, lower and digits). Free text (logs, messages) and other JSON strings have only
the secret part replaced.

`redact_text` (logs, messages), `redact_args` (command and args), `redact_env_value` /
`redact_mapping` (named values), `redact_json` / `redact_manifest` (a record or a Kubernetes
object, for the ledger and audit), `redact_capped` (a report field: redacted, then cut).
Patterns are compiled once and each runs only when a cheap substring test says it may match.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

REDACTED = "[redacted]"

# --- names ----------------------------------------------------------------------------------
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_SECRET_WORDS = frozenset(
    [
        "password",
        "passwords",
        "passwd",
        "pass",
        "pwd",
        "passphrase",
        "secret",
        "secrets",
        "token",
        "apikey",
        "accesskey",
        "privatekey",
        "secretkey",
        "credential",
        "credentials",
        "creds",
        "auth",
        "authorization",
        "dsn",
        "connstr",
        "connectionstring",
        "cookie",
        "signature",
        "sig",
        "webhook",
    ]
)
_SECRET_PAIRS = frozenset(
    tuple(p.split())
    for p in (
        "api key",
        "access key",
        "private key",
        "secret key",
        "account key",
        "signing key",
        "encryption key",
        "master key",
        "session key",
        "connection string",
        "conn string",
        "conn str",
    )
)
_COMPOUND = re.compile(
    r"(?:password|passwd|secret|token|apikey|accesskey|privatekey|credentials?)$"
)
_NOT_A_VALUE = frozenset(
    [
        "file",
        "path",
        "dir",
        "ref",
        "name",
        "type",
        "ttl",
        "timeout",
        "expiry",
        "expires",
        "length",
        "len",
        "count",
        "size",
        "limit",
        "mode",
        "enabled",
        "required",
        "header",
        "algorithm",
    ]
)


@lru_cache(maxsize=4096)
def secret_name(name: str) -> bool:
    """True if a name (env var, flag, annotation key, `key=`) says its value is a secret."""
    words = [w.lower() for w in _WORD.findall(name)]
    if not words or words[-1] in _NOT_A_VALUE:
        return False
    if any(w in _SECRET_WORDS or _COMPOUND.search(w) for w in words):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words))


# --- free text ------------------------------------------------------------------------------
Repl = str | Callable[[re.Match[str]], str]


class _Rule(NamedTuple):
    needles: tuple[str, ...]  # lower-case substrings one of which the text must contain; () = any
    pattern: re.Pattern[str]
    repl: Repl


_KEY_NEEDLES: tuple[str, ...] = (
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "auth",
    "cred",
    "dsn",
    "conn",
)
_KEY_NEEDLES += ("cookie", "sig", "webhook")
_QUOTED = r"\"(?:[^\"\\\r\n]|\\.)*\"|'[^'\r\n]*'"
_SCHEME = r"(?:bearer|basic|token|digest|negotiate|ntlm)[ \t]+"
_SCHEME_RE = re.compile(_SCHEME, re.IGNORECASE)


def _hide_value(value: str) -> str:
    """`value` with the secret replaced: quotes and an auth scheme (`Bearer `) kept."""
    if value.endswith(REDACTED):
        return value
    if value[:1] in "\"'" and len(value) >= 2:
        return value[0] + REDACTED + value[0]
    scheme = _SCHEME_RE.match(value)
    return (scheme.group(0) if scheme else "") + REDACTED


def _keyed(m: re.Match[str]) -> str:
    if not secret_name(m.group("key")):
        return m.group(0)
    return m.group("key") + m.group("sep") + _hide_value(m.group("val"))


_KEY_VALUE = re.compile(
    r"(?<![\w.-])(?P<key>(?=[A-Za-z_.-])[\w.-]++)"
    r"(?P<sep>[\"']?[ \t]*[:=][ \t]*)"
    r"(?P<val>(?:" + _SCHEME + r")?\[redacted\]|" + _QUOTED + r"|(?:" + _SCHEME + r")?"
    r"(?:\[redacted\]|[^\s\"',;&<>)\]}])+)",
    re.I,
)


def _key_value(m: re.Match[str]) -> str:
    """`key=value`, `key: value`, `"key": "value"`; a value that is itself `k=v` (after
    `error: `) is looked into, since this match consumed it."""
    if secret_name(m.group("key")):
        return m.group("key") + m.group("sep") + _hide_value(m.group("val"))
    return m.group("key") + m.group("sep") + _KEY_VALUE.sub(_key_value, m.group("val"))


def _header(m: re.Match[str]) -> str:
    return m.group(1) + m.group(2) + (m.group(3) or "") + REDACTED


def _credential(m: re.Match[str]) -> str:
    """`Bearer <token>` always; `Basic <x>` when x is not a plain word ("basic authentication")."""
    token = m.group(3)
    word = token.isalpha() and (token.islower() or token.isupper())
    return (
        m.group(0) if word and m.group(1).lower() == "basic" else m.group(1) + m.group(2) + REDACTED
    )


def _aws_secret(m: re.Match[str]) -> str:
    value = m.group(0)
    if any(c.isdigit() for c in value) and not value.islower() and not value.isupper():
        return REDACTED
    return value


_RULES: tuple[_Rule, ...] = (
    _Rule(
        ("private key-----",),
        re.compile(
            r"(-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----).*?(-----END[A-Z0-9 ]*PRIVATE KEY-----|\Z)",
            re.S,
        ),
        r"\1" + REDACTED + r"\2",
    ),
    _Rule(
        ("private key-----",),
        re.compile(
            r"^(?:[ \t]*[A-Za-z0-9+/=]{16,}[ \t]*\r?\n)+(-----END[A-Z0-9 ]*PRIVATE KEY-----)", re.M
        ),
        REDACTED + r"\n\1",
    ),
    _Rule(
        ("hooks.slack.com", "discord", "webhook.office.com", "logic.azure.com"),
        re.compile(
            r"\b(?=[hH])(https?://(?:hooks\.slack\.com/(?:services|workflows|triggers)"
            r"|(?:[\w-]+\.)?discord(?:app)?\.com/api/webhooks"
            r"|[\w.-]*\.webhook\.office\.com"
            r"|[\w.-]*\.logic\.azure\.com(?::\d+)?/workflows)/)[^\s\"'<>`]+",
            re.I,
        ),
        r"\1" + REDACTED,
    ),
    _Rule(
        ("://",),
        re.compile(
            r"(?<![a-zA-Z0-9+.-])([a-zA-Z][a-zA-Z0-9+.-]*+://[^\s:/@\"'<>]*:)[^\s@/\"'<>]+@"
        ),
        r"\1" + REDACTED + "@",
    ),
    _Rule(
        ("eyj", "akia", "asia", "gh", "glpat-", "gldt-", "glrt-", "glptt-", "xox", "xapp-"),
        re.compile(
            r"\b(?=[eAgx])(?:eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
            r"|(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])"
            r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
            r"|gl(?:pat|dt|rt|ptt)-[A-Za-z0-9_-]{20,}"
            r"|xox[abposr]-[A-Za-z0-9-]{10,}|xapp-[0-9]-[A-Za-z0-9-]{10,})"
        ),
        REDACTED,
    ),
    _Rule(
        ("aiza", "_live_"),
        re.compile(r"\b(?=[Asr])(?:AIza[0-9A-Za-z_-]{35}|[sr]k_live_[A-Za-z0-9]{20,})"),
        REDACTED,
    ),
    _Rule(
        ("authorization", "cookie", "api-key", "auth-token", "private-token", "security-token"),
        re.compile(
            r"\b(?=[apcsxAPCSX])((?:proxy-)?authorization|(?:set-)?cookie|x-api-key|api-key|x-auth-token"
            r"|private-token|x-amz-security-token)([ \t]*:[ \t]*)"
            r"(?!(?:" + _SCHEME + r")?\[redacted\])(" + _SCHEME + r")?[^\s\"'][^\r\n\"']*",
            re.I,
        ),
        _header,
    ),
    _Rule(
        ("bearer", "basic"),
        re.compile(r"\b(?=[bB])(bearer|basic)([ \t]+)([A-Za-z0-9._~+/=-]{8,})", re.I),
        _credential,
    ),
    _Rule(_KEY_NEEDLES, _KEY_VALUE, _key_value),
    _Rule(
        _KEY_NEEDLES,
        re.compile(
            r"(?<![\w-])(?P<key>--?(?=[A-Za-z])[\w.-]++)(?P<sep>[ \t]+)"
            r"(?P<val>\[redacted\]|" + _QUOTED + r"|[^\s\"'`;&|<>-][^\s\"'`;&|<>]*)",
            re.I,
        ),
        _keyed,
    ),
    _Rule(
        (),
        re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"),
        _aws_secret,
    ),
)


def redact_text(text: str) -> str:
    """Free text (a log tail, an event message) with every secret shape replaced."""
    if not text:
        return text
    lowered = text.lower()
    for needles, pattern, repl in _RULES:
        if needles and not any(n in lowered for n in needles):
            continue
        text = pattern.sub(repl, text)
    return text


def redact_capped(text: str, limit: int) -> str:
    """`text` redacted, then cut to `limit` characters (an ellipsis marks the cut)."""
    text = redact_text(text)
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


# --- named values, command lines, JSON ----------------------------------------------------
_RANDOM = re.compile(r"[A-Za-z0-9+/=_-]{32,}")


def _random(value: str) -> bool:
    """True for a long token of mixed case and digits (a key, not a word or a hex digest)."""
    compact = value.strip()
    if len(compact) < 32 or not _RANDOM.fullmatch(compact):
        return False
    return any(c.isdigit() for c in compact) and not compact.islower() and not compact.isupper()


def looks_secret(value: str) -> bool:
    """True if a literal value looks like a credential (a shape above, or random)."""
    return _random(value) or redact_text(value) != value


def redact_env_value(name: str, value: str | None) -> str | None:
    """A named value (env var, annotation, label): hidden whole if its name or shape is secret."""
    if value is None:
        return None
    if value == REDACTED or secret_name(name) or looks_secret(value):
        return REDACTED if value else value
    return value


def redact_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    """Annotations or labels: each value judged by its key and shape (JSON values walked)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
            out[key] = _redact_json_text(value)
        elif isinstance(value, str):
            out[key] = redact_env_value(key, value)
        else:
            out[key] = redact_json(value, key)
    return out


def redact_args(argv: Sequence[str]) -> list[str]:
    """A container's command and args: `--flag=value`, `--flag value` and shapes."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next and not arg.startswith("--"):
            out.append(REDACTED)
            hide_next = False
            continue
        hide_next = False
        if arg.startswith("-") and len(arg) > 1:
            flag, eq, value = arg.partition("=")
            if eq:
                hidden = value and (secret_name(flag) or _random(value))
                out.append(f"{flag}={REDACTED if hidden else redact_text(value)}")
                continue
            if secret_name(arg):
                out.append(arg)
                hide_next = True
                continue
        out.append(REDACTED if _random(arg) else redact_text(arg))
    return out


def _redact_json_text(text: str) -> str:
    """A string that may hold JSON (last-applied-configuration): parsed and walked, or text."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return redact_text(text)
    return json.dumps(redact_json(parsed), separators=(",", ":"), sort_keys=True)


_ARGV_KEYS = frozenset({"command", "args"})
_MAP_KEYS = frozenset({"annotations", "labels"})


def redact_json(obj: Any, key: str = "") -> Any:
    """A JSON value with secrets hidden: values of secret keys, env values, command lines,
    annotations and labels by name and shape, every other string as free text."""
    if isinstance(obj, str):
        return REDACTED if obj and key and secret_name(key) else redact_text(obj)
    if isinstance(obj, Mapping):
        if isinstance(obj.get("name"), str) and isinstance(obj.get("value"), str):
            obj = {**obj, "value": redact_env_value(obj["name"], obj["value"])}
        out: dict[str, Any] = {}
        for k, v in obj.items():
            k = str(k)
            if k in _ARGV_KEYS and _strings(v):
                out[k] = redact_args(v)
            elif k in _MAP_KEYS and isinstance(v, Mapping):
                out[k] = redact_mapping(v)
            elif k == "value" and "name" in obj:
                out[k] = v  # an env var's value, judged above by its name
            else:
                out[k] = redact_json(v, k)
        return out
    if isinstance(obj, list | tuple):
        return [redact_json(v, key) for v in obj]
    return obj


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def redact_manifest(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A Kubernetes object (or a restart plan holding one) fit to store: env values,
    command and args, annotations and labels, and any other text redacted."""
    result: dict[str, Any] = redact_json(obj)
    return result
