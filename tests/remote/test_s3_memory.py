"""What an S3 destination keeps in memory for a whole backup (issue 17: peak RSS < 150 MB).

Not timed and not an RSS figure (those are in tests/bench/remote.py): the two things the
S3 storage leaves out, checked in a fresh interpreter against the moto server:
botocore's endpoint table beyond S3 (``endpoints.json``, ~7 MB as Python objects, kept
as long as the client) and boto3's extra modules (s3transfer, multiprocessing: never used).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from remote.servers import S3Server

PROBE = r"""
import gc, io, json, sys
from therabak.storage.s3 import S3Storage

endpoint, bucket = sys.argv[1:3]  # the credentials come from the environment
storage = S3Storage(bucket, "praxis", endpoint_url=endpoint, path_style=True)
storage.put("config", io.BytesIO(b"hello"), 5)
got = storage.get("config")
gc.collect()
tables = [o for o in gc.get_objects()
          if isinstance(o, dict) and isinstance(o.get("partitions"), list) and "version" in o]
services = sorted({name for t in tables for p in t["partitions"] for name in p.get("services", {})})
print(json.dumps({
    "got": got.decode(),
    "services": services,
    "modules": sorted(m for m in ("boto3", "s3transfer", "multiprocessing") if m in sys.modules),
}))
"""


def test_s3_storage_keeps_no_endpoint_table_and_no_boto3(s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket("memory-probe")
    env = dict(
        os.environ, AWS_ACCESS_KEY_ID=s3_server.key_id, AWS_SECRET_ACCESS_KEY=s3_server.secret
    )
    out = subprocess.run(
        [sys.executable, "-c", PROBE, s3_server.endpoint, bucket],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["got"] == "hello"  # the client works after the table went
    assert seen["services"] == ["s3"]  # not the ~300 services of every AWS partition
    assert seen["modules"] == []
