"""Store backups to an off-site place through the storage a destination gives
(``store_storage``: the local copy of snapshots and index files, the retries), counted at
a proxy in front of the real server: a second backup with nothing changed asks a handful
of things however many snapshots there are, and a backup cut off half-way is resumed by
the next, which adopts the packs already there and sends only what is missing.

Driven through the library (``store_support.backup_data``, as ``therabak backup --dest``
will once it takes a URL)."""

from __future__ import annotations

import os
import threading

import pytest

from conftest import Practice
from store_support import PASSWORD, CheapPassword, backup_data, plaintext_tree, snapshot_tree
from therabak.destinations import resolve, store_storage
from therabak.practice.envelope import seal_bytes
from therabak.settings import RemoteSettings, Settings
from therabak.storage.base import StorageError
from therabak.store.core import Store
from therabak.store.keyfile import Unlock

KINDS = ["s3", "webdav"]  # HTTP: the proxy counts requests and request bodies (SSH: bytes)


def _new_store(url: str) -> Store:
    return Store.create(
        store_storage(resolve(url)),
        CheapPassword(PASSWORD),
        chunk_size=64 << 10,
        pack_size=1 << 20,
    )


def _open(url: str) -> Store:
    return Store.open(store_storage(resolve(url)), Unlock(password=PASSWORD))


def _grow(practice: Practice, n: int, size: int) -> None:
    """*n* new recordings of *size* random bytes each (incompressible, all new chunks)."""
    for i in range(n):
        (practice.data_dir / "audio" / f"remote-{i}.opus").write_bytes(
            seal_bytes(practice.key, os.urandom(size))
        )


@pytest.mark.parametrize("kind", KINDS)
def test_a_backup_with_nothing_changed_asks_a_handful_of_things(
    kind: str, proxied_url, practice: Practice, record_property
) -> None:
    url, proxy = proxied_url(kind)
    store = _new_store(url)
    backup_data(store, practice.data_dir, practice.key)
    store.storage.close()

    def no_change_backup() -> list[str]:
        before = len(proxy.counts.requests)
        again = _open(url)
        out = backup_data(again, practice.data_dir, practice.key)
        again.storage.close()
        assert out.snapshot.entries
        return proxy.counts.requests[before:]

    asked_at_2 = no_change_backup()  # the second snapshot (one there before)
    for _ in range(3):
        no_change_backup()
    asked_at_6 = no_change_backup()  # the sixth (five there before)
    record_property(f"{kind} no-change backup requests", len(asked_at_6))
    print(f"{kind}: a no-change backup (opening the store too) made {len(asked_at_6)} requests")
    # S3: 15. WebDAV asks more (23): a PUT and a MOVE per object written, a MKCOL per
    # folder written to; the same however many snapshots there are
    assert len(asked_at_6) <= {"s3": 16, "webdav": 24}[kind], asked_at_6
    # however many snapshots there are: the copies on this computer answer for the old ones
    assert len(asked_at_6) == len(asked_at_2), (asked_at_2, asked_at_6)
    assert not [r for r in asked_at_6 if "/snapshots/" in r and r.startswith("GET")], asked_at_6
    store = _open(url)
    assert len(store.snapshots()) == 6


@pytest.mark.parametrize("kind", [*KINDS, "sftp"])
def test_a_backup_cut_off_half_way_is_resumed_sending_only_what_is_missing(
    kind: str, proxied_url, practice: Practice
) -> None:
    _grow(practice, 32, 1_000_000)  # ~33 MB in packs of 1 MiB (the least): 3 % each
    want = plaintext_tree(practice.data_dir, practice.key)
    # a whole first backup into a place of its own: what it sends
    url, proxy = proxied_url(kind)
    whole = _new_store(url)
    start = proxy.counts.bytes_up
    backup_data(whole, practice.data_dir, practice.key)
    whole.storage.close()
    total = proxy.counts.bytes_up - start
    assert total > 32_000_000

    # the same into a fresh place, cut off (every connection, no retry) at half of that
    settings = Settings.load()
    settings.remote = RemoteSettings(tries=1, timeout_s=10)
    settings.save()
    url, proxy = proxied_url(kind)
    store = _new_store(url)
    start = proxy.counts.bytes_up
    half = start + total // 2
    stop = threading.Event()

    def cut_at_half() -> None:
        while not stop.is_set():
            if proxy.counts.bytes_up >= half:
                proxy.down()
                return
            stop.wait(0.0005)

    watcher = threading.Thread(target=cut_at_half, daemon=True)
    watcher.start()
    with pytest.raises(StorageError):
        backup_data(store, practice.data_dir, practice.key)
    stop.set()
    watcher.join()
    store.storage.close()
    cut_at = proxy.counts.bytes_up - start
    assert 0.5 <= cut_at / total < 0.6, (cut_at, total)
    proxy.up()  # the connection is back

    # the next backup adopts the packs that arrived and sends only the rest
    start = proxy.counts.bytes_up
    resumed = _open(url)
    assert resumed.snapshots() == []  # the cut-off backup left no snapshot
    out = backup_data(resumed, practice.data_dir, practice.key)
    sent = proxy.counts.bytes_up - start
    print(f"{kind}: cut at {cut_at / total:.0%}; the resumed backup sent {sent / total:.0%}")
    assert sent < 0.55 * total, (sent, total)
    assert snapshot_tree(resumed, out.snapshot) == want
    resumed.storage.close()
