"""Write the frozen train / held-out splits (see README.md). Deterministic: a hash of the week or
the story, so rerunning it on the same inputs gives the same files."""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RECENT = ROOT.parent / "shared" / "eval" / "realtimeqa-recent" / "y2023-2024.jsonl"
TEAM = ROOT / "bench" / "team" / "questions.jsonl"


def held_out(key: str) -> bool:
    return int(hashlib.sha256(key.encode()).hexdigest()[0], 16) < 8


def week(day: str) -> str:
    y, w, _ = date.fromisoformat(day).isocalendar()
    return f"{y}-W{w:02d}"


def write(path: Path, rows: list[dict], key) -> None:
    held = sorted(r["id"] for r in rows if held_out(key(r)))
    train = sorted(r["id"] for r in rows if not held_out(key(r)))
    path.write_text(json.dumps({"heldout": held, "train": train}, indent=1) + "\n")
    print(f"{path.name}: {len(held)} held out, {len(train)} train")


def main() -> None:
    if RECENT.exists():
        rows = [json.loads(x) for x in RECENT.read_text().splitlines() if x.strip()]
        write(HERE / "recent.json", rows, lambda r: week(r["asked_on"]))
    if TEAM.exists():
        rows = [json.loads(x) for x in TEAM.read_text().splitlines() if x.strip()]
        write(HERE / "team.json", rows, lambda r: r["story"])
    if not RECENT.exists() and not TEAM.exists():
        sys.exit("nothing to split")


if __name__ == "__main__":
    main()
