"""The record of chat events already handled, shared by every process using the data dir."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from retrieval.events import SeenEvents

ROOT = Path(__file__).resolve().parent.parent
T = 1_700_000_000.0


def test_an_event_is_claimed_once_by_any_instance(tmp_path: Path):
    first, second = SeenEvents.in_data_dir(tmp_path), SeenEvents.in_data_dir(tmp_path)
    assert first.claim("slack/C1/1.000100", now=T)
    assert not first.claim("slack/C1/1.000100", now=T + 1)
    assert not second.claim("slack/C1/1.000100", now=T + 2)
    assert second.claim("slack/C1/2.000100", now=T + 2)
    first.close()
    again = SeenEvents.in_data_dir(tmp_path)  # as after a restart
    assert not again.claim("slack/C1/2.000100", now=T + 3)


def test_claims_expire_and_are_deleted(tmp_path: Path):
    keep = timedelta(hours=1).total_seconds()
    events = SeenEvents(tmp_path / "events.sqlite3", keep=timedelta(hours=1))
    assert events.claim("old", now=T)
    assert not events.claim("old", now=T + keep - 1)
    assert events.claim("new", now=T + keep - 1)
    assert events.claim("old", now=T + keep + 1)  # expired: a new event may use the key
    events.claim("newest", now=T + 3 * keep)
    keys = {k for (k,) in events.db.execute("SELECT key FROM claims")}
    assert keys == {"newest"}


def test_the_file_and_a_new_folder_are_private(tmp_path: Path):
    data = tmp_path / "data"
    SeenEvents.in_data_dir(data).claim("k")
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for f in data.iterdir():  # the database and its WAL files
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


RACER = """
import json, sys
from retrieval.events import SeenEvents
events = SeenEvents.in_data_dir(sys.argv[1])
sys.stdin.readline()  # both processes start claiming together
print(json.dumps([k for k in map(str, range(300)) if events.claim(k)]))
"""


def test_two_processes_racing_claim_each_event_once(tmp_path: Path):
    SeenEvents.in_data_dir(tmp_path)  # the schema exists before the race
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path)],
            cwd=ROOT,  # this checkout's bot/ first on the path
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    wins = []
    for racer in racers:
        assert racer.stdin is not None
        racer.stdin.write("go\n")
        racer.stdin.flush()
    for racer in racers:
        out, _ = racer.communicate(timeout=60)
        assert racer.returncode == 0
        wins.append(set(json.loads(out)))
    assert wins[0] | wins[1] == {str(k) for k in range(300)}
    assert not wins[0] & wins[1]
