#!/usr/bin/env python3
"""Set up PhotoAtlas in a virtual environment inside the checkout (.venv), then run it or its tests.

    python3 bootstrap.py run     # set up, then open the app on the sample folder in resources/sample
    python3 bootstrap.py test    # set up (with test tools), then run every check and test
    python3 bootstrap.py installer [--smoke-test]   # set up with PyInstaller, build this platform's app

Idempotent: the venv is reused, and packages are only (re)installed when pyproject.toml changes.
Works on Linux, macOS and Windows with Python 3.11 or newer; only the standard library is used here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".photoatlas-installed"


def _run(cmd: list[str], **kwargs) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, **kwargs)


def setup(extras: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - bootstrap.py may be started by an older Python
        sys.exit(f"PhotoAtlas needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    target = f".[{extras}]" if extras else "."
    if _run([PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-e", target]) != 0:
        sys.exit("installing PhotoAtlas into .venv failed (see pip's message above)")
    STAMP.write_text(wanted + "\n")


def ensure_debian_tools() -> None:
    """Tests that read XMP back need exiftool; install it on Debian/Ubuntu when missing and allowed."""
    if shutil.which("exiftool") or not shutil.which("apt-get") or not hasattr(os, "geteuid"):
        return
    if os.geteuid() != 0:
        print("note: exiftool is missing (sudo apt-get install libimage-exiftool-perl); tests needing it skip")
        return
    _run(["apt-get", "update", "-qq"])
    _run(["apt-get", "install", "-y", "-qq", "libimage-exiftool-perl"])


def main() -> int:
    what = sys.argv[1] if len(sys.argv) > 1 else "run"
    if what == "run":
        setup("")
        args = sys.argv[2:] or ["gui", "resources/sample"]
        return _run([BIN / "photoatlas", *args])
    if what == "test":
        setup("test")
        ensure_debian_tools()
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1"}
        checks = (["lint-imports"], ["ruff", "check", "desktop_app", "tests", "benchmarks", "bootstrap.py"],
                  ["mypy"])  # mypy: the Qt-free core (pyproject.toml's [tool.mypy])
        for step in checks:
            if _run([BIN / step[0], *step[1:]], env=env) != 0:
                return 1
        return _run([PYTHON, "-m", "pytest", *sys.argv[2:]], env=env)
    if what == "installer":
        setup("installer")
        return _run([PYTHON, ROOT / "installer" / "build.py", *sys.argv[2:]])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
