"""`gs://` storage: keys are objects under a prefix in a Cloud Storage bucket.

The client is created on first use and cached per process (cold starts pay
nothing until a report is stored). With `STORAGE_EMULATOR_HOST` set, the library
talks to the emulator; this module then uses anonymous credentials and the
project from `GOOGLE_CLOUD_PROJECT`, `PUBSUB_PROJECT_ID` or `jobwarden-local`.

Create-only writes use `if_generation_match=0` (a 412 means "already there");
read-modify-write updates compare-and-swap on the object's generation and retry
with jittered backoff when another writer got there first. Every other failure
(5xx, 429, timeouts, connection errors, auth, a missing bucket) becomes
`StorageUnavailableError`: storage is required, so the platform should retry
until it works again rather than drop the report.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from jobwarden.errors import StorageUnavailableError

TIMEOUT_S = 30.0
CAS_ATTEMPTS = 12
_clients: dict[tuple[str, str], Any] = {}
_clients_lock = threading.Lock()


def default_client() -> Any:
    """A `google.cloud.storage.Client`, made once per process and emulator setting."""
    emulator = os.environ.get("STORAGE_EMULATOR_HOST", "")
    project = (
        os.environ.get("GOOGLE_CLOUD_PROJECT")
        or os.environ.get("PUBSUB_PROJECT_ID")
        or ("jobwarden-local" if emulator else "")
    )
    with _clients_lock:
        if (emulator, project) not in _clients:
            from google.cloud import storage

            if emulator:
                from google.auth.credentials import AnonymousCredentials

                anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
                client = storage.Client(project=project, credentials=anonymous)
            else:
                client = storage.Client(project=project or None)
            _clients[(emulator, project)] = client
        return _clients[(emulator, project)]


def _failures() -> tuple[type[BaseException], ...]:
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth
    from requests import exceptions as http

    return (api.GoogleAPICallError, api.RetryError, auth.GoogleAuthError, http.RequestException)


class GcsBlobs:
    """Blobs as objects named `<prefix>/<key>` in `bucket`."""

    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None) -> None:
        self.bucket_name = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.location = f"gs://{bucket}/{self.prefix}"
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                self._client = default_client()
            except _failures() as err:
                raise self._fail("connect to", "", err) from err
        return self._client

    def _blob(self, key: str) -> Any:
        return self.client.bucket(self.bucket_name).blob(self.prefix + key)

    def _fail(self, action: str, key: str, err: BaseException) -> StorageUnavailableError:
        code = getattr(err, "code", None)
        hint = "retry later"
        if code == 404:
            hint = f"does bucket {self.bucket_name} exist? create it or fix sinks.storage.url"
        elif code in (401, 403):
            hint = "grant the function's service account roles/storage.objectUser on the bucket"
        detail = str(getattr(err, "message", "") or type(err).__name__)[:200]
        return StorageUnavailableError(
            f"cannot {action} {self.location}{key}: {detail} ({hint})",
            location=self.location + key,
        )

    def url(self, key: str) -> str:
        name = quote(self.prefix + key)
        emulator = os.environ.get("STORAGE_EMULATOR_HOST")
        if emulator:
            return (
                f"{emulator.rstrip('/')}/download/storage/v1/b/{self.bucket_name}/o/"
                f"{quote(self.prefix + key, safe='')}?alt=media"
            )
        return f"https://storage.cloud.google.com/{self.bucket_name}/{name}"

    def read(self, key: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        try:
            return bytes(self._blob(key).download_as_bytes(timeout=TIMEOUT_S))
        except NotFound:
            return None
        except _failures() as err:
            raise self._fail("read", key, err) from err

    def write(
        self, key: str, data: bytes, *, content_type: str, only_if_absent: bool = False
    ) -> bool:
        from google.api_core.exceptions import PreconditionFailed
        from google.cloud.storage.retry import DEFAULT_RETRY

        try:
            self._blob(key).upload_from_string(
                data,
                content_type=content_type,
                if_generation_match=0 if only_if_absent else None,
                timeout=TIMEOUT_S,
                retry=DEFAULT_RETRY,  # our overwrites are idempotent: same key, same content
            )
        except PreconditionFailed:
            return False
        except _failures() as err:
            raise self._fail("write", key, err) from err
        return True

    def update(
        self,
        key: str,
        change: Callable[[bytes | None], bytes],
        *,
        content_type: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> bytes:
        """Compare-and-swap `key` to `change(old)` on its generation; returns what was written."""
        from google.api_core.exceptions import NotFound, PreconditionFailed

        bucket = self.client.bucket(self.bucket_name)
        for attempt in range(CAS_ATTEMPTS):
            try:
                current = bucket.get_blob(self.prefix + key, timeout=TIMEOUT_S)
                generation = int(current.generation) if current is not None else 0
                old = (
                    current.download_as_bytes(if_generation_match=generation, timeout=TIMEOUT_S)
                    if current is not None
                    else None
                )
                new = change(old)
                bucket.blob(self.prefix + key).upload_from_string(
                    new,
                    content_type=content_type,
                    if_generation_match=generation,
                    timeout=TIMEOUT_S,
                )
                return new
            except (PreconditionFailed, NotFound):
                sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))  # noqa: S311 - jitter
            except _failures() as err:
                raise self._fail("update", key, err) from err
        raise StorageUnavailableError(
            f"cannot update {self.location}{key}: it kept changing under concurrent writers "
            f"({CAS_ATTEMPTS} attempts); retry later",
            location=self.location + key,
        )

    def list(self, prefix: str) -> list[str]:
        try:
            blobs = self.client.list_blobs(
                self.bucket_name, prefix=self.prefix + prefix, timeout=TIMEOUT_S
            )
            return sorted(b.name[len(self.prefix) :] for b in blobs)
        except _failures() as err:
            raise self._fail("list", prefix, err) from err
