"""The statements queue_core runs, rendered for the default schema and committed, so that a
reader sees (and a diff shows) what actually runs: `queue_core/sql/rendered/NAME.sql`; and the
catalogue's own rules (every file is a statement or a fragment in use, every slot is filled).

After changing a statement, render them again and commit the files with the change:

    TASKROW_RENDER_SQL=1 .venv/bin/pytest tests/core/test_rendered_sql.py
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest

from queue_core import sql

CATALOGUE = Path(__file__).resolve().parents[2] / "queue_core" / "sql"
RENDERED = CATALOGUE / "rendered"
HEADER = (
    "-- queue_core.sql.for_schema('taskrow').{name}, as it is sent (its layout collapsed to\n"
    "-- one line when it runs; broken into lines here at its clauses). Rendered by\n"
    "-- tests/core/test_rendered_sql.py: edit queue_core/sql/{name}.sql, not this.\n"
)
# Line breaks before the clauses, for reading only (the statement text is otherwise as sent).
CLAUSES = re.compile(
    r"(?<!FOR)(?<!ROWS) (?=(?:WITH|SELECT|FROM|WHERE|UPDATE|SET|RETURNING|ORDER BY|LIMIT|"
    r"FOR UPDATE|UNION ALL|CROSS JOIN|LEFT JOIN|ON CONFLICT|INSERT INTO|DELETE FROM|GROUP BY|"
    r"\), \w+ AS \() )"
)


def rendered() -> dict[str, str]:
    stmts = sql.for_schema("taskrow")
    out = {}
    for field in dataclasses.fields(stmts):
        text = str(getattr(stmts, field.name))
        out[field.name] = HEADER.format(name=field.name) + CLAUSES.sub("\n", text) + "\n"
    return out


def test_the_committed_statements_are_the_ones_that_run() -> None:
    current = rendered()
    if os.environ.get("TASKROW_RENDER_SQL"):
        RENDERED.mkdir(parents=True, exist_ok=True)
        for old in RENDERED.glob("*.sql"):
            old.unlink()
        for name, text in current.items():
            (RENDERED / f"{name}.sql").write_text(text)
        pytest.skip("rendered again: review and commit queue_core/sql/rendered/")
    committed = {path.stem: path.read_text() for path in RENDERED.glob("*.sql")}
    assert sorted(committed) == sorted(current), "a statement was added or removed: render again"
    for name, text in current.items():
        assert committed[name] == text, f"{name}.sql is stale: render again (see the docstring)"


def test_rendering_only_adds_line_breaks() -> None:
    stmts = sql.for_schema("taskrow")
    for name, text in rendered().items():
        body = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("--"))
        assert " ".join(body.split()) == " ".join(str(getattr(stmts, name)).split())


def test_each_file_is_a_statement_or_a_fragment_in_use() -> None:
    statements = {field.name for field in dataclasses.fields(sql.Catalogue)}
    names = {path.stem for path in CATALOGUE.glob("*.sql")}
    fragments = {name for name in names if name.startswith("_")}
    assert names - fragments <= statements, "a statement file that no field renders"
    for variant in statements - names:  # e.g. enqueue_ids: enqueue.sql, another slot filled
        assert any(variant.startswith(name + "_") for name in names), variant
    slots = {slot for name in names for slot in re.findall(r"\{(\w+)\}", sql.template(name))}
    for fragment in fragments:
        assert fragment.lstrip("_") in slots, f"{fragment}.sql is named by no statement"


def test_no_slot_is_left_unfilled_and_no_comment_is_sent() -> None:
    for name, statement in dataclasses.asdict(sql.for_schema("tenant_b")).items():
        text = str(statement)
        assert not re.search(r"\{\w+\}", text), name
        assert "--" not in text, name
        assert '"taskrow"' not in text, name  # the schema is a slot everywhere
