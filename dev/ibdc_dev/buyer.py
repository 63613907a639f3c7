"""A buyer of the data-exchange market, as a buyer runs it: the standard ``delta-sharing`` client (1.4.2)
in a virtual environment of its own (its pins conflict with the platform's: pyarrow, requests, fsspec),
installed by pip from the index this machine's pip is configured with, and run as a subprocess holding
none of the platform's settings or secrets. Used by the delivery tests and ``make demo-market``."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

from ibdc.settings import LOCAL_DIR

CLIENT = "delta-sharing==1.4.2"
CLIENT_VENV = LOCAL_DIR / "delta-sharing-client"

# The buyer's program: what it prints (one JSON object) is all a caller sees of the client.
CLIENT_SCRIPT = r"""
import json, os, sys
import delta_sharing
from requests.exceptions import HTTPError

profile, action, url = sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None
try:
    if action == "list":
        client = delta_sharing.SharingClient(profile)
        shares = client.list_shares()
        schemas = [s for share in shares for s in client.list_schemas(share)]
        tables = [t for schema in schemas for t in client.list_tables(schema)]
        out = {
            "shares": [s.name for s in shares],
            "schemas": [[s.share, s.name] for s in schemas],
            "tables": [[t.share, t.schema, t.name] for t in tables],
            "all_tables": [[t.share, t.schema, t.name] for t in client.list_all_tables()],
        }
    elif action == "version":
        out = {"version": delta_sharing.get_table_version(f"{profile}#{url}")}
    else:
        frame = delta_sharing.load_as_pandas(f"{profile}#{url}", use_delta_format=(action == "read-delta") or None)
        out = {"columns": list(frame.columns), "rows": frame.to_dict(orient="records")}
    print(json.dumps({"ok": True, **out}, default=str))
except HTTPError as error:
    response = error.response
    try:
        body = response.json()
    except ValueError:
        body = response.text
    print(json.dumps({"ok": False, "status": response.status_code, "body": body}))
# The answer is out: leave without the interpreter's teardown, where the client's native libraries
# (pyarrow's and the Rust kernel's threads) now and then abort on destructor order, "terminate called
# without an active exception" (delta-io/delta-rs#2184): a read that succeeded would count as failed.
# An error before this line still exits non-zero with its traceback.
sys.stdout.flush()
os._exit(0)
"""


def client_python() -> Path:
    """The client's interpreter: ``delta-sharing`` 1.4.2 in ``.local/delta-sharing-client``, made once
    (about 45 s), under a lock, and kept between runs."""
    python = CLIENT_VENV / "bin" / "python"
    marker = CLIENT_VENV / "installed.txt"
    LOCAL_DIR.mkdir(parents=True, exist_ok=True)
    with (LOCAL_DIR / "delta-sharing-client.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (python.exists() and marker.exists() and marker.read_text().strip() == CLIENT):
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(CLIENT_VENV)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", CLIENT],
                check=True,
                timeout=900,
            )
            marker.write_text(CLIENT + "\n")
        (CLIENT_VENV / "buyer.py").write_text(CLIENT_SCRIPT)
    return python


def client_env() -> dict[str, str]:
    """A buyer's environment: none of the platform's settings or secrets."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("IBDC_", "AIRFLOW", "PG"))}


def run_client(profile: Path, action: str, url: str | None = None, timeout: float = 300) -> dict:
    """Run the standard client on ``profile`` (a Delta Sharing profile file): ``action`` "list" (shares,
    schemas, tables), "version", "read" or "read-delta" (``load_as_pandas``) of ``url``
    (``<share>.<schema>.<table>``); its JSON answer: ``{"ok": True, ...}`` or ``{"ok": False, "status",
    "body"}`` for a refused call. Raises ``RuntimeError`` when the client itself fails."""
    python = client_python()
    argv = [str(python), str(CLIENT_VENV / "buyer.py"), str(profile), action, *([url] if url else [])]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=client_env())
    if done.returncode != 0:
        raise RuntimeError(f"the delta-sharing client failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
