"""`verifier` is the bottom layer: an agency installs it alone, so it imports no other package
of ours (DESIGN.md, dependency direction)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import verifier

FORBIDDEN = frozenset({"ca", "identity", "seal_service", "licence_registry", "govtrust"})
VERIFIER_DIR = Path(verifier.__file__).parent
PROJECT_ROOT = VERIFIER_DIR.parent
SOURCES = sorted(VERIFIER_DIR.rglob("*.py"))


def imported_top_levels(source: str) -> set[str]:
    """Top-level package of every absolute import, anywhere in the module (functions too),
    including `importlib.import_module("x")` / `__import__("x")` with a literal name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and node.args:
            function = node.func
            called = (
                function.attr
                if isinstance(function, ast.Attribute)
                else (function.id if isinstance(function, ast.Name) else None)
            )
            first = node.args[0]
            if called in {"import_module", "__import__"} and isinstance(first, ast.Constant):
                found.add(str(first.value).split(".")[0])
    return found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import ca.keys", {"ca"}),
        ("from govtrust.db import Database", {"govtrust"}),
        ("def f():\n    from seal_service import seals", {"seal_service"}),
        ("import importlib\nimportlib.import_module('licence_registry.api')", {"licence_registry"}),
        ("__import__('identity')", {"identity"}),
        ("from . import jose\nfrom .errors import InputError", set()),
    ],
)
def test_the_scanner_sees_forbidden_imports(source: str, expected: set[str]) -> None:
    assert imported_top_levels(source) & FORBIDDEN == expected


def test_verifier_sources_import_no_other_govtrust_package() -> None:
    assert len(SOURCES) >= 8, SOURCES  # the scan really covers the package
    offenders = {
        str(path.relative_to(PROJECT_ROOT)): sorted(found & FORBIDDEN)
        for path in SOURCES
        if (found := imported_top_levels(path.read_text(encoding="utf-8"))) & FORBIDDEN
    }
    assert offenders == {}


def _loaded_after(imports: str) -> dict[str, object]:
    code = (
        "import json, sys, pkgutil, importlib\n"
        f"{imports}\n"
        "print(json.dumps({'file': verifier.__file__,"
        " 'verifier': sorted(m for m in sys.modules if m.split('.')[0] == 'verifier'),"
        " 'ours': sorted(m for m in sys.modules"
        f" if m.split('.')[0] in {sorted(FORBIDDEN)!r})}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_importing_every_verifier_module_loads_no_other_package() -> None:
    loaded = _loaded_after(
        "import verifier, verifier.cli, verifier.pdf, verifier.trust_list\n"
        "for info in pkgutil.walk_packages(verifier.__path__, 'verifier.'):\n"
        "    importlib.import_module(info.name)"
    )
    assert Path(str(loaded["file"])).parent == VERIFIER_DIR
    expected = {f"verifier.{p.stem}" for p in VERIFIER_DIR.glob("*.py") if p.stem != "__init__"}
    assert expected <= set(loaded["verifier"])  # type: ignore[call-overload]
    assert loaded["ours"] == []


def test_the_subprocess_check_can_fail() -> None:
    """Control: the same probe does report our packages when something imports them."""
    loaded = _loaded_after("import verifier, ca.profiles")
    assert "ca" in loaded["ours"]  # type: ignore[operator]
