"""Run one store operation in a process of its own, for the kill tests:

    python tests/store_driver.py '{"op": "backup", "store": DIR, "data": DIR, "key": FILE,
                                   "password": PW}'

with ``THERABAK_FAILPOINTS`` set (``crash-at=store.pack``, ``crash-after-bytes=N``, ...) the
process kills itself (SIGKILL) at that point. Operations: ``create``, ``backup``,
``forget`` (``ids``), ``prune``, ``passwd`` (``new``). Prints one JSON line on success.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_support import CheapPassword, backup_data  # noqa: E402
from therabak.practice.account import AccountKey  # noqa: E402
from therabak.storage.local import LocalStorage  # noqa: E402
from therabak.store.core import Store  # noqa: E402
from therabak.store.keyfile import Unlock  # noqa: E402


def run(args: dict) -> dict:
    storage = LocalStorage(Path(args["store"]))
    if args["op"] == "create":
        Store.create(storage, CheapPassword(args["password"]), **args.get("config", {}))
        return {}
    store = Store.open(storage, Unlock(password=args["password"]))
    op = args["op"]
    if op == "backup":
        out = backup_data(store, Path(args["data"]), AccountKey.load(Path(args["key"])))
        return {"snapshot": out.snapshot.snapshot_id}
    if op == "forget":
        from therabak.store.prune import forget, plan_forget

        return {"forgotten": forget(store, plan_forget(store, ids=args["ids"]))}
    if op == "prune":
        from therabak.store.prune import prune

        return prune(store).to_dict()
    if op == "passwd":
        from archive_support import cheap_params

        store.change_password(args["new"], params=cheap_params())
        return {}
    raise SystemExit(f"unknown op {op}")


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))))
