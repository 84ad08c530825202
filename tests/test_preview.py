"""``therabak preview``: its totals must equal a plain walk of the folder."""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from conftest import IS_WINDOWS, Practice, run_cli, walk_files
from therabak.practice.categories import BackupKind, Rules
from therabak.practice.preview import build_preview


def oracle(data_dir: Path, rules: Rules) -> dict[str, list[int]]:
    """leaf id -> [files, bytes], by os.walk + Rules.category_of (no scanner involved)."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for rel, path in walk_files(data_dir):
        if rules.is_ignored(tuple(rel.split("/"))):
            continue
        t = totals[rules.category_of(rel)]
        t[0] += 1
        t[1] += path.stat().st_size
    return totals


def preview_json(data_dir: Path, *args: str) -> dict:
    proc = run_cli("preview", "--data-dir", data_dir, "--json", *args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return json.loads(proc.stdout)


def check_against_walk(doc: dict, data_dir: Path, rules: Rules, selection: set[str]) -> None:
    expected = oracle(data_dir, rules)
    rows = {row["id"]: row for row in doc["categories"]}
    assert list(rows) == [node.id for _, node in rules.walk()]
    for node_id, row in rows.items():
        leaves = rules.leaves_under(node_id)
        files = sum(expected[leaf][0] for leaf in leaves)
        size = sum(expected[leaf][1] for leaf in leaves)
        assert (row["files"], row["bytes"]) == (files, size), node_id
        n = sum(leaf in selection for leaf in leaves)
        assert row["included"] == ("all" if n == len(leaves) else "none" if n == 0 else "some")
    assert doc["total"] == {
        "files": sum(t[0] for t in expected.values()),
        "bytes": sum(t[1] for t in expected.values()),
    }
    assert doc["selected"] == {
        "files": sum(expected[leaf][0] for leaf in selection),
        "bytes": sum(expected[leaf][1] for leaf in selection),
        "categories": sorted(selection),
    }


MANUAL_DEFAULT = {"profiles", "sessions", "therapists", "finances", "audio", "documents", "other"}
AUTO_DEFAULT = {"profiles", "sessions", "therapists", "finances"}


@pytest.mark.parametrize(
    ("kind", "selection"), [("manual", MANUAL_DEFAULT), ("auto", AUTO_DEFAULT)]
)
def test_preview_totals_equal_a_direct_walk(
    demo_practice: Practice, kind: str, selection: set[str]
) -> None:
    rules = Rules.load()
    doc = preview_json(demo_practice.data_dir, "--kind", kind)
    assert doc["kind"] == kind
    assert Path(doc["data_dir"]) == demo_practice.data_dir
    assert doc["skipped"] == []
    check_against_walk(doc, demo_practice.data_dir, rules, selection)
    assert 0 < doc["selected"]["files"] < doc["total"]["files"]


def test_default_kind_is_manual(demo_practice: Practice) -> None:
    assert preview_json(demo_practice.data_dir)["kind"] == "manual"


def test_leaf_defaults_and_reasons_in_json(demo_practice: Practice) -> None:
    rows = {
        r["id"]: r for r in preview_json(demo_practice.data_dir, "--kind", "auto")["categories"]
    }
    assert rows["audio"]["default"] is False and "Automatic backups" in rows["audio"]["reason"]
    assert rows["sessions"]["default"] is True and rows["sessions"]["reason"] == ""
    assert rows["icd10"]["reason"] == "Re-downloaded automatically when missing."
    assert rows["export-templates"]["default"] is None and not rows["export-templates"]["leaf"]


def test_include_and_exclude_change_the_selection(demo_practice: Practice) -> None:
    rules = Rules.load()
    selection = (MANUAL_DEFAULT - {"audio"}) | set(rules.leaves_under("export-templates"))
    doc = preview_json(
        demo_practice.data_dir, "--include", "export-templates", "--exclude", "audio"
    )
    check_against_walk(doc, demo_practice.data_dir, rules, selection)
    rows = {r["id"]: r for r in doc["categories"]}
    assert rows["export-templates"]["included"] == "all"
    assert rows["files"]["included"] == "some"
    assert rows["settings"]["included"] == "some"

    doc = preview_json(demo_practice.data_dir, "--kind", "auto", "--include", "icd10,backgrounds")
    check_against_walk(doc, demo_practice.data_dir, rules, AUTO_DEFAULT | {"icd10", "backgrounds"})


def test_user_rules_change_the_preview(practice: Practice, tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text('[[node]]\nid = "icd10"\nmanual = true\n', "utf-8")
    proc = run_cli(
        "preview",
        "--data-dir",
        practice.data_dir,
        "--json",
        env={"THERABAK_RULES": str(rules_file)},
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert "icd10" in doc["selected"]["categories"]
    check_against_walk(doc, practice.data_dir, Rules.load(rules_file), MANUAL_DEFAULT | {"icd10"})


def test_data_dir_from_environment(demo_practice: Practice) -> None:
    proc = run_cli("preview", "--json", env={"THERABAK_DATA_DIR": str(demo_practice.data_dir)})
    assert proc.returncode == 0, proc.stderr
    assert Path(json.loads(proc.stdout)["data_dir"]) == demo_practice.data_dir


def test_preview_matches_build_preview_in_process(demo_practice: Practice) -> None:
    rules = Rules.load()
    direct = build_preview(demo_practice.data_dir, rules, BackupKind.AUTOMATIC, "audio", None)
    assert preview_json(
        demo_practice.data_dir, "--kind", "auto", "--include", "audio"
    ) == json.loads(json.dumps(direct.to_dict()))


# ---- symlinks and odd entries ---------------------------------------------------------


def make_symlink(link: Path, target: Path, *, directory: bool = False) -> None:
    try:
        link.symlink_to(target, target_is_directory=directory)
    except (OSError, NotImplementedError) as e:  # Windows without the privilege
        pytest.skip(f"cannot create symlinks here: {e}")


def test_symlinks_are_skipped_and_reported_never_followed(
    practice: Practice, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "secret.txt").write_bytes(b"s" * 1000)
    (outside / "deep" / "more.txt").write_bytes(b"m" * 2000)
    rules = Rules.load()
    before = oracle(practice.data_dir, rules)
    make_symlink(practice.data_dir / "sessions" / "escape", outside, directory=True)
    make_symlink(practice.data_dir / "linked.txt", outside / "secret.txt")
    make_symlink(practice.data_dir / "dangling", tmp_path / "nothing-here")
    make_symlink(practice.data_dir / "profiles" / "loop", practice.data_dir, directory=True)

    doc = preview_json(practice.data_dir)
    skipped = {s["path"]: s["reason"] for s in doc["skipped"]}
    assert skipped == {
        "sessions/escape": "symbolic link, not followed",
        "linked.txt": "symbolic link, not followed",
        "dangling": "symbolic link, not followed",
        "profiles/loop": "symbolic link, not followed",
    }
    # nothing behind a link was counted: the totals are those of the folder without links
    check_against_walk(doc, practice.data_dir, rules, MANUAL_DEFAULT)
    assert oracle(practice.data_dir, rules) == before

    text = run_cli("preview", "--data-dir", practice.data_dir)
    assert text.returncode == 0
    assert "Skipped: sessions/escape (symbolic link, not followed)" in text.stdout


@pytest.mark.skipif(IS_WINDOWS or not hasattr(os, "mkfifo"), reason="POSIX fifo")
def test_fifo_is_skipped_not_read(practice: Practice) -> None:
    os.mkfifo(practice.data_dir / "documents" / "pipe")
    doc = preview_json(practice.data_dir)  # would hang if the fifo were opened
    assert {"path": "documents/pipe", "reason": "not a file"} in doc["skipped"]


def test_names_the_console_cannot_encode_do_not_crash(practice: Practice, tmp_path: Path) -> None:
    make_symlink(practice.data_dir / "Verknüpfung zu Müller", tmp_path)
    for encoding in ("ascii", "utf-8"):
        proc = run_cli(
            "preview", "--data-dir", practice.data_dir, env={"PYTHONIOENCODING": encoding}
        )
        assert proc.returncode == 0, proc.stderr
        assert "Verkn" in proc.stdout and "zu M" in proc.stdout
    proc = run_cli(
        "preview", "--data-dir", practice.data_dir, "--json", env={"PYTHONIOENCODING": "ascii"}
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["skipped"][0]["path"] == "Verknüpfung zu Müller"


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="file names must be Unicode there")
def test_file_name_that_is_not_utf8(practice: Practice) -> None:
    bad = os.fsencode(practice.data_dir) + b"/notiz-\xff.txt"
    with open(bad, "wb") as f:
        f.write(b"12345")
    doc = preview_json(practice.data_dir)
    rows = {r["id"]: r for r in doc["categories"]}
    assert rows["other"]["files"] == oracle(practice.data_dir, Rules.load())["other"][0]


# ---- text output ----------------------------------------------------------------------


def test_text_output_shows_why_categories_are_excluded(demo_practice: Practice) -> None:
    proc = run_cli("preview", "--data-dir", demo_practice.data_dir, "--exclude", "audio")
    assert proc.returncode == 0, proc.stderr
    lines = {line.strip().split("  ")[0]: line for line in proc.stdout.splitlines()}
    assert "not included: Re-downloaded automatically" in lines["[ ] Background images"]
    assert "not included: Re-downloaded automatically" in lines["[ ] ICD-10 catalog"]
    assert "not included: Export templates are not part" in lines["[ ] Invoices"]
    assert "not included: Session templates" in lines["[ ] Session templates"]
    assert "not included: Autocomplete data" in lines["[ ] Autocomplete data"]
    assert "not included: excluded on the command line" in lines["[ ] Audio recordings"]
    assert "not included" not in lines["[x] Sessions"]
    assert lines["[~] Files"]
    assert "A manual backup would contain" in proc.stdout


def test_text_output_summary_matches_json(demo_practice: Practice) -> None:
    auto = run_cli("preview", "--data-dir", demo_practice.data_dir, "--kind", "auto")
    assert auto.returncode == 0, auto.stderr
    doc = preview_json(demo_practice.data_dir, "--kind", "auto")
    files = doc["selected"]["files"]
    assert f"An automatic backup would contain {files} files" in auto.stdout
    assert "not included: Automatic backups contain only" in auto.stdout
