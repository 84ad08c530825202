"""Real servers on 127.0.0.1 for the remote-storage tests, each a process of its own.

* S3: moto's server mode (``python -m moto.server``), a real HTTP S3 endpoint, with its
  IAM checks on (``INITIAL_NO_AUTH_ACTION_COUNT``): a wrong secret is refused as AWS would.
* SFTP: OpenSSH's ``sshd`` on a free port with a throwaway host key and client key, a
  temporary authorized_keys, its internal SFTP server; the login is the user running the
  tests (root in CI: ``PermitRootLogin``). Password logins are on (and always refused for
  a password nobody knows: the wrong-password test).
* WebDAV: wsgidav with cheroot (``webdav_server.py`` beside this file), one user and
  password.

Each can be killed (the process and every child it forked: sshd's sessions) and started
again on the same port with the same data.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}): {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port}: {log.read_text()[-2000:]}")


def descendants(pid: int) -> list[int]:
    """Every process below *pid* (from /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class ServerProcess:
    argv: list[str]
    port: int
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, **self.env}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        wait_port(self.port, self.proc, self.log)

    def kill(self) -> None:
        """SIGKILL the server and everything it started (its open sessions too)."""
        if self.proc is None:
            return
        pids = [self.proc.pid, *descendants(self.proc.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()


# ---- S3 (moto) ------------------------------------------------------------------------


@dataclass
class S3Server:
    server: ServerProcess
    key_id: str
    secret: str

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def client(self, endpoint: str | None = None):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=endpoint or self.endpoint,
            aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
        )

    def new_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name


def start_s3(folder: Path) -> S3Server:
    import boto3

    port = free_port()
    server = ServerProcess(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        port,
        folder / "moto.log",
        env={"INITIAL_NO_AUTH_ACTION_COUNT": "3", "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
    )
    server.start()
    iam = boto3.client(
        "iam",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
        region_name="us-east-1",
    )
    iam.create_user(UserName="praxis")
    key = iam.create_access_key(UserName="praxis")["AccessKey"]
    iam.put_user_policy(
        UserName="praxis",
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    return S3Server(server, key["AccessKeyId"], key["SecretAccessKey"])


# ---- SFTP (OpenSSH) -------------------------------------------------------------------


@dataclass
class SshServer:
    server: ServerProcess
    folder: Path
    user: str
    client_key: Path  # the private key that may log in
    host_key_line: str  # "[127.0.0.1]:PORT ssh-ed25519 AAAA…"
    host_fingerprint: str  # SHA256:…

    @property
    def port(self) -> int:
        return self.server.port

    def known_hosts(self, path: Path, port: int | None = None) -> Path:
        """A known_hosts file that knows this server (reached at *port*: a proxy's)."""
        line = self.host_key_line
        if port is not None:
            line = line.replace(f"]:{self.port} ", f"]:{port} ")
        path.write_text(line + "\n")
        return path


def sshd_missing() -> str | None:
    """Why sshd cannot run here, or None."""
    if not Path(SSHD).exists():
        return "OpenSSH's sshd is not installed (apt-get install openssh-server)"
    if shutil.which("ssh-keygen") is None:
        return "ssh-keygen is not installed"
    return None


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "therabak-test", "-f", str(path)],
        check=True,
    )


def start_sshd(folder: Path) -> SshServer:
    folder.mkdir(parents=True, exist_ok=True)
    _keygen(folder / "host_key")
    _keygen(folder / "client_key")
    authorized = folder / "authorized_keys"
    shutil.copy(folder / "client_key.pub", authorized)
    user = getpass.getuser()
    root = os.geteuid() == 0
    if root:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"ListenAddress 127.0.0.1:{port}",
                f"HostKey {folder / 'host_key'}",
                f"AuthorizedKeysFile {authorized}",
                f"PidFile {folder / 'sshd.pid'}",
                "StrictModes no",
                "UsePAM no",
                f"PermitRootLogin {'yes' if root else 'no'}",
                "PasswordAuthentication yes",
                "KbdInteractiveAuthentication no",
                "MaxStartups 100",
                "MaxSessions 100",
                "Subsystem sftp internal-sftp",
                "LogLevel VERBOSE",
                "",
            ]
        )
    )
    server = ServerProcess([SSHD, "-D", "-e", "-f", str(config)], port, folder / "sshd.log")
    server.start()
    public = (folder / "host_key.pub").read_text().split()
    fingerprint = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(folder / "host_key.pub")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    return SshServer(
        server,
        folder,
        user,
        folder / "client_key",
        f"[127.0.0.1]:{port} {public[0]} {public[1]}",
        fingerprint,
    )


# ---- WebDAV (wsgidav) -----------------------------------------------------------------


@dataclass
class WebdavServer:
    server: ServerProcess
    root: Path
    user: str
    password: str

    @property
    def port(self) -> int:
        return self.server.port


WEBDAV_USER = "praxis"
WEBDAV_PASSWORD = "Nextcloud-App-Passwort 7g9Q-xK2m-ü"


def start_webdav(folder: Path, root: Path, *, port: int | None = None) -> WebdavServer:
    port = port or free_port()
    server = ServerProcess(
        [
            sys.executable,
            str(HERE / "webdav_server.py"),
            "--root",
            str(root),
            "--port",
            str(port),
            "--user",
            WEBDAV_USER,
            "--password-env",
            "WEBDAV_TEST_PASSWORD",
        ],
        port,
        folder / f"wsgidav-{port}.log",
        env={"WEBDAV_TEST_PASSWORD": WEBDAV_PASSWORD},
    )
    server.start()
    return WebdavServer(server, root, WEBDAV_USER, WEBDAV_PASSWORD)
