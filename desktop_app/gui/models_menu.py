"""The Model menu: the recommended models with their download size, published accuracy, the speed measured on
this computer and whether they are downloaded; choose one, a local model folder, or remove a downloaded one.

Everything here is cheap on the GUI thread: the list is fixed, "downloaded" is a scan of the Hugging Face cache
folder (no torch, no network), and the speed is what the app measured in an earlier analysis.

Why the speed shown is the app's own measurement and not the benchmark's: ``benchmarks/model_speed.py`` times
the image tower alone on the developer's machine; what a user wants to know is how fast *their* computer reads
*their* pictures with that model (decoding included). So each analysis that reads at least ``MIN_TIMED_ITEMS``
new items stores items/s for its model in QSettings, and a model never used here says "not measured yet".
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

from desktop_app.core.embedding.downloads import RECOMMENDED, Recommended, downloaded


class ModelChooser(Protocol):
    """What the menu needs of the window (``MainWindow``)."""

    settings: QSettings
    model_box: Any

    def choose_model(self, model: str) -> None: ...
    def choose_local_model(self) -> None: ...
    def remove_model(self, rec: Recommended) -> None: ...
    def busy(self) -> bool: ...

SPEEDS_KEY = "models/speeds"  # one JSON object {model: items/s}: model names hold "/" and ":", unfit for keys
MIN_TIMED_ITEMS = 16  # fewer items time mostly the warm-up, not the model


def measured_speeds(settings: QSettings) -> dict[str, float]:
    """Items per second each model read in its last timed analysis on this computer."""
    try:
        value = json.loads(str(settings.value(SPEEDS_KEY, "{}")))
    except ValueError:
        return {}
    return {str(k): float(v) for k, v in value.items()} if isinstance(value, dict) else {}


def record_speed(settings: QSettings, model: str, items: int, seconds: float) -> None:
    """Remember how fast ``model`` read ``items`` new items here (ignored when too few to say)."""
    if items < MIN_TIMED_ITEMS or seconds <= 0:
        return
    speeds = measured_speeds(settings)
    speeds[model] = round(items / seconds, 1)
    settings.setValue(SPEEDS_KEY, json.dumps(speeds))


ACCURACY_NOTE = "* ImageNet zero-shot accuracy, quoted from open_clip's published results table"


def _speed_text(speed: float | None) -> str:
    return f"{speed:g} items/s here" if speed else "speed here not measured yet"


def entry_text(rec: Recommended, on_disk: bool, speed: float | None) -> str:
    """One short line of the menu: name, download size or state, accuracy (its source is the menu's footnote),
    speed measured here; the full model name and its repository are in the tooltip."""
    state = "downloaded" if on_disk else f"not downloaded ({rec.size_mb} MB)"
    return (f"{rec.label} ({rec.model.split(':')[0]}) — {state} · {rec.imagenet_top1:.1f} %* · "
            f"{_speed_text(speed)}")


class ModelsMenu(QMenu):
    """Rebuilt each time it opens, so the on-disk marks follow downloads and removals."""

    def __init__(self, window: Any) -> None:  # a QMainWindow that is a ModelChooser
        super().__init__("&Model", window)
        self._window: ModelChooser = window
        self.remove_menu = QMenu("Remove Downloaded Model", self)
        self.aboutToShow.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the Hugging Face cache and the measured speeds; mark the model in use."""
        window = self._window
        self.clear()
        self.remove_menu.clear()
        on_disk = downloaded()
        speeds = measured_speeds(window.settings)
        current = window.model_box.currentData()
        for rec in RECOMMENDED:
            action = self.addAction(entry_text(rec, rec.repo in on_disk, speeds.get(rec.model)))
            action.setCheckable(True)
            action.setChecked(rec.model == current)
            action.setData(rec.model)
            action.setToolTip(f"{rec.model}: weights from the Hugging Face repository {rec.repo}")
            action.triggered.connect(lambda _checked=False, m=rec.model: window.choose_model(m))
            if rec.repo in on_disk:
                remove = self.remove_menu.addAction(
                    f"{rec.label}: {rec.model} ({on_disk[rec.repo] / 1e6:,.0f} MB)…")
                remove.setData(rec.model)
                remove.triggered.connect(lambda _checked=False, r=rec: window.remove_model(r))
        if current and current not in {rec.model for rec in RECOMMENDED}:  # an hf-hub: or local-dir: model
            in_use = self.addAction(f"In use: {current} — {_speed_text(speeds.get(current))}")
            in_use.setCheckable(True)
            in_use.setChecked(True)
            in_use.setData(current)
        self.addAction("Local Model Folder…", window.choose_local_model)
        self.addSeparator()
        self.addMenu(self.remove_menu)
        self.addSeparator()
        self.addAction(ACCURACY_NOTE).setEnabled(False)
        # Deleting the weights a running analysis is reading would fail it half-way.
        self.remove_menu.setEnabled(not self.remove_menu.isEmpty() and not window.busy())

    def entries(self) -> dict[str, str]:
        """``{model: its line}`` for the models the menu lists now (the recommended ones, and the one in use)."""
        return {a.data(): a.text() for a in self.actions() if a.isCheckable()}
