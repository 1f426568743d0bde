"""`jobwarden watch` as a real child process: its terminal lines, its pages URL, signals."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from jobwarden_dev.localstack.stack import StackInfo

ROOT = Path(__file__).resolve().parents[2]
JOBWARDEN = ROOT / ".venv" / "bin" / "jobwarden"
PAGES = re.compile(r"pages at (http://\S+/)")


class WatchProcess:
    """`jobwarden watch ARGS` with its stdout read into `lines` as they come."""

    def __init__(self, args: list[str], *, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [str(JOBWARDEN), "watch", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        for stream, into in ((self.proc.stdout, self.lines), (self.proc.stderr, self.errors)):
            threading.Thread(target=self._read, args=(stream, into), daemon=True).start()

    def _read(self, stream: object, into: list[str]) -> None:
        for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
            with self._lock:
                into.append(line.rstrip("\n"))

    def wait_line(self, test: Callable[[str], bool], *, timeout: float = 120.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = next((ln for ln in self.lines if test(ln)), None)
            if found:
                return found
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the readers drain
                break
            time.sleep(0.1)
        tail = "\n".join((self.lines + self.errors)[-30:])
        raise AssertionError(f"jobwarden watch printed no such line in {timeout:.0f}s:\n{tail}")

    def started(self, timeout: float = 120.0) -> str:
        """The pages URL from the start-up line."""
        line = self.wait_line(lambda ln: ln.startswith("watching Jobs"), timeout=timeout)
        match = PAGES.search(line)
        assert match, line
        return match.group(1)

    def reports(self) -> list[str]:
        with self._lock:
            return [ln for ln in self.lines if ln[:2] == "20" and "  " in ln]

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def merged_kubeconfig(path: Path, *stacks: StackInfo) -> Path:
    """One kubeconfig with every stack's context (each stack's file has one, named after it)."""
    import yaml

    merged: dict[str, object] = {"apiVersion": "v1", "kind": "Config"}
    for key in ("clusters", "users", "contexts"):
        merged[key] = [
            item for s in stacks for item in yaml.safe_load(Path(s.kubeconfig).read_text())[key]
        ]
    merged["current-context"] = yaml.safe_load(Path(stacks[0].kubeconfig).read_text())[
        "current-context"
    ]
    path.write_text(json.dumps(merged))
    path.chmod(0o600)
    return path
