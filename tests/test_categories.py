"""The category rules of DESIGN.md section 2, checked against the shipped rules file.

The expected values here are written from the design table, not read from
rules.toml, so a wrong rules file (or a wrong matcher) fails these tests.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from conftest import walk_files
from therabak.errors import ConfigError, UsageError
from therabak.practice.categories import BackupKind, Rules
from therabak.practice.scan import scan

MANUAL, AUTO = BackupKind.MANUAL, BackupKind.AUTOMATIC

CORE = {"profiles", "sessions", "therapists", "finances"}
FILES = {"audio", "documents", "other"}
EXPORT_KINDS = ["invoices", "short-protocols", "long-protocols", "confirmations", "finance-exports"]

# (leaf id, a file in its documented folder) for every documented exclusion.
EXCLUSIONS = [
    ("session-templates", "settings/session-templates/Erstgespräch.json"),
    *[(f"export-templates.{k}", f"templates/export/{k}/Vorlage.docx") for k in EXPORT_KINDS],
    ("autocomplete", "autocomplete/phrases.json"),
    ("backgrounds", "backgrounds/see.jpg"),
    ("icd10", "icd10/icd10gm-2026.xml"),
]
# (leaf id, a file in its documented folder, in an automatic backup?) for every inclusion.
INCLUSIONS = [
    ("profiles", "profiles/K0001.json", True),
    ("sessions", "sessions/K0001/2026-01-12-01.json", True),
    ("therapists", "therapists/T01.json", True),
    ("finances", "finances/invoices/2026/R-2026-0001.json", True),
    ("audio", "audio/K0001/2026-01-12-01.opus", False),
    ("documents", "documents/K0001/Arztbrief 1.pdf", False),
    ("other", "plugins/calendar-sync.dat", False),
]


@pytest.fixture(scope="module")
def rules() -> Rules:
    return Rules.load()


def make_data(root: Path, rel_paths: list[str], size: int = 10) -> Path:
    data = root / "Data"
    for rel in rel_paths:
        path = data / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
    data.mkdir(exist_ok=True)
    return data


# ---- documented exclusions: one test each ----------------------------------------------


@pytest.mark.parametrize(("leaf", "rel"), EXCLUSIONS, ids=[leaf for leaf, _ in EXCLUSIONS])
def test_documented_exclusion(rules: Rules, tmp_path: Path, leaf: str, rel: str) -> None:
    assert rules.category_of(rel) == leaf
    assert leaf not in rules.selection(MANUAL)
    assert leaf not in rules.selection(AUTO)
    assert rules.nodes[leaf].reason, "an excluded category must say why"
    # and a real file there is counted under the leaf but never selected
    data = make_data(tmp_path, [rel, "profiles/K0001.json"])
    result = scan(data, rules)
    assert result.totals[leaf].files == 1
    assert [f.path for f in result.selected_files(rules.selection(MANUAL))] == [
        "profiles/K0001.json"
    ]


def test_downloaded_resources_say_they_are_redownloaded(rules: Rules) -> None:
    for leaf in ("backgrounds", "icd10"):
        assert "re-downloaded" in rules.nodes[leaf].reason.lower()


def test_export_templates_node_has_exactly_the_five_documented_kinds(rules: Rules) -> None:
    assert rules.leaves_under("export-templates") == [f"export-templates.{k}" for k in EXPORT_KINDS]


# ---- documented inclusions --------------------------------------------------------------


@pytest.mark.parametrize(("leaf", "rel", "auto"), INCLUSIONS, ids=[i[0] for i in INCLUSIONS])
def test_documented_inclusion(rules: Rules, leaf: str, rel: str, auto: bool) -> None:
    assert rules.category_of(rel) == leaf
    assert leaf in rules.selection(MANUAL)
    assert (leaf in rules.selection(AUTO)) is auto


def test_manual_default_is_everything_except_the_documented_exclusions(rules: Rules) -> None:
    assert rules.default_selection(MANUAL) == CORE | FILES


def test_auto_default_is_only_profiles_sessions_therapists_finances(rules: Rules) -> None:
    assert rules.default_selection(AUTO) == CORE


def test_every_documented_leaf_exists_with_its_id(rules: Rules) -> None:
    expected = CORE | FILES | {leaf for leaf, _ in EXCLUSIONS}
    assert {leaf.id for leaf in rules.leaves()} == expected


# ---- "other" and matching -----------------------------------------------------------------


@pytest.mark.parametrize(
    "rel",
    [
        "settings/preferences.json",  # in settings/, but not a session template
        "Notizen zur Einrichtung.txt",  # top level
        "plugins/a/b/c/d/deep.bin",  # any depth
        "templates/readme.txt",  # templates/, but not templates/export/<kind>/
        "templates/export/letters/x.docx",  # an export kind nobody documented
        "templates/export/invoices",  # a FILE named like a rule folder
        "profilesX/K0001.json",  # prefix match is per path component
        "sessions.json",
    ],
)
def test_other_catches_unknown_files_at_any_depth(rules: Rules, rel: str) -> None:
    assert rules.category_of(rel) == "other"


def test_unknown_files_are_counted_and_backed_up(rules: Rules, tmp_path: Path) -> None:
    rels = ["settings/preferences.json", "a/b/c/d/e.bin", "x.txt", "settings/session-templates/t"]
    result = scan(make_data(tmp_path, rels, size=7), rules)
    assert (result.totals["other"].files, result.totals["other"].bytes) == (3, 21)
    assert {f.path for f in result.selected_files(rules.selection(MANUAL))} == set(rels[:3])


@pytest.mark.parametrize(
    ("rel", "leaf"),
    [
        ("AUDIO/K0001/a.opus", "audio"),
        ("Profiles/K0001.json", "profiles"),
        ("Templates/Export/Invoices/Rechnung.docx", "export-templates.invoices"),
        ("SETTINGS/Session-Templates/x.json", "session-templates"),
        ("Icd10/catalog.xml", "icd10"),
        ("settings\\session-templates\\x.json", "session-templates"),  # Windows separators
    ],
)
def test_matching_is_case_insensitive(rules: Rules, rel: str, leaf: str) -> None:
    assert rules.category_of(rel) == leaf


def test_scan_matches_case_insensitively_on_disk(rules: Rules, tmp_path: Path) -> None:
    data = make_data(tmp_path, ["BackGrounds/a.jpg", "Templates/EXPORT/confirmations/b.docx"])
    result = scan(data, rules)
    assert result.totals["backgrounds"].files == 1
    assert result.totals["export-templates.confirmations"].files == 1
    assert result.totals["other"].files == 0


def test_lock_file_of_the_app_is_ignored(rules: Rules, tmp_path: Path) -> None:
    data = make_data(tmp_path, [".lock", "profiles/K0001.json"])
    result = scan(data, rules)
    assert result.total.files == 1
    assert [f.path for f in result.files] == ["profiles/K0001.json"]


def test_lock_file_is_ignored_case_insensitively_only_at_top_level(
    rules: Rules, tmp_path: Path
) -> None:
    data = make_data(tmp_path, [".LOCK", "plugins/.lock"])
    result = scan(data, rules)
    assert [(f.path, f.category) for f in result.files] == [("plugins/.lock", "other")]


# ---- selection -------------------------------------------------------------------------


def test_include_parent_expands_to_all_its_leaves(rules: Rules) -> None:
    chosen = rules.selection(MANUAL, include=["export-templates"])
    assert chosen == CORE | FILES | {f"export-templates.{k}" for k in EXPORT_KINDS}


def test_exclude_parent_after_include_removes_all_its_leaves(rules: Rules) -> None:
    chosen = rules.selection(MANUAL, include="export-templates,icd10", exclude="export-templates")
    assert chosen == CORE | FILES | {"icd10"}


def test_exclude_one_leaf_of_an_included_parent(rules: Rules) -> None:
    chosen = rules.selection(
        AUTO, include=["export-templates"], exclude=["export-templates.invoices", "records"]
    )
    assert chosen == {f"export-templates.{k}" for k in EXPORT_KINDS[1:]}


def test_ids_may_be_comma_separated_and_repeated(rules: Rules) -> None:
    assert rules.selection(AUTO, include=["audio, documents", "icd10"]) == CORE | {
        "audio",
        "documents",
        "icd10",
    }


@pytest.mark.parametrize("where", ["include", "exclude"])
def test_unknown_id_is_a_usage_error(rules: Rules, where: str) -> None:
    with pytest.raises(UsageError, match="Unknown category id.*no-such-thing"):
        rules.selection(MANUAL, **{where: ["audio,no-such-thing"]})


# ---- user rules ------------------------------------------------------------------------


def write_rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "user-rules.toml"
    path.write_text(text, "utf-8")
    return path


def test_user_rules_override_a_node_by_id(rules: Rules, tmp_path: Path) -> None:
    user = Rules.load(write_rules(tmp_path, '[[node]]\nid = "icd10"\nmanual = true\n'))
    assert "icd10" in user.selection(MANUAL)
    assert "icd10" not in user.selection(AUTO)
    # the fields the user did not give are kept
    assert user.nodes["icd10"].label == rules.nodes["icd10"].label
    assert user.category_of("icd10/catalog.xml") == "icd10"
    assert user.default_selection(MANUAL) == rules.default_selection(MANUAL) | {"icd10"}


def test_user_rules_add_a_node(tmp_path: Path) -> None:
    text = (
        '[[node]]\nid = "calendar"\nparent = "files"\nlabel = "Calendar sync"\n'
        'paths = ["plugins/calendar"]\nmanual = true\nauto = true\n'
    )
    user = Rules.load(write_rules(tmp_path, text))
    assert user.category_of("plugins/calendar/sync.dat") == "calendar"
    assert user.category_of("plugins/other.dat") == "other"
    assert user.leaves_under("files")[-1] == "calendar"
    assert "calendar" in user.selection(AUTO)
    data = make_data(tmp_path, ["plugins/calendar/a", "plugins/calendar/b", "plugins/c"])
    result = scan(data, user)
    assert (result.totals["calendar"].files, result.totals["other"].files) == (2, 1)


def test_user_rules_may_replace_the_ignore_list(tmp_path: Path) -> None:
    user = Rules.load(write_rules(tmp_path, 'ignore = [".lock", "Thumbs.db"]\n'))
    result = scan(make_data(tmp_path, [".lock", "thumbs.db", "x"]), user)
    assert [f.path for f in result.files] == ["x"]


def test_broken_toml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = write_rules(tmp_path, "[[node]\nid = icd10\n")
    with pytest.raises(ConfigError) as info:
        Rules.load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('[[node]]\nid = "icd10"\nmanual = "yes"\n', "manual must be true or false"),
        ('[[node]]\nid = "icd10"\ncolour = "red"\n', "unknown key"),
        ('[[node]]\nid = "x"\nparent = "nope"\nmanual = true\nauto = true\n', "unknown parent"),
        ('[[node]]\nlabel = "no id"\n', "needs an id"),
        ("node = 5\n", "array of tables"),
        ('[[node]]\nid = "icd10"\ncatch_all = true\n', "exactly one leaf"),
        ('[[node]]\nid = "x"\nparent = "files"\nmanual = true\n', "needs manual and auto"),
        (
            '[[node]]\nid = "x"\nparent = "files"\npaths = ["Audio"]\nmanual = true\nauto = true\n',
            "belongs to both",
        ),
        ('[[node]]\nid = "icd10"\npaths = "icd10"\n', "paths must be a list"),
        ("ignore = [1]\n", "ignore must be a list"),
        ('[[node]]\nid = "y"\nparent = "icd10"\nmanual = true\nauto = true\n', "has children"),
    ],
)
def test_bad_schema_is_a_config_error_naming_the_file(tmp_path: Path, text: str, why: str) -> None:
    path = write_rules(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        Rules.load(path)
    assert str(path) in str(info.value)
    assert why in str(info.value)


def test_unreadable_rules_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="cannot be read") as info:
        Rules.load(missing)
    assert str(missing) in str(info.value)
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes("# Müller\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        Rules.load(latin1)


# ---- the demo practice: every file in exactly one leaf --------------------------------

# The design table, independently of rules.toml: top folder(s) -> leaf.
DESIGN_TABLE = {
    ("profiles",): "profiles",
    ("sessions",): "sessions",
    ("therapists",): "therapists",
    ("finances",): "finances",
    ("audio",): "audio",
    ("documents",): "documents",
    ("settings", "session-templates"): "session-templates",
    **{("templates", "export", k): f"export-templates.{k}" for k in EXPORT_KINDS},
    ("autocomplete",): "autocomplete",
    ("backgrounds",): "backgrounds",
    ("icd10",): "icd10",
}


def design_category(rel: str) -> str:
    parts = tuple(p.casefold() for p in rel.split("/")[:-1])
    hits = [leaf for prefix, leaf in DESIGN_TABLE.items() if parts[: len(prefix)] == prefix]
    assert len(hits) <= 1, f"{rel} matches {hits}"
    return hits[0] if hits else "other"


def test_every_demo_file_belongs_to_exactly_one_leaf(rules: Rules, demo_practice) -> None:
    leaves = {leaf.id for leaf in rules.leaves()}
    seen: Counter[str] = Counter()
    for rel, _ in walk_files(demo_practice.data_dir):
        category = rules.category_of(rel)
        assert category in leaves
        assert category == design_category(rel), rel
        seen[category] += 1
    result = scan(demo_practice.data_dir, rules)
    assert {leaf: t.files for leaf, t in result.totals.items() if t.files} == dict(seen)
    assert sorted(f.path for f in result.files) == sorted(r for r, _ in walk_files(result.root))
    assert set(seen) == leaves, "the demo should exercise every leaf"
