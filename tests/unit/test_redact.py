"""Secrets never leave jobwarden: each shape is redacted with its key kept, the rest kept."""

from __future__ import annotations

import json

import pytest

from jobwarden.redact import (
    REDACTED,
    redact_args,
    redact_capped,
    redact_env_value,
    redact_manifest,
    redact_mapping,
    redact_text,
    secret_name,
)

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlX2FiY2RlZmdo"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
    "4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0\n-----END RSA PRIVATE KEY-----"
)


@pytest.mark.parametrize(
    ("line", "secret", "kept"),
    [
        ("password=hunter2 connecting", "hunter2", "password=[redacted] connecting"),
        ('{"api_key": "abc123def456"}', "abc123def456", '{"api_key": "[redacted]"}'),
        ("db_password: hunter2", "hunter2", "db_password: [redacted]"),
        ("create failed: password=hunter2", "hunter2", "failed: password=[redacted]"),
        ("denied: --db-password=hunter2 x", "hunter2", "denied: --db-password=[redacted] x"),
        ("DB_PASS=hunter2", "hunter2", "DB_PASS=[redacted]"),
        ("{'clientSecret': 'x9y8z7'}", "x9y8z7", "{'clientSecret': '[redacted]'}"),
        ("GET /cb?access_token=tok123&x=1", "tok123", "access_token=[redacted]&x=1"),
        ("exec app --db-password=hunter2-xyz", "hunter2-xyz", "--db-password=[redacted]"),
        ("exec app --api-key hunter2-xyz -v", "hunter2-xyz", "--api-key [redacted] -v"),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi", "Authorization: Bearer [redacted]"),
        ("authorization: token ghp_short", "ghp_short", "authorization: token [redacted]"),
        ("Cookie: session=s3ss10n; theme=dark", "s3ss10n", "Cookie: [redacted]"),
        ("X-Api-Key: k3y-v4lue", "k3y-v4lue", "X-Api-Key: [redacted]"),
        ('{"Authorization": "Basic dXNlcjpwYXNz"}', "dXNlcjpwYXNz", '"Authorization": "'),
        ("curl -H 'Authorization: Bearer s3cr3tT0k'", "s3cr3tT0k", "Bearer [redacted]'"),
        ("sent with Bearer 9f8e7d6c5b4a", "9f8e7d6c5b4a", "Bearer [redacted]"),
        ("auth Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA==", "Basic [redacted]"),
        (f"token {JWT} expired", "eyJzdWIi", "[redacted] expired"),
        ("postgres://app:s3cr3tpw@db:5432/orders", "s3cr3tpw", "postgres://app:[redacted]@db"),
        ("redis://:hunter2@cache:6379/0", "hunter2", "redis://:[redacted]@cache"),
        ("aws key AKIAABCDEFGHIJKLMNOP used", "AKIAABCDEFGHIJKLMNOP", "aws key [redacted] used"),
        ("temp ASIAQWERTYUIOPASDFGH", "ASIAQWERTYUIOPASDFGH", "temp [redacted]"),
        (f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET, "aws_secret_access_key = [redacted]"),
        (f"loaded {AWS_SECRET} from cache", AWS_SECRET, "loaded [redacted] from cache"),
        ("using ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdef", "using [redacted]"),
        ("gho_16C7e42F292c6912E7710c838347Ae178B4a x", "gho_16C7", "[redacted] x"),
        ("ghs_16C7e42F292c6912E7710c838347Ae178B4a", "ghs_16C7", REDACTED),
        ("ghu_16C7e42F292c6912E7710c838347Ae178B4a", "ghu_16C7", REDACTED),
        ("ghr_16C7e42F292c6912E7710c838347Ae178B4a", "ghr_16C7", REDACTED),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "github_pat_11", REDACTED),
        ("glpat-xxxxxxxxxxxxxxxxxxxx1234 in use", "glpat-xxxx", "[redacted] in use"),
        ("xoxb-1234567890-0987654321-AbCdEfGhIjKl", "xoxb-1234", REDACTED),
        ("xoxp-1234567890-0987654321-AbCdEfGhIjKl", "xoxp-1234", REDACTED),
        (
            "posting to https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX now",
            "T000/B000",
            "https://hooks.slack.com/services/[redacted] now",
        ),
        (
            "https://discord.com/api/webhooks/123456789/abcDEF-ghi_jkl",
            "abcDEF-ghi_jkl",
            "https://discord.com/api/webhooks/[redacted]",
        ),
        (
            "https://contoso.webhook.office.com/webhookb2/1b2c@3d4e/IncomingWebhook/a1b2/c3d4",
            "IncomingWebhook/a1b2",
            "https://contoso.webhook.office.com/[redacted]",
        ),
        (
            "https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/"
            "invoke?api-version=2016-06-01&sp=%2Ftriggers&sv=1.0&sig=AbCdEf123",
            "AbCdEf123",
            "logic.azure.com:443/workflows/[redacted]",
        ),
        ("key=AIzaSyA1234567890abcdefghijklmnopqrstuv", "AIzaSyA123", "key=[redacted]"),
        ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC", "stripe [redacted]"),
        (f"cert: {PEM} done", "MIIEowIBAAKCAQEA", "-----BEGIN RSA PRIVATE KEY-----[redacted]"),
        (PEM.split("\n", 1)[1], "4lgOEePzNm0", "[redacted]\n-----END RSA PRIVATE KEY-----"),
    ],
)
def test_each_secret_shape_is_redacted_and_its_key_kept(line: str, secret: str, kept: str) -> None:
    out = redact_text(line)
    assert secret not in out
    assert kept in out, out
    assert redact_text(out) == out  # redacting twice changes nothing


@pytest.mark.parametrize(
    "line",
    [
        'ERROR: relation "orders" does not exist (token count 3)',
        "error: connection refused",
        "dial tcp 10.0.0.5:5432: connect: connection refused",
        "image sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 pulled",
        "pod uid 6f1c2d9e-0000-4000-8000-000000000001 deleted",
        "--timeout=30s --max-retries 3 --keyspace orders",
        "commit 3f786850e387550fdab836ed7e6dc881de23001b merged",
        "basic authentication failed for user bob",
        "passed=5 failed=1 bypass=true",
        "Back-off restarting failed container worker in pod nightly-28744-abcde",
        'secret "db-creds" not found',
        "https://example.com/path?page=2&sort=desc",
        "tokenizer=bert-base max_tokens=512",
        "key: orders/2024-01-01.parquet",
    ],
)
def test_ordinary_lines_are_kept_verbatim(line: str) -> None:
    assert redact_text(line) == line


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("DB_PASSWORD", True),
        ("dbPassword", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("GITHUB_TOKEN", True),
        ("X-Api-Key", True),
        ("APIKEY", True),
        ("accesstoken", True),
        ("SENTRY_DSN", True),
        ("DATABASE_CONNECTION_STRING", True),
        ("AZURE_STORAGE_ACCOUNT_KEY", True),
        ("SLACK_WEBHOOK_URL", True),
        ("--client-secret", True),
        ("credentials", True),
        ("TOKEN_FILE", False),
        ("SECRET_NAME", False),
        ("PASSWORD_LENGTH", False),
        ("AUTHOR", False),
        ("BYPASS", False),
        ("TOKENIZER", False),
        ("NOTIFY", False),
        ("MODE", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert secret_name(name) is secret


def test_env_values_redacted_by_name_or_shape() -> None:
    assert redact_env_value("DB_PASSWORD", "hunter2") == REDACTED
    assert redact_env_value("SESSION_COOKIE", "abc") == REDACTED
    assert redact_env_value("UPLOAD", "Zx9kQ2mP7vL4nR8sT1wY6uB3cD5eF0gH") == REDACTED
    assert redact_env_value("NOTIFY", "https://hooks.slack.com/services/T000/B000/XXXX") == REDACTED
    assert redact_env_value("DATABASE_URL", "postgres://app:s3cr3t@db/x") == REDACTED
    assert redact_env_value("MODE", "full") == "full"
    assert redact_env_value("WORKERS", "8") == "8"
    assert redact_env_value("DIGEST", "sha256:" + "a" * 64) == "sha256:" + "a" * 64
    assert redact_env_value("FROM_SECRET", None) is None


def test_command_and_args_keep_flags_and_hide_values() -> None:
    argv = [
        "/app/migrate",
        "--db-password=hunter2-xyz",
        "--token",
        "t0k3n-value",
        "--timeout=30s",
        "postgres://app:s3cr3t@db/x",
        "--verbose",
        "sh -c 'curl -H \"Authorization: Bearer abc123def\" https://x'",
    ]
    out = redact_args(argv)
    assert out[:5] == [
        "/app/migrate",
        "--db-password=[redacted]",
        "--token",
        REDACTED,
        "--timeout=30s",
    ]
    assert out[5] == "postgres://app:[redacted]@db/x"
    assert out[6] == "--verbose"
    assert "abc123def" not in out[7] and "Bearer [redacted]" in out[7]


def test_annotations_and_labels_judged_by_key_and_shape() -> None:
    container = {"env": [{"name": "TOKEN", "value": "t"}]}
    applied = json.dumps({"spec": {"template": {"spec": {"containers": [container]}}}})
    out = redact_mapping(
        {
            "team": "payments",
            "example.com/api-token": "abc",
            "example.com/notify": "https://hooks.slack.com/services/T0/B0/XX",
            "kubectl.kubernetes.io/last-applied-configuration": applied,
        }
    )
    assert out["team"] == "payments"
    assert out["example.com/api-token"] == REDACTED
    assert out["example.com/notify"] == REDACTED
    assert '"value":"[redacted]"' in out["kubectl.kubernetes.io/last-applied-configuration"]


def test_a_manifest_is_stored_without_its_secrets_and_otherwise_unchanged() -> None:
    manifest = {
        "metadata": {"name": "migrate-2", "annotations": {"vault.io/token": "s.abcdef"}},
        "spec": {
            "backoffLimit": 3,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "registry.example.com/migrate:1.2",
                            "args": ["--db-password=hunter2", "--dry-run"],
                            "env": [
                                {"name": "MODE", "value": "full"},
                                {"name": "TOKEN", "value": "t0k3n"},
                                {"name": "NOTIFY", "value": "https://hooks.slack.com/services/X"},
                                {
                                    "name": "FROM_SECRET",
                                    "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}},
                                },
                            ],
                        }
                    ]
                }
            },
        },
    }
    out = redact_manifest(manifest)
    text = json.dumps(out)
    for secret in ("s.abcdef", "hunter2", "t0k3n", "hooks.slack.com"):
        assert secret not in text
    container = out["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["--db-password=[redacted]", "--dry-run"]
    assert container["env"][0] == {"name": "MODE", "value": "full"}
    assert container["env"][3] == manifest["spec"]["template"]["spec"]["containers"][0]["env"][3]
    assert out["spec"]["backoffLimit"] == 3
    assert manifest["spec"]["template"]["spec"]["containers"][0]["env"][1]["value"] == "t0k3n"


def test_capped_text_is_redacted_before_it_is_cut() -> None:
    text = "x" * 90 + " password=hunter2hunter2"
    out = redact_capped(text, 100)
    assert "hunter2" not in out and len(out) <= 100
    assert redact_capped("short", 100) == "short"
