"""The checker's verdict on one scenario, and the summary table it prints."""

from __future__ import annotations

import dataclasses
import math
import statistics
from datetime import datetime


@dataclasses.dataclass(frozen=True)
class Recovery:
    """One kill/stop: how many tasks the worker held, the seconds until the last of them was
    claimed again and finished again, and the due backlog it had to queue behind.
    ``interrupted``: another fault came before they had all finished again (a PgBouncer or
    Postgres fault can fail the run of a task just reclaimed), so only the reclaim is bounded."""

    kind: str
    held: int
    reclaimed: float
    finished: float
    backlog: int | None
    interrupted: bool = False

    @property
    def bounded(self) -> float:
        """The time the bound applies to."""
        return self.reclaimed if self.interrupted else self.finished

    def text(self) -> str:
        return (
            f"{self.kind}: {self.held} held, reclaimed <= {self.reclaimed:.2f} s, "
            f"done <= {self.finished:.2f} s, due backlog {self.backlog}"
            + (", interrupted by the next fault" if self.interrupted else "")
        )


@dataclasses.dataclass
class Slots:
    """The verdict on one periodic schedule's slots from its first up to ``cutoff``."""

    task: str
    cutoff: datetime
    first: datetime | None = None
    slots: int = 0  # slots due in the span
    missed: list[str] = dataclasses.field(default_factory=list)  # slots without a task
    doubled: list[str] = dataclasses.field(default_factory=list)  # slots enqueued twice
    off_schedule: list[str] = dataclasses.field(default_factory=list)  # tasks between slots
    failed: list[str] = dataclasses.field(default_factory=list)  # a slot's task not succeeded
    never_ran: list[str] = dataclasses.field(default_factory=list)  # succeeded, no execution
    executions: int = 0
    duplicates: int = 0
    exposed: int = 0
    over: list[str] = dataclasses.field(default_factory=list)

    def problems(self) -> list[str]:
        found = [] if self.slots else [f"periodic {self.task}: no slot was enqueued"]
        for name, ids in (
            ("slots missed", self.missed),
            ("slots enqueued twice", self.doubled),
            ("tasks off the schedule", self.off_schedule),
            ("slots not succeeded", self.failed),
            ("slots succeeded without an execution", self.never_ran),
            ("slots re-executed more often than faults exposed them", self.over),
        ):
            if ids:
                found.append(
                    f"periodic {self.task}: {name}: {len(ids)} (e.g. {', '.join(ids[:5])})"
                )
        return found

    def rows(self) -> list[tuple[str, str, str]]:
        return [
            (f"periodic {self.task}: slots due", str(self.slots), "each: exactly one task"),
            ("slots missed", str(len(self.missed)), "must be 0"),
            ("slots enqueued twice", str(len(self.doubled)), "must be 0"),
            ("slots not succeeded", str(len(self.failed)), "must be 0"),
            ("slots that never ran", str(len(self.never_ran)), "must be 0 (ran once or more)"),
            (
                "slot re-executions",
                str(self.duplicates),
                f"<= {self.exposed} exposed by faults ({self.executions} executions)",
            ),
        ]


@dataclasses.dataclass
class Report:
    scenario: str
    seconds: float
    lease: float
    acknowledged: int
    refused: dict[str, int]
    states: dict[str, int]
    poison: int
    lost: list[str]
    stuck: list[str]
    zombie_overwrites: list[str]
    unexplained_results: list[str]
    unacknowledged: int  # rows created for requests that got no 202 (allowed)
    executions: int
    duplicates: int
    exposed: int
    over_bound: list[str]
    events: dict[str, int]
    recoveries: list[Recovery]
    never_ran_dead: list[str] = dataclasses.field(default_factory=list)
    #: one-attempt tasks a SIGKILLed or SIGSTOPped worker held unstarted (the attempt counted at
    #: claim is spent)
    spent_by_kill: list[str] = dataclasses.field(default_factory=list)
    cancel_requested: int = 0  # tasks a cancel was sent for (they may end cancelled)
    cancelled: int = 0  # of those, how many ended cancelled
    cancel_hits: dict[str, int] = dataclasses.field(default_factory=dict)  # queued / running
    redriven: int = 0  # dead tasks the database re-drove (they must end succeeded)
    slots: Slots | None = None

    @property
    def recovery_bound(self) -> float:
        return self.lease + 2.0

    def problems(self, *, check_recovery: bool = True) -> list[str]:
        found = []
        for name, ids in (
            ("lost", self.lost),
            ("stuck", self.stuck),
            ("never ran but ended dead", self.never_ran_dead),
            ("zombie overwrites", self.zombie_overwrites),
            ("results without an execution", self.unexplained_results),
            ("tasks re-executed more often than faults exposed them", self.over_bound),
        ):
            if ids:
                found.append(f"{name}: {len(ids)} (e.g. {', '.join(ids[:5])})")
        if self.slots is not None:
            found += self.slots.problems()
        slow = [r.text() for r in self.recoveries if r.bounded > self.recovery_bound]
        if check_recovery and slow:
            found.append(f"recoveries over {self.recovery_bound:g} s: " + "; ".join(slow))
        return found

    def table(self) -> str:
        recovery = "-"
        if self.recoveries:
            times = [r.finished for r in self.recoveries]
            finite = [r for r in times if math.isfinite(r)]
            worst = max(times)
            median = statistics.median(finite) if finite else math.inf
            recovery = f"max {worst:.2f} s, median {median:.2f} s over {len(self.recoveries)}"
            if interrupted := sum(r.interrupted for r in self.recoveries):
                recovery += f" ({interrupted} interrupted: reclaim bounded)"
        rows = [
            ("acknowledged (202)", str(self.acknowledged), ""),
            ("answers other than 202", str(sum(self.refused.values())), "allowed (no promise)"),
            ("tasks created without a 202", str(self.unacknowledged), "allowed (at least once)"),
            ("final states", _counts(self.states), f"{self.poison} poison must be dead"),
            (
                "cancels sent",
                f"{self.cancel_requested} ({self.cancelled} ended cancelled; "
                f"hit {_counts(self.cancel_hits) or 'none'})",
                "those tasks may end cancelled",
            ),
            ("re-drives of dead tasks", str(self.redriven), "those tasks must end succeeded"),
            ("lost", str(len(self.lost)), "must be 0"),
            ("stuck after settle", str(len(self.stuck)), "must be 0"),
            ("never ran but ended dead", str(len(self.never_ran_dead)), "must be 0"),
            (
                "spent unrun by a kill/stop",
                str(len(self.spent_by_kill)),
                "allowed (its worker held it, not started)",
            ),
            ("zombie overwrites", str(len(self.zombie_overwrites)), "must be 0"),
            ("results without an execution", str(len(self.unexplained_results)), "must be 0"),
            ("executions recorded", str(self.executions), ""),
            ("duplicated executions", str(self.duplicates), f"<= {self.exposed} exposed by faults"),
            (
                "recovery after kill/stop",
                recovery,
                f"each <= lease + 2 = {self.recovery_bound:g} s",
            ),
        ]
        if self.slots is not None:
            rows += self.slots.rows()
        width = max(len(r[0]) for r in rows)
        value_width = max(len(r[1]) for r in rows)
        title = f"chaos scenario: {self.scenario} ({self.seconds:.1f} s, lease {self.lease:g} s)"
        lines = [title, "-" * len(title)]
        lines += [f"{a:<{width}}  {b:<{value_width}}  {c}".rstrip() for a, b, c in rows]
        lines.append(f"faults: {_counts(self.events) or 'none'}")
        if self.refused:
            lines.append(f"answers other than 202: {_counts(self.refused)}")
        return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items()))
