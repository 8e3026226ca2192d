"""The checker, in the manner of Jepsen's queue checker: what became of every acknowledged task.

Inputs: the load generator's record of every 202 (id and task name), the ``tasks`` table, the
``chaos_executions`` table the handlers commit to, and the fault :class:`Event` list. Outputs a
:class:`Report` whose :meth:`Report.table` is the per-scenario summary and whose
:meth:`Report.problems` lists every broken promise:

- lost: acknowledged but absent, or finished in the wrong state (good work must succeed,
  poison must end dead);
- stuck: acknowledged and still queued or running after the settle time;
- never ran but ended dead: a task with one attempt (``once``) that ended dead although no
  handler of it ever started (a claim stranded, orphaned or charged without running it);
- zombie overwrites: a succeeded task whose stored result was written by an attempt other than
  the row's last claim (the handler puts its attempt number in the result);
- results without an execution: a stored result that no recorded execution produced;
- duplicated executions: allowed, but for each task never more than the faults that exposed it
  (a kill or SIGSTOP whose worker held it, or a database fault while it ran);
- recovery: from each SIGKILL / SIGSTOP until every task that worker held is finished again.

Cancels and re-drives sent during the faults are accounted for: a task a cancel was sent for
may end cancelled (else it is judged as usual); a dead task the database re-drove must end
succeeded (its handler, ``fickle``, succeeds once re-driven). A periodic schedule's slots are
judged by :func:`check_slots`: every due slot has exactly one task, which succeeded and ran.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .report import Recovery, Report, Slots

FINAL = frozenset({"succeeded", "dead", "cancelled"})
#: How far around a database-level fault an execution counts as exposed to it (seconds): the
#: completion of a handler that just returned is written within this time.
EXPOSURE_MARGIN = 1.0


@dataclasses.dataclass(frozen=True)
class Event:
    """One fault. ``held``: the ids the faulted worker held (SIGKILL, SIGSTOP); ``None`` for a
    database-level fault, whose exposed tasks are those with an execution in the window."""

    kind: str
    at: float
    end: float
    held: frozenset[str] | None
    backlog: int | None = None  # queued tasks already due when the fault struck


@dataclasses.dataclass(frozen=True)
class Acknowledged:
    ids: dict[str, str]  # id -> task name
    refused: dict[str, int]  # status or error name -> count


@dataclasses.dataclass(frozen=True)
class Execution:
    attempt: int
    pid: int
    started: float
    recorded: float


def expected_state(task: str) -> str:
    return "dead" if task.startswith("poison.") or task == "fickle" else "succeeded"


def read_acknowledged(*files: Path) -> Acknowledged:
    ids: dict[str, str] = {}
    refused: dict[str, int] = defaultdict(int)
    for file in files:
        for line in file.read_text().splitlines():
            kind, _, rest = line.partition(" ")
            if kind == "A":
                task_id, _, task = rest.partition(" ")
                ids[task_id] = task
            elif kind == "E":
                refused[rest] += 1
    return Acknowledged(ids, dict(refused))


def _rows(engine: Engine, ids: list[str]) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id::text AS id, task, state, attempts, result, error_type,"
                " extract(epoch FROM started_at)::float AS started,"
                " extract(epoch FROM finished_at)::float AS finished"
                " FROM taskrow.tasks WHERE id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": ids},
        )
        return {row.id: row for row in rows}


def _executions(engine: Engine) -> dict[str, list[Execution]]:
    found: dict[str, list[Execution]] = defaultdict(list)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT task_id::text AS id, attempt, pid, started, recorded FROM chaos_executions"
            )
        )
        for row in rows:
            found[row.id].append(Execution(row.attempt, row.pid, row.started, row.recorded))
    return found


def _created(engine: Engine, scheduled: tuple[str, ...] = ()) -> int:
    """Rows in the queue, but those of the periodic tasks ``scheduled`` (no client posts them)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM taskrow.tasks WHERE task <> ALL(:scheduled)"),
                {"scheduled": list(scheduled)},
            ).scalar_one()
        )


def unfinished(engine: Engine, ids: list[str]) -> int:
    """How many of ``ids`` are not in a final state (absent ones count)."""
    rows = _rows(engine, ids)
    return sum(1 for i in ids if i not in rows or rows[i].state not in FINAL)


def _exposures(task_id: str, executions: list[Execution], events: list[Event]) -> int:
    """How many faults could have made ``task_id`` run again."""
    count = 0
    for event in events:
        if event.held is not None:
            count += task_id in event.held
        elif any(
            e.started <= event.end + EXPOSURE_MARGIN and e.recorded >= event.at - EXPOSURE_MARGIN
            for e in executions
        ):
            count += 1
    return count


@dataclasses.dataclass
class _Verdicts:
    """The per-task findings, accumulated by :meth:`judge`."""

    states: dict[str, int] = dataclasses.field(default_factory=lambda: defaultdict(int))
    lost: list[str] = dataclasses.field(default_factory=list)
    stuck: list[str] = dataclasses.field(default_factory=list)
    zombies: list[str] = dataclasses.field(default_factory=list)
    never_ran_dead: list[str] = dataclasses.field(default_factory=list)
    spent_by_kill: list[str] = dataclasses.field(default_factory=list)
    starts: frozenset[str] = frozenset()
    cancel_requested: frozenset[str] = frozenset()
    redriven: frozenset[str] = frozenset()
    unexplained: list[str] = dataclasses.field(default_factory=list)
    over: list[str] = dataclasses.field(default_factory=list)
    executions: int = 0
    duplicates: int = 0
    exposed: int = 0

    def judge(
        self, task_id: str, task: str, row: Any, runs: list[Execution], events: list[Event]
    ) -> None:
        if row is None:
            self.lost.append(task_id)
            return
        self.states[row.state] += 1
        if row.state not in FINAL:
            self.stuck.append(task_id)
        elif row.state == "cancelled" and task_id in self.cancel_requested:
            pass  # a cancel was sent for it: it may end cancelled instead
        elif task.startswith("once") and row.state == "dead":
            if task_id in self.starts:
                pass  # a fault killing it mid-run may spend its attempt
            elif row.error_type == "LeaseExpired" and _killed_holding(task_id, events):
                self.spent_by_kill.append(task_id)  # its worker died or stalled before it started
            else:
                self.never_ran_dead.append(task_id)
        elif task_id in self.redriven:
            if row.state != "succeeded":  # re-driven: it must run again, and succeed
                self.lost.append(task_id)
        elif row.state != expected_state(task):
            self.lost.append(task_id)
        if row.state == "succeeded" and task in ("work", "awork", "fickle"):
            self._result(task_id, row, runs)
        self._runs(task_id, runs, events)

    def _result(self, task_id: str, row: Any, runs: list[Execution]) -> None:
        """The stored result must come from the last claim and from a recorded execution."""
        result = row.result if isinstance(row.result, dict) else json.loads(row.result)
        if result.get("attempt") != row.attempts:
            self.zombies.append(task_id)
        produced = (result.get("attempt"), result.get("pid"))
        if not any((e.attempt, e.pid) == produced for e in runs):
            self.unexplained.append(task_id)

    def _runs(self, task_id: str, runs: list[Execution], events: list[Event]) -> None:
        exposure = _exposures(task_id, runs, events)
        extra = max(0, len(runs) - 1)
        self.executions += len(runs)
        self.duplicates += extra
        self.exposed += exposure
        if extra > exposure:
            self.over.append(task_id)


def check(
    scenario: str,
    engine: Engine,
    acknowledged: Acknowledged,
    events: list[Event],
    *,
    lease: float,
    seconds: float,
    starts: frozenset[str] = frozenset(),
    cancel_requested: frozenset[str] = frozenset(),
    redriven: frozenset[str] = frozenset(),
    slots: Slots | None = None,
    cancel_hits: dict[str, int] | None = None,
) -> Report:
    """Judge every acknowledged task once the scenario has settled (``starts``: the tasks a
    handler of which started, as the one-attempt handlers note them; ``cancel_requested``: the
    tasks a cancel was sent for, which may end cancelled (``cancel_hits``: how many cancels
    found their task queued, so cancelled at once, or running, so its worker was asked);
    ``redriven``: the dead tasks the
    database re-drove, which must end succeeded; ``slots``: the verdict on a periodic
    schedule, see :func:`check_slots`)."""
    rows = _rows(engine, list(acknowledged.ids))
    executions = _executions(engine)
    verdicts = _Verdicts(starts=starts, cancel_requested=cancel_requested, redriven=redriven)
    for task_id, task in acknowledged.ids.items():
        verdicts.judge(task_id, task, rows.get(task_id), executions.get(task_id, []), events)
    kinds: dict[str, int] = defaultdict(int)
    for event in events:
        kinds[event.kind] += 1
    return Report(
        scenario=scenario,
        seconds=seconds,
        lease=lease,
        acknowledged=len(acknowledged.ids),
        refused=acknowledged.refused,
        states=dict(verdicts.states),
        poison=sum(1 for t in acknowledged.ids.values() if t.startswith("poison.")),
        lost=verdicts.lost,
        stuck=verdicts.stuck,
        zombie_overwrites=verdicts.zombies,
        unexplained_results=verdicts.unexplained,
        unacknowledged=_created(engine, () if slots is None else (slots.task,)) - len(rows),
        executions=verdicts.executions,
        duplicates=verdicts.duplicates,
        exposed=verdicts.exposed,
        over_bound=verdicts.over,
        events=dict(kinds),
        recoveries=_recoveries(events, rows | _rows(engine, _held_elsewhere(events, rows))),
        never_ran_dead=verdicts.never_ran_dead,
        spent_by_kill=verdicts.spent_by_kill,
        cancel_requested=len(cancel_requested),
        cancelled=sum(1 for t in cancel_requested if (r := rows.get(t)) and r.state == "cancelled"),
        cancel_hits=dict(cancel_hits or {}),
        redriven=len(redriven),
        slots=slots,
    )


def _killed_holding(task_id: str, events: list[Event]) -> bool:
    """Whether a worker held the task when it was SIGKILLed or SIGSTOPped past its lease (its
    claim then expired): the attempt its claim counted is spent, run or not."""
    return any(e.held and task_id in e.held for e in events)


def _held_elsewhere(events: list[Event], rows: dict[str, Any]) -> list[str]:
    """The held ids that are not acknowledged load tasks (a periodic task a worker enqueued
    itself): their rows are read too, so that their recovery is measured, not taken as never."""
    return sorted({t for e in events if e.held for t in e.held if t not in rows})


def _recoveries(events: list[Event], rows: dict[str, Any]) -> list[Recovery]:
    """From each kill/stop until the last task that worker held was claimed and finished again."""
    found = []
    for event in events:
        if not event.held:
            continue
        held = [rows.get(t) for t in event.held]
        claims = [r.started if r is not None and r.started else math.inf for r in held]
        ends = [r.finished if r is not None and r.finished else math.inf for r in held]
        done = max(ends)
        interrupted = any(event.at < other.at < done for other in events if other is not event)
        found.append(
            Recovery(
                event.kind,
                len(held),
                max(claims) - event.at,
                done - event.at,
                event.backlog,
                interrupted,
            )
        )
    return found


def slot_of(key: str) -> datetime:
    """The slot of a periodic task, from its idempotency key (worker.periodic.periodic_key:
    ``periodic:<task>:<digest>:<slot in ISO 8601>``)."""
    return datetime.fromisoformat(key.split(":", 3)[3])


def periodic_rows(engine: Engine, task: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT id::text AS id, state, attempts, result, idempotency_key AS key"
                    " FROM taskrow.tasks WHERE task = :task"
                ),
                {"task": task},
            )
        )


def slots_unfinished(engine: Engine, task: str, cutoff: datetime) -> int:
    """How many slots at or before ``cutoff`` have a task that is not final yet."""
    return sum(
        1
        for row in periodic_rows(engine, task)
        if slot_of(row.key) <= cutoff and row.state not in FINAL
    )


def check_slots(
    engine: Engine,
    task: str,
    events: list[Event],
    *,
    cutoff: datetime,
    every: timedelta = timedelta(seconds=1),
) -> Slots:
    """Judge a periodic schedule (one slot every ``every``) from its first slot up to
    ``cutoff``: every slot due in that span must have a task (none missed), exactly one (no
    slot enqueued twice, whichever worker's key), that succeeded with at least one recorded
    execution, re-executed no more often than the faults exposed it."""
    rows = [r for r in periodic_rows(engine, task) if slot_of(r.key) <= cutoff]
    executions = _executions(engine)
    by_slot: dict[datetime, list[Any]] = defaultdict(list)
    for row in rows:
        by_slot[slot_of(row.key)].append(row)
    verdict = Slots(task=task, cutoff=cutoff)
    if not by_slot:
        return verdict
    first = min(by_slot)
    verdict.first = first
    due = first
    while due <= cutoff:
        verdict.slots += 1
        found = by_slot.get(due, [])
        if not found:
            verdict.missed.append(due.isoformat())
        elif len(found) > 1:
            verdict.doubled.append(due.isoformat())
        for row in found:
            runs = executions.get(row.id, [])
            if row.state != "succeeded":
                verdict.failed.append(row.id)
            elif not runs:
                verdict.never_ran.append(row.id)
            exposure = _exposures(row.id, runs, events)
            extra = max(0, len(runs) - 1)
            verdict.executions += len(runs)
            verdict.duplicates += extra
            verdict.exposed += exposure
            if extra > exposure:
                verdict.over.append(row.id)
        due += every
    verdict.off_schedule = [r.id for r in rows if (slot_of(r.key) - first) % every]
    return verdict
