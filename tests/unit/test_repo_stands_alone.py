"""The repository stands alone: its comments and docs point only at files it contains."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# References to documents that live outside this repository (a design page, research notes,
# a requirements file): a reader of the repo cannot follow them.
OUTSIDE = re.compile(r"DESIGN(\.md)? ?§|\bnotes/[\w-]+\.md|\bseed/\d|\bCONVENTIONS\.md")
# What users read: code, docs, deploy files. The word "seed" means nothing to them.
USER_FACING = (".py", ".md", ".tf", ".yaml", ".yml", ".json", ".tpl", ".txt")


def tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [ROOT / line for line in out.splitlines() if line]


def test_no_comment_or_doc_points_outside_the_repository() -> None:
    offenders = []
    for path in tracked_files():
        if path.suffix not in USER_FACING or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert offenders == [], "point at ARCHITECTURE.md or README.md instead:\n" + "\n".join(
        offenders
    )


def test_user_facing_text_does_not_say_seed() -> None:
    offenders = []
    for path in tracked_files():
        rel = path.relative_to(ROOT)
        if rel.parts[0] == "tests" or path.suffix not in USER_FACING or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if re.search(r"\bseed'?s?\b", line, re.IGNORECASE) and "random" not in line:
                offenders.append(f"{rel}:{number}: {line.strip()[:100]}")
    assert offenders == [], "\n".join(offenders)


def test_architecture_map_names_only_modules_that_exist() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text()
    for module in re.findall(r"`(jobwarden/[\w/]+\.py)`", text):
        assert (ROOT / "shared" / module).is_file(), module
