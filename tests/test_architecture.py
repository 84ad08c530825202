"""The engine never imports Textual (DESIGN.md sections 7 and 9): only therabak.app may.
The packages are layers (ARCHITECTURE.md): nothing imports a layer above its own, the app
never imports the CLI, and no module imports itself through others (no cycles)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from conftest import PACKAGE_DIR

APP_DIR = PACKAGE_DIR / "app"
TERMINAL_RENDERER = PACKAGE_DIR / "cli" / "render.py"
UI_PACKAGES = {"textual", "rich"}  # rich comes with textual; the engine has no use for it

ENGINE_IMPORTS = """
import importlib, json, pkgutil, sys
import therabak
names = sorted(
    m.name for m in pkgutil.walk_packages(therabak.__path__, "therabak.")
    if not (m.name == "therabak.app" or m.name.startswith("therabak.app."))
    and m.name != "therabak.__main__"
)
for name in names:
    importlib.import_module(name)
import therabak.cli
therabak.cli.build_parser()  # imports every command module
print(json.dumps({
    "imported": names,
    "ui": sorted(m for m in sys.modules if m.split(".")[0] in %r),
    "crypto": "cryptography" in sys.modules,
}))
"""


def test_engine_modules_do_not_import_textual() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", ENGINE_IMPORTS % (UI_PACKAGES,)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    # the walk found the engine (guards against a vacuous pass)
    for name in (
        "therabak.cli",
        "therabak.cli.preview",
        "therabak.practice.envelope",
        "therabak.practice.scan",
        "therabak.crypto.stream",
    ):
        assert name in result["imported"]
    assert result["crypto"], "the probe must have imported the crypto modules too"
    assert result["ui"] == []


def test_app_package_exists_and_does_import_textual() -> None:
    # the opposite check, so that the static scan below is known to see imports
    assert (APP_DIR / "__init__.py").exists()
    assert any(imports_of(path) & UI_PACKAGES for path in APP_DIR.rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    """Top-level package names imported anywhere in *path* (also inside functions)."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value.split(".")[0])
    return names


def test_only_the_app_package_imports_textual_statically() -> None:
    offenders = []
    scanned = 0
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if APP_DIR in path.parents:
            continue
        scanned += 1
        found = imports_of(path) & UI_PACKAGES
        if path == TERMINAL_RENDERER:
            found -= {"rich"}  # the CLI's progress bar on a terminal (issue 3), never textual
        if found:
            offenders.append(f"{path.relative_to(PACKAGE_DIR)}: {sorted(found)}")
    assert scanned >= 15
    assert offenders == []


def test_preview_does_not_load_crypto_or_ui(demo_practice) -> None:
    """The preview path stays import-light (it must feel instant on 100k files)."""
    probe = (
        "import sys, therabak.cli\n"
        "try:\n"
        "    therabak.cli.main(['preview', '--data-dir', sys.argv[1], '--json'])\n"
        "finally:\n"
        "    heavy = sorted({m.split('.')[0] for m in sys.modules}"
        " & {'cryptography', 'textual', 'rich', 'humanize', 'zstandard', 'babel'})\n"
        "    print('HEAVY', heavy, file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(demo_practice.data_dir)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr


def test_every_package_folder_is_a_regular_package() -> None:
    """A folder of modules without ``__init__.py`` is a namespace package, which
    ``setuptools.packages.find`` leaves out of the wheel: it would work in an editable
    install and be missing from a real one."""
    folders = {p.parent for p in PACKAGE_DIR.rglob("*.py")}
    missing = sorted(
        str(f.relative_to(PACKAGE_DIR)) for f in folders if not (f / "__init__.py").exists()
    )
    assert len(folders) >= 8
    assert missing == []


# ---- layers and cycles (issue 15) --------------------------------------------------------

#: The packages as layers, lowest first: a module may import its own layer and those
#: below, never one above (ARCHITECTURE.md). Top-level modules not named are leaves.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset(),  # 0: the leaves (i18n, errors, events, formatting, settings, ...)
    frozenset({"crypto", "practice", "storage", "jobkit"}),
    frozenset({"datafolder", "destinations"}),
    frozenset({"archive", "store"}),
    frozenset({"points", "emergency"}),
    frozenset({"jobs"}),
    frozenset({"schedule"}),  # reads the automatic job's record; jobs never import it
    frozenset({"presentation"}),
    frozenset({"cli"}),
    frozenset({"app", "__main__"}),
)


def module_files() -> dict[str, Path]:
    """Every module of the package by its dotted name (a package by its own name)."""
    found = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def import_graph(files: dict[str, Path], *, typing: bool = False) -> dict[str, set[str]]:
    """Which of the package's modules each module imports (anywhere in it, also inside
    a function, but not under ``if TYPE_CHECKING:`` unless *typing*): the nearest module
    or package a dotted name names."""

    def known(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
        typing_only = {
            id(inner)
            for node in ast.walk(tree)
            if not typing and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for stmt in node.body
            for inner in ast.walk(stmt)
        }
        targets: set[str | None] = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                targets.update(known(a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in files else known(base))
        graph[mod] = {t for t in targets if t and t != mod}
    return graph


def layer_of(module: str) -> int:
    part = module.split(".")[1] if "." in module else ""
    return next((i for i, names in enumerate(LAYERS) if part in names), 0)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{mod} (layer {layer_of(mod)}) imports {dep} (layer {layer_of(dep)})"
        for mod, deps in graph.items()
        for dep in deps
        if layer_of(dep) > layer_of(mod)
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, deps = work[-1]
            dep = next(deps, None)
            if dep is not None:
                if dep not in index:
                    index[dep] = low[dep] = len(index)
                    stack.append(dep)
                    on_stack.add(dep)
                    work.append((dep, iter(sorted(graph.get(dep, ())))))
                elif dep in on_stack:
                    low[node] = min(low[node], index[dep])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_nothing_imports_a_layer_above_its_own() -> None:
    files = module_files()
    graph = import_graph(files)
    # the graph sees imports (guards against a vacuous pass): the app uses the engine
    assert "therabak.jobs.restore" in graph["therabak.app.points"]
    assert "therabak.presentation" in graph["therabak.cli.restore"]
    assert {layer_of(m) for m in files} == set(range(len(LAYERS)))
    assert upward_imports(graph) == []


def test_the_app_uses_the_engine_never_the_cli() -> None:
    graph = import_graph(module_files())
    into_cli = sorted(
        f"{mod} imports {dep}"
        for mod, deps in graph.items()
        if mod.startswith("therabak.app")
        for dep in deps
        if dep == "therabak.cli" or dep.startswith("therabak.cli.")
    )
    assert into_cli == []


def test_no_import_cycles() -> None:
    graph = import_graph(module_files())
    assert len(graph) > 100
    assert cycles(graph) == []


def test_no_import_cycles_even_for_types() -> None:
    """Not even an import for a type closes a cycle (``jobs/store_open.py`` took the
    request from ``jobs/store_backup.py``, which runs it: the request has its own module,
    ``jobs/store_request.py``)."""
    assert cycles(import_graph(module_files(), typing=True)) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_schedule_builds_on_the_jobs_never_the_other_way() -> None:
    """``schedule/status.py`` reads the automatic job's record and when it is next due
    (``jobs.auto``, ``jobs.auto_runs``); no module of ``jobs`` imports ``schedule``, not
    even for a type (``jobs/status.py`` takes the scheduler's answer as a protocol)."""
    graph = import_graph(module_files(), typing=True)
    assert {"therabak.jobs.auto", "therabak.jobs.auto_runs"} <= graph["therabak.schedule.status"]
    assert layer_of("therabak.schedule.status") > layer_of("therabak.jobs.status")
    into_schedule = sorted(
        f"{mod} imports {dep}"
        for mod, deps in graph.items()
        if mod == "therabak.jobs" or mod.startswith("therabak.jobs.")
        for dep in deps
        if dep == "therabak.schedule" or dep.startswith("therabak.schedule.")
    )
    assert into_schedule == []
