"""In-memory storage: `Blobs` in a dict, for unit tests and local experiments.

`BlobReportStore(MemoryBlobs(), url="memory://tests")` has the same layout,
idempotency and index logic as `file://` and `gs://` stores, because that logic
lives in `BlobReportStore` and this module only keeps bytes. Create-only writes and
read-modify-write updates hold one lock, so concurrent deliveries behave as on a
bucket with generation preconditions. Nothing survives the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class MemoryBlobs:
    """Blobs in a dict; `content_types` keeps what each key was written as."""

    def __init__(self, location: str = "memory://") -> None:
        self.location = location.rstrip("/") + "/"
        self.data: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}
        self._lock = threading.Lock()

    def url(self, key: str) -> str:
        return self.location + key

    def read(self, key: str) -> bytes | None:
        with self._lock:
            return self.data.get(key)

    def write(
        self, key: str, data: bytes, *, content_type: str = "", only_if_absent: bool = False
    ) -> bool:
        with self._lock:
            if only_if_absent and key in self.data:
                return False
            self.data[key] = bytes(data)
            self.content_types[key] = content_type
            return True

    def update(
        self, key: str, change: Callable[[bytes | None], bytes], *, content_type: str = ""
    ) -> bytes:
        """Replace `key` with `change(old)` under the lock; returns what was written."""
        with self._lock:
            new = bytes(change(self.data.get(key)))
            self.data[key] = new
            self.content_types[key] = content_type
            return new

    def list(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(k for k in self.data if k.startswith(prefix))
