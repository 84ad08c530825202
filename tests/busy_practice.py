"""A busy practice app, as separate processes for the busy-app tests.

``python busy_practice.py writer DATA KEY LOG STOP PATH...``
    Rewrites the given envelope files in place, over and over, the way an app that does
    not write atomically does: truncate, (pause,) write the envelope header, pause, write
    the chunks one by one with pauses between them; all of them at once, so that each is
    torn about half of the time. Before each rewrite it appends the
    new version's plaintext SHA-256 to LOG (one JSON object per line), so every version
    that ever existed on disk, complete, is known.

``python busy_practice.py churner DATA KEY LOG STOP DELETE...``
    Once a file ``go`` exists beside STOP, deletes the given files one by one and adds
    new sealed session notes, logging the plaintext SHA-256 of every file it adds.

Both run until the file STOP exists. Not a test module (no ``test_`` prefix).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import sys
import time
from pathlib import Path

from therabak.practice.account import AccountKey
from therabak.practice.envelope import HEADER_SIZE, seal_bytes

CHUNK = (1 << 20) + 16  # a sealed envelope chunk at the default chunk size


def log_version(log, rel: str, plaintext: bytes) -> None:
    log.write(json.dumps({"p": rel, "h": hashlib.sha256(plaintext).hexdigest()}) + "\n")
    log.flush()


def rewrite_all(files: dict[Path, bytes], *, pause_empty: bool, pause: float) -> None:
    """Rewrite every file in place at once, non-atomically: all of them are torn together
    (emptied, then holding the envelope header only, then part of the chunks)."""
    handles = {path: open(path, "r+b", buffering=0) for path in files}  # noqa: SIM115
    try:
        for f in handles.values():
            f.truncate(0)
        if pause_empty:
            time.sleep(pause)
        for path, f in handles.items():
            f.write(files[path][:HEADER_SIZE])
        time.sleep(pause)
        for start in range(HEADER_SIZE, max(map(len, files.values())), CHUNK):
            for path, f in handles.items():
                f.write(files[path][start : start + CHUNK])
            time.sleep(pause / 2)
    finally:
        for f in handles.values():
            f.close()


def new_content(rel: str, n: int, rng: random.Random) -> bytes:
    if rel.startswith("audio/"):  # two envelope chunks
        return rng.randbytes(rng.randint(1_100_000, 1_900_000))
    text = f'{{"path": "{rel}", "version": {n}, "note": "'.encode()
    return text + b"Sitzung verlief ruhig. " * rng.randint(5, 400) + b'"}'


def writer(data: Path, key: AccountKey, log_path: Path, stop: Path, targets: list[str]) -> None:
    rng = random.Random(os.getpid())
    with open(log_path, "a", encoding="utf-8") as log:
        for n in itertools.count(1):
            if stop.exists():
                return
            files = {}
            for rel in targets:
                plaintext = new_content(rel, n, rng)
                log_version(log, rel, plaintext)  # before any byte of it is on disk
                files[data / rel] = seal_bytes(key, plaintext)
            rewrite_all(files, pause_empty=n % 2 == 0, pause=rng.uniform(0.01, 0.03))
            time.sleep(rng.uniform(0.01, 0.025))  # all complete for a moment


def churner(data: Path, key: AccountKey, log_path: Path, stop: Path, delete: list[str]) -> None:
    rng = random.Random(os.getpid())
    while not (stop.parent / "go").exists() and not stop.exists():
        time.sleep(0.005)
    with open(log_path, "a", encoding="utf-8") as log:
        for n in itertools.count(1):
            if stop.exists():
                return
            if delete:
                (data / delete.pop(0)).unlink(missing_ok=True)
            rel = f"sessions/K0002/2099-01-{n % 28 + 1:02d}-{n:02d}.json"
            plaintext = new_content(rel, n, rng)
            log_version(log, rel, plaintext)
            (data / rel).write_bytes(seal_bytes(key, plaintext))
            time.sleep(rng.uniform(0.02, 0.08))


def main(argv: list[str]) -> None:
    role, data, key_path, log_path, stop, *paths = argv
    key = AccountKey.load(Path(key_path))
    run = {"writer": writer, "churner": churner}[role]
    run(Path(data), key, Path(log_path), Path(stop), paths)


if __name__ == "__main__":
    main(sys.argv[1:])
