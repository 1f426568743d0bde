"""`file://` storage: keys are files under a root directory, written atomically.

Every write goes to a temp file in the target's directory, is fsynced, then renamed
over the target (readers never see half a file). Create-only writes hard-link the
temp file to the target, which fails if the target exists, so two writers cannot
both create it. Read-modify-write updates (the index) hold an fcntl lock on a
sibling lock file. Temp and lock files start with `.jobwarden` and are never listed.
An OS error becomes `StorageUnavailableError` naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from jobwarden.errors import StorageUnavailableError

HIDDEN = ".jobwarden"
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK}


class FileBlobs:
    """Blobs in a directory tree rooted at `root` (created on first write)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = root.as_uri() + "/"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def _fail(self, action: str, path: Path, err: OSError) -> StorageUnavailableError:
        return StorageUnavailableError(
            f"cannot {action} {path}: {err.strerror or err} "
            "(check the disk, permissions and sinks.storage.url)",
            location=str(path),
        )

    def url(self, key: str) -> str:
        return self._path(key).as_uri()

    def read(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as err:
            raise self._fail("read", path, err) from err

    def _temp(self, path: Path, data: bytes) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f"{HIDDEN}-tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(name, 0o644)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Path(name)

    def write(
        self, key: str, data: bytes, *, content_type: str = "", only_if_absent: bool = False
    ) -> bool:
        path = self._path(key)
        temp: Path | None = None
        try:
            temp = self._temp(path, data)
            if not only_if_absent:
                os.replace(temp, path)
                temp = None
                return True
            try:
                os.link(temp, path)
            except FileExistsError:
                return False
            except OSError as err:
                if err.errno not in _NO_LINKS:
                    raise
                with self._locked(path):  # no hard links here: check and rename under the lock
                    if path.exists():
                        return False
                    os.replace(temp, path)
                    temp = None
            return True
        except OSError as err:
            raise self._fail("write", path, err) from err
        finally:
            if temp is not None:
                temp.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = path.parent / f"{HIDDEN}-lock-{path.name}"
        with open(lock, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def update(
        self, key: str, change: Callable[[bytes | None], bytes], *, content_type: str = ""
    ) -> bytes:
        """Replace `key` with `change(old)` while holding its lock; returns what was written."""
        path = self._path(key)
        try:
            with self._locked(path):
                new = change(self.read(key))
                temp = self._temp(path, new)
                try:
                    os.replace(temp, path)
                except OSError:
                    temp.unlink(missing_ok=True)
                    raise
                return new
        except OSError as err:
            raise self._fail("update", path, err) from err

    def list(self, prefix: str) -> list[str]:
        directory = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self._path(directory) if directory else self.root
        keys = []
        try:
            for dirpath, dirnames, filenames in os.walk(start):
                dirnames[:] = [d for d in dirnames if not d.startswith(HIDDEN)]
                base = Path(dirpath).relative_to(self.root).as_posix()
                for name in filenames:
                    if name.startswith(HIDDEN):
                        continue
                    key = name if base == "." else f"{base}/{name}"
                    if key.startswith(prefix):
                        keys.append(key)
        except OSError as err:
            raise self._fail("list", start, err) from err
        return sorted(keys)
