"""Keep the gettext catalogs in step with the code.

    python scripts/i18n.py update        # msgids -> locale/therabak.pot, merged into every .po
    python scripts/i18n.py todo [LANG]   # list the msgids that still lack a translation, numbered
    python scripts/i18n.py fill FILE [LANG]
                                         # set translations from FILE: "N|text" per line
                                         # ("N|singular||plural" for counted phrases;
                                         # numbers as printed by todo; \\n for a line break)
    python scripts/i18n.py change FILE [LANG]
                                         # replace translations: "msgid => text" per line

The msgids are found by reading the code (no import): every string literal passed to
``_()``, ``N_()`` or ``ngettext()`` in ``tui/therabak``, plus the ``label`` and ``reason``
of every node of the shipped ``rules.toml`` (shown through ``_()`` where the tree is
drawn). tests/test_i18n.py uses :func:`extract` to fail when a msgid lacks a translation.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tui" / "therabak"
LOCALE = PACKAGE / "locale"
TEMPLATE = LOCALE / "therabak.pot"
RULES = PACKAGE / "practice" / "rules.toml"
LANGUAGES = ("de",)
KEYWORDS = {"_": 1, "N_": 1, "ngettext": 2, "pgettext": 2, "NP_": 2}
PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)(?:![rsa])?(?::[^{}]*)?\}(?!\})")


@dataclass
class Msg:
    msgid: str
    plural: str | None = None
    locations: list[tuple[str, int]] = field(default_factory=list)
    context: str | None = None


def placeholders(text: str) -> set[str]:
    """The ``{name}`` fields of a message (str.format style)."""
    return set(PLACEHOLDER.findall(text))


def extract(package: Path = PACKAGE) -> dict[tuple[str | None, str], Msg]:
    """Every msgid of the code and the rules file, in order of first appearance, keyed by
    (context, msgid)."""
    found: dict[tuple[str | None, str], Msg] = {}

    def add(
        msgid: str, plural: str | None, where: str, line: int, context: str | None = None
    ) -> None:
        msg = found.setdefault((context, msgid), Msg(msgid, plural, context=context))
        if plural and not msg.plural:
            msg.plural = plural
        msg.locations.append((where, line))

    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            n = KEYWORDS.get(node.func.id)
            if n is None or len(node.args) < n:
                continue
            args = node.args[:n]
            if not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args):
                continue  # a variable: its values are marked where they are defined
            values = [a.value for a in args]  # type: ignore[attr-defined]
            if node.func.id in ("pgettext", "NP_"):
                add(values[1], None, rel, node.lineno, context=values[0])
            else:
                add(values[0], values[1] if n == 2 else None, rel, node.lineno)
    rules = tomllib.loads(RULES.read_text("utf-8"))
    rel = RULES.relative_to(ROOT).as_posix()
    for node in rules.get("node", []):
        for key in ("label", "reason"):
            if node.get(key):
                add(node[key], None, rel, 0)
    return found


def _catalog(found: dict[tuple[str | None, str], Msg], locale: str | None = None):
    from babel.messages.catalog import Catalog

    catalog = Catalog(
        locale=locale,
        domain="therabak",
        project="therabak",
        version="0.1.0",
        copyright_holder="therabak",
        msgid_bugs_address="",
        charset="utf-8",
    )
    for msg in found.values():
        key = (msg.msgid, msg.plural) if msg.plural else msg.msgid
        flags = ("python-brace-format",) if placeholders(msg.msgid) else ()
        catalog.add(
            key,
            locations=[(p, n) for p, n in msg.locations[:3]],
            flags=flags,
            context=msg.context,
        )
    return catalog


def po_path(lang: str) -> Path:
    return LOCALE / lang / "LC_MESSAGES" / "therabak.po"


def read(lang: str):
    from babel.messages.pofile import read_po

    with open(po_path(lang), "rb") as f:
        return read_po(f, locale=lang)


def write(catalog, path: Path) -> None:
    from babel.messages.pofile import write_po

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        write_po(f, catalog, width=90, ignore_obsolete=True, include_previous=False)


def update() -> None:
    found = extract()
    template = _catalog(found)
    write(template, TEMPLATE)
    for lang in LANGUAGES:
        path = po_path(lang)
        if path.exists():
            catalog = read(lang)
            catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
        else:
            catalog = _catalog(found, lang)
        write(catalog, path)
    print(f"{len(found)} msgids; template {TEMPLATE.relative_to(ROOT)}")


def untranslated(lang: str) -> list:
    out = []
    for message in read(lang):
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            out.append(message)
    return out


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), text)


def todo(lang: str = "de") -> None:
    for i, message in enumerate(untranslated(lang), 1):
        if isinstance(message.id, tuple):
            print(f"{i}|{_escape(message.id[0])}||{_escape(message.id[1])}")
        else:
            print(f"{i}|{_escape(message.id)}")


def fill(source: Path, lang: str = "de") -> None:
    catalog = read(lang)
    todo_list = untranslated(lang)
    done = 0
    for line in source.read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        number, rest = line.split("|", 1)
        texts = rest.split("||")
        wanted = todo_list[int(number) - 1]
        message = catalog.get(wanted.id, context=wanted.context)
        if isinstance(message.id, tuple):
            if len(texts) != 2:
                raise SystemExit(f"line {number}: a counted phrase needs two forms")
            message.string = tuple(_unescape(t) for t in texts)
        else:
            message.string = _unescape(texts[0])
        message.flags.discard("fuzzy")
        done += 1
    write(catalog, po_path(lang))
    print(f"{done} translations set; {len(untranslated(lang))} left")


def change(source: Path, lang: str = "de") -> None:
    """Replace translations: "msgid => text" per line (plural: "text||text")."""
    catalog = read(lang)
    for line in source.read_text("utf-8").splitlines():
        if " => " not in line:
            continue
        msgid, text = (_unescape(part) for part in line.split(" => ", 1))
        message = catalog.get(msgid) or next(
            (m for m in catalog if isinstance(m.id, tuple) and m.id[0] == msgid), None
        )
        if message is None:
            raise SystemExit(f"no such msgid: {msgid!r}")
        forms = text.split("||")
        message.string = tuple(forms) if isinstance(message.id, tuple) else forms[0]
    write(catalog, po_path(lang))


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("update", "todo", "fill", "change"):
        print(__doc__)
        return 2
    if argv[0] == "update":
        update()
    elif argv[0] == "todo":
        todo(*argv[1:2])
    elif argv[0] == "fill":
        fill(Path(argv[1]), *argv[2:3])
    else:
        change(Path(argv[1]), *argv[2:3])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
