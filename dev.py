#!/usr/bin/env python3
"""Set up and run Uptake on a fresh machine with nothing but Python 3.11+.

python3 dev.py run     # virtualenv + install + migrate + demo data, then serve on SQLite
python3 dev.py test    # virtualenv + dev install, then the whole test suite (pytest args pass through)
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("UPTAKE_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def ensure_env(extras: str) -> None:
    """Create the virtualenv and install the project once per pyproject change (a stamp file remembers)."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs before anything checks the version
        sys.exit("Uptake needs Python 3.11 or newer.")
    if not PY.exists():
        print(f"creating virtualenv in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()[:16]
    stamp = VENV / f".uptake-installed-{extras}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"installing uptake[{extras}] (first run takes a minute)", flush=True)
    subprocess.run([str(PY), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(PY), "-m", "pip", "install", "-q", "-e", f"{ROOT}[{extras}]"], check=True)
    stamp.write_text(digest)


def uptake(*args: str) -> None:
    subprocess.run([str(BIN / "uptake"), *args], check=True, cwd=ROOT)


def main() -> int:
    what = sys.argv[1] if len(sys.argv) > 1 else "help"
    if what == "run":
        ensure_env("postgres")
        uptake("db", "upgrade")
        uptake("demo")
        host = os.environ.get("UPTAKE_HOST", "127.0.0.1")
        port = os.environ.get("UPTAKE_PORT", "3978")
        print(f"\nUptake runs on http://{host}:{port}  (health: http://{host}:{port}/healthz)")
        print(f"Chat with it in another terminal:  {BIN / 'uptake'} chat --as Ana\n", flush=True)
        os.execv(str(BIN / "uptake"), [str(BIN / "uptake"), "serve", *sys.argv[2:]])
    if what == "test":
        ensure_env("dev")
        return subprocess.run([str(PY), "-m", "pytest", *sys.argv[2:]], cwd=ROOT).returncode
    print(__doc__)
    return 0 if what in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
