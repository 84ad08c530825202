"""The emergency sheet: one A4 PDF page, read back with real PDF libraries.

pypdf extracts its text (the destinations are there; the recovery code only when
chosen); pypdfium2 renders the page to pixels and zxing-cpp decodes the QR code from
them (a real print path: if the QR code were drawn wrong, or too small to scan, or
without its quiet zone, the decoder would not find it)."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pypdf
import pypdfium2
import pytest
import zxingcpp

from archive_support import json_lines
from cli_support import PASSWORD, backup, single_line
from conftest import IS_WINDOWS, Practice, run_cli
from therabak.crypto.recovery import RecoveryCode
from therabak.emergency.facts import PlaceFacts, SheetFacts, shown_place
from therabak.emergency.sheet import MAX_PLACES, render_sheet
from therabak.errors import ExitCode
from therabak.settings import Settings

A4_POINTS = (595.28, 841.89)


def pdf_text(path_or_bytes) -> str:
    import io

    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx(A4_POINTS, abs=0.5)
    return reader.pages[0].extract_text()


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def squeezed(text: str) -> str:
    """Without any white space: a long path may be wrapped anywhere on the page."""
    return re.sub(r"\s+", "", text)


def qr_codes(path: Path) -> list[str]:
    page = pypdfium2.PdfDocument(str(path))[0]
    image = page.render(scale=200 / 72).to_pil().convert("L")  # 200 dpi, as a printer
    return [b.text for b in zxingcpp.read_barcodes(image)]


@pytest.fixture
def places(practice: Practice, tmp_path: Path) -> dict[str, Path]:
    """Two manual backups (one with a recovery code) in remembered destinations, and the
    code."""
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    code = RecoveryCode.generate()
    stick = tmp_path / "USB-Stick Praxis Müller"
    r = backup(
        practice, stick, "--password-file", pw, "--recovery-code-env", "RC",
        env={"RC": code.display()},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    other = tmp_path / "Datensicherung NAS"
    assert backup(practice, other, "--password-file", pw).returncode == 0
    gone = tmp_path / "Stick not plugged in"
    settings = Settings.load()
    settings.remember_destination(gone)
    settings.save()
    return {"stick": stick, "other": other, "gone": gone, "code": code}  # type: ignore[dict-item]


def sheet(practice: Practice, out: Path, *args, env=None, input=None):
    return run_cli(
        "emergency-sheet", "--out", out, "--no-media", "--data-dir", practice.data_dir,
        "--account-key", practice.key_path, *args, env=env, input=input,
    )  # fmt: skip


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_sheet_lists_the_destinations_and_no_code_unless_asked(
    practice, places, tmp_path, lang
):
    out = tmp_path / "sheets"
    out.mkdir()
    r = sheet(practice, out, "--lang", lang)
    assert r.returncode == 0, r.stderr
    [pdf] = out.glob("*.pdf")
    assert pdf.name.startswith("Notfallblatt-" if lang == "de" else "Emergency-sheet-")
    assert list(out.glob("*.partial")) == []
    if not IS_WINDOWS:
        assert stat.S_IMODE(pdf.stat().st_mode) == 0o600
    text = flat(pdf_text(pdf))
    for place in ("stick", "other", "gone"):
        assert squeezed(str(places[place])) in squeezed(text), (place, text)
    code = places["code"]
    assert not any(g in text for g in code.groups())
    assert qr_codes(pdf) == []
    if lang == "de":
        assert "Notfallblatt" in text and "Wiederherstellen auf einem neuen Computer" in text
        assert "1 manuelles Backup" in text and "nicht erreichbar" in text
        assert "Drücken Sie r" in text  # umlauts are real text, not boxes
    else:
        assert "Emergency sheet" in text and "Restoring on a new computer" in text
        assert "1 manual backup" in text and "cannot be reached now" in text
        assert "Press r" in text


@pytest.mark.parametrize("lang", ["de", "en"])
def test_with_include_code_the_code_and_its_qr_code_are_on_the_sheet(
    practice, places, tmp_path, lang
):
    code = places["code"]
    out = tmp_path / "blatt.pdf"
    r = sheet(
        practice, out, "--lang", lang, "--include-code", "--recovery-code-stdin", "--json",
        input=code.display().lower() + "\n",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    [summary] = [e for e in json_lines(r.stdout) if e["event"] == "summary"]
    assert summary["sheet"] == str(out) and summary["includes_code"] is True
    assert summary["code_opens"] == 1 and summary["language"] == lang
    assert code.compact() not in r.stdout + r.stderr
    assert not any(g in r.stdout + r.stderr for g in code.groups())
    text = flat(pdf_text(out))
    groups = code.groups()
    assert "-".join(groups[:4]) in text and "-".join(groups[4:]) in text
    warning = (
        "Wer dieses Blatt hat, kann die Backups lesen"
        if lang == "de"
        else "Whoever holds this sheet can read the backups"
    )
    assert warning in text
    assert qr_codes(out) == [code.display()]


def test_a_code_that_opens_none_of_the_backups_is_a_warning(practice, places, tmp_path):
    stranger = RecoveryCode.generate()
    r = sheet(
        practice, tmp_path / "s.pdf", "--include-code", "--recovery-code-env", "RC",
        env={"RC": stranger.display()},
    )  # fmt: skip
    assert r.returncode == ExitCode.WARNINGS, r.stderr
    assert "opens none of the backups" in r.stdout
    assert "opens none of the backups found now" in flat(pdf_text(tmp_path / "s.pdf"))


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["--include-code"], {}, "needs the recovery code"),
        (["--recovery-code-env", "RC"], {"RC": "x"}, "--include-code was not"),
        (["--include-code", "--recovery-code-env", "RC"], {"RC": "ABCD-" * 8}, "typo"),
    ],
)
def test_usage_errors_write_nothing(practice, tmp_path, args, env, message):
    r = sheet(practice, tmp_path / "s.pdf", *args, env=env)
    assert r.returncode == ExitCode.USAGE
    assert message in single_line(r.stderr)
    assert not (tmp_path / "s.pdf").exists()


def test_an_out_folder_that_does_not_exist_is_refused(practice, tmp_path):
    r = sheet(practice, tmp_path / "nowhere" / "s.pdf")
    assert r.returncode == ExitCode.USAGE and "No such folder" in single_line(r.stderr)


def test_many_places_still_fit_one_page_and_fonts_are_embedded(tmp_path):
    from datetime import datetime

    now = datetime(2026, 11, 27, 14, 5).astimezone()
    facts = SheetFacts(
        made=now,
        places=[
            PlaceFacts(
                f"E:\\Praxis\\Datensicherungen\\Jahr {2020 + i}\\ein ziemlich langer Ordnername "
                f"für die Backups Nummer {i}",
                "remembered",
                True,
                manual=3,
                with_code=1,
                newest=now,
            )
            for i in range(MAX_PLACES + 4)
        ],
        code_opens=2,
    )
    data = render_sheet(facts, lang="de", code=RecoveryCode.generate())
    text = flat(pdf_text(data))
    shown = int(re.search(r"… und (\d+) weitere Orte", text).group(1))
    assert 4 <= shown < len(facts.places)  # as many as fit, the rest summed up
    assert "Nummer 0" in text and f"Nummer {len(facts.places) - 1}" not in text
    assert b"/FontFile2" in data and b"DejaVuSans" in data  # TrueType, embedded (subset)
    facts.places = []
    assert "Noch kein Backup" in flat(pdf_text(render_sheet(facts, lang="de")))


@pytest.mark.parametrize(
    "place, shown",
    [
        ("E:\\Backups", "E:\\Backups"),
        ("/media/praxis/STICK", "/media/praxis/STICK"),
        ("sftp://praxis:geheim123@nas.local/backups", "sftp://praxis@nas.local/backups"),
        ("webdavs://u:p@cloud.example:8443/dav/x", "webdavs://u@cloud.example:8443/dav/x"),
        ("s3://bucket/prefix", "s3://bucket/prefix"),
    ],
)
def test_a_place_never_shows_a_password(place, shown):
    assert shown_place(place) == shown


def test_the_sheet_language_follows_the_settings_under_json(practice, places, tmp_path):
    settings = Settings.load()
    settings.language = "de"
    settings.save()
    r = sheet(practice, tmp_path / "s.pdf", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["language"] == "de"
    assert "Notfallblatt" in pdf_text(tmp_path / "s.pdf")


def test_the_backups_in_a_store_are_counted_and_the_code_checked_against_the_store(
    practice, tmp_path
):
    """Each backup in a store counts as one under its place (the store's folder or the
    destination holding it), and a code that opens the store opens all of them."""
    from store_read_support import make_store_points

    code = RecoveryCode.generate()
    points = make_store_points(practice, tmp_path / "Stick", count=2, code=code)
    with_code = ["--include-code", "--recovery-code-env", "RC"]
    r = sheet(
        practice,
        tmp_path / "s.pdf",
        "--in",
        points.dest,
        *with_code,
        "--json",
        env={"RC": code.display()},
    )
    assert r.returncode == 0, r.stderr
    [summary] = [e for e in json_lines(r.stdout) if e["event"] == "summary"]
    assert summary["code_opens"] == 2
    assert "2 manual backups" in flat(pdf_text(tmp_path / "s.pdf"))
    other = RecoveryCode.generate().display()
    r = sheet(practice, tmp_path / "t.pdf", "--in", points.root, *with_code, env={"RC": other})
    assert r.returncode == ExitCode.WARNINGS, r.stderr  # another code opens none of them
    assert "2 manual backups" in flat(pdf_text(tmp_path / "t.pdf"))
