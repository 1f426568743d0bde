"""A real headless Chromium for page tests: found, or installed from Debian when allowed.

`chromium()` returns the path of `chromium-headless-shell` (or `chromium`). When neither
is on the machine it runs `apt-get install -y chromium-headless-shell` once, if it can
(as root, or with password-less sudo). A test that still has no browser fails when CI is
set and is skipped with one line otherwise, like the stack tiers. `dump_dom(url)` is
`--headless --dump-dom`: the DOM after the page loaded, serialized, and what the page
logged to the console (script errors land there as `Uncaught ...`).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass

import pytest

PACKAGE = "chromium-headless-shell"
NAMES = ("chromium-headless-shell", "chromium", "chromium-browser")


def _find() -> str | None:
    return next((p for p in map(shutil.which, NAMES) if p), None)


def _install() -> str:
    """Try to install the Debian package; returns why it did not work ('' if it did)."""
    if shutil.which("apt-get") is None:
        return "no apt-get on this machine"
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            return "not root and no sudo"
        prefix = ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = [*prefix, "apt-get", "install", "-y", "--no-install-recommends", PACKAGE]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:  # a fresh machine may have no package lists yet
        update = [*prefix, "apt-get", "update"]
        subprocess.run(update, env=env, capture_output=True, text=True, timeout=900, check=False)
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        return f"`{' '.join(command)}` failed: {(done.stderr or done.stdout)[-300:].strip()}"
    return ""


@functools.cache
def _located() -> tuple[str | None, str]:
    found = _find()
    if found:
        return found, ""
    why = _install()
    return _find(), why or "installed, but no chromium binary on PATH"


def chromium() -> str:
    """The browser's path; fails (CI set) or skips (CI unset) when there is none."""
    path, why = _located()
    if path:
        return path
    message = f"no headless Chromium ({PACKAGE}): {why}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass(frozen=True)
class Loaded:
    """A page as the browser saw it."""

    dom: str
    console: list[str]  # the page's console lines (errors included)


def dump_dom(url: str, *, timeout: float = 60) -> Loaded:
    """The DOM of `url` once loaded, as Chromium serializes it, and its console lines."""
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",  # as root in a container; the page is our own, from loopback or a file
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--allow-file-access-from-files",
        "--enable-logging=stderr",
        "--dump-dom",
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"chromium failed on {url}: {done.stderr[-500:]}"
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    return Loaded(done.stdout, console)
