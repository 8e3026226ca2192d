"""The control thread's kept connection for its rounds."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from queue_core import DatabaseError
from worker.recorder import RoundConnection


@pytest.mark.parametrize(("generic", "mode"), [(True, "force_generic_plan"), (False, "auto")])
def test_the_round_connection_is_kept_autocommit_and_set_up_once(
    engine: Engine, generic: bool, mode: str
) -> None:
    rounds = RoundConnection(engine, generic_plans=generic)
    try:
        with rounds.connect() as conn:
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            assert conn.execute(sa.text("SHOW plan_cache_mode")).scalar_one() == mode
            conn.execute(sa.text("SELECT 1"))
            assert conn.connection.driver_connection.autocommit  # type: ignore[union-attr]
        with rounds.connect() as conn:  # the same session, round after round
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() == pid
        with pytest.raises(DatabaseError), rounds.connect() as conn:
            conn.execute(sa.text("SELECT 1/0"))
        with rounds.connect() as conn:  # an error dropped it: a new session, set up again
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() != pid
            assert conn.execute(sa.text("SHOW plan_cache_mode")).scalar_one() == mode
    finally:
        rounds.close()
