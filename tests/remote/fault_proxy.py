"""A small proxy on 127.0.0.1 that puts what networks do between a client and a server.

``FaultProxy(target_port, http=True)`` understands HTTP/1.1 requests (one per upstream
connection, ``Connection: close`` on both sides) and can answer the next requests itself
with a status (429, 503, a provider's "quota exceeded"), or cut a request's connection
after some bytes of its body (a dropped upload). ``http=False`` is a plain TCP pipe (for
SSH) that can cut a connection after some bytes from the client. ``down()`` closes the
listener and every connection (a server that is gone); ``up()`` listens again.
Everything it does is counted (``requests``, ``injected``, ``dropped``, and ``bytes_up``:
what the clients sent on to the server; HTTP: the request bodies, TCP: every byte).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class _Inject:
    status: int
    reason: str
    times: int
    methods: tuple[str, ...]
    body: bytes
    headers: dict[str, str]


@dataclass
class _Drop:
    after: int
    times: int
    methods: tuple[str, ...]


@dataclass
class Counts:
    requests: list[str] = field(default_factory=list)  # "METHOD /path"
    injected: int = 0
    dropped: int = 0
    connections: int = 0
    bytes_up: int = 0  # what clients sent on to the server (HTTP: request bodies)


class FaultProxy:
    def __init__(self, target_port: int, *, http: bool, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.http = http
        self.counts = Counts()
        self._lock = threading.Lock()
        self._injects: list[_Inject] = []
        self._drops: list[_Drop] = []
        self._conns: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.port = 0
        self.up()

    # ---- control ------------------------------------------------------------------

    def up(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Refuse new connections and cut every open one."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            conns = list(self._conns)
            self._conns.clear()
        for c in conns:
            _close(c)

    def close(self) -> None:
        self.down()

    def inject(
        self,
        status: int,
        times: int = 1,
        *,
        methods: tuple[str, ...] = (),
        reason: str = "Injected",
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next *times* requests (of *methods*, or any) with *status*."""
        with self._lock:
            self._injects.append(_Inject(status, reason, times, methods, body, headers or {}))

    def drop_after(self, nbytes: int, times: int = 1, *, methods: tuple[str, ...] = ()) -> None:
        """Cut the next *times* connections (HTTP: requests of *methods*) once *nbytes* of
        the client's data (HTTP: of the request body) have been passed on."""
        with self._lock:
            self._drops.append(_Drop(nbytes, times, methods))

    def clear(self) -> None:
        with self._lock:
            self._injects.clear()
            self._drops.clear()

    # ---- plumbing -------------------------------------------------------------------

    def _take(self, rules: list, method: str):
        with self._lock:
            for rule in rules:
                if rule.times > 0 and (not rule.methods or method in rule.methods):
                    rule.times -= 1
                    return rule
        return None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._conns.add(client)
                self.counts.connections += 1
            handler = self._serve_http if self.http else self._serve_tcp
            threading.Thread(target=handler, args=(client,), daemon=True).start()

    def _upstream(self) -> socket.socket:
        s = socket.create_connection(self.target, timeout=30)
        s.settimeout(None)
        with self._lock:
            self._conns.add(s)
        return s

    def _forget(self, *socks: socket.socket) -> None:
        with self._lock:
            for s in socks:
                self._conns.discard(s)
        for s in socks:
            _close(s)

    # TCP: a pipe, maybe cut after N bytes from the client
    def _serve_tcp(self, client: socket.socket) -> None:
        try:
            upstream = self._upstream()
        except OSError:
            self._forget(client)
            return
        drop = self._take(self._drops, "")
        done = threading.Event()

        def pump(src, dst, limit, up):
            sent = 0
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    if limit is not None and sent + len(data) >= limit:
                        with self._lock:
                            self.counts.dropped += 1
                            self.counts.bytes_up += max(0, limit - sent)
                        dst.sendall(data[: max(0, limit - sent)])
                        break
                    dst.sendall(data)
                    sent += len(data)
                    if up:
                        with self._lock:
                            self.counts.bytes_up += len(data)
            except OSError:
                pass
            done.set()

        threading.Thread(
            target=pump, args=(client, upstream, drop.after if drop else None, True), daemon=True
        ).start()
        threading.Thread(target=pump, args=(upstream, client, None, False), daemon=True).start()
        done.wait()
        self._forget(client, upstream)

    # HTTP: one request at a time
    def _serve_http(self, client: socket.socket) -> None:
        reader = client.makefile("rb")
        try:
            while True:
                head = _read_head(reader)
                if not head:
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target = lines[0].split(" ")[:2]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0") or 0)
                with self._lock:
                    self.counts.requests.append(f"{method} {target}")
                expects = headers.get("expect", "").lower() == "100-continue"
                inject = self._take(self._injects, method)
                if inject is not None:
                    if not expects:  # (with Expect the client sends no body now)
                        _read_exact(reader, length)
                    with self._lock:  # counted before the client can see it
                        self.counts.injected += 1
                    extra = "".join(f"{k}: {v}\r\n" for k, v in inject.headers.items())
                    client.sendall(
                        (
                            f"HTTP/1.1 {inject.status} {inject.reason}\r\n"
                            f"Content-Length: {len(inject.body)}\r\n{extra}"
                            "Connection: close\r\n\r\n"
                        ).encode("latin-1")
                        + inject.body
                    )
                    return
                drop = self._take(self._drops, method) if length else None
                upstream = self._upstream()
                try:
                    new_head = (
                        [lines[0]]
                        + [
                            line
                            for line in lines[1:]
                            if line
                            and not line.lower().startswith(
                                ("connection:", "keep-alive:", "expect:")
                            )
                        ]
                        + ["Connection: close", "", ""]
                    )
                    upstream.sendall("\r\n".join(new_head).encode("latin-1"))
                    if expects:  # the proxy says "go on" itself (the server never saw it)
                        client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                    left = length
                    sent = 0
                    while left > 0:
                        data = reader.read(min(65536, left))
                        if not data:
                            return
                        if drop is not None and sent + len(data) >= drop.after:
                            with self._lock:
                                self.counts.dropped += 1
                                self.counts.bytes_up += max(0, drop.after - sent)
                            upstream.sendall(data[: max(0, drop.after - sent)])
                            return
                        upstream.sendall(data)
                        sent += len(data)
                        left -= len(data)
                        with self._lock:
                            self.counts.bytes_up += len(data)
                    self._relay_response(upstream, client)
                finally:
                    self._forget(upstream)
                return  # Connection: close was promised
        except (OSError, ValueError, IndexError):
            return
        finally:
            with contextlib.suppress(OSError):
                reader.close()
            self._forget(client)

    def _relay_response(self, upstream: socket.socket, client: socket.socket) -> None:
        reader = upstream.makefile("rb")
        head = _read_head(reader)
        if not head:
            return
        lines = head.decode("latin-1").split("\r\n")
        kept = (
            [lines[0]]
            + [
                line
                for line in lines[1:]
                if line and not line.lower().startswith(("connection:", "keep-alive:"))
            ]
            + ["Connection: close", "", ""]
        )
        client.sendall("\r\n".join(kept).encode("latin-1"))
        while data := reader.read1(65536):
            client.sendall(data)
        reader.close()


def _read_head(reader) -> bytes:
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = reader.readline(65536)
        if not line:
            return b""
        head += line
        if head == b"\r\n":
            head = b""
    return head[:-4]


def _read_exact(reader, n: int) -> None:
    while n > 0:
        data = reader.read(min(65536, n))
        if not data:
            return
        n -= len(data)


def _close(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        s.close()
