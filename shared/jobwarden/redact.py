"""Hide secrets before anything leaves jobwarden (reports, webhooks, logs).

Environment variables: values from secret references are never read; literal
values are shown only when neither the name nor the value looks secret. Log
text: common credential shapes are replaced with `[redacted]`.
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"

_SECRET_NAME = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential|auth|session|cookie|"
    r"signature|access[_-]?key|dsn|conn(ection)?[_-]?str",
    re.IGNORECASE,
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        REDACTED,
    ),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), REDACTED),
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), REDACTED),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), REDACTED),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + REDACTED),
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@"), r"\1" + REDACTED + "@"),
    (
        re.compile(
            r"(?i)\b([\w.-]*(?:pass(?:word|wd)?|secret|token|api[_-]?key|access[_-]?key)[\w.-]*)"
            r"(\s*[=:]\s*|\"\s*:\s*\")([^\s\",;&]+)"
        ),
        r"\1\2" + REDACTED,
    ),
)


def secret_name(name: str) -> bool:
    """True if an environment variable's name suggests it holds a secret."""
    return bool(_SECRET_NAME.search(name))


def looks_secret(value: str) -> bool:
    """True if a literal value looks like a credential (token shapes, long random strings)."""
    if redact_text(value) != value:
        return True
    compact = value.strip()
    if len(compact) >= 32 and re.fullmatch(r"[A-Za-z0-9+/=_-]+", compact):
        classes = sum(bool(re.search(p, compact)) for p in ("[a-z]", "[A-Z]", "[0-9]"))
        return classes >= 3
    return False


def redact_env_value(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    return REDACTED if secret_name(name) or looks_secret(value) else value


def redact_text(text: str) -> str:
    """Replace credential-shaped substrings in free text (log lines, messages)."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
