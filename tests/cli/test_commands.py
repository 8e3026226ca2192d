"""Each operator command through the real console script: text for people and --json."""

from __future__ import annotations

import json
import uuid

from queue_core import TaskState, records

from .conftest import Cli, Seeder

RECORD_FIELDS = {
    "id",
    "task",
    "queue",
    "state",
    "attempt",
    "max_attempts",
    "progress",
    "created_at",
    "started_at",
    "finished_at",
    "error",
    "result",
}


def test_enqueue_prints_the_id_or_the_status_record(cli: Cli, seed: Seeder) -> None:
    plain, scheduled = cli.run_all(
        [
            ["enqueue", "send_email", "--args", '{"to": "a@example.com"}', "--queue", "emails",
             "--priority", "5", "--max-attempts", "4", "--timeout", "60",
             "--idempotency-key", "order-1"],
            ["enqueue", "report", "--run-at", "2030-01-01T09:00:00+01:00", "--json"],
        ]
    )  # fmt: skip
    task_id = uuid.UUID(plain.ok().strip())
    [stored] = [t for t in seed.all() if t.id == task_id]
    assert (stored.task, stored.queue, stored.args) == (
        "send_email",
        "emails",
        {"to": "a@example.com"},
    )
    assert (stored.priority, stored.max_attempts, stored.timeout_seconds) == (5, 4, 60)
    assert stored.idempotency_key == "order-1"

    record = json.loads(scheduled.ok())
    assert record.keys() >= RECORD_FIELDS
    assert (record["task"], record["state"], record["attempt"]) == ("report", "queued", 0)
    assert record["progress"] == {"current": None, "total": None, "message": None}
    assert record["run_at"] == "2030-01-01T08:00:00Z"
    assert len(seed.all()) == 2

    again = cli.run(
        "enqueue", "send_email", "--args", '{"to": "a@example.com"}', "--queue", "emails",
        "--priority", "5", "--max-attempts", "4", "--timeout", "60", "--idempotency-key", "order-1",
    )  # fmt: skip
    assert again.ok().strip() == str(task_id), "the same key and content give the same task"
    assert len(seed.all()) == 2


def test_status_shows_state_progress_error_and_result(cli: Cli, seed: Seeder) -> None:
    dead = seed.dead("a")
    done = seed.succeeded("b")
    human, as_json, dead_json = cli.run_all(
        [
            ["status", str(dead.id)],
            ["status", str(done.id), "--json"],
            ["status", str(dead.id), "--json"],
        ]
    )
    fields = dict(line.split(None, 1) for line in human.ok().splitlines())
    assert fields["id"] == str(dead.id)
    assert (fields["state"], fields["attempt"]) == ("dead", "1 of 1")
    assert fields["error"] == "ValueError: boom"
    record = json.loads(as_json.ok())
    assert (record["id"], record["state"], record["result"]) == (
        str(done.id),
        "succeeded",
        {"ok": True},
    )
    assert (record["attempt"], record["error"]) == (1, None)
    assert record["finished_at"] is not None
    # the HTTP API's status record without its links, and what an operator sees besides
    operator = {"args", "idempotency_key", "tenant", "worker_id"}
    assert record == {
        **records.status_record(done),
        **{name: getattr(done, name) for name in operator},
    }
    unfinished = json.loads(dead_json.ok())
    assert unfinished["result"] is None and "links" not in unfinished  # every key, always
    assert unfinished["error"] == {"type": "ValueError", "message": "boom"}


def test_ls_filters_and_pages_newest_first(cli: Cli, seed: Seeder) -> None:
    queued = [seed.queued(queue="default") for _ in range(3)]
    dead = seed.dead("other")
    first, human = cli.run_all([["ls", "--limit", "2", "--json"], ["ls", "--state", "dead"]])
    page = json.loads(first.ok())
    assert [t["id"] for t in page["tasks"]] == [str(dead.id), str(queued[2].id)]
    rest = cli.run(
        "ls", "--queue", "default", "--limit", "2", "--before", page["next_cursor"], "--json"
    )
    listed = json.loads(rest.ok())
    assert [t["id"] for t in listed["tasks"]] == [str(queued[1].id), str(queued[0].id)]

    header, *rows = human.ok().splitlines()
    assert header.split() == ["ID", "TASK", "QUEUE", "STATE", "ATTEMPT", "PROGRESS", "CREATED"]
    assert [row.split()[:5] for row in rows] == [[str(dead.id), "job", "other", "dead", "1/1"]]


def test_stats_counts_per_queue_and_state(cli: Cli, seed: Seeder) -> None:
    seed.queued(queue="alpha")
    seed.queued(queue="alpha")
    seed.running("alpha")
    seed.dead("beta")
    seed.succeeded("beta")
    human, as_json = cli.run_all([["stats"], ["stats", "--json"]])
    header, alpha, beta, warning = human.ok().splitlines()
    assert header.split() == [
        "QUEUE",
        "QUEUED",
        "RUNNING",
        "SUCCEEDED",
        "DEAD",
        "CANCELLED",
        "OLDEST",
        "DUE",
        "WORKERS",
    ]
    assert alpha.split()[:6] == ["alpha", "2", "1", "0", "0", "0"]
    assert beta.split() == ["beta", "0", "0", "1", "1", "0", "-", "0"]
    assert warning.startswith("warning: queue alpha holds 2 queued task(s) but no live worker")
    assert len(header) == len(alpha) == len(beta), "columns are aligned"
    queues = {q["queue"]: q for q in json.loads(as_json.ok())["queues"]}
    assert queues["alpha"]["counts"] == {
        "queued": 2,
        "running": 1,
        "succeeded": 0,
        "dead": 0,
        "cancelled": 0,
    }
    assert queues["alpha"]["oldest_due_age_seconds"] >= 0
    assert (
        queues["beta"]["counts"]["dead"] == 1 and queues["beta"]["oldest_due_age_seconds"] is None
    )


def test_cancel_queued_running_and_finished(cli: Cli, seed: Seeder) -> None:
    queued = seed.queued(queue="q")
    running = seed.running("r")
    done = seed.succeeded("s")
    now, requested, refused = cli.run_all(
        [
            ["cancel", str(queued.id)],
            ["cancel", str(running.id), "--json"],
            ["cancel", str(done.id)],
        ]
    )
    assert now.ok().strip() == f"cancelled {queued.id}"
    record = json.loads(requested.ok())
    assert (record["state"], record["cancel_requested"]) == ("running", True)
    assert refused.error() == f"Error: cannot cancel task {done.id}: it is succeeded"
    assert seed.get(queued).state is TaskState.CANCELLED
    assert seed.get(running).cancel_requested
    assert seed.get(done).state is TaskState.SUCCEEDED


def test_retry_one_or_a_whole_queue(cli: Cli, seed: Seeder) -> None:
    one = seed.dead("solo")
    bulk = [seed.dead("bulk"), seed.dead("bulk")]
    queued = seed.queued(queue="bulk")
    single, many, refused = cli.run_all(
        [["retry", str(one.id)], ["retry", "--queue", "bulk", "--json"], ["retry", str(queued.id)]]
    )
    assert single.ok().strip() == f"retried {one.id}: queued"
    assert json.loads(many.ok()) == {"queue": "bulk", "retried": 2}
    assert refused.error() == f"Error: cannot retry task {queued.id}: it is queued"
    for task in [one, *bulk]:
        again = seed.get(task)
        assert (again.state, again.attempts) == (TaskState.QUEUED, 0)


def test_prune_deletes_only_old_finished_tasks(cli: Cli, seed: Seeder) -> None:
    done = seed.succeeded("p")
    queued = seed.queued(queue="p")
    recent, unitless = cli.run_all(
        [["prune", "--older-than", "1h"], ["prune", "--older-than", "7"]]
    )
    assert recent.ok().strip() == "pruned 0 tasks finished more than 1h ago"
    assert "'7' is not a duration" in unitless.error(code=2)
    assert {t.id for t in seed.all()} == {done.id, queued.id}
    everything = json.loads(cli.run("prune", "--older-than", "0s", "--json").ok())
    assert everything == {"pruned": 1, "older_than_seconds": 0.0}
    assert [t.id for t in seed.all()] == [queued.id]
