"""Secrets never leave jobwarden: env values and log lines are redacted, the rest kept."""

from __future__ import annotations

import pytest

from jobwarden.redact import REDACTED, redact_env_value, redact_text


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("password=hunter2 connecting", "hunter2"),
        ('{"api_key": "abc123def456"}', "abc123def456"),
        (
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig_abcdefgh",
            "eyJhbGci",
        ),
        ("postgres://app:s3cr3tpw@db:5432/orders", "s3cr3tpw"),
        ("aws key AKIAABCDEFGHIJKLMNOP used", "AKIAABCDEFGHIJKLMNOP"),
        ("token: ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghij"),
    ],
)
def test_credentials_in_log_lines_are_redacted(line: str, secret: str) -> None:
    out = redact_text(line)
    assert secret not in out
    assert REDACTED in out


def test_ordinary_error_lines_are_kept_verbatim() -> None:
    line = 'ERROR: relation "orders" does not exist (token count 3)'
    assert redact_text(line) == line


def test_env_values_redacted_by_name_or_shape() -> None:
    assert redact_env_value("DB_PASSWORD", "hunter2") == REDACTED
    assert redact_env_value("SESSION_COOKIE", "abc") == REDACTED
    assert redact_env_value("UPLOAD", "Zx9kQ2mP7vL4nR8sT1wY6uB3cD5eF0gH") == REDACTED
    assert redact_env_value("MODE", "full") == "full"
    assert redact_env_value("WORKERS", "8") == "8"
    assert redact_env_value("FROM_SECRET", None) is None
