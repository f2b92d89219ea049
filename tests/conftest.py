"""Shared fixtures. Nothing here touches the network: the model is the committed tiny CLIP."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
TINY_MODEL_DIR = FIXTURES / "tiny-clip"
TINY_MODEL = f"local-dir:{TINY_MODEL_DIR}"
sys.path.insert(0, str(FIXTURES))
# Before pytest-qt's session-wide QApplication exists: tests never need (or have) a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from shapes import draw_shape  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point caches and settings at temporary folders so a developer's own setup never leaks in."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))  # the libraries' catalogues
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    # Qt reads XDG_CONFIG_HOME once per process: point QSettings at this test's folder explicitly, or one
    # test's saved choices (say, the "By prompts" grouping) would greet the next test's window.
    try:
        from PySide6.QtCore import QSettings
    except ImportError:
        return
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.NativeFormat, scope, str(home / "config"))


GUI_WAIT = 180_000  # ms: generous, CI machines are slow; no GUI test makes a timing assertion


@pytest.fixture
def window(qtbot, tmp_path):
    """The main window with the tiny model and a cache of its own, shown (offscreen)."""
    from desktop_app.gui.main_window import MainWindow

    w = MainWindow(model=TINY_MODEL, cache_dir=tmp_path / "cache", interactive_errors=False)
    qtbot.addWidget(w)
    w.show()
    return w


def reopened(qtbot, window, project: Path):
    """A second window (same model and cache as ``window``) that has opened ``project`` and drawn its map."""
    from desktop_app.gui.main_window import MainWindow

    again = MainWindow(model=window.model_box.currentData(), cache_dir=window.cache_dir, interactive_errors=False)
    qtbot.addWidget(again)
    with qtbot.waitSignal(again.analysisFinished, timeout=GUI_WAIT):
        again.open_project(project)
    return again


@pytest.fixture(scope="session")
def tiny_resolved():
    from desktop_app.core.embedding.embed import ModelSpec, resolve_model

    return resolve_model(ModelSpec.parse(TINY_MODEL))


@pytest.fixture(scope="session")
def embedder(tiny_resolved):
    from desktop_app.core.embedding.embed import Embedder

    return Embedder.load(tiny_resolved, "cpu")


def save_shape(path: Path, colour: str, shape: str, size: str = "large", px: int = 96, seed: int = 0) -> Path:
    """Write a picture of a coloured shape to ``path`` (format from the extension)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draw_shape(colour, shape, size, px, random.Random(seed)).save(path)
    return path
