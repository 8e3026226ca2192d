"""The worker's log formats: the text format's cached time text reads as logging's own."""

from __future__ import annotations

import logging

from worker.logs import TextFormatter


def test_the_text_format_matches_loggings_default_rendering() -> None:
    ours = TextFormatter()
    stock = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    for created in (1_700_000_000.25, 1_700_000_000.999, 1_700_000_001.0, 1_700_000_061.5):
        record = logging.LogRecord("worker.tasks", logging.INFO, "", 0, "task.succeeded", (), None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert ours.format(record) == stock.format(record)
