"""The installer files agree with each other and with the repository (the full build is not part of the tests:
it takes minutes and gigabytes; ``python3 bootstrap.py installer --smoke-test`` does it)."""

from __future__ import annotations

import configparser
import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ROOT
from PIL import Image

from desktop_app import __version__

INSTALLER = ROOT / "installer"


def _load_spec(platform: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Execute the spec with PyInstaller's build steps replaced by recorders; returns what they were given."""
    import PyInstaller  # noqa: F401 — in the test extra: the spec needs its hooks
    seen: dict = {}

    def recorder(name: str):
        def record(*args, **kwargs):
            seen[name] = SimpleNamespace(args=args, kwargs=kwargs, pure=[], scripts=[], binaries=[], datas=[])
            return seen[name]
        return record

    monkeypatch.setattr(sys, "platform", platform)
    namespace = {name: recorder(name) for name in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")}
    namespace["SPECPATH"] = str(INSTALLER)
    exec(compile((INSTALLER / "photoatlas.spec").read_text(), "photoatlas.spec", "exec"), namespace)
    return seen


@pytest.mark.parametrize("platform", ["linux", "win32", "darwin"])
def test_the_spec_loads_and_everything_it_names_exists(platform: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _load_spec(platform, monkeypatch)
    analysis = seen["Analysis"]
    entry = Path(analysis.args[0][0])
    assert entry.is_file() and "freeze_support" in entry.read_text()
    datas = analysis.kwargs["datas"]
    assert (str(ROOT / "resources"), "resources") in datas
    for source, _target in datas:
        assert Path(source).exists(), source
    assert any("open_clip" in s and s.endswith(".json") for s, _ in datas)  # model configs travel along
    assert "desktop_app.gui.main_window" in analysis.kwargs["hiddenimports"]
    icon = Path(seen["EXE"].kwargs["icon"])
    assert icon.is_file() and icon.suffix == (".ico" if platform == "win32" else ".icns")
    assert seen["EXE"].kwargs["name"] == "photoatlas" and seen["COLLECT"].kwargs["name"] == "PhotoAtlas"
    assert ("BUNDLE" in seen) == (platform == "darwin")
    if platform == "darwin":
        assert seen["BUNDLE"].kwargs["info_plist"]["CFBundleShortVersionString"] == __version__


def test_the_frozen_app_finds_its_resources_where_the_spec_puts_them(monkeypatch, tmp_path: Path) -> None:
    import desktop_app.resources as resources

    assert resources.resource("vocabulary.txt").is_file() and len(resources.icon_files()) == 8
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    try:
        assert importlib.reload(resources).RESOURCES == tmp_path / "resources"  # the spec's target "resources"
    finally:
        monkeypatch.delattr(sys, "_MEIPASS")
        importlib.reload(resources)


def test_icons_come_in_the_sizes_each_platform_wants() -> None:
    icons = ROOT / "resources" / "icons"
    for px in (16, 24, 32, 48, 64, 128, 256, 512, 1024):
        with Image.open(icons / f"photoatlas-{px}.png") as im:
            assert im.size == (px, px) and im.mode == "RGBA"
    with Image.open(icons / "photoatlas.ico") as ico:
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(ico.info["sizes"])
    with Image.open(icons / "photoatlas.icns") as icns:
        assert icns.size[0] >= 512


def test_desktop_file_is_valid_and_matches_the_app() -> None:
    entry = configparser.ConfigParser(interpolation=None, strict=True)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(ROOT / "resources" / "photoatlas.desktop", encoding="utf-8")
    d = entry["Desktop Entry"]
    assert d["Type"] == "Application" and d["Name"] == "PhotoAtlas" and d["Terminal"] == "false"
    assert d["Exec"].split()[0] == "photoatlas" and d["Icon"] == "photoatlas"
    assert "Photography" in d["Categories"].split(";")
    # install-desktop-entry.sh rewrites exactly this Exec prefix to the unpacked folder's executable.
    assert "s|^Exec=photoatlas |" in (INSTALLER / "linux" / "install-desktop-entry.sh").read_text()
    desktop_file_validate = shutil.which("desktop-file-validate")
    if desktop_file_validate:
        subprocess.run([desktop_file_validate, str(ROOT / "resources" / "photoatlas.desktop")], check=True)


def test_inno_setup_script_names_files_that_exist_and_the_build_script_agrees() -> None:
    iss = (INSTALLER / "windows" / "photoatlas.iss").read_text()
    icon = re.search(r"^SetupIconFile=(.+)$", iss, re.M).group(1).strip()
    assert (INSTALLER / "windows" / icon.replace("\\", "/")).resolve().is_file()
    assert re.search(r'#define AppVersion "(.+)"', iss).group(1) == __version__
    assert "OutputBaseFilename=PhotoAtlas-{#AppVersion}-setup" in iss and "{app}\\photoatlas.exe" in iss
    build = (INSTALLER / "build.py").read_text()
    assert 'f"PhotoAtlas-{__version__}-setup.exe"' in build and "photoatlas.iss" in build


def test_build_scripts_parse_and_reference_real_files() -> None:
    for script, shell in ((INSTALLER / "linux" / "install-desktop-entry.sh", "sh"),
                          (INSTALLER / "macos" / "make_dmg.sh", "bash")):
        subprocess.run([shell, "-n", str(script)], check=True)
    build = (INSTALLER / "build.py").read_text()
    for rel in re.findall(r'ROOT / "([^"]+)" / "([^"]+)"(?: / "([^"]+)")?', build):
        path = ROOT.joinpath(*[p for p in rel if p])
        assert path.exists(), path
    subprocess.run([sys.executable, str(INSTALLER / "build.py"), "--help"], check=True, capture_output=True)
    assert "installer" in (ROOT / "bootstrap.py").read_text()
