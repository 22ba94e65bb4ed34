"""Dependencies point one way: bot/ imports retrieval/'s public surface, and nothing in
retrieval/ or prompts/ knows a chat platform (nor bot/)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import retrieval
from retrieval.config import PROJECT_ROOT

CHAT_SDKS = ("slack_bolt", "slack_sdk", "discord", "bot")


def modules(package: str) -> list[str]:
    """Every module of the package, sub-packages included (retrieval.index.search)."""
    names = []
    for path in (PROJECT_ROOT / package).rglob("*.py"):
        parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(names)


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) for every import in a file, wherever it is (in functions too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module, [a.name for a in node.names]))
    return found


def test_every_module_of_the_engine_and_the_prompts_is_checked():
    every = modules("retrieval") + modules("prompts")
    assert len(every) >= 30 and "retrieval.engine" in every and "prompts" in every


def test_no_module_of_the_engine_or_the_prompts_imports_a_chat_platform():
    """Read in the source (lazy imports in functions count), and at import time (what the
    module's own imports pull in)."""
    bad = [
        f"{path.relative_to(PROJECT_ROOT)}:{line}: {module}"
        for package in ("retrieval", "prompts")
        for path in sorted((PROJECT_ROOT / package).rglob("*.py"))
        for line, module, _ in imports(path)
        if module.split(".")[0] in CHAT_SDKS
    ]
    assert bad == []
    every = modules("retrieval") + modules("prompts")
    code = (
        "import importlib, json, sys\n"
        f"for name in {every!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {CHAT_SDKS!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_bot_imports_only_the_public_surface():
    public = set(retrieval.__all__)
    bad = []
    for path in sorted((PROJECT_ROOT / "bot").rglob("*.py")):
        for line, module, names in imports(path):
            where = f"{path.relative_to(PROJECT_ROOT)}:{line}"
            if module.startswith("retrieval."):
                bad.append(f"{where}: {module}")
            elif module == "retrieval":
                bad += [f"{where}: retrieval.{n}" for n in names if n not in public]
    assert bad == []


def test_the_public_surface_is_what_it_lists():
    assert sorted(retrieval.__all__) == sorted(retrieval._PUBLIC)
    for name in retrieval.__all__:
        assert getattr(retrieval, name) is not None, name


def test_importing_the_engine_package_loads_nothing_and_changes_nothing():
    code = (
        "import json, os, sys\n"
        "before = dict(os.environ)\n"
        "import retrieval\n"
        "print(json.dumps([dict(os.environ) == before,"
        " sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('numpy', 'chromadb', 'torch', 'retrieval') and m != 'retrieval')]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [True, []]


def test_the_engine_reads_as_the_flow_of_an_article_and_a_question():
    """retrieval/ keeps at its top only the engine, its settings, errors, models, the small
    stores of the front ends and what an operator reads of a running engine (its health and
    metrics); everything else lives in the sub-package of its stage."""
    top = {p.stem for p in (PROJECT_ROOT / "retrieval").glob("*.py")}
    assert top <= {
        "__init__",
        "engine",
        "config",
        "config_file",
        "errors",
        "models",
        "datadir",
        "events",
        "feedback",
        "health",
        "metrics",
    }
    stages = {p.parent.name for p in (PROJECT_ROOT / "retrieval").glob("*/__init__.py")}
    assert stages == {"intake", "index", "answering", "news", "evaluation"}


def bot_imports() -> dict[str, set[str]]:
    """bot's modules, each with the modules of bot it imports (anywhere: in functions and
    under TYPE_CHECKING too), a package's `__init__` counted for `from bot.x import y`."""
    names = set(modules("bot"))
    graph: dict[str, set[str]] = {}
    for name in names:
        parts = name.split(".")
        path = PROJECT_ROOT.joinpath(*parts)
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        found = set()
        for _, module, imported in imports(path):
            found |= {m for m in (module, *(f"{module}.{n}" for n in imported)) if m in names}
        graph[name] = found - {name}
    return graph


def test_the_conversation_and_the_chat_platforms_import_one_way():
    """No circle through the conversation or a platform's package; the conversation knows no
    platform, and neither platform knows the other."""
    graph = bot_imports()

    def reaches(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    ours = [m for m in graph if m.startswith(("bot.slack", "bot.discord"))] + [
        "bot.conversation",
        "bot.chat",
        "bot.underway",
        "bot.asked",
        "bot.service",
    ]
    assert [m for m in ours if m in reaches(m)] == []  # no module of these is in a circle
    for neutral in ("bot.conversation", "bot.chat", "bot.underway", "bot.asked"):
        assert not {m for m in reaches(neutral) if m.startswith(("bot.slack", "bot.discord"))}
        sdks = {m for _, m, _ in imports(PROJECT_ROOT / f"{neutral.replace('.', '/')}.py")}
        assert not {m for m in sdks if m.split(".")[0] in CHAT_SDKS[:3]}
    assert not {m for m in graph if m.startswith("bot.slack") for n in graph[m] if "discord" in n}
    assert not {m for m in graph if m.startswith("bot.discord") for n in graph[m] if "slack" in n}
