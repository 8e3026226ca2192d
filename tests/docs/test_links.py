"""The docs speak of this repository alone: every relative link resolves to a file in it, and
nothing cites a document that does not ship with it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from taskrow.bench import peers

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _tracked(*patterns: str) -> list[Path]:
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", *patterns], capture_output=True, check=True
    ).stdout.decode()
    return [ROOT / name for name in filter(None, listed.split("\0")) if (ROOT / name).is_file()]


@pytest.mark.parametrize("doc", _tracked("*.md"), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(doc: Path) -> None:
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        resolved = (doc.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{doc.name} links outside the repository: {target}"
        assert resolved.exists(), f"{doc.name} links to a missing file: {target}"


def test_nothing_cites_documents_that_do_not_ship() -> None:
    cited = re.compile(r"\.\./shared|DESIGN\b|DESIGN\.md|BENCHMARKS\.md|§")
    offenders = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for path in _tracked("*.md", "*.py", "*.sh", "Makefile", "*.toml", "*.cfg", "*.ini")
        if path != Path(__file__)
        for line in path.read_text(errors="replace").splitlines()
        if cited.search(line)
    ]
    assert offenders == []


def test_the_ceiling_script_ships_with_every_file_it_runs() -> None:
    folder = peers.ceiling_folder()
    assert folder == peers.CEILING and folder.is_relative_to(ROOT / "taskrow")
    script = (folder / "ceiling.sh").read_text()
    used = set(re.findall(r"ceiling_\w+\.sql", script)) | {
        "ceiling_enqueue.sql",
        "ceiling_batch_enqueue.sql",
        "ceiling_schema.sql",
    }
    assert len(used) >= 5
    for name in used:
        assert (folder / name).is_file(), name
