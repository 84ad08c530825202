"""The catalogs are complete and the code marks what a user reads.

* every msgid in the code (``_``, ``N_``, ``ngettext``, ``pgettext``, ``NP_``) and every
  label and reason of the shipped rules.toml has a German translation with the same
  ``{placeholders}``, and the German catalog holds nothing else;
* the template ``locale/therabak.pot`` is what ``scripts/i18n.py update`` makes;
* no string a user reads is left unmarked in the app and the CLI, and no exception
  raised anywhere in the package carries an unmarked message (an AST scan with a small
  allowlist, below);
* no function binds the name ``_`` (it would shadow the translation function).
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path

import pytest

from conftest import PACKAGE_DIR, REPO_ROOT


def _load_tool():
    spec = importlib.util.spec_from_file_location("i18n_tool", REPO_ROOT / "scripts" / "i18n.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


@pytest.fixture(scope="module")
def found():
    return tool.extract()


@pytest.fixture(scope="module")
def german():
    return tool.read("de")


def _key(message) -> tuple[str | None, str]:
    msgid = message.id[0] if isinstance(message.id, tuple) else message.id
    return (message.context, msgid)


def test_the_extraction_sees_the_code(found):
    # guards against a vacuous pass: texts from every layer are found
    ids = {msgid for _context, msgid in found}
    for expected in (
        "Wrong password for this backup.",  # an engine refusal
        "Start backup",  # a key binding (N_)
        ["{n} file", "{n} files"][0],  # a counted phrase (ngettext)
        "Autocomplete data",  # a label of rules.toml
        "Re-downloaded automatically when missing.",  # a reason of rules.toml
        "usage error: {message} (see therabak --help)",  # the CLI
    ):
        assert expected in ids
    assert len(found) > 700


def test_every_msgid_has_a_german_translation(found, german):
    missing, bad_placeholders = [], []
    for (context, msgid), msg in found.items():
        entry = german.get(msgid if not msg.plural else (msgid, msg.plural), context=context)
        if entry is None:
            entry = german.get(msgid, context=context)
        strings = (
            entry.string if entry is not None and isinstance(entry.string, tuple) else None
        ) or ((entry.string,) if entry is not None else ())
        if entry is None or entry.fuzzy or not all(strings):
            missing.append(msgid)
            continue
        wanted = tool.placeholders(msgid) | (tool.placeholders(msg.plural) if msg.plural else set())
        for text in strings:
            have = tool.placeholders(text)
            # a singular form may leave out {n} ("vor einem Tag"); nothing may be invented
            ok = have <= wanted if msg.plural else have == wanted
            if not ok:
                bad_placeholders.append((msgid, text))
    assert missing == [], f"{len(missing)} msgids without German: {missing[:10]}"
    assert bad_placeholders == []


def test_the_german_catalog_holds_no_stale_entries(found, german):
    stale = [_key(m) for m in german if m.id and _key(m) not in found]
    assert stale == [], "run: python scripts/i18n.py update"


def test_the_template_is_up_to_date(found):
    from babel.messages.pofile import read_po

    with open(tool.TEMPLATE, "rb") as f:
        template = read_po(f)
    assert {_key(m) for m in template if m.id} == set(found), "run: python scripts/i18n.py update"


def test_german_texts_use_the_formal_address(german):
    """Sie, never du: the practice app's help pages address the user formally."""
    # (not "--data-dir": an option's name)
    informal = re.compile(r"(?<![-\w])([Dd]u|[Dd]ich|[Dd]ir|[Dd]ein\w*)(?![-\w])")
    offenders = []
    for m in german:
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        offenders += [s for s in strings if s and informal.search(s)]
    assert offenders == []


def test_german_uses_the_terms_of_the_practice_app(german):
    """The glossary (DESIGN.md section 10) in the rules' labels."""
    expected = {
        "Session templates": "Sessionvorlagen",
        "Export templates": "Exportvorlagen",
        "Invoices": "Rechnungen",
        "Short protocols": "Kurzprotokolle",
        "Long protocols": "Langprotokolle",
        "Confirmations": "Bestätigungen",
        "Finance exports": "Finanzexporte",
        "Autocomplete data": "Autovervollständigungsdaten",
        "Background images": "Hintergrundbilder",
        "ICD-10 catalog": "ICD-10-Katalog",
        "Folder backup": "Ordner-Backup",
        "Sessions": "Sitzungen",
        "Account key": "Standardschlüssel",
    }
    assert {k: german.get(k).string for k in expected} == expected


# ---- unmarked strings -------------------------------------------------------------------

#: Calls whose first argument (or these keyword arguments) a user reads.
SHOWN_FIRST_ARG = {
    # Textual widgets and helpers
    "Static",
    "Label",
    "Button",
    "TickBox",
    "Choice",
    "Checkbox",
    "RadioButton",
    "AppHeader",
    "notify",
    "update",
    "add_column",
    "Option",
    "SystemCommand",
    "ConfirmDialog",
    "UnlockDialog",
    "Problem",
    "_msg",
    "_say",
    # rich
    "Text",
    "append",
    # the CLI
    "text",
    "note",
    "error",
    "write",
    "print",
    "add_argument_group",
    "getpass",
}
SHOWN_KEYWORDS = {"help", "description", "epilog", "placeholder", "title", "tooltip", "hint"}
#: Bindings: the description (third argument).
BINDING = "Binding"
#: Exceptions whose message is internal (a programming error, never shown as such).
INTERNAL_EXCEPTIONS = {
    "ValueError",
    "TypeError",
    "RuntimeError",
    "AssertionError",
    "KeyError",
    "FileExistsError",
    "NotImplementedError",
    "SystemExit",
    "SealCheckFailed",  # practice/envelope_check.py: the restore says it in its own words
}
#: Texts that are not language: styles, ids, key names, paths, format strings, JSON keys.
ALLOWED = {
    "therabak",  # the program's name (header, prefixes of messages)
    "therabak-tui",
    "DEMO",  # marked where shown; the same in every language
    "[raw]",
}
MARKERS = {"_", "N_", "ngettext", "pgettext", "NP_"}
#: CSS selectors ("#what-msg") and command-line options ("--verify") are not language.
NOT_LANGUAGE = re.compile(r"^(#[\w-]+|--[\w-]+)$")
WORDS = re.compile(r"[A-Za-z]{2,}")


def _text_of(node: ast.AST) -> str | None:
    """The literal text of *node* when it holds words a user would read, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    elif isinstance(node, ast.JoinedStr):
        text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        parts = [_text_of(node.left), _text_of(node.right)]
        return next((p for p in parts if p), None)
    elif isinstance(node, ast.Tuple) and node.elts:  # Text.assemble pieces: (text, style)
        return _text_of(node.elts[0])
    elif isinstance(node, ast.IfExp):
        return _text_of(node.body) or _text_of(node.orelse)
    else:
        return None
    bare = re.sub(r"\{[^{}]*\}", "", text)
    bare = re.sub(r"therabak(-tui)?( (restore|list|auto|preview|backup|status)\b)?", "", bare)
    if text in ALLOWED or NOT_LANGUAGE.match(text) or not WORDS.search(bare):
        return None
    return text


def _callee(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def unmarked(path: Path, *, ui: bool) -> list[str]:
    """Unmarked user-facing literals in *path* (in UI calls when *ui*; raised exceptions
    always)."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    found: list[str] = []

    def report(node: ast.AST, text: str) -> None:
        found.append(f"{path.relative_to(PACKAGE_DIR)}:{node.lineno}: {text[:70]!r}")

    def check(node: ast.AST) -> None:
        text = _text_of(node)
        if text is not None:
            report(node, text)

    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            call = node.exc
            name = _callee(call)
            # a class (not a helper that builds one), and not a programming error
            if name[:1].isupper() and name not in INTERNAL_EXCEPTIONS and call.args:
                check(call.args[0])
            for kw in call.keywords:
                if kw.arg in ("hint", "message"):
                    check(kw.value)
        if not ui or not isinstance(node, ast.Call):
            continue
        name = _callee(node)
        if name in MARKERS:
            continue
        if name == BINDING and len(node.args) >= 3:
            check(node.args[2])
        if name in SHOWN_FIRST_ARG:
            for arg in node.args[:1]:
                if name == "Text" and isinstance(arg, ast.Call):
                    continue
                check(arg)
            if name == "Text" or name == "assemble":
                pass
        if name == "assemble":
            for arg in node.args:
                check(arg)
        for kw in node.keywords:
            if kw.arg in SHOWN_KEYWORDS:
                check(kw.value)
    return found


def _ui_modules() -> list[Path]:
    return sorted((PACKAGE_DIR / "app").rglob("*.py")) + sorted((PACKAGE_DIR / "cli").rglob("*.py"))


def test_the_scan_finds_unmarked_text(tmp_path):
    """The scan itself: a user-facing literal in each kind of place is reported."""
    sample = PACKAGE_DIR / "cli" / "_scan_sample.py"
    sample.write_text(
        "from textual.binding import Binding\n"
        "from therabak.errors import UsageError\n"
        "from therabak.i18n import _\n"
        "B = [Binding('b', 'backup', 'Start the backup')]\n"
        "def f(out, name):\n"
        "    out.text(f'Backup written to {name}')\n"
        "    out.text(_('Backup written to {name}').format(name=name))\n"
        "    out.text('  ' + _('fine'))\n"
        "    p.add_argument('--x', help='does a thing')\n"
        "    raise UsageError('Nothing to do here.')\n",
        "utf-8",
    )
    try:
        report = unmarked(sample, ui=True)
    finally:
        sample.unlink()
    assert [line.split(": ", 1)[1] for line in report] == [
        "'Start the backup'",
        "'Backup written to {}'",
        "'does a thing'",
        "'Nothing to do here.'",
    ] or sorted(r.split(": ", 1)[1] for r in report) == sorted(
        ["'Start the backup'", "'Backup written to {}'", "'does a thing'", "'Nothing to do here.'"]
    )


def test_ui_and_cli_texts_are_marked():
    offenders = []
    for path in _ui_modules():
        offenders += unmarked(path, ui=True)
    assert offenders == []


def test_raised_messages_are_marked_everywhere():
    offenders = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        offenders += unmarked(path, ui=False)
    assert offenders == []


def test_no_function_shadows_the_translation_function():
    """``for _ in ...`` or ``x, _ = ...`` in a function that also calls ``_()`` makes
    ``_`` a local there: the call fails at run time (UnboundLocalError), on the rare
    error path that shows the message. So the name ``_`` is never bound."""
    bound = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store):
                bound.append(f"{path.relative_to(PACKAGE_DIR)}:{node.lineno}")
    assert bound == []
