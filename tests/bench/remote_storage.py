"""Upload and read back one large object through each remote storage, on 127.0.0.1.

    python tests/bench/remote_storage.py [--mb 256] [--kinds s3,sftp,webdav]

Starts the test servers (moto, sshd, wsgidav; see tests/remote/servers.py), then for each
kind runs, in a fresh process: ``put`` of one object of --mb MiB from a file, ``get`` of it
in 8 MiB ranges. Prints MB/s of each and the process's peak RSS (it must stay flat in the
object size: nothing holds an object or an S3 part in memory). Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
from therabak.storage.hostkeys import KnownHosts
from therabak.storage.s3 import S3Storage
from therabak.storage.sftp import SftpStorage
from therabak.storage.webdav import WebdavStorage
spec = json.loads(sys.argv[2])
kind, path = spec["kind"], spec["file"]
if kind == "s3":
    s = S3Storage(spec["bucket"], "bench", endpoint_url=spec["endpoint"], path_style=True,
                  access_key_id=spec["key_id"], secret_access_key=spec["secret"])
elif kind == "sftp":
    from pathlib import Path
    known = KnownHosts((Path(spec["known"]),), Path(spec["known"]))
    s = SftpStorage("127.0.0.1", spec["folder"], user=spec["user"], port=spec["port"],
                    key_files=[spec["key"]], look_for_keys=False, allow_agent=False,
                    known_hosts=known)
else:
    s = WebdavStorage(spec["url"], user=spec["user"], password=os.environ["BENCH_DAV_PASSWORD"])
size = os.path.getsize(path)
s.size("warm-up")
t = time.perf_counter()
with open(path, "rb") as f:
    s.put("packs/big", f, size)
put_s = time.perf_counter() - t
t = time.perf_counter()
step = 8 << 20
got = 0
for offset in range(0, size, step):
    got += len(s.get("packs/big", offset, step))
get_s = time.perf_counter() - t
assert got == size
s.close()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
try:  # Linux: this process's own peak (ru_maxrss keeps the parent's from before exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
except OSError:
    pass
print(json.dumps({"put_s": put_s, "get_s": get_s, "peak_rss": peak}))
"""


def main() -> int:
    from remote.servers import start_s3, start_sshd, start_webdav

    p = argparse.ArgumentParser()
    p.add_argument("--mb", type=int, default=256)
    p.add_argument("--kinds", default="s3,sftp,webdav")
    args = p.parse_args()
    kinds = args.kinds.split(",")
    work = Path(tempfile.mkdtemp(prefix="therabak-remote-bench-"))
    data = work / "object.bin"
    with open(data, "wb") as f:
        for _i in range(args.mb):
            f.write(os.urandom(1 << 20))
    size = data.stat().st_size
    servers = []
    try:
        specs = {}
        if "s3" in kinds:
            s3 = start_s3(work)
            servers.append(s3.server)
            specs["s3"] = {
                "endpoint": s3.endpoint,
                "key_id": s3.key_id,
                "secret": s3.secret,
                "bucket": s3.new_bucket("bench"),
            }
        if "sftp" in kinds:
            ssh = start_sshd(work / "sshd")
            servers.append(ssh.server)
            folder = work / "sshd" / "data"
            folder.mkdir()
            specs["sftp"] = {
                "folder": str(folder),
                "user": ssh.user,
                "port": ssh.port,
                "key": str(ssh.client_key),
                "known": str(ssh.known_hosts(work / "known_hosts")),
            }
        if "webdav" in kinds:
            (work / "dav").mkdir()
            dav = start_webdav(work, work / "dav")
            servers.append(dav.server)
            os.environ["BENCH_DAV_PASSWORD"] = dav.password
            specs["webdav"] = {"url": f"http://127.0.0.1:{dav.port}/", "user": dav.user}
        print(f"{size / 1e6:.0f} MB object, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
        for kind, spec in specs.items():
            spec.update(kind=kind, file=str(data))
            r = subprocess.run(
                [sys.executable, "-c", CHILD, str(HERE.parent.parent / "tui"), json.dumps(spec)],
                capture_output=True,
                text=True,
            )
            if r.returncode != 0:
                print(f"{kind:7} failed: {r.stderr.strip().splitlines()[-1]}")
                continue
            m = json.loads(r.stdout)
            print(
                f"{kind:7} put {size / m['put_s'] / 1e6:7.1f} MB/s   "
                f"get {size / m['get_s'] / 1e6:7.1f} MB/s   "
                f"peak RSS {m['peak_rss'] / 1e6:6.1f} MB"
            )
    finally:
        for server in servers:
            server.kill()
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
