"""Backups off-site beside restic, in one run, to the same servers on 127.0.0.1.

    python tests/bench/remote.py               # the bench practice (~2 GB, 32,000 files)
    python tests/bench/remote.py --quick       # a small practice: a smoke test (~1-2 min)
    python tests/bench/remote.py --kinds s3 --keep

Starts the test servers (moto's S3 server and OpenSSH's sshd, tests/remote/servers.py),
each behind a counting proxy (tests/remote/fault_proxy.py: requests and the bytes the
client sends), makes a demo practice with ``therabak demo`` and measures, per kind:

* ``first``: ``therabak backup --dest URL`` into an empty place, beside ``restic -r
  s3:…`` / ``restic -r sftp:…`` (fresh repository, credentials by environment) of the
  same ``Data`` folder: wall time, peak RSS (``os.wait4``), requests, bytes sent.
  restic stores the envelopes as they are; therabak decrypts every file it reads (that is
  what a manual backup is), so its first backup does more work.
* ``second``: a second backup with nothing changed: requests (the target: a handful).
* ``resume``: a first backup into a fresh place, killed (-9) once the proxy has passed
  half of what a whole first backup sends; then the backup again: what it sends, as a
  share of a whole first backup (target: < 55 %), and that its snapshot restores (listed).

Targets (issue 17): first backup no slower than restic's; a no-change backup a handful of
requests; a resumed upload < 55 % sent again; peak RSS < 150 MB. Results go to
``tests/bench/results/remote-<time>.json``. Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(TESTS))
PASSWORD = "bench password for the off-site store"


@dataclass
class Run:
    wall_s: float
    rss_mb: float
    rc: int
    requests: int
    bytes_up: int


class Place:
    """One kind of server, behind a counting proxy, and how each tool reaches it."""

    def __init__(self, kind: str, bench: Bench) -> None:
        self.kind = kind
        self.bench = bench
        self.n = 0

    def fresh(self, what: str) -> str:
        """A new, empty place for *what* (therabak or restic): its URL for therabak, its
        repository for restic."""
        self.n += 1
        b = self.bench
        if self.kind == "s3":
            bucket = f"{what}-{self.n}-{os.getpid()}"
            b.s3.new_bucket(bucket)
            if what == "restic":
                return f"s3:http://127.0.0.1:{b.s3_proxy.port}/{bucket}/repo"
            return f"s3://{bucket}/praxis"
        folder = b.ssh.folder / "data" / f"{what}-{self.n}"
        folder.mkdir(parents=True)
        if what == "restic":
            return f"sftp:{b.ssh.user}@127.0.0.1:{folder}/repo"
        return f"sftp://{b.ssh.user}@127.0.0.1:{b.ssh_proxy.port}{folder}"

    @property
    def proxy(self):
        return self.bench.s3_proxy if self.kind == "s3" else self.bench.ssh_proxy

    def restic_options(self) -> list[str]:
        if self.kind == "s3":
            return []
        b = self.bench
        command = (
            f"ssh {b.ssh.user}@127.0.0.1 -p {b.ssh_proxy.port} -i {b.ssh.client_key} "
            f"-o UserKnownHostsFile={b.known_hosts} -o StrictHostKeyChecking=yes "
            "-o BatchMode=yes -s sftp"
        )
        return ["-o", f"sftp.command={command}"]


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(args.workdir or tempfile.mkdtemp(prefix="therabak-remote-bench-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.results: dict[str, object] = {"args": vars(args)}
        self.env = dict(os.environ)
        for var in ("THERABAK_FAILPOINTS", "SSH_AUTH_SOCK", "THERABAK_REMOTE_PASSWORD"):
            self.env.pop(var, None)

    # ---- set-up -----------------------------------------------------------------------------

    def start_servers(self) -> None:
        from remote.fault_proxy import FaultProxy
        from remote.servers import start_s3, start_sshd

        kinds = self.args.kinds.split(",")
        home = self.work / "home"
        (home / ".ssh").mkdir(parents=True, exist_ok=True)
        config = self.work / "config"
        config.mkdir(exist_ok=True)
        self.known_hosts = config / "known_hosts"
        self.env.update(
            HOME=str(home),
            THERABAK_CONFIG=str(config / "settings.toml"),
            THERABAK_STATE_DIR=str(self.work / "state"),
            THERABAK_KNOWN_HOSTS=str(self.known_hosts),
            RESTIC_PASSWORD=PASSWORD,
            RESTIC_CACHE_DIR=str(self.work / "restic-cache"),
        )
        settings = ""
        if "s3" in kinds:
            (self.work / "moto").mkdir(exist_ok=True)
            self.s3 = start_s3(self.work / "moto")
            self.s3_proxy = FaultProxy(self.s3.server.port, http=True)
            settings += (
                f'[s3]\nendpoint = "http://127.0.0.1:{self.s3_proxy.port}"\n'
                'region = "us-east-1"\npath_style = true\n'
            )
            self.env.update(AWS_ACCESS_KEY_ID=self.s3.key_id, AWS_SECRET_ACCESS_KEY=self.s3.secret)
        if "sftp" in kinds:
            self.ssh = start_sshd(self.work / "sshd")
            self.ssh_proxy = FaultProxy(self.ssh.port, http=False)
            shutil.copy(self.ssh.client_key, home / ".ssh" / "id_ed25519")
            self.ssh.known_hosts(self.known_hosts, self.ssh_proxy.port)
        (config / "settings.toml").write_text(settings)
        (self.work / "password").write_text(PASSWORD + "\n")

    def make_practice(self) -> Path:
        a = self.args
        root = self.work / "practice"
        if not (root / "Data").is_dir():
            sizes = (
                ["--clients", "60", "--audio-files", "6", "--audio-mb", "60"]
                if a.quick
                else ["--clients", "1000", "--audio-files", "45", "--audio-mb", "1843"]
            )
            subprocess.run(
                [sys.executable, "-m", "therabak", "demo", str(root), *sizes],
                env=self.env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        self.env.update(
            THERABAK_DATA_DIR=str(root / "Data"), THERABAK_ACCOUNT_KEY=str(root / "account.key")
        )
        return root / "Data"

    def stop(self) -> None:
        for name in ("s3", "ssh"):
            server = getattr(self, name, None)
            if server is not None:
                server.server.kill()

    # ---- measuring --------------------------------------------------------------------------

    def timed(self, place: Place, cmd: list[str], *, kill_at: int | None = None) -> Run:
        """Wall time, peak RSS (``os.wait4`` in a small launcher), requests and bytes the
        proxy passed; with *kill_at*, the process is killed (-9) once the proxy has passed
        that many bytes."""
        report = self.work / "usage.txt"
        report.unlink(missing_ok=True)
        launcher = (
            "import os, subprocess, sys, json, signal\n"
            "p = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL)\n"
            "signal.signal(signal.SIGTERM, lambda *a: os.kill(p.pid, signal.SIGKILL))\n"
            "_, status, ru = os.wait4(p.pid, 0)\n"
            "open(sys.argv[1], 'w').write(json.dumps(ru.ru_maxrss))\n"
            "sys.exit(os.waitstatus_to_exitcode(status))\n"
        )
        proxy = place.proxy
        before_req, before_up = len(proxy.counts.requests), proxy.counts.bytes_up
        before_conn = proxy.counts.connections
        t0 = time.perf_counter()
        p = subprocess.Popen(
            [sys.executable, "-c", launcher, str(report), *cmd],
            env=self.env,
            stderr=subprocess.PIPE,
            text=True,
        )
        if kill_at is not None:
            while p.poll() is None and proxy.counts.bytes_up - before_up < kill_at:
                time.sleep(0.02)
            p.send_signal(signal.SIGTERM)  # the launcher kills the backup with -9
        _out, err = p.communicate()
        wall = time.perf_counter() - t0
        if p.returncode and kill_at is None:
            print(f"    ! exit {p.returncode}: {' '.join(cmd)}\n{err[-1500:]}", flush=True)
        peak = json.loads(report.read_text()) if report.exists() else 0
        requests = len(proxy.counts.requests) - before_req
        if place.kind == "sftp":  # SSH is one stream: count connections, not requests
            requests = proxy.counts.connections - before_conn
        return Run(
            round(wall, 2),
            round(peak / 1024, 1),
            p.returncode,
            requests,
            proxy.counts.bytes_up - before_up,
        )

    def therabak(self, place: Place, url: str, **kw) -> Run:
        cmd = [
            sys.executable,
            "-m",
            "therabak",
            "backup",
            "--dest",
            url,
            "--password-file",
            str(self.work / "password"),
            "--json",
        ]
        return self.timed(place, cmd, **kw)

    def restic(self, place: Place, repo: str, *args: str) -> Run:
        cmd = ["restic", "-r", repo, *place.restic_options(), "--quiet", *args]
        return self.timed(place, cmd)

    # ---- the scenarios ----------------------------------------------------------------------

    def run(self) -> None:
        self.start_servers()
        data = self.make_practice()
        size = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
        print(f"practice: {data} ({size / 1e6:.0f} MB)", flush=True)
        self.results["practice_bytes"] = size
        for kind in self.args.kinds.split(","):
            place = Place(kind, self)
            r: dict[str, object] = {}
            self.results[kind] = r
            url = place.fresh("therabak")
            r["first"] = asdict(self.therabak(place, url))
            print(f"  {kind} therabak first: {r['first']}", flush=True)
            r["second"] = asdict(self.therabak(place, url))
            print(f"  {kind} therabak second (nothing changed): {r['second']}", flush=True)
            if not self.args.no_restic:
                repo = place.fresh("restic")
                self.restic(place, repo, "init")
                r["restic_first"] = asdict(self.restic(place, repo, "backup", str(data)))
                print(f"  {kind} restic first: {r['restic_first']}", flush=True)
                r["restic_second"] = asdict(self.restic(place, repo, "backup", str(data)))
                print(f"  {kind} restic second: {r['restic_second']}", flush=True)
            whole = r["first"]["bytes_up"]
            fresh = place.fresh("therabak")
            cut = self.therabak(place, fresh, kill_at=whole // 2)
            again = self.therabak(place, fresh)
            r["resume"] = {
                "killed_after_bytes": cut.bytes_up,
                "killed": asdict(cut),
                "again": asdict(again),
                "sent_again_share": round(again.bytes_up / whole, 3) if whole else None,
            }
            print(f"  {kind} resume: {r['resume']}", flush=True)
        self.report()

    def report(self) -> None:
        print("\nOff-site backups beside restic (127.0.0.1; wall s, peak RSS MB, requests)")
        print(f"{'':28}{'therabak':>22}{'restic':>22}   target")
        for kind in self.args.kinds.split(","):
            r = self.results[kind]

            def cell(run) -> str:
                if not run:
                    return "-"
                return f"{run['wall_s']:.1f} s {run['rss_mb']:.0f} MB {run['requests']} req"

            print(
                f"{kind} first backup{'':14}{cell(r['first']):>22}{cell(r.get('restic_first')):>22}"
                "   <= restic"
            )
            print(
                f"{kind} second, no change{'':7}{cell(r['second']):>22}"
                f"{cell(r.get('restic_second')):>22}   a handful of requests"
            )
            share = r["resume"]["sent_again_share"]
            print(f"{kind} resume after ~50 %: sent again {share:.1%} of a whole backup   < 55 %")
        out = HERE / "results" / f"remote-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(self.results, indent=1, default=str))
        print(f"\nresults: {out}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a small practice (a smoke test)")
    p.add_argument("--kinds", default="s3,sftp", help="s3,sftp (default: both)")
    p.add_argument("--workdir", type=Path, help="where the practice and servers live")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument("--no-restic", action="store_true", help="leave restic out")
    args = p.parse_args()
    bench = Bench(args)
    try:
        bench.run()
    finally:
        bench.stop()
        if not args.keep and args.workdir is None:
            shutil.rmtree(bench.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
