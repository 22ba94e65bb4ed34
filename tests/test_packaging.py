"""pyproject.toml declares, directly, every distribution the project imports.

A package that arrives only because another one depends on it can vanish under us (lxml 6
stopped providing the `html_clean` extra that justext asks for), so a fresh install must not
rely on it. The CI script .ci/check_install.py then imports all of it in a new venv.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"retrieval", "bot", "prompts"}
# Imported by a dependency at run time, not by us, but not guaranteed by its metadata.
REQUIRED_INDIRECTLY = {"lxml_html_clean"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(group: str | None = None) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] if group is None else project["optional-dependencies"][group]
    return {_norm(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0]) for r in reqs}


def _third_party_imports(folders: set[str]) -> set[str]:
    found = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    local = PACKAGES | {"tests", "bench", "conftest", "_common"}
    return {m for m in found if m not in sys.stdlib_module_names and m not in local}


def _undeclared(modules: set[str], declared: set[str]) -> list[str]:
    owners = importlib.metadata.packages_distributions()
    missing = []
    for module in sorted(modules):
        dists = {_norm(d) for d in owners.get(module, [module])}
        if not dists & declared:
            missing.append(f"{module} (from {', '.join(sorted(dists))})")
    return missing


def test_every_import_of_the_project_is_a_declared_dependency():
    modules = _third_party_imports(PACKAGES) | REQUIRED_INDIRECTLY
    assert _undeclared(modules, _declared()) == []


def test_every_import_of_the_tests_is_declared_for_them():
    modules = _third_party_imports({"tests"})
    assert _undeclared(modules, _declared() | _declared("test")) == []


def test_every_package_of_the_project_is_installed():
    """pyproject.toml names the packages one by one: one left out (a new sub-package such as
    bot/cli/) would be missing from a non-editable install, the image's, while every test run
    from the checkout passes."""
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for package in PACKAGES
        for init in (ROOT / package).rglob("__init__.py")
    }
    assert sorted(listed) == sorted(found)
