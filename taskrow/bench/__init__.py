"""Benchmarks of taskrow against the raw-SQL ceiling and its peers: ``taskrow bench SCENARIO``.

Scenarios: drain, enqueue-bulk, latency, history, memory, enqueue-http (see
benchmarks/README.md for what each measures, the targets and the figures). Peers (PgQueuer,
RQ) run from a separate virtual environment, ``.venv-bench/``, never from taskrow's own.
"""

from .command import bench

__all__ = ["bench"]
