"""The background WAL checkpointer: committers never checkpoint, the thread does, and it ends
with its engine."""
from __future__ import annotations

import gc
import time

from sqlalchemy import create_engine, text

from ehr_core.storage.checkpoint import start_checkpointer
from ehr_core.storage.engine import make_engine


def test_commits_do_not_checkpoint_and_the_thread_does(tmp_path):
    db = tmp_path / "c.sqlite3"
    engine = make_engine(f"sqlite:///{db}")
    thread = start_checkpointer(engine, interval=3600)    # asleep: only the committers act
    with engine.connect() as c:
        assert c.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
        c.execute(text("CREATE TABLE t (x BLOB)"))
        c.commit()
        for _ in range(3):   # 12 MB: far past the default 1,000-page autocheckpoint
            c.execute(text("INSERT INTO t VALUES (randomblob(4000000))"))
            c.commit()
    assert db.stat().st_size < 1_000_000, "a commit checkpointed the WAL into the database"

    awake = start_checkpointer(engine, interval=0.05)
    deadline = time.time() + 10
    while db.stat().st_size < 12_000_000 and time.time() < deadline:
        time.sleep(0.05)
    assert db.stat().st_size >= 12_000_000, "the background thread did not checkpoint"
    with engine.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM t")).scalar() == 3

    engine.dispose()
    del engine, c
    gc.collect()
    awake.join(timeout=5)
    assert not awake.is_alive()
    assert thread.is_alive()   # the sleeping one notices at its next wake-up; daemon meanwhile


def test_only_for_sqlite_files():
    assert start_checkpointer(create_engine("sqlite://")) is None


def test_a_steady_writer_does_not_grow_the_wal_without_bound(tmp_path, monkeypatch):
    """PASSIVE checkpoints alone never rewind the WAL while commits keep coming; the RESTART
    past ``RESTART_FRAMES`` does (the file grew to 3.8 GB in a 200k-resource load before)."""
    from ehr_core.storage import checkpoint
    monkeypatch.setattr(checkpoint, "RESTART_FRAMES", 256)          # 1 MiB of 4 KiB pages
    db = tmp_path / "w.sqlite3"
    engine = make_engine(f"sqlite:///{db}")
    start_checkpointer(engine, interval=0.01)
    wal = tmp_path / "w.sqlite3-wal"
    largest = 0
    with engine.connect() as c:
        c.execute(text("CREATE TABLE t (x BLOB)"))
        c.commit()
        for _ in range(200):            # 40 MB in commits of 200 kB, 2 ms apart (a loader's parse time)
            c.execute(text("INSERT INTO t VALUES (randomblob(200000))"))
            c.commit()
            time.sleep(0.002)
            largest = max(largest, wal.stat().st_size)
        assert c.execute(text("SELECT COUNT(*) FROM t")).scalar() == 200
    assert largest < 20_000_000, f"the WAL reached {largest} bytes"
    engine.dispose()
