"""Benchmark: redact a 64 KiB log tail (what `enrich.fetch_log` reads per container).

The tail mixes ordinary application lines (timestamps, logfmt, JSON, stack traces) with a
few secrets. Printed beside the implementation this replaced (eight patterns run on each
line, the way `fetch_log` called it; kept below, frozen), and the ratio. The new pass
checks more shapes and runs once over the whole text, each pattern only when a cheap
substring test says it may match.
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))

from jobwarden.redact import redact_text

ROUNDS = 15
TAIL_BYTES = 64 * 1024

# --- the implementation before issue 12 (frozen copy, for the baseline) ---------------------
_OLD = "[redacted]"
_OLD_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        _OLD,
    ),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), _OLD),
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), _OLD),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), _OLD),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), _OLD),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + _OLD),
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@"), r"\1" + _OLD + "@"),
    (
        re.compile(
            r"(?i)\b([\w.-]*(?:pass(?:word|wd)?|secret|token|api[_-]?key|access[_-]?key)[\w.-]*)"
            r"(\s*[=:]\s*|\"\s*:\s*\")([^\s\",;&]+)"
        ),
        r"\1\2" + _OLD,
    ),
)


def old_redact_text(text: str) -> str:
    for pattern, replacement in _OLD_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# --- the log tail ---------------------------------------------------------------------------
LINES = [
    "2026-11-29T10:00:{s:02d}.123Z INFO  worker-{i} processed batch {i} of orders in 132ms",
    'level=info ts=2026-11-29T10:00:{s:02d}Z caller=sync.go:{i} msg="synced partition" rows={i}',
    '{{"time":"2026-11-29T10:00:{s:02d}Z","level":"debug","msg":"fetched","key":"orders/{i}.parquet",'
    '"bytes":{i}}}',
    "2026-11-29T10:00:{s:02d}Z WARN  retrying GET https://api.example.com/v1/items?page={i} (429)",
    '  File "/app/pipeline/load.py", line {i}, in load_partition',
    "2026-11-29T10:00:{s:02d}Z ERROR dial tcp 10.0.3.{s}:5432: connect: connection refused",
    "2026-11-29T10:00:{s:02d}Z INFO  image sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa74",
]
SECRETS = [
    "2026-11-29T10:01:00Z DEBUG connecting to postgres://app:s3cr3t@db:5432/orders",
    "2026-11-29T10:01:00Z DEBUG headers: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlX2FiY2RlZmdo",
    "2026-11-29T10:01:00Z DEBUG config db_password=hunter2 api_key=abc123",
]


def log_tail() -> str:
    lines, size, i = [], 0, 0
    while size < TAIL_BYTES:
        line = (
            SECRETS[i // 100 % len(SECRETS)]
            if i % 100 == 99
            else LINES[i % len(LINES)].format(i=i, s=i % 60)
        )
        lines.append(line)
        size += len(line) + 1
        i += 1
    return "\n".join(lines)[:TAIL_BYTES]


def best(fn: Callable[[str], object], text: str) -> tuple[float, float]:
    """(best, median) seconds of `fn(text)` over ROUNDS runs."""
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn(text)
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    text = log_tail()
    lines = text.splitlines()

    def before(t: str) -> list[str]:
        return [old_redact_text(line) for line in t.splitlines()]

    def after(t: str) -> list[str]:
        return redact_text(t).splitlines()

    new_out = "\n".join(after(text))
    for secret in ("s3cr3t", "hunter2", "abc123", "eyJzdWIi"):
        assert secret not in new_out, secret
    old_best, old_median = best(before, text)
    new_best, new_median = best(after, text)
    print(f"log tail: {len(text.encode()):,} bytes, {len(lines):,} lines, best of {ROUNDS}")
    for label, (low, mid) in (
        ("baseline, previous redact_text per line", (old_best, old_median)),
        ("redact_text on the whole tail", (new_best, new_median)),
    ):
        print(f"{label:<41} {low * 1e3:6.2f} ms (median {mid * 1e3:.2f})")
    print(f"ratio new/baseline: {new_best / old_best:.2f}x")


if __name__ == "__main__":
    main()
