"""Build the double-clickable PhotoAtlas for this platform (PyInstaller onedir), then package it.

    python3 bootstrap.py installer          # sets up .venv with PyInstaller, then runs this script

    Linux    build/PhotoAtlas-VERSION-linux-ARCH.tar.gz   (+ .AppImage when appimagetool is on PATH)
    macOS    build/dist/PhotoAtlas.app and build/PhotoAtlas-VERSION-macos-ARCH.dmg (installer/macos/make_dmg.sh)
    Windows  build/dist/PhotoAtlas/ and, when Inno Setup's iscc is on PATH, build/PhotoAtlas-VERSION-setup.exe

Every platform builds on itself (PyInstaller does not cross-compile). The result is smoke-tested with
``--smoke-test``: ``--version`` and a headless screenshot of the sample folder with the tiny test model.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
DIST = BUILD / "dist"
SPEC = ROOT / "installer" / "photoatlas.spec"
sys.path.insert(0, str(ROOT))
from desktop_app import __version__  # noqa: E402

ARCH = {"amd64": "x86_64", "arm64": "arm64", "aarch64": "arm64"}.get(platform.machine().lower(), platform.machine())


def run(cmd: list[str | Path], **kwargs) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, **kwargs)


def pyinstaller() -> Path:
    """Run PyInstaller on the spec; returns the onedir folder."""
    run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
         "--distpath", DIST, "--workpath", BUILD / "work", SPEC])
    return DIST / "PhotoAtlas"


def linux(app: Path) -> list[Path]:
    """tar.gz with the .desktop file, icons and an installer for the menu entry; AppImage if possible."""
    shutil.copy2(ROOT / "resources" / "photoatlas.desktop", app / "photoatlas.desktop")
    shutil.copy2(ROOT / "installer" / "linux" / "install-desktop-entry.sh", app / "install-desktop-entry.sh")
    shutil.copy2(ROOT / "resources" / "icons" / "photoatlas-256.png", app / "photoatlas.png")
    name = f"PhotoAtlas-{__version__}-linux-{ARCH}"
    tarball = BUILD / f"{name}.tar.gz"
    print(f"packing {tarball}", flush=True)
    with tarfile.open(tarball, "w:gz", compresslevel=3) as tar:
        tar.add(app, arcname=name)
    out = [tarball]
    tool = shutil.which("appimagetool")
    if tool:
        appdir = BUILD / "PhotoAtlas.AppDir"
        shutil.rmtree(appdir, ignore_errors=True)
        shutil.copytree(app, appdir / "usr" / "lib" / "photoatlas", symlinks=True)
        here = '"$(dirname "$(readlink -f "$0")")"'
        (appdir / "AppRun").write_text(f'#!/bin/sh\nexec {here}/usr/lib/photoatlas/photoatlas "$@"\n')
        (appdir / "AppRun").chmod(0o755)
        shutil.copy2(ROOT / "resources" / "photoatlas.desktop", appdir / "photoatlas.desktop")
        shutil.copy2(ROOT / "resources" / "icons" / "photoatlas-256.png", appdir / "photoatlas.png")
        image = BUILD / f"{name}.AppImage"
        run([tool, appdir, image], env={**os.environ, "ARCH": ARCH})
        out.append(image)
    else:
        print("appimagetool is not on PATH: no AppImage (the tar.gz is complete without it)", flush=True)
    return out


def macos(app: Path) -> list[Path]:
    dmg = BUILD / f"PhotoAtlas-{__version__}-macos-{ARCH}.dmg"
    run(["bash", ROOT / "installer" / "macos" / "make_dmg.sh", DIST / "PhotoAtlas.app", dmg])
    return [dmg]


def windows(app: Path) -> list[Path]:
    iscc = shutil.which("iscc") or shutil.which("ISCC")
    if not iscc:
        print("Inno Setup (iscc) is not on PATH: no setup.exe; build/dist/PhotoAtlas/ runs as it is", flush=True)
        return [app]
    run([iscc, f"/DAppVersion={__version__}", f"/DSourceDir={app}", f"/O{BUILD}",
         ROOT / "installer" / "windows" / "photoatlas.iss"])
    return [BUILD / f"PhotoAtlas-{__version__}-setup.exe"]


def smoke_test(app: Path) -> None:
    """The frozen app starts, knows its version, and maps the sample folder offscreen with the tiny model."""
    exe = app / ("photoatlas.exe" if os.name == "nt" else "photoatlas")
    if sys.platform == "darwin":
        exe = DIST / "PhotoAtlas.app" / "Contents" / "MacOS" / "photoatlas"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    assert out == f"photoatlas {__version__}", out
    shot = BUILD / "smoke-screenshot.png"
    shot.unlink(missing_ok=True)
    shutil.rmtree(BUILD / "smoke-cache", ignore_errors=True)  # a fresh cache: embed, lay out and cluster for real
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    run([exe, "gui", ROOT / "resources" / "sample", "--model", f"local-dir:{ROOT / 'tests' / 'fixtures' / 'tiny-clip'}",
         "--cache-dir", BUILD / "smoke-cache", "--screenshot", shot, "--quit-when-done"], env=env, timeout=600)
    assert shot.is_file() and shot.stat().st_size > 10_000, "no screenshot"
    print(f"smoke test passed: {out}; sample mapped and screenshot {shot} in {time.perf_counter() - started:.1f} s")


def size_of(path: Path) -> int:
    """Bytes on disk, counting a file once (symbolic links inside the bundle are not counted again)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-build", action="store_true", help="package and test an existing build/dist")
    parser.add_argument("--smoke-test", action="store_true", help="run the frozen app after building")
    args = parser.parse_args()
    started = time.perf_counter()
    app = DIST / "PhotoAtlas" if args.skip_build else pyinstaller()
    built = time.perf_counter() - started
    if args.smoke_test:
        smoke_test(app)
    packaged = {"linux": linux, "darwin": macos, "win32": windows}.get(sys.platform, lambda a: [a])(app)
    print(f"PyInstaller: {built / 60:.1f} min; folder {size_of(app) / 2**30:.2f} GiB")
    for p in packaged:
        print(f"  {p}  {size_of(p) / 2**30:.2f} GiB")
    print(f"total {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
