"""Regression: concurrent writers broke the audit chain's order (ids drawn before the chain's lock)."""

from __future__ import annotations

import threading

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from geo_label import audit
from tests.pg import TestDatabase


def test_concurrent_audit_records_keep_the_chain_verifiable(test_db: TestDatabase) -> None:
    start = threading.Barrier(8)

    def write(n: int) -> None:
        start.wait()
        for i in range(10):
            with test_db.as_system() as session:
                audit.record(session, session.info["caller"], "test.concurrent", details={"n": n, "i": i})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine = create_engine(test_db.owner_url)
    try:
        with Session(engine) as session:
            assert audit.verify_chain(session, test_db.database.audit_key) == []
    finally:
        engine.dispose()
