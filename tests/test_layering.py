"""Dependencies point one way. Inside retrieval/, each module imports only from its own layer
or lower ones, in the order `LAYERS` declares (docs/architecture.md says what each layer is);
no module of the project (retrieval/, prompts/, bot/) is in an import circle; bot/ imports only
retrieval's public surface; and nothing in retrieval/ or prompts/ knows a chat platform.

Every import counts, wherever it is: at the top of a module, inside a function (deferred) and
under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import retrieval
from retrieval.config import PROJECT_ROOT

CHAT_SDKS = ("slack_bolt", "slack_sdk", "discord", "bot")
PACKAGES = ("retrieval", "prompts", "bot")

# retrieval/'s layers, lowest first: a module may import from its own layer and those before it.
# A name stands for that module, or for a sub-package and every module in it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("retrieval.errors", "retrieval.models", "retrieval.urls", "retrieval.datadir")),
    ("config", ("retrieval.config",)),
    ("index", ("retrieval.index",)),
    ("intake", ("retrieval.intake",)),
    ("answering", ("retrieval.answering",)),
    ("news", ("retrieval.news",)),
    (
        "engine",
        (
            "retrieval.engine",
            "retrieval.parts",
            "retrieval.metrics",
            "retrieval.health",
            "retrieval.config_file",
            "retrieval.feedback",
            "retrieval.events",
        ),
    ),
    ("evaluation", ("retrieval.evaluation",)),
    ("surface", ("retrieval",)),  # retrieval/__init__.py: the names front ends may import
)


def modules(package: str) -> list[str]:
    """Every module of the package, sub-packages included (retrieval.index.search)."""
    names = []
    for path in (PROJECT_ROOT / package).rglob("*.py"):
        parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(names)


def source(module: str) -> Path:
    path = PROJECT_ROOT / module.replace(".", "/")
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) for every import in a file, wherever it is (in functions too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module, [a.name for a in node.names]))
    return found


def project_imports(module: str) -> set[str]:
    """The project's modules that `module` imports, anywhere in it: `from a.b import c` is
    module a.b.c when that is a module, else a.b, and package a.b too when `module` is outside
    it (its `__init__` runs). (A relative import counts as written.)"""
    known = set(every_module())
    path = source(module)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
        for t in targets:
            # Importing a.b.c from outside package a.b runs a/b/__init__.py as well.
            parts = t.split(".")
            out |= {
                a
                for a in (".".join(parts[:k]) for k in range(2, len(parts)))
                if a in known and not module.startswith(a + ".")
            }
        out |= {t for t in targets if t in known and t != module}
    out.discard(module)
    return out


def every_module() -> list[str]:
    return [m for package in PACKAGES for m in modules(package)]


def import_graph() -> dict[str, set[str]]:
    return {m: project_imports(m) for m in every_module()}


def layer_of(module: str) -> int:
    """The index in LAYERS of the most specific entry that holds the module."""
    best = None
    for i, (_, members) in enumerate(LAYERS):
        for m in members:
            if (module == m or module.startswith(m + ".")) and (best is None or len(m) > best[1]):
                best = (i, len(m))
    assert best is not None, f"{module} has no layer: add it to LAYERS"
    return best[0]


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import graph's strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


# -- the stack --------------------------------------------------------------------------------
def test_every_module_of_retrieval_is_in_one_layer():
    for module in modules("retrieval"):
        layer_of(module)
    declared = [m for _, members in LAYERS for m in members]
    assert len(declared) == len(set(declared))
    assert all(source(m).is_file() for m in declared), "LAYERS names a module that is gone"


def test_retrieval_imports_only_from_its_own_layer_or_lower_ones():
    names = [name for name, _ in LAYERS]
    bad = [
        f"{module} ({names[layer_of(module)]}) imports {target} ({names[layer_of(target)]})"
        for module in modules("retrieval")
        for target in sorted(project_imports(module))
        if target.startswith("retrieval") and layer_of(target) > layer_of(module)
    ]
    assert bad == []


def test_the_layers_are_written_down_in_the_architecture_notes():
    """docs/architecture.md names the layers in the order declared here."""
    text = (PROJECT_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    written = re.findall(r"^\d+\. \*\*(\w+)\*\*", text, flags=re.M)
    assert written == [name for name, _ in LAYERS]


def test_the_circle_finder_finds_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "d"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circles(package):
    """No module imports itself through others: module-level, deferred and TYPE_CHECKING
    imports all count."""
    found = [c for c in circles(import_graph()) if any(m.split(".")[0] == package for m in c)]
    assert found == []


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


def test_the_public_surface_is_listed_once_each_name_from_where_it_is_defined():
    """retrieval/__init__.py lists each public name once, as an import (`X as X`) from the
    module that defines it; `__all__` is those names, and each resolves to that definition."""
    tree = ast.parse(source("retrieval").read_text(encoding="utf-8"))
    listed = [
        (node.module, alias.name, alias.asname)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("retrieval.")
        for alias in node.names
    ]
    names = [name for _, name, _ in listed]
    assert len(names) == len(set(names)) >= 40
    assert all(alias == name for _, name, alias in listed)
    assert retrieval.__all__ == sorted(names) == dir(retrieval)
    for module, name, _ in listed:
        assert getattr(retrieval, name).__module__ == module, name


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
    """retrieval/ keeps at its top only the engine and the wiring of its parts, its settings,
    errors, models and addresses, the small stores of the front ends and what an operator reads
    of a running engine (its health and metrics); everything else lives in the sub-package of
    its stage."""
    top = {p.stem for p in (PROJECT_ROOT / "retrieval").glob("*.py")}
    assert top <= {
        "__init__",
        "engine",
        "parts",
        "config",
        "config_file",
        "errors",
        "models",
        "urls",
        "datadir",
        "events",
        "feedback",
        "health",
        "metrics",
    }
    stages = {p.parent.name for p in (PROJECT_ROOT / "retrieval").glob("*/__init__.py")}
    assert stages == {"intake", "index", "answering", "news", "evaluation"}


def test_the_conversation_and_the_chat_platforms_import_one_way():
    """The conversation knows no platform, and neither platform knows the other (circles
    are test_no_import_circles')."""
    graph = {m: {t for t in ts if t.startswith("bot")} for m, ts in import_graph().items()}

    def reaches(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    for neutral in ("bot.conversation", "bot.chat", "bot.underway", "bot.asked"):
        assert not {m for m in reaches(neutral) if m.startswith(("bot.slack", "bot.discord"))}
        sdks = {m for _, m, _ in imports(PROJECT_ROOT / f"{neutral.replace('.', '/')}.py")}
        assert not {m for m in sdks if m.split(".")[0] in CHAT_SDKS[:3]}
    assert not {m for m in graph if m.startswith("bot.slack") for n in graph[m] if "discord" in n}
    assert not {m for m in graph if m.startswith("bot.discord") for n in graph[m] if "slack" in n}


def test_a_module_over_400_lines_says_why_it_is_one_piece():
    """Big files doing several jobs are split along their jobs; one that stays over about 400
    lines says in its docstring why it is one piece."""
    unexplained = []
    for package in ("retrieval", "prompts", "bot"):
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if len(text.splitlines()) <= 420:
                continue
            doc = (ast.get_docstring(ast.parse(text)) or "").lower()
            if "one piece" not in doc and "400 lines" not in doc:
                unexplained.append(str(path.relative_to(PROJECT_ROOT)))
    assert unexplained == []


def test_importing_a_module_of_a_package_from_outside_counts_its_init():
    """`from bot.discord.settings import X` outside bot.discord runs bot/discord/__init__.py:
    a circle through a package's `__init__` is a circle too."""
    found = project_imports("bot.cli.envfile")
    assert {"bot.discord.settings", "bot.discord"} <= found
    assert "bot.cli" not in found  # its own package has run already
