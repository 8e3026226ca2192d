"""The transaction-pooler switch reaches every engine made for the database, async ones too."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

import queue_core


def test_a_transaction_pooler_engine_prepares_nothing_and_says_so(db_url: str) -> None:
    engine = queue_core.create_engine(db_url, pooler="transaction")
    try:
        assert queue_core.pooler_of(engine) == "transaction"
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection.prepare_threshold is None  # type: ignore[union-attr]
    finally:
        engine.dispose()
    plain = queue_core.create_engine(db_url)
    try:
        assert queue_core.pooler_of(plain) == "none"
        with plain.connect() as conn:
            assert conn.connection.dbapi_connection.prepare_threshold is not None  # type: ignore[union-attr]
    finally:
        plain.dispose()


def test_the_async_engine_takes_the_same_switch(db_url: str) -> None:
    async def thresholds() -> list[object]:
        found = []
        for pooler in ("transaction", "none"):
            engine = queue_core.create_async_engine(db_url, pooler=pooler)
            try:
                async with engine.connect() as conn:
                    raw = await conn.get_raw_connection()
                    found.append(raw.driver_connection.prepare_threshold)  # type: ignore[union-attr]
                    await conn.execute(sa.text("SELECT 1"))
            finally:
                await engine.dispose()
        return found

    transaction, default = asyncio.run(thresholds())
    assert transaction is None and default is not None
