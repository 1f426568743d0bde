"""Start, watch and stop the local stack's processes by pid.

A child started for a test run dies with its parent (PR_SET_PDEATHSIG), so a
crashed test session leaves nothing running; a detached child (`make up`)
outlives the launcher and is stopped later by pid (`make down`).

The death signal is set by util-linux's `setpriv --pdeathsig KILL` in front of the
command, not by a `preexec_fn`: a preexec_fn makes Python fork (not vfork), which runs
grpcio's fork handlers in the child, and grpcio >= 1.81 then aborts the child on its
closed epoll fd before exec ("Epoll1Poller ... epoll_wait error: Bad file descriptor",
grpc/grpc#43055) whenever the launcher has used Pub/Sub. Without setpriv the preexec_fn
is the fallback.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from jobwarden_dev.errors import LocalStackError

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def free_ports(count: int) -> list[int]:
    """Pick `count` distinct free loopback ports (held open together, then released)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


class Process:
    """One started binary with its log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        detach: bool,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        command, preexec = self.argv, None
        if not detach:
            setpriv = shutil.which("setpriv")
            if setpriv:  # sets the death signal, then execs the command (same pid)
                command = [setpriv, "--pdeathsig", "KILL", "--", *self.argv]
            else:
                preexec = _die_with_parent
        with log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=preexec,
                env={**os.environ, **(env or {})},
            )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 20) -> str:
        return log_tail(self.log_path, lines)

    def failure(self, what: str) -> LocalStackError:
        return LocalStackError(
            f"{self.name} {what} (pid {self.pid}, log {self.log_path}); last lines:\n{self.tail()}"
        )


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    process: Process | None = None,
    interval: float = 0.2,
) -> None:
    """Poll `check` until true; fail naming the process and its log if it dies or times out."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and not process.alive():
            raise process.failure(f"exited with code {process.popen.returncode} while {what}")
        with contextlib.suppress(Exception):
            if check():
                return
        if time.monotonic() > deadline:
            if process is not None:
                raise process.failure(f"not ready after {timeout:.0f}s ({what})")
            raise LocalStackError(f"timed out after {timeout:.0f}s {what}")
        time.sleep(interval)


def tcp_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (guards against pid reuse), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may contain spaces and parentheses: split after the last ")"
    return int(stat.rsplit(")", 1)[1].split()[19])


def process_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def stop_pid(pid: int, *, timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after `timeout`; quiet if gone.

    The group is killed once more after its leader exits, so helpers the leader
    started (and did not wait for) do not outlive it.
    """
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not _reaped(pid):
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _reaped(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child: watch /proc instead
        return process_gone(pid)
    return waited == pid
