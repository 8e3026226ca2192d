"""The worker: claim what fits in free slots, run it in a pool, heartbeat, record, repeat.

One control thread owns every database round trip except progress writes and the handlers'
own transactions: it writes finished outcomes and claims the next batch in one transaction,
sends one heartbeat statement per interval for all held leases, and never keeps a transaction
open while a handler runs. Handlers run in a :class:`ThreadPool` or :class:`ProcessPool`,
and ``async def`` ones on an event loop (:class:`worker.aio.AsyncPool`).

Database trouble (restart, network) is logged and retried with capped, jittered backoff;
finished outcomes wait in memory and are written, fenced, once the database answers.
"""

from __future__ import annotations

import logging
import queue
import random
import time

from sqlalchemy.engine import Engine

import queue_core
from queue_core import Claimed, DatabaseError, DatabaseUnavailable, LeaseToken
from queue_core.leases import MAX_CLAIM

from .announce import Announcer, warn_unconsumed_schedules
from .config import WorkerConfig
from .jobs import Job, Pool
from .logs import SuccessLines, task_event
from .outcome import Failed, Outcome, Succeeded, timeout_failure, unknown_task
from .periodic import Clock, Scheduler
from .pools import make_pool
from .recorder import Done, RoundConnection, apply_heartbeat, log_outcomes, round_share, run_round
from .registry import Registry
from .waker import Waker, start_listener

logger = logging.getLogger(__name__)

MAX_BACKOFF = 5.0
#: A worker claims ahead (``WorkerConfig.claim_ahead``) only while its attempts take less
#: than this on average: a task claimed ahead then waits for a slot about
#: ``claim_ahead / concurrency`` times this at most, and long tasks stay in the queue for
#: other workers.
AHEAD_TASK_SECONDS = 0.05
#: The weight of the latest attempt in the running average of attempt durations.
DURATION_WEIGHT = 0.2
MAX_WAIT = 1.0
#: Exit codes of :meth:`Worker.run` (see docs/worker.md).
EXIT_OK = 0
EXIT_RELEASED = 3
#: The error type of an attempt whose outcome the database refused (see Worker._refused).
REFUSED = "OutcomeRefused"


class Worker:
    """One worker process's loop. ``app`` (``MODULE[:REGISTRY]``) is needed by the process pool
    (children import it); ``database_url`` enables LISTEN wake-ups."""

    def __init__(
        self,
        registry: Registry,
        engine: Engine,
        config: WorkerConfig,
        *,
        database_url: str | None = None,
        app: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.registry = registry
        self.engine = engine
        self._rounds = RoundConnection(engine)
        self.config = config
        self._database_url = database_url
        self._app = app
        # Keyed by lease token, not task id: a timed-out attempt may still run here when the
        # same task is claimed again (by this worker) for its next attempt. (A token is new
        # at every claim; hashing it alone costs half as much as hashing the whole lease.)
        self._inflight: dict[LeaseToken, Job] = {}
        # The jobs in flight whose timeout this loop enforces (thread pool, a timeout set):
        # the loop looks at their deadlines at every step, so not at every job in flight.
        self._timeouts: dict[LeaseToken, Job] = {}
        self._done: queue.SimpleQueue[Done] = queue.SimpleQueue()
        self._pending: list[Done] = []
        self._wake = Waker()
        self._stopping = False  # a plain flag: set from a signal handler, read by threads
        self._claim_due = True
        self._next_poll = 0.0
        self._next_heartbeat = 0.0
        self._next_tick = 0.0
        self._db_retry_at = 0.0
        self._db_delay = 0.0
        self._grace_deadline = float("inf")
        self._success_lines = SuccessLines(config.success_lines)
        self._scheduler = Scheduler(registry, schema=config.schema, clock=clock)
        self._announcer = Announcer(registry, config)
        self._pool: Pool | None = None
        self._stop_logged = False
        # After a claiming round whose outcome is unknown (its reply was lost): since when
        # (monotonic) its claims may exist, and until when they are looked for.
        self._orphans_since: float | None = None
        self._orphans_until = 0.0
        self._next_orphan_check = 0.0
        self._isolate = 0  # how many pending outcomes to write one per round (see _run_round)
        # The running average of begun attempts' durations (None until one ended), and
        # whether the pool queues jobs for its slots (tasks claimed ahead wait there: threads,
        # processes, an event loop alone; not sync and async pools side by side).
        self._task_seconds: float | None = None
        self._queues_jobs = False

    # -- public -----------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self) -> None:
        """Graceful stop (thread-safe, signal-safe): claim nothing more, finish within grace."""
        if not self._stopping:
            self._grace_deadline = time.monotonic() + self.config.grace
            self._stopping = True
        self._wake.set()

    def run(self) -> int:
        """Run until stopped (or drained, in burst mode); returns the exit code."""
        self._start()
        while not self._finished():
            self._step()
            self._wake.wait(self._wait_time())
        return self._shutdown()

    def run_once(self) -> int:
        """Claim once (up to ``concurrency``), run those tasks, record them; returns how many."""
        self._start(listen=False)
        with self._rounds.connect() as conn:
            claimed = run_round(conn, self.config, [], self.config.concurrency).claimed
        self._submit(claimed)
        while self._inflight:
            self._collect(block=True)
        self._drain()
        self._success_lines.flush()
        self._close()
        return len(claimed)

    # -- the loop ---------------------------------------------------------------------------

    def _step(self) -> None:
        self._collect()
        self._mark_timeouts()
        now = time.monotonic()
        self._success_lines.tick(now)
        if now < self._db_retry_at:
            return
        # Each part on its own: a round that fails must not stop the heartbeats.
        trouble: DatabaseError | None = None
        for part in (self._round, self._beat, self._announce, self._tick):
            try:
                part(now)
            except DatabaseError as exc:
                trouble = trouble or exc
        if trouble is not None:
            self._db_trouble(trouble)
            return
        self._db_ok()

    def _round(self, now: float) -> None:
        self._adopt_orphans(now)
        self._run_round(claim=self._should_claim(now))

    def _beat(self, now: float) -> None:
        if now >= self._next_heartbeat:
            try:
                self._heartbeat()
            except DatabaseError:
                self._next_heartbeat = 0.0  # again at the next step, not an interval later
                raise

    def _announce(self, _now: float) -> None:
        self._announcer.tick(self.engine)

    def _tick(self, now: float) -> None:
        if self._scheduler.active and not self.config.burst and now >= self._next_tick:
            self._next_tick = now + min(self._scheduler.tick(self.engine), MAX_WAIT)

    def _claim_limit(self) -> int:
        """How many tasks this worker may hold: one per slot and, while its attempts are quick
        (under ``AHEAD_TASK_SECONDS`` on average), up to ``claim_ahead`` more that wait,
        unstarted, for a slot. Each round then records and claims that many more at once: the
        round's fixed cost (a round trip, a commit) is shared by more tasks."""
        limit = self.config.concurrency
        quick = self._task_seconds is not None and self._task_seconds < AHEAD_TASK_SECONDS
        if quick and self._queues_jobs:
            limit += self.config.claim_ahead
        return limit

    def _should_claim(self, now: float) -> bool:
        if self._stopping or len(self._inflight) >= self._claim_limit():
            return False
        if self._orphans_since is not None and self._next_orphan_check == 0.0:
            return False  # the lost round's claims are looked up first: they take slots
        return self._claim_due or bool(self._pending) or now >= self._next_poll

    def _run_round(self, *, claim: bool = False) -> None:
        """Write pending outcomes, fused with a claim when ``claim``; raises DatabaseError.

        A round carries at most ``MAX_ROUND_RESULT_BYTES`` of results (always at least one
        outcome); the rest waits for the next. After a round the database refused for another
        reason than the connection, outcomes are written one at a time, without claims, until
        the one it refuses is found (:meth:`_refused`): a round is never retried identically.
        """
        self._isolate = min(self._isolate, len(self._pending))
        if self._isolate:
            claim = False
        if not self._pending and not claim:
            return
        free = min(self._claim_limit() - len(self._inflight), MAX_CLAIM) if claim else 0
        done = self._pending[:1] if self._isolate else round_share(self._pending)
        if claim:
            # Consumed before the claim's snapshot: a notification that arrives while the
            # claim runs (for a commit the claim may not see) sets it again and is kept.
            self._claim_due = False
        started = time.monotonic()
        try:
            with self._rounds.connect() as conn:
                done_round = run_round(conn, self.config, done, free)
        except BaseException as exc:
            self._claim_due = self._claim_due or claim  # try the claim again once it answers
            if free and isinstance(exc, DatabaseUnavailable):
                self._orphans_lost(started)
            if done and isinstance(exc, DatabaseError) and not isinstance(exc, DatabaseUnavailable):
                self._refused(done, exc)
                return
            raise
        del self._pending[: len(done)]
        self._isolate = max(0, self._isolate - len(done))
        log_outcomes(done, done_round, self._success_lines)
        if claim:
            if len(done_round.claimed) == free:
                self._claim_due = True  # a full batch: there may be more
            self._next_poll = time.monotonic() + self.config.poll_interval * _jitter(0.75, 1.25)
            self._last_claim_empty = not done_round.claimed
        self._submit(done_round.claimed)

    def _refused(self, done: list[Done], exc: DatabaseError) -> None:
        """The database refused a round that wrote ``done`` (the first pending outcomes)."""
        if len(done) > 1:
            logger.warning("round.refused outcomes=%d error=%s", len(done), exc)
            self._isolate = len(self._pending)
            return
        self._isolate = max(self._isolate, 1)
        job, outcome = done[0]
        if isinstance(outcome, Failed) and outcome.error_type == REFUSED:
            # Even the plain failure was refused: give up on this outcome; the lease expires
            # and the task runs again (its attempts still bound it).
            task_event("task.outcome_dropped", job, logging.ERROR, error=str(exc)[:200])
            del self._pending[0]
            return
        task_event("task.outcome_refused", job, logging.WARNING, error=str(exc)[:200])
        message = f"the database refused this attempt's outcome: {exc}"
        self._pending[0] = (job, Failed(REFUSED, message, retryable=True))

    def _drain(self) -> None:
        """Write every pending outcome (rounds split by size); raises DatabaseError."""
        while self._pending:
            self._run_round()

    def _orphans_lost(self, started: float) -> None:
        """A claiming round may have committed without its reply reaching us: look for its
        claims now and at every heartbeat for one lease (its commit may land late)."""
        if self._orphans_since is None:
            self._orphans_since = started
        self._orphans_until = time.monotonic() + self.config.lease
        self._next_orphan_check = 0.0

    def _adopt_orphans(self, now: float) -> None:
        """Run the claims of a lost round as if its reply had arrived (raises DatabaseError)."""
        since = self._orphans_since
        if since is None or now < self._next_orphan_check:
            return
        orphans = self._find_orphans(now - since)
        self._next_orphan_check = now + self.config.heartbeat_interval
        if now >= self._orphans_until:
            self._orphans_since = None
        for task in orphans:
            logger.warning("task.adopted task_id=%s reason=round_reply_lost", task.id)
        self._submit(orphans)

    def _find_orphans(self, age: float) -> list[Claimed]:
        """The claims stamped with this worker's id in the last ``age`` seconds (and one more)
        under a lease it does not hold; their leases are extended (raises DatabaseError)."""
        held = [job.lease for job in [*self._inflight.values(), *(job for job, _ in self._pending)]]
        with queue_core.transaction(self.engine) as conn:
            return queue_core.adopt(
                conn,
                held,
                within=min(age + 1.0, 86400.0),
                lease_for=self.config.lease,
                worker_id=self.config.worker_id,
                schema=self.config.schema,
            )

    def _adopt_at_stop(self) -> None:
        """At a graceful stop, the claims of a lost round not looked up yet join the tasks in
        flight, unstarted, so that they are released (refunded) with them rather than left
        to their lease (raises DatabaseError)."""
        since = self._orphans_since
        if since is None:
            return
        orphans = self._find_orphans(time.monotonic() - since)
        self._orphans_since = None
        for task in orphans:
            logger.warning("task.adopted task_id=%s reason=round_reply_lost at=stop", task.id)
            job = Job(task, self.registry.tasks.get(task.task))
            job.flags.lease_lost.set()  # never submitted: released below
            self._inflight[job.lease.token] = job

    def _submit(self, tasks: list[Claimed]) -> None:
        assert self._pool is not None
        enforced = self.config.pool == "thread"  # the process pool kills at the deadline
        for task in tasks:
            job = Job(task, self.registry.tasks.get(task.task))
            self._inflight[job.lease.token] = job
            if enforced and job.timeout is not None:
                self._timeouts[job.lease.token] = job
            task_event("task.claimed", job, logging.DEBUG)
            if job.spec is None:
                self._done.put((job, unknown_task(task.task, self.registry.tasks)))
                self._wake.set()
            else:
                self._pool.submit(job)

    def _on_done(self, job: Job, outcome: Outcome) -> None:
        """Called from pool threads."""
        self._done.put((job, outcome))
        self._wake.set()

    def _collect(self, *, block: bool = False) -> None:
        """Move finished jobs from in flight to pending (written at the next round)."""
        try:
            if block:
                self._add_pending(*self._done.get())
            while True:
                self._add_pending(*self._done.get_nowait())
        except queue.Empty:
            return

    def _add_pending(self, job: Job, outcome: Outcome) -> None:
        token = job.lease.token
        self._inflight.pop(token, None)
        if self._timeouts:
            self._timeouts.pop(token, None)
        if job.began:
            took = time.monotonic() - job.started
            average = self._task_seconds
            self._task_seconds = (
                took if average is None else average + DURATION_WEIGHT * (took - average)
            )
        self._pending.append(self._timed(job, outcome))

    def _timed(self, job: Job, outcome: Outcome) -> Done:
        """A thread-pool task that ran past its timeout fails with TaskTimeout, whatever it
        returned: its lease was no longer extended."""
        if job.flags.timed_out.is_set() and isinstance(outcome, Succeeded):
            return job, timeout_failure(job.timeout or 0.0)
        return job, outcome

    def _mark_timeouts(self) -> None:
        now = time.monotonic()
        for job in self._timeouts.values():
            deadline = job.deadline
            if deadline is not None and now >= deadline and not job.flags.timed_out.is_set():
                job.flags.timed_out.set()
                task_event("task.timed_out", job, logging.WARNING, timeout=job.timeout)

    def _heartbeat(self) -> None:
        self._next_heartbeat = time.monotonic() + self.config.heartbeat_interval
        # Finished but unwritten outcomes keep their leases too, so they still apply once written.
        jobs = [
            job
            for job in [*self._inflight.values(), *(job for job, _ in self._pending)]
            if not (job.flags.lease_lost.is_set() or job.flags.timed_out.is_set())
        ]
        if not jobs:
            return
        with queue_core.transaction(self.engine) as conn:
            beat = queue_core.heartbeat(
                conn,
                [job.lease for job in jobs],
                lease_for=self.config.lease,
                schema=self.config.schema,
            )
        apply_heartbeat(jobs, beat)

    # -- database trouble -------------------------------------------------------------------

    def _db_trouble(self, exc: DatabaseError) -> None:
        self._db_delay = min(max(self._db_delay * 2, 0.1), MAX_BACKOFF)
        delay = self._db_delay * _jitter(0.5, 1.0)
        self._db_retry_at = time.monotonic() + delay
        if isinstance(exc, queue_core.SchemaNotMigrated):  # a setup mistake: say what to do
            logger.error("database.schema_not_migrated error=%s retry_in=%.2f", exc, delay)
            return
        logger.warning(
            "database.unavailable error=%s retry_in=%.2f in_flight=%d pending=%d",
            exc,
            delay,
            len(self._inflight),
            len(self._pending),
        )

    def _db_ok(self) -> None:
        if self._db_delay:
            logger.info("database.recovered pending=%d", len(self._pending))
        self._db_delay = 0.0

    # -- start, wait, stop ------------------------------------------------------------------

    def _start(self, *, listen: bool = True) -> None:
        self._last_claim_empty = False
        self._pool = make_pool(
            self.config, self.engine, self._on_done, app=self._app, registry=self.registry
        )
        self._pool.start()
        self._queues_jobs = self._pool.queues_jobs
        listen_url = self._database_url if listen and self.config.listen else None
        if listen_url is not None:
            start_listener(
                listen_url,
                self.config,
                on_notify=self._notified,
                stopped=lambda: self._stopping,
            )
        warn_unconsumed_schedules(self.registry, self.config)  # logged before worker.started
        logger.info(
            "worker.started worker_id=%s queues=%s concurrency=%d prefetch=%d pool=%s commit=%s "
            "wakeup=%s poll_interval=%gs",
            self.config.worker_id,
            ",".join(self.config.queues),
            self.config.concurrency,
            self.config.claim_ahead if self._queues_jobs else 0,
            self.config.pool,
            "durable" if self.config.durable else "async",
            "poll" if listen_url is None else "listen",
            self.config.poll_interval,
        )

    def _notified(self) -> None:
        """Called from the listener thread: one of our queues got work (or it reconnected)."""
        self._claim_due = True
        self._wake.set()

    def _wait_time(self) -> float:
        """Seconds until the next thing to do (at most ``MAX_WAIT``); wake-ups cut it short."""
        now = time.monotonic()
        if now < self._db_retry_at:
            return min(MAX_WAIT, self._db_retry_at - now)
        if self._pending:
            return 0.0
        deadlines = [self._next_heartbeat, self._grace_deadline]
        if not self._stopping and len(self._inflight) < self.config.concurrency:
            deadlines.append(self._next_poll)
        if self._scheduler.active and not self.config.burst:
            deadlines.append(self._next_tick)
        deadlines += [  # timeouts this loop enforces (not yet flagged)
            deadline
            for job in self._timeouts.values()
            if (deadline := job.deadline) is not None and not job.flags.timed_out.is_set()
        ]
        return max(0.0, min(MAX_WAIT, min(deadlines) - now))

    def _finished(self) -> bool:
        if self._stopping:
            if not self._stop_logged:
                self._stop_logged = True
                logger.info(
                    "worker.stopping in_flight=%d grace=%.1f",
                    len(self._inflight),
                    self.config.grace,
                )
            return not self._inflight or time.monotonic() >= self._grace_deadline
        if self.config.burst:
            return self._last_claim_empty and not self._inflight and not self._pending
        return False

    def _shutdown(self) -> int:
        """Write what finished, release what did not; returns the exit code."""
        self._collect()
        for job in self._inflight.values():
            job.flags.lease_lost.set()  # whatever it returns from now on is discarded
        for attempt in range(3):
            try:
                self._adopt_at_stop()  # a lost round's claims are released with the rest
                self._drain()
                self._release(list(self._inflight.values()))
                break
            except DatabaseError as exc:
                logger.warning("worker.shutdown_write_failed attempt=%d error=%s", attempt + 1, exc)
                time.sleep(0.5 * (attempt + 1))
        self._announcer.retire(self.engine)
        self._success_lines.flush()
        self._close()
        unfinished = list(self._inflight.values())
        logger.info(
            "worker.stopped worker_id=%s released=%d", self.config.worker_id, len(unfinished)
        )
        return EXIT_RELEASED if unfinished else EXIT_OK

    def _release(self, jobs: list[Job]) -> None:
        if not jobs:
            return
        # A handler that started keeps its charged attempt (it may be what hangs); one that
        # never started is handed back free.
        with queue_core.transaction(self.engine) as conn:
            released = set()
            for refund in (True, False):
                leases = [job.lease for job in jobs if job.began is not refund]
                released |= queue_core.release(
                    conn, leases, refund=refund, schema=self.config.schema
                )
        for job in jobs:
            if job.task.id in released:
                task_event("task.released", job)

    def _close(self) -> None:
        # The waker stays open: a slot thread stuck in a handler may still report to it.
        self._stopping = True
        self._rounds.close()
        if self._pool is not None:
            self._pool.close()


def _jitter(low: float, high: float) -> float:
    """Spreads workers' polls and retries apart; not a security use of randomness."""
    return random.uniform(low, high)  # noqa: S311
