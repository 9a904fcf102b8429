"""SQLite WAL checkpoints off the write path, for long-running processes (``evk serve``,
``evk load``).

By default SQLite checkpoints inside the commit that pushes the WAL past 1,000 pages: that
transaction then copies the WAL into the database and waits for its fsync (measured: over half
of all commit time during a bulk load). Here the committing connections never checkpoint
(``wal_autocheckpoint=0``); a background thread of this process checkpoints PASSIVE-ly (never
blocking readers or writers) whenever the WAL has grown. A PASSIVE checkpoint copies pages but
never rewinds the WAL: SQLite starts the WAL over only when a writer begins while every frame
is already copied, which a steady writer never allows, so under a bulk load the file grew
without bound (3.8 GB within a 200k-resource load, every page read then searching a WAL index
of a million frames). So once the WAL holds ``RESTART_FRAMES`` the thread takes a RESTART
checkpoint: it waits for the writer in progress, copies the few frames PASSIVE left, and makes
the next writer start the WAL from the beginning (``journal_size_limit`` then gives the disk
back). Durability is unchanged: a commit is in the WAL either way.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
import weakref
from pathlib import Path

from sqlalchemy import Engine, event

log = logging.getLogger(__name__)

__all__ = ["start_checkpointer"]

RESTART_FRAMES = 16_384          # 64 MiB of 4 KiB pages in the WAL: rewind it


def start_checkpointer(engine: Engine, *, interval: float = 0.5) -> threading.Thread | None:
    """Move this engine's checkpoints to a background thread (file SQLite only; else None).
    The thread ends by itself once the engine is garbage-collected or its file is gone."""
    if engine.dialect.name != "sqlite" or not engine.url.database or engine.url.database == ":memory:":
        return None
    db = Path(engine.url.database)

    @event.listens_for(engine, "connect")
    def _no_autocheckpoint(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")
        dbapi_conn.execute("PRAGMA journal_size_limit=67108864")
    engine.dispose()   # pooled connections were opened with autocheckpoint on

    alive = weakref.ref(engine)

    def run() -> None:
        conn = sqlite3.connect(str(db), timeout=60, check_same_thread=False)
        try:
            while alive() is not None and db.exists():
                time.sleep(interval)
                _busy, frames, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if frames >= RESTART_FRAMES:
                    conn.execute("PRAGMA wal_checkpoint(RESTART)")
        except sqlite3.Error:   # the database went away (a test's temporary file): nothing to keep
            log.debug("checkpointer for %s stopped", db, exc_info=True)
        finally:
            conn.close()

    thread = threading.Thread(target=run, name="evk-wal-checkpointer", daemon=True)
    thread.start()
    return thread
