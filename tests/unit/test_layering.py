"""The layers of ``src/aiki`` and who may import whom, checked on every import statement of every file.

Each folder is a layer; the leaf modules (``errors``, ``extras``, ``types``, ``canonical_json``, ``clock``,
``durations``, ``ids`` and the ``contract`` package) form one more. The front door (``aiki/__init__.py``),
``testing`` and ``dashboard`` stand outside the table. Every import counts: at module level, inside a function, under
``if TYPE_CHECKING:``, relative ones, and ``importlib.import_module("aiki...")`` with a literal name.

| layer         | may import                                                              |
|---------------|-------------------------------------------------------------------------|
| `cli`         | every layer                                                             |
| `execution`   | `client`, `definitions`, leaf modules                                   |
| `client`      | `definitions`, leaf modules; `server` only in `client/embedded.py`      |
| `definitions` | leaf modules                                                            |
| `server`      | `store`, leaf modules                                                   |
| `store`       | leaf modules                                                            |
| leaf modules  | each other, without cycles                                              |
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import aiki

PACKAGE_DIR = Path(aiki.__file__).parent

LAYERS = ("cli", "execution", "client", "definitions", "server", "store")
LEAF = "leaf"
LEAF_MODULES = ("errors", "extras", "types", "canonical_json", "clock", "durations", "ids", "contract")
#: outside the table: nothing in a layer may import them, and their own imports are not checked
OUTSIDE = ("testing", "dashboard")
FRONT_DOOR = "front door"

ALLOWED: dict[str, frozenset[str]] = {
    "cli": frozenset({*LAYERS, LEAF}),
    "execution": frozenset({"execution", "client", "definitions", LEAF}),
    "client": frozenset({"client", "definitions", LEAF}),
    "definitions": frozenset({"definitions", LEAF}),
    "server": frozenset({"server", "store", LEAF}),
    "store": frozenset({"store", LEAF}),
    LEAF: frozenset({LEAF}),
}

#: (file, layer) pairs the table allows by name
EXCEPTIONS = frozenset({("client/embedded.py", "server")})


@dataclass(frozen=True, slots=True)
class Import:
    """One import found in a file: the module it names and the line it is on."""

    module: str
    line: int


@dataclass(frozen=True, slots=True)
class Violation:
    """An import the table forbids."""

    path: str
    line: int
    module: str
    layer: str
    target: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.layer} imports {self.module} ({self.target})"


def layer_of_file(path: str) -> str | None:
    """The layer of ``path`` (relative to ``src/aiki``), ``None`` outside the table; unknown files fail."""
    first = path.split("/")[0]
    if path == "__init__.py" or first.removesuffix(".py") in OUTSIDE:
        return None
    if first in LAYERS:
        return first
    if first.removesuffix(".py") in LEAF_MODULES:
        return LEAF
    raise AssertionError(
        f"{path} belongs to no layer: add it to a folder or to the leaf modules of the table"
    )


def layer_of_module(module: str) -> str | None:
    """The layer an import of ``module`` reaches, ``None`` for a module outside aiki."""
    parts = module.split(".")
    if parts[0] != "aiki":
        return None
    if len(parts) == 1:
        return FRONT_DOOR
    if parts[1] in LAYERS:
        return parts[1]
    if parts[1] in LEAF_MODULES:
        return LEAF
    return parts[1]  # testing, dashboard or a module that does not exist: no layer may import it


def module_name(path: str) -> str:
    """``client/handle.py`` -> ``aiki.client.handle``; a package's ``__init__.py`` is the package."""
    parts = ["aiki", *path.removesuffix(".py").split("/")]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_in(path: str, source: str, *, submodules: bool = False) -> list[Import]:
    """Every aiki module ``source`` (the file ``path``) imports, wherever the import statement stands.

    With ``submodules``, ``from package import name`` also counts ``package.name`` when that is a module.
    """
    package = module_name(path) if path.endswith("__init__.py") else module_name(path).rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append(Import(base, node.lineno))
            # ``from aiki.contract import codec`` imports the submodule too, when there is one.
            found += [
                Import(f"{base}.{alias.name}", node.lineno)
                for alias in node.names
                if submodules and _is_module(f"{base}.{alias.name}")
            ]
        elif _is_literal_import_call(node):
            assert isinstance(node, ast.Call)
            argument = node.args[0]
            assert isinstance(argument, ast.Constant)
            found.append(Import(str(argument.value), node.lineno))
    return [item for item in found if layer_of_module(item.module) is not None]


def _is_literal_import_call(node: ast.AST) -> bool:
    """``importlib.import_module("...")`` or ``__import__("...")`` with a literal module name."""
    if not isinstance(node, ast.Call) or not node.args or not isinstance(node.args[0], ast.Constant):
        return False
    if not isinstance(node.args[0].value, str):
        return False
    function = node.func
    name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
    return name in ("import_module", "__import__")


def _is_module(module: str) -> bool:
    relative = Path(*module.split(".")[1:])
    return (PACKAGE_DIR / relative).is_dir() or (PACKAGE_DIR / relative).with_suffix(".py").is_file()


def violations_in(path: str, source: str) -> list[Violation]:
    """The imports of ``source`` (the file ``path``) that the table forbids."""
    layer = layer_of_file(path)
    if layer is None:
        return []
    found = []
    for item in imports_in(path, source):
        target = layer_of_module(item.module)
        assert target is not None
        if target not in ALLOWED[layer] and (path, target) not in EXCEPTIONS:
            found.append(Violation(path, item.line, item.module, layer, target))
    return found


def package_files() -> dict[str, str]:
    """Every Python file of the package: its path relative to ``src/aiki``, and its source."""
    return {
        path.relative_to(PACKAGE_DIR).as_posix(): path.read_text()
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
    }


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of ``graph`` that hold a cycle (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = lowest[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, set())):
            if successor not in index:
                visit(successor)
                lowest[node] = min(lowest[node], lowest[successor])
            elif successor in on_stack:
                lowest[node] = min(lowest[node], index[successor])
        if lowest[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, set()):
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def leaf_import_graph(files: dict[str, str]) -> dict[str, set[str]]:
    """Which leaf module imports which (a submodule's import also runs its package's ``__init__``)."""
    graph: dict[str, set[str]] = {}
    for path, source in files.items():
        if layer_of_file(path) != LEAF:
            continue
        importer = module_name(path)
        edges = graph.setdefault(importer, set())
        for item in imports_in(path, source, submodules=True):
            parts = item.module.split(".")
            reached = {".".join(parts[:depth]) for depth in range(2, len(parts) + 1)}
            edges.update(reached - {importer})
    return graph


# --- the whole package ------------------------------------------------------------------------------------

FILES = package_files()


def test_every_file_of_the_package_belongs_to_a_layer_or_stands_outside_the_table() -> None:
    assert [path for path in FILES if path.split("/")[0].removesuffix(".py") in LAYERS] != []
    for path in FILES:
        layer_of_file(path)  # raises for a file the table does not place


@pytest.mark.parametrize("path", sorted(FILES), ids=str)
def test_no_import_of_the_file_crosses_the_layers_against_the_table(path: str) -> None:
    assert [str(violation) for violation in violations_in(path, FILES[path])] == []


def test_the_leaf_modules_import_each_other_without_cycles() -> None:
    graph = leaf_import_graph(FILES)
    assert "aiki.errors" in graph and "aiki.contract.codec" in graph
    assert find_cycles(graph) == []


def test_an_http_only_worker_loads_neither_the_server_nor_the_store() -> None:
    # Run-time truth for what the static check says: the HTTP transport and the worker, imported without
    # the front door (which re-exports the server), pull in no module of the server or the store.
    code = (
        "import json, sys, types\n"
        f"package = types.ModuleType('aiki'); package.__path__ = [{str(PACKAGE_DIR)!r}]\n"
        "sys.modules['aiki'] = package\n"
        "import aiki.client.http, aiki.client.client, aiki.execution.worker\n"
        "print(json.dumps(sorted(name for name in sys.modules if name.startswith('aiki.'))))\n"
    )
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr
    loaded: list[str] = json.loads(finished.stdout)
    assert "aiki.execution.worker" in loaded
    assert [name for name in loaded if name.startswith(("aiki.server", "aiki.store"))] == []


# --- the checker itself -----------------------------------------------------------------------------------

#: sources a definitions module must not hold, and the line of the forbidden import in each
FORBIDDEN_IN_DEFINITIONS = {
    "module level": ("from aiki.execution.task_runner import run_task\n", 1),
    "plain import": ("import aiki.client.handle\n", 1),
    "in a function": ("def start():\n    from aiki.execution import context\n    return context\n", 2),
    "under TYPE_CHECKING": (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from aiki.client.client import Client\n",
        3,
    ),
    "relative": ("from ..execution.context import WorkflowRunContext\n", 1),
    "import_module": ("import importlib\nimportlib.import_module('aiki.server.server')\n", 2),
    "the front door": ("from aiki import client\n", 1),
}


@pytest.mark.parametrize(
    ("source", "line"), FORBIDDEN_IN_DEFINITIONS.values(), ids=FORBIDDEN_IN_DEFINITIONS.keys()
)
def test_the_checker_catches_a_forbidden_import_wherever_it_stands(source: str, line: int) -> None:
    [violation] = violations_in("definitions/task.py", source)
    assert (violation.path, violation.line, violation.layer) == ("definitions/task.py", line, "definitions")
    assert str(violation).startswith(f"definitions/task.py:{line}: definitions imports aiki")


def test_the_checker_accepts_what_the_table_allows() -> None:
    source = "from aiki.errors import ConfigurationError\nfrom .retry import parse_retry\nimport httpx\n"
    assert violations_in("definitions/task.py", source) == []
    assert violations_in("execution/worker.py", "from aiki.client.client import Client\n") == []


def test_only_the_embedded_transport_of_the_client_may_import_the_server() -> None:
    source = "from aiki.server.server import Server\n"
    assert violations_in("client/embedded.py", source) == []
    assert [v.module for v in violations_in("client/http.py", source)] == ["aiki.server.server"]
    assert [v.target for v in violations_in("server/server.py", "from aiki.client import client\n")] == [
        "client"
    ]


def test_the_cycle_finder_finds_a_cycle_and_only_that() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert find_cycles(graph) == [["a", "b", "c"], ["e"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def _private_lookups(source: str) -> list[int]:
    """Lines of ``getattr(obj, "_name")`` / ``hasattr(obj, "_name")``: a private attribute read by name."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", "") in ("getattr", "hasattr")
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and str(node.args[1].value).startswith("_")
        and not str(node.args[1].value).startswith("__")
    ]


@pytest.mark.parametrize("path", sorted(FILES), ids=str)
def test_no_file_reads_a_private_attribute_by_name(path: str) -> None:
    # Layers talk through public methods and Protocols, never through another object's private state.
    assert _private_lookups(FILES[path]) == []


def test_the_private_lookup_check_sees_one() -> None:
    assert _private_lookups('execution = getattr(run, "_execution", None)\n') == [1]
    assert _private_lookups('name = getattr(handler, "__name__", "")\n') == []
