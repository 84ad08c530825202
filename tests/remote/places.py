"""A fresh remote place on one of the test servers, reachable by its URL as a user reaches
it: the settings file's ``[s3]`` (endpoint, path-style), credentials in the environment for
this run (``AWS_*``, ``THERABAK_REMOTE_PASSWORD``), the SSH key in ``~/.ssh`` of a home
folder of the test's own and the server's host key in therabak's known_hosts. Set up
through *monkeypatch*, so the test's own process and every ``therabak`` it starts see the
same."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from remote.conftest import unique
from therabak.settings import S3Settings, Settings


@dataclass
class Place:
    kind: str
    url: str
    folder: Path | None  # where the server keeps it on disk (sftp, webdav); None for S3
    bucket: str = ""

    def storage(self, **kw):
        from therabak.storage.url import open_storage

        return open_storage(self.url, **kw)


def make_place(kind: str, request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Place:
    if kind == "s3":
        server = request.getfixturevalue("s3_server")
        settings = Settings.load()
        settings.s3 = S3Settings(endpoint=server.endpoint, region="", path_style=True)
        settings.save()
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret)
        bucket = server.new_bucket(unique("bkt"))
        return Place(kind, f"s3://{bucket}/praxis", None, bucket)
    if kind == "sftp":
        server = request.getfixturevalue("ssh_server")
        home = tmp_path / "home"
        if not (home / ".ssh" / "id_ed25519").exists():
            (home / ".ssh").mkdir(parents=True, exist_ok=True)
            shutil.copy(server.client_key, home / ".ssh" / "id_ed25519")
        monkeypatch.setenv("HOME", str(home))
        known = Path(os.environ["THERABAK_CONFIG"]).parent / "known_hosts"
        if not known.exists() or server.host_key_line not in known.read_text():
            with known.open("a") as f:
                f.write(server.host_key_line + "\n")
        folder = server.folder / "data" / unique("place")
        folder.mkdir(parents=True)
        return Place(kind, f"sftp://{server.user}@127.0.0.1:{server.port}{folder}", folder)
    if kind == "webdav":
        server = request.getfixturevalue("webdav_server")
        monkeypatch.setenv("THERABAK_REMOTE_PASSWORD", server.password)
        name = unique("place")
        (server.root / name).mkdir()
        return Place(
            kind, f"webdav://{server.user}@127.0.0.1:{server.port}/{name}", server.root / name
        )
    if kind == "local":
        folder = tmp_path / unique("local")
        folder.mkdir()
        return Place(kind, str(folder), folder)
    raise ValueError(kind)
