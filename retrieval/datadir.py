"""The data directory: created private to the user, with one clear error when it can't be used.

Everything in it (the index, caches, votes, feed and schedule state) is the team's data: the
folders are made 0700 and the databases 0600, whatever the process's umask.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
import uuid
from pathlib import Path

from retrieval.errors import SettingsError

SETTING = "BRIEFBOT_DATA_DIR"


def private_dir(path: Path | str) -> Path:
    """`path` as a folder that exists and that this user can write, creating it (and any
    missing parents) with mode 0700; a SettingsError naming the setting and path otherwise."""
    path = Path(path)
    for parent in reversed((path, *path.parents)):
        if parent.exists() and not parent.is_dir():
            raise SettingsError(f"{SETTING}: {parent} is a file, not a folder")
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except PermissionError:
        raise SettingsError(f"{SETTING}: cannot create {path} (permission denied)") from None
    except OSError as exc:
        raise SettingsError(f"{SETTING}: cannot create {path} ({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise SettingsError(f"{SETTING}: {path} is not writable by this user")
    return path


def private_file(path: Path | str) -> Path:
    """Make sure `path` exists with mode 0600 (its folder private too) before a library opens
    it, so that no other user of the machine can read it, even for an instant."""
    path = Path(path)
    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)  # made by an older version, readable by all
    except PermissionError:
        raise SettingsError(f"{SETTING}: {path} is not writable by this user") from None
    except OSError as exc:
        raise SettingsError(f"{SETTING}: cannot open {path} ({exc.strerror or exc})") from None
    return path


def connect(path: Path | str, **kwargs) -> sqlite3.Connection:
    """An SQLite connection to a private database file (SQLite gives its journal the same
    mode)."""
    return sqlite3.connect(private_file(path), **kwargs)


def use_wal(db: sqlite3.Connection, patience_s: float = 30.0) -> None:
    """Put the database in WAL mode (readers and one writer at once). Switching needs the file
    to itself and SQLite does not wait for that (its busy timeout does not apply), so several
    processes opening it at once try again for up to `patience_s`."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def owner_id() -> str:
    """This process, as the claims it makes in a shared database name it."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def shared_db(path: Path | str, schema: str) -> sqlite3.Connection:
    """A SQLite file every process of the deployment uses at once (autocommit, WAL, usable
    from any thread of this one), its tables made if new."""
    db = connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    use_wal(db)
    db.executescript(schema)
    return db
