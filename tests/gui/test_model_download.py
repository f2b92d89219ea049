"""First launch through the real window (offscreen) against the local stand-in for the Hugging Face hub: the model
downloads with a dialog showing megabytes and time left, lands in the standard Hugging Face cache, and Cancel in
that dialog ends the job and the download. No network: ``hub_in_process`` points huggingface_hub at localhost."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from conftest import GUI_WAIT as WAIT
from conftest import TINY_MODEL_DIR, save_shape
from hub_fixture import hub, hub_in_process  # noqa: F401 (pytest fixtures)
from hub_server import Hub

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QPushButton  # noqa: E402

from desktop_app.core.embedding.downloads import RECOMMENDED, downloaded  # noqa: E402
from desktop_app.core.embedding.embed import DEFAULT_MODEL, HF_HUB_WEIGHTS  # noqa: E402
from desktop_app.gui.download_dialog import DownloadDialog  # noqa: E402

REPO = "photoatlas-tests/tiny-clip"
CHUNK = 64 * 1024  # the stand-in hub's piece size


def record_labels(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the download dialog showed (a fast download may be over before the test looks)."""
    shown: list[str] = []
    real = DownloadDialog.show_bytes

    def show_bytes(self, done, total, now=None):  # type: ignore[no-untyped-def]
        real(self, done, total, now)
        shown.append(self.labelText())

    monkeypatch.setattr(DownloadDialog, "show_bytes", show_bytes)
    return shown


def failures(window) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """What the window would have shown as an error (message, details), so a test can stop waiting on one."""
    seen: list[tuple[str, str]] = []
    window.show_error = lambda message, details="": seen.append((message, details))
    return seen


def fetch_threads() -> list[threading.Thread]:
    """The pipeline's download thread(s) still running."""
    return [t for t in threading.enumerate() if t.name == "photoatlas-model-fetch"]


def test_an_hf_hub_model_downloads_with_a_dialog_into_the_hugging_face_cache_and_analyses(
        qtbot, window, tmp_path, monkeypatch, hub_in_process: Hub) -> None:  # noqa: F811
    hub_in_process.add_folder(REPO, TINY_MODEL_DIR)
    # A slow line: the weights take at least ~100 pieces x 20 ms, so the dialog has a rate to estimate from.
    hub_in_process.chunk_delay = 0.02
    shown = record_labels(monkeypatch)
    asked: list[str] = []
    window.confirm_download = lambda download: asked.append(download.repo) or True
    failed = failures(window)
    save_shape(tmp_path / "lib" / "red.png", "red", "circle")
    window.add_paths([str(tmp_path / "lib")])
    window.choose_model(f"hf-hub:{REPO}")
    window.analyze()
    qtbot.waitUntil(lambda: (window.result is not None or bool(failed)) and not window.busy(), timeout=WAIT)

    assert failed == [] and asked == [REPO]
    size_mb = (TINY_MODEL_DIR / HF_HUB_WEIGHTS[0]).stat().st_size / 1e6
    assert any(f" MB of {size_mb:,.1f} MB · about " in text and " left (" in text for text in shown)
    assert all("from 127.0.0.1" in text for text in shown)  # the host it really comes from (HF_ENDPOINT)
    assert window.jobs.download_dialog is None  # gone once the weights were there
    cached = Path(os.environ["HF_HOME"]) / "hub" / ("models--" + REPO.replace("/", "--"))
    assert REPO in downloaded() and (cached / "snapshots").is_dir()
    assert window.result.stats["embedded"] == 1


def test_cancel_in_the_dialog_stops_the_default_models_download(qtbot, window, tmp_path, monkeypatch,
                                                                 hub_in_process: Hub) -> None:  # noqa: F811
    default = RECOMMENDED[0]
    assert default.model == DEFAULT_MODEL
    # A stand-in for the default model's weights, held by the hub after its first pieces: the user has time
    # to press Cancel with the download under way.
    hub_in_process.add(default.repo, HF_HUB_WEIGHTS[0], os.urandom(64 * CHUNK))
    release = hub_in_process.pause_after(HF_HUB_WEIGHTS[0], 8 * CHUNK)
    window.confirm_download = lambda download: True
    failed = failures(window)
    save_shape(tmp_path / "lib" / "red.png", "red", "circle")
    window.add_paths([str(tmp_path / "lib")])
    window.choose_model(DEFAULT_MODEL)
    window.analyze()
    qtbot.waitUntil(lambda: bool(failed) or (window.jobs.download_dialog is not None
                                       and " MB of 4.2 MB" in window.jobs.download_dialog.labelText()), timeout=WAIT)
    assert failed == []
    try:
        qtbot.mouseClick(window.jobs.download_dialog.findChild(QPushButton), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not window.busy(), timeout=WAIT)  # the window's state, not a signal
        assert window.stage_label.text() == "Cancelled" and window.jobs.download_dialog is None
        assert window.result is None
    finally:
        release.set()
    # The download itself stops too (at its next piece, once the hub sends one): nothing lands in the cache.
    qtbot.waitUntil(lambda: not fetch_threads(), timeout=WAIT)
    assert default.repo not in downloaded()
