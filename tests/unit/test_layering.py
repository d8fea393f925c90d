"""The arrows of DESIGN.md: ``definitions`` and ``execution`` never import ``aiki.server`` or ``aiki.store``;
the client reaches the server only through its embedded transport.

Each layer is imported in a fresh interpreter with the package's ``__init__`` left out (it re-exports
everything, server included), so ``sys.modules`` shows what the layer itself pulls in. A static pass also
catches imports that only run when a function is called.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import aiki

PACKAGE_DIR = Path(aiki.__file__).parent

# Imports every module of the given layers without running aiki/__init__.py, then prints the aiki modules
# that ended up loaded.
PROBE = """
import importlib, json, pkgutil, sys, types
package = types.ModuleType("aiki")
package.__path__ = [{package_dir!r}]
sys.modules["aiki"] = package
for layer in {layers!r}:
    folder = {package_dir!r} + "/" + layer
    for info in pkgutil.iter_modules([folder]):
        name = "aiki." + layer + "." + info.name
        if name not in {skip!r}:
            importlib.import_module(name)
print(json.dumps(sorted(name for name in sys.modules if name == "aiki" or name.startswith("aiki."))))
"""


def _modules_loaded_by(layers: list[str], skip: list[str] | None = None) -> list[str]:
    code = PROBE.format(package_dir=str(PACKAGE_DIR), layers=layers, skip=skip or [])
    finished = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert finished.returncode == 0, finished.stderr
    loaded: list[str] = json.loads(finished.stdout)
    return loaded


def _forbidden(loaded: list[str], *prefixes: str) -> list[str]:
    return [name for name in loaded if any(name == p or name.startswith(p + ".") for p in prefixes)]


def _module_files(layer: str) -> list[Path]:
    return sorted((PACKAGE_DIR / layer).glob("*.py"))


def _imported_names(path: Path, *, include_type_checking: bool) -> list[str]:
    """Every module ``path`` imports, at any depth (function bodies included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped: set[int] = set()
    if not include_type_checking:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped.update(id(child) for statement in node.body for child in ast.walk(statement))
    names = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("layer", ["definitions", "execution"])
def test_a_fresh_import_of_the_layer_loads_neither_server_nor_store(layer: str) -> None:
    loaded = _modules_loaded_by([layer])
    assert f"aiki.{layer}" in loaded  # the probe did import the layer
    assert _forbidden(loaded, "aiki.server", "aiki.store") == []


def test_a_fresh_import_of_the_client_without_its_embedded_transport_loads_neither_server_nor_store() -> None:
    loaded = _modules_loaded_by(["client"], skip=["aiki.client.embedded"])
    assert "aiki.client.handle" in loaded
    assert _forbidden(loaded, "aiki.server", "aiki.store") == []


def test_a_fresh_import_of_the_whole_client_loads_neither_server_nor_store() -> None:
    # The embedded transport is handed a server object; importing it does not import the server either.
    loaded = _modules_loaded_by(["client"])
    assert _forbidden(loaded, "aiki.server", "aiki.store") == []


def test_the_probe_can_see_a_forbidden_import() -> None:
    # Guards the probe itself: importing the server layer must show up.
    assert "aiki.store.database" in _modules_loaded_by(["server"])


@pytest.mark.parametrize(
    "path",
    [*_module_files("definitions"), *_module_files("execution")],
    ids=lambda path: f"{path.parent.name}/{path.name}",
)
def test_no_import_anywhere_in_definitions_or_execution_names_server_or_store(path: Path) -> None:
    names = _imported_names(path, include_type_checking=True)
    assert _forbidden(names, "aiki.server", "aiki.store") == []


@pytest.mark.parametrize("path", _module_files("client"), ids=lambda path: f"client/{path.name}")
def test_only_the_embedded_transport_imports_the_server_at_run_time(path: Path) -> None:
    forbidden = _forbidden(_imported_names(path, include_type_checking=False), "aiki.server", "aiki.store")
    if path.name == "embedded.py":
        forbidden = [name for name in forbidden if not name.startswith("aiki.server")]
    assert forbidden == []
