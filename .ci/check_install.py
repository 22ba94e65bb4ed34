"""Prove a fresh install: every module of the project imports, and so does every third-party
module the project imports anywhere (also inside functions, where heavy imports are deferred).

A dependency installed by hand on one machine cannot hide here: CI runs this in a new venv
made from pyproject.toml alone. Exits 1 naming each module that fails.
"""

from __future__ import annotations

import ast
import importlib
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("retrieval", "bot", "prompts")


def project_modules() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def imported_modules() -> set[str]:
    """Every absolute import in the project's packages, at any depth of the code."""
    found: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module)
    return {m for m in found if m.split(".")[0] not in PACKAGES}


def main() -> int:
    sys.path.insert(0, str(ROOT))
    failed = []
    for name in [*project_modules(), *sorted(imported_modules())]:
        try:
            importlib.import_module(name)
        except Exception:
            failed.append(name)
            print(f"cannot import {name}:", file=sys.stderr)
            traceback.print_exc(limit=3)
    if failed:
        print(f"{len(failed)} modules failed to import: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"imported {len(project_modules())} project modules and their imports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
