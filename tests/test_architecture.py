"""The engine never imports Textual (DESIGN.md sections 7 and 9): only therabak.app may."""

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
