"""How the benchmark changes a practice between backups (moved from the former
``store.py``): new audio and changed session notes (issue 16's "after a change"), and a
practice growing by a share of its size (issue 16's 20 backups growing 2 %).

Files are sealed with the practice's account key, as TheraPsy writes them, so a backup
reads them as it reads real data. Deterministic for a seed.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = [
    "Klientin",
    "berichtet",
    "über",
    "Schlaf",
    "Stimmung",
    "Arbeit",
    "Familie",
    "Ziele",
    "Übung",
    "Woche",
    "Gespräch",
    "Fortschritt",
    "Angst",
    "Ressourcen",
    "Hausaufgabe",
    "Termin",
    "nächste",
]


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def change(data: Path, key_path: Path, audio_mb: float, notes: int, seed: int) -> dict:
    """New audio (random bytes, sealed) and changed session notes (a sentence added)."""
    from therabak.practice.account import AccountKey
    from therabak.practice.envelope import open_bytes, seal_bytes

    key = AccountKey.load(key_path)
    rng = random.Random(seed)
    folder = data / "audio" / f"bench-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    left = int(audio_mb * (1 << 20))
    n = 0
    while left > 0:
        size = min(left, 25 << 20)
        (folder / f"recording-{n}.opus").write_bytes(seal_bytes(key, rng.randbytes(size)))
        left -= size
        n += 1
    sessions = sorted((data / "sessions").rglob("*.json"))
    changed = rng.sample(sessions, min(notes, len(sessions)))
    before = after = 0
    for p in changed:
        plain = open_bytes(key, p.read_bytes())
        new = plain[:-1] + f' , "nachtrag": "Ergänzung {seed}"}}'.encode()
        before += len(plain)
        after += len(new)
        p.write_bytes(seal_bytes(key, new))
    return {"audio_files": n, "notes": len(changed), "notes_bytes": after, "was": before}


def grow(data: Path, key_path: Path, share: float, seed: int) -> int:
    """The practice grows by *share* of its size: new sessions and a new recording.
    Returns the bytes added."""
    from therabak.practice.account import AccountKey
    from therabak.practice.envelope import seal_bytes

    size = dir_size(data)
    key = AccountKey.load(key_path)
    rng = random.Random(seed)
    add = int(size * share)
    folder = data / "sessions" / f"grow-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    notes = max(1, add // 200_000)  # a few notes...
    for i in range(notes):
        text = json.dumps({"note": "Sitzung " + " ".join(rng.choices(WORDS, k=80)), "i": i})
        (folder / f"{i:04d}.json").write_bytes(seal_bytes(key, text.encode()))
    audio = data / "audio" / f"grow-{seed}.opus"  # ...and the rest as a recording
    audio.write_bytes(seal_bytes(key, rng.randbytes(max(0, add - notes * 700))))
    return add
