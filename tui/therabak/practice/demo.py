"""A realistic, deterministic demo practice: ``therabak demo DIR``.

Creates ``DIR/Data`` and ``DIR/account.key``. The same seed and options give
byte-identical files (salts and the demo key derive from the seed), so tests and
screenshots are stable. Everything is sealed with the demo account key except the
resources the app downloads (background images, ICD-10 catalog), exactly as the
practice app keeps them, and one deliberate plain note at the top of ``Data``
(:data:`PLAIN_NOTE`, "Other data"): a file a user dropped in, so that a default
backup always meets a plain file too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from therabak.errors import DataFolderError, UsageError
from therabak.i18n import _
from therabak.practice.account import AccountKey
from therabak.practice.envelope import EnvelopeHeader, EnvelopeWriter

FIRST = [
    "Anna",
    "Lukas",
    "Sophie",
    "Jonas",
    "Marie",
    "Felix",
    "Lena",
    "Paul",
    "Emma",
    "Leon",
    "Mia",
    "Elias",
    "Hannah",
    "Noah",
    "Lea",
    "Ben",
    "Clara",
    "Jakob",
    "Ida",
    "Moritz",
    "Greta",
    "Emil",
    "Johanna",
    "Theo",
    "Frieda",
    "Anton",
    "Maximilian",
    "Zoë",
    "Jürgen",
]
LAST = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Bauer",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Hartmann",
]
DIAGNOSES = ["F32.1", "F33.0", "F41.1", "F43.1", "F40.1", "F42.0", "F50.2", "F60.3", "F45.4"]
PHRASES = [
    "Klient berichtet über verbesserte Schlafqualität.",
    "Belastende Situation am Arbeitsplatz wurde besprochen.",
    "Hausaufgabe: Gedankenprotokoll weiterführen.",
    "Stimmung ausgeglichener als in der letzten Sitzung.",
    "Expositionsübung wurde gut toleriert.",
    "Ressourcenaktivierung: Spaziergänge, Kontakt zu Freunden.",
    "Rückfallprophylaxe und Frühwarnzeichen erarbeitet.",
]
PLAIN_NOTE = "Notizen zur Einrichtung.txt"
BASE_TIME = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
DEMO_KEY_INFO = b"therabak demo account key v1"


@dataclass
class DemoSpec:
    seed: int = 7
    clients: int = 36
    sessions_per_client: int = 10
    therapists: int = 3
    audio_files: int = 18
    audio_mb: float = 36.0
    documents_per_client: int = 2

    def problem(self) -> str | None:
        """Why this spec cannot make a practice, or None."""
        for name in ("clients", "therapists"):
            if getattr(self, name) < 1:
                return _("{name} must be at least 1").format(name=name.replace("_", " "))
        for name in ("sessions_per_client", "audio_files", "documents_per_client"):
            if getattr(self, name) < 0:
                return _("{name} must not be negative").format(name=name.replace("_", " "))
        if not math.isfinite(self.audio_mb) or self.audio_mb < 0:
            return _("the audio size must be a number of MiB, 0 or more")
        return None


@dataclass
class DemoResult:
    data_dir: Path
    account_key: Path
    files: int
    bytes: int


def demo_key(seed: int) -> AccountKey:
    return AccountKey(hashlib.sha256(DEMO_KEY_INFO + str(seed).encode()).digest())


class _Writer:
    def __init__(self, data: Path, key: AccountKey, seed: int, progress: Callable | None):
        self.data, self.key, self.progress = data, key, progress
        self._salt_key = hashlib.sha256(b"demo salts" + str(seed).encode()).digest()
        self.files = 0
        self.bytes = 0

    def _path(self, rel: str) -> Path:
        path = self.data / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _finish(self, path: Path, mtime: datetime) -> None:
        ts = mtime.timestamp()
        os.utime(path, (ts, ts))
        self.files += 1
        self.bytes += path.stat().st_size
        if self.progress is not None:
            self.progress(self.files, self.bytes)

    def sealed(self, rel: str, chunks, mtime: datetime) -> None:
        salt = hmac.new(self._salt_key, rel.encode(), "sha256").digest()[:16]
        path = self._path(rel)
        with (
            path.open("wb") as f,
            EnvelopeWriter(f, self.key, EnvelopeHeader.new(self.key, salt=salt)) as w,
        ):
            if isinstance(chunks, bytes):
                w.write(chunks)
            else:
                for c in chunks:
                    w.write(c)
        self._finish(path, mtime)

    def plain(self, rel: str, data: bytes, mtime: datetime) -> None:
        path = self._path(rel)
        path.write_bytes(data)
        self._finish(path, mtime)


def noise(label: str, size: int, seed: int):
    """Deterministic incompressible bytes (AES-CTR keystream), yielded in 1 MiB pieces."""
    key = hashlib.sha256(f"demo noise {seed} {label}".encode()).digest()
    enc = Cipher(algorithms.AES(key), modes.CTR(b"\0" * 16)).encryptor()
    zeros = bytes(1 << 20)
    left = size
    while left > 0:
        n = min(left, len(zeros))
        yield enc.update(zeros[:n])
        left -= n


def _json(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=2).encode("utf-8")


def create_demo(
    target: Path, spec: DemoSpec | None = None, progress: Callable[[int, int], None] | None = None
) -> DemoResult:
    spec = spec or DemoSpec()
    problem = spec.problem()
    if problem is not None:
        raise UsageError(_("Demo practice: {problem}.").format(problem=problem))
    target = Path(target)
    data = target / "Data"
    key_path = target / "account.key"
    if data.exists() or key_path.exists():
        raise DataFolderError(
            _("{target} already holds a practice (Data or account.key exists).").format(
                target=target
            )
        )
    rng = random.Random(spec.seed)
    key = demo_key(spec.seed)
    target.mkdir(parents=True, exist_ok=True)
    key.save(key_path)
    data.mkdir()
    w = _Writer(data, key, spec.seed, progress)
    # one random sequence through every step, in this order: the same seed, the same files
    therapists = _write_therapists(w, rng, spec)
    _write_clients(w, rng, spec, therapists)
    _write_practice_files(w, spec)
    return DemoResult(data, key_path, w.files, w.bytes)


def _when(days: float) -> datetime:
    return BASE_TIME + timedelta(days=days)


def _write_therapists(w: _Writer, rng: random.Random, spec: DemoSpec) -> list[str]:
    """The therapists' files; their ids."""
    therapists = []
    for t in range(1, spec.therapists + 1):
        tid = f"T{t:02d}"
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        therapists.append(tid)
        w.sealed(
            f"therapists/{tid}.json",
            _json(
                {
                    "id": tid,
                    "name": name,
                    "title": rng.choice(["Dipl.-Psych.", "M.Sc. Psych.", "Dr."]),
                    "kassensitz": rng.random() < 0.5,
                }
            ),
            _when(t),
        )
    return therapists


@dataclass
class _Tally:
    """What the clients' steps share: the last invoice's number and the audio files
    still to write (of ``spec.audio_files``, each ``audio_size`` bytes)."""

    invoice_no: int
    audio_left: int
    audio_size: int


def _write_clients(w: _Writer, rng: random.Random, spec: DemoSpec, therapists: list[str]) -> None:
    """Every client: profile, sessions (with invoices, payments, audio), documents; then
    the audio still missing (few clients)."""
    tally = _Tally(
        invoice_no=0,
        audio_left=spec.audio_files,
        audio_size=int(spec.audio_mb * 1024 * 1024 / max(spec.audio_files, 1)),
    )
    for c in range(1, spec.clients + 1):
        cid = f"K{c:04d}"
        first, last = rng.choice(FIRST), rng.choice(LAST)
        start = rng.uniform(0, 200)
        _write_profile(w, rng, cid, first, last, start, therapists)
        for s in range(1, spec.sessions_per_client + 1):
            _write_session(w, rng, spec, tally, cid, start, s)
        _write_documents(w, rng, spec, cid, first, last, start)
    while tally.audio_left > 0:  # few clients: still the requested amount of audio
        tally.audio_left -= 1
        w.sealed(
            f"audio/K0001/extra-{tally.audio_left:02d}.opus",
            noise(f"extra-{tally.audio_left}", tally.audio_size, spec.seed),
            _when(300 - tally.audio_left),
        )


def _write_profile(
    w: _Writer,
    rng: random.Random,
    cid: str,
    first: str,
    last: str,
    start: float,
    therapists: list[str],
) -> None:
    w.sealed(
        f"profiles/{cid}.json",
        _json(
            {
                "id": cid,
                "vorname": first,
                "nachname": last,
                "geburtsdatum": f"{rng.randint(1950, 2006)}-{rng.randint(1, 12):02d}-"
                f"{rng.randint(1, 28):02d}",
                "versicherung": rng.choice(["AOK", "TK", "Barmer", "DAK", "privat"]),
                "diagnosen": rng.sample(DIAGNOSES, k=rng.randint(1, 2)),
                "therapeut": rng.choice(therapists),
            }
        ),
        _when(start),
    )


def _write_session(
    w: _Writer, rng: random.Random, spec: DemoSpec, tally: _Tally, cid: str, start: float, s: int
) -> None:
    """Session *s* of a client: its notes; every fourth an invoice (most of them paid);
    some an audio recording."""
    day = start + 7 * s + rng.uniform(0, 2)
    date = _when(day).strftime("%Y-%m-%d")
    notes = " ".join(rng.choice(PHRASES) for _i in range(rng.randint(3, 12)))
    w.sealed(
        f"sessions/{cid}/{date}-{s:02d}.json",
        _json({"klient": cid, "datum": date, "nummer": s, "dauer_min": 50, "notizen": notes}),
        _when(day),
    )
    if s % 4 == 0:
        tally.invoice_no += 1
        year = _when(day).year
        w.sealed(
            f"finances/invoices/{year}/R-{year}-{tally.invoice_no:04d}.json",
            _json(
                {
                    "nummer": f"R-{year}-{tally.invoice_no:04d}",
                    "klient": cid,
                    "betrag_eur": round(rng.uniform(90, 480), 2),
                }
            ),
            _when(day + 1),
        )
        if rng.random() < 0.8:
            w.sealed(
                f"finances/payments/{year}/Z-{year}-{tally.invoice_no:04d}.json",
                _json({"rechnung": f"R-{year}-{tally.invoice_no:04d}", "eingang": date}),
                _when(day + 9),
            )
    if tally.audio_left > 0 and rng.random() < 0.3:
        tally.audio_left -= 1
        w.sealed(
            f"audio/{cid}/{date}-{s:02d}.opus",
            noise(f"{cid}-{s}", tally.audio_size, spec.seed),
            _when(day),
        )


def _write_documents(
    w: _Writer, rng: random.Random, spec: DemoSpec, cid: str, first: str, last: str, start: float
) -> None:
    for d in range(spec.documents_per_client):
        name = rng.choice(
            ["Befundbericht", "Einverständniserklärung", "Arztbrief", "Antrag Kostenübernahme"]
        )
        body = (
            b"%PDF-1.7\n"
            + b"".join(noise(f"doc{cid}{d}", 48_000, spec.seed))
            + (f"\n% {name} {first} {last}\n".encode() * 200)
        )
        w.sealed(f"documents/{cid}/{name} {d + 1}.pdf", body, _when(start + 3 + d))


def _write_practice_files(w: _Writer, spec: DemoSpec) -> None:
    """What is not a client's: settings, templates, autocomplete, the downloaded
    resources (plain), files no rule knows, and the plain note."""
    for name in ["Erstgespräch", "Verlaufssitzung", "Abschlusssitzung", "Krisenintervention"]:
        w.sealed(
            f"settings/session-templates/{name}.json",
            _json({"name": name, "dauer_min": 50, "felder": ["Anliegen", "Verlauf"]}),
            _when(1),
        )
    w.sealed("settings/preferences.json", _json({"sprache": "de", "theme": "hell"}), _when(2))
    for kind, name in [
        ("invoices", "Rechnung.docx"),
        ("short-protocols", "Kurzprotokoll.docx"),
        ("long-protocols", "Langprotokoll.docx"),
        ("confirmations", "Terminbestätigung.docx"),
        ("finance-exports", "Finanzexport.xlsx"),
    ]:
        w.sealed(
            f"templates/export/{kind}/{name}",
            b"PK\x03\x04" + b"".join(noise(name, 12_000, spec.seed)),
            _when(3),
        )
    w.sealed("autocomplete/phrases.json", _json(PHRASES), _when(4))
    w.sealed("autocomplete/diagnoses.json", _json(DIAGNOSES), _when(4))
    for i, name in enumerate(["see.jpg", "wald.jpg", "berge.jpg"]):
        w.plain(
            f"backgrounds/{name}",
            b"\xff\xd8\xff\xe0" + b"".join(noise(name, 150_000, spec.seed)),
            _when(5 + i),
        )
    catalog = "".join(
        f'<code id="F{a}{b}.{c}">Diagnose F{a}{b}.{c}</code>\n'
        for a in range(10)
        for b in range(10)
        for c in range(10)
    )
    w.plain("icd10/icd10gm-2026.xml", ("<icd10gm>\n" + catalog + "</icd10gm>\n").encode(), _when(6))
    # Files no rule knows: they belong to "Other data" and are backed up.
    w.sealed("plugins/calendar-sync.dat", b"".join(noise("plugin", 20_000, spec.seed)), _when(8))
    w.sealed("import/alt-export.csv", "Name;Datum\nMüller;2025-12-01\n".encode() * 50, _when(9))
    w.plain(PLAIN_NOTE, b"Praxis-PC eingerichtet.\n", _when(10))
