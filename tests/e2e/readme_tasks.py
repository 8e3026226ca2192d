"""The README's handler, as written there (``smtp_send`` stands in for a mail client)."""

from __future__ import annotations

from worker import Registry, TaskContext

registry = Registry()


def smtp_send(to: str, subject: str) -> str:
    return "m-1"


@registry.task("send_email", queue="emails", max_attempts=5, timeout=60, retry_on=(IOError,))
def send_email(ctx: TaskContext, to: str, subject: str) -> dict[str, str]:
    ctx.progress(0, 1, "sending")
    message_id = smtp_send(to, subject)  # IOError: retried with backoff
    return {"message_id": message_id}  # stored as the task's JSON result
