"""The Model menu and the download dialog, through the real window (offscreen): what the menu says about each
recommended model, removing one, and a download's bytes, time left and Cancel."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import GUI_WAIT as WAIT
from conftest import TINY_MODEL, save_shape
from hf_cache import fake_download

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QPushButton  # noqa: E402

from desktop_app.core.embedding import pipeline  # noqa: E402
from desktop_app.core.embedding.downloads import RECOMMENDED  # noqa: E402
from desktop_app.core.embedding.embed import DEFAULT_MODEL, FASTER_MODEL, HF_HUB_WEIGHTS, MORE_ACCURATE_MODEL  # noqa: E402
from desktop_app.core.progress import ProgressEvent  # noqa: E402
from desktop_app.gui.models_menu import measured_speeds, record_speed  # noqa: E402

DEFAULT, FASTER, ACCURATE = RECOMMENDED


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from huggingface_hub import constants

    folder = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(folder))
    return folder


def weights(size: int) -> dict[str, bytes]:
    return {"open_clip_config.json": b"{}", HF_HUB_WEIGHTS[0]: b"w" * size}


def test_the_menu_lists_the_models_with_size_accuracy_speed_and_what_is_on_disk(window, hub) -> None:
    fake_download(hub, DEFAULT.repo, weights(4000))
    record_speed(window.settings, FASTER_MODEL, 48, 2.0)  # as an analysis with that model here would have
    window.models_menu.refresh()
    entries = window.models_menu.entries()
    recommended = [DEFAULT_MODEL, FASTER_MODEL, MORE_ACCURATE_MODEL]
    # The window uses the tiny local-dir model: it is listed too, as the one in use (not one to download).
    assert list(entries) == [*recommended, window.model_box.currentData()]
    assert entries[window.model_box.currentData()].startswith("In use: local-dir:")
    assert "— downloaded ·" in entries[DEFAULT_MODEL]
    assert "not downloaded (605 MB)" in entries[FASTER_MODEL] and "not downloaded (599 MB)" in entries[ACCURATE.model]
    assert "72.8 %*" in entries[DEFAULT_MODEL] and "66.6 %*" in entries[FASTER_MODEL]
    assert any(a.text().startswith("* ImageNet zero-shot accuracy, quoted from open_clip's published")
               for a in window.models_menu.actions())  # the footnote that says where the figures come from
    assert "24 items/s here" in entries[FASTER_MODEL]
    assert "speed here not measured yet" in entries[DEFAULT_MODEL]
    assert max(len(entries[m]) for m in recommended) <= 90  # fits a laptop screen (it was ~150 characters)
    assert [a.data() for a in window.models_menu.remove_menu.actions()] == [DEFAULT_MODEL]

    chosen = next(a for a in window.models_menu.actions() if a.data() == FASTER_MODEL)
    chosen.trigger()
    assert window.model_box.currentData() == FASTER_MODEL
    window.models_menu.refresh()
    assert [a.data() for a in window.models_menu.actions() if a.isChecked()] == [FASTER_MODEL]


def test_removing_a_model_deletes_exactly_its_files_after_asking(window, hub) -> None:
    gone = fake_download(hub, DEFAULT.repo, weights(4000))
    kept = fake_download(hub, ACCURATE.repo, weights(3000))
    kept_files = sorted(kept.rglob("*"))
    asked: list[str] = []
    window.confirm_remove = lambda rec: asked.append(rec.model) or False  # the user says No
    window.models_menu.refresh()
    remove = next(a for a in window.models_menu.remove_menu.actions() if a.data() == DEFAULT_MODEL)
    remove.trigger()
    assert asked == [DEFAULT_MODEL] and gone.exists()

    window.confirm_remove = lambda rec: asked.append(rec.model) or True
    remove.trigger()
    assert not gone.exists() and sorted(kept.rglob("*")) == kept_files
    assert "Removed the model" in window.stage_label.text()
    entries = window.models_menu.entries()  # the menu was rebuilt by the removal
    assert "not downloaded (605 MB)" in entries[DEFAULT_MODEL] and "— downloaded ·" in entries[ACCURATE.model]
    assert [a.data() for a in window.models_menu.remove_menu.actions()] == [ACCURATE.model]


def test_a_download_shows_megabytes_and_time_left_and_cancel_ends_the_job(qtbot, window, tmp_path,
                                                                          monkeypatch) -> None:
    total = 605_000_000

    def downloading(folders, settings, analysis_settings, token):  # the pipeline while it fetches the weights
        done = 0
        while True:  # until cancelled: the worker stops the job after the event that follows a cancel
            yield ProgressEvent("download", done, total, f"downloading {settings.model}")
            done += 3_000_000
            time.sleep(0.06)  # slower than the worker's throttle, so every event reaches the window

    monkeypatch.setattr(pipeline, "run_analysis", downloading)
    save_shape(tmp_path / "red.png", "red", "circle")
    window.add_paths([str(tmp_path / "red.png")])
    window.analyze()
    qtbot.waitUntil(lambda: window.jobs.download_dialog is not None
                    and "left (" in window.jobs.download_dialog.labelText(),
                    timeout=WAIT)
    dialog = window.jobs.download_dialog
    text = dialog.labelText()
    assert " MB of 605.0 MB · about " in text and TINY_MODEL in text and dialog.isVisible()
    assert 0 < dialog.value() < dialog.maximum()

    qtbot.mouseClick(dialog.findChild(QPushButton), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.busy(), timeout=WAIT)  # the window's state, not a signal that may have fired
    assert window.stage_label.text() == "Cancelled" and window.jobs.download_dialog is None and window.result is None


def test_an_analysis_here_records_how_fast_its_model_reads(qtbot, window, tmp_path) -> None:
    for n in range(20):
        save_shape(tmp_path / "lib" / f"shape-{n}.png", "red" if n % 2 else "blue", "circle", seed=n)
    window.add_paths([str(tmp_path / "lib")])
    assert measured_speeds(window.settings) == {}
    window.analyze()
    qtbot.waitUntil(lambda: window.result is not None and not window.busy(), timeout=WAIT)
    assert window.jobs.download_dialog is None  # a local model folder downloads nothing
    assert measured_speeds(window.settings)[TINY_MODEL] > 0


def test_the_download_dialog_estimates_from_the_rate_so_far_and_takes_weights_over_2_gb(qtbot, window) -> None:
    from desktop_app.gui.download_dialog import DownloadDialog

    dialog = DownloadDialog(window, DEFAULT_MODEL)
    qtbot.addWidget(dialog)
    dialog.show_bytes(1_000_000, None, now=10.0)
    assert "1.0 MB so far · size not known yet" in dialog.labelText()
    total = 5_000_000_000  # more bytes than a C int holds: the bar counts kilobytes
    dialog.show_bytes(1_000_000, total, now=10.2)
    assert "1.0 MB of 5,000.0 MB · estimating the time left…" in dialog.labelText()
    dialog.show_bytes(101_000_000, total, now=30.0)  # 100 MB in 20 s since the first event: 5 MB/s
    assert "101.0 MB of 5,000.0 MB · about 16 min left (5.0 MB/s)" in dialog.labelText()
    assert dialog.maximum() == total // 1024 and dialog.value() == 101_000_000 // 1024


def test_the_model_chosen_is_the_one_the_next_launch_starts_with(qtbot, window, tmp_path) -> None:
    """Choose Faster, quit, start again without --model: Faster is still chosen (before: back to the default,
    and the next Analyze offered to download another 605 MB model)."""
    from desktop_app.gui.main_window import MainWindow

    window.choose_model(FASTER_MODEL)
    window.close()
    again = MainWindow(cache_dir=tmp_path / "cache", interactive_errors=False)
    qtbot.addWidget(again)
    assert again.model_box.currentData() == FASTER_MODEL
    named = MainWindow(model=MORE_ACCURATE_MODEL, cache_dir=tmp_path / "cache", interactive_errors=False)
    qtbot.addWidget(named)
    assert named.model_box.currentData() == MORE_ACCURATE_MODEL  # --model (or a project) still decides
