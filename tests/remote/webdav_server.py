"""A WebDAV server for the tests: wsgidav's file-system provider served by cheroot.

    python tests/webdav_server.py --root DIR --port PORT --user USER --password-env VAR

One user (its password from an environment variable, never argv), HTTP Basic login (as
Nextcloud's app passwords use it). One change to wsgidav: a write that the disk refuses
for lack of space (ENOSPC, EDQUOT) answers ``507 Insufficient Storage``, as Apache's
mod_dav and Nextcloud do (wsgidav itself would answer 500). Put ROOT on a small tmpfs to
have a server with a full quota.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys

from cheroot import wsgi
from wsgidav.dav_error import HTTP_INSUFFICIENT_STORAGE, DAVError
from wsgidav.fs_dav_provider import FileResource
from wsgidav.wsgidav_app import WsgiDAVApp

_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class _FullAware:
    """The file a PUT writes to, with a full disk answered as 507."""

    def __init__(self, f) -> None:
        self._f = f

    def _guard(self, fn, *args):
        try:
            return fn(*args)
        except OSError as e:
            if e.errno in _FULL:
                raise DAVError(HTTP_INSUFFICIENT_STORAGE) from e
            raise

    def write(self, data):
        return self._guard(self._f.write, data)

    def close(self):
        return self._guard(self._f.close)


_begin_write = FileResource.begin_write


def _begin_write_full_aware(self, *, content_type=None):
    return _FullAware(_begin_write(self, content_type=content_type))


FileResource.begin_write = _begin_write_full_aware


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password-env", required=True)
    args = p.parse_args()
    config = {
        "host": "127.0.0.1",
        "port": args.port,
        "provider_mapping": {"/": args.root},
        "http_authenticator": {
            "domain_controller": None,
            "accept_basic": True,
            "accept_digest": False,
            "default_to_digest": False,
        },
        "simple_dc": {
            "user_mapping": {"*": {args.user: {"password": os.environ[args.password_env]}}}
        },
        "verbose": 1,
        "logging": {"enable_loggers": []},
        "property_manager": True,
        "lock_storage": True,
    }
    app = WsgiDAVApp(config)
    server = wsgi.Server(("127.0.0.1", args.port), app, numthreads=8)
    server.shutdown_timeout = 1
    print(f"listening on {args.port}", flush=True)
    try:
        server.start()
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
