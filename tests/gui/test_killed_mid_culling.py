"""A photographer culls in the real window and the app is killed (SIGKILL) mid-way: reopened, the library has every
mark, rename and merge made before the kill — there is no Save to forget.

The app runs in a process of its own (offscreen) and reports each decision on stdout after the window has made it;
the test kills it right after the Nth report, whatever the app is doing then, and reads the catalogue back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, TINY_MODEL, save_shape

pytest.importorskip("PySide6")

from desktop_app.core.embedding.settings import EmbedSettings  # noqa: E402
from desktop_app.core.library.library import Library  # noqa: E402

KILL_AFTER = 9  # decisions reported: a merge, two renames and six marks (the app goes on marking until killed)

CULLING = r"""
import json, sys, time
from pathlib import Path
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from desktop_app.gui.main_window import MainWindow, application

folder, cache, libraries, model = sys.argv[1:5]
app = application()
w = MainWindow(model=model, cache_dir=Path(cache), interactive_errors=False, library_dir=Path(libraries),
               remember_layout=False)
w.show()
finished = []
w.analysisFinished.connect(lambda: finished.append(1))
w.add_paths([folder], analyze=True)
while not finished:
    app.processEvents()
    time.sleep(0.01)

def report(**what):
    print(json.dumps(what), flush=True)

def settle(until):
    deadline = time.monotonic() + 60
    while not until() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)

report(kind="ready", library=str(w.library.path), groups=len(w.analysis.clusters))
# A merge, the way a user does it: two rows of the Groups panel selected, then Groups > Merge Selected Groups.
panel = w.groups
first, second = panel.topLevelItem(0), panel.topLevelItem(1)
names = [first.text(0), second.text(0)]
first.setSelected(True)
second.setSelected(True)
w.act_merge.trigger()
report(kind="merge", names=names)
keys = [Qt.Key.Key_3, Qt.Key.Key_P, Qt.Key.Key_5, Qt.Key.Key_X, Qt.Key.Key_1, Qt.Key.Key_7, Qt.Key.Key_2]
w.open_loupe(0)
n = 0
while True:
    if n == 1 or (n == 3 and len(w.analysis.clusters) >= 2):  # rename groups by typing, as a user does
        row = panel.topLevelItem(0 if n == 1 else len(w.analysis.clusters) - 1)
        name = f"Renamed {n}"
        row.setText(0, name)
        settle(lambda: name in {c.name for c in w.analysis.clusters})
        report(kind="rename", name=name)
    row = w.state.current
    QTest.keyClick(w.loupe, keys[n % len(keys)])
    mark = w.state.marks.get(w.result.paths[row])
    report(kind="mark", path=w.result.paths[row], rating=mark.rating, flag=mark.flag, label=mark.label)
    QTest.keyClick(w.loupe, Qt.Key.Key_Right)
    n += 1
    if w.state.current == row:
        time.sleep(3600)  # the last picture: wait for the kill
"""


def test_a_killed_app_loses_no_decision_made_before_the_kill(tmp_path: Path) -> None:
    folder = tmp_path / "wedding"
    for n in range(8):
        for colour, shape in (("red", "circle"), ("blue", "square"), ("green", "triangle")):
            save_shape(folder / f"{colour}-{shape}-{n}.jpg", colour, shape, seed=n)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    app = subprocess.Popen([sys.executable, "-c", CULLING, str(folder), str(tmp_path / "cache"),
                            str(tmp_path / "libraries"), TINY_MODEL], cwd=ROOT, env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reported: list[dict] = []
    try:
        for line in app.stdout:  # type: ignore[union-attr]
            reported.append(json.loads(line))
            if len(reported) == KILL_AFTER + 1:  # "ready", then the decisions
                app.send_signal(signal.SIGKILL)  # whatever it is doing: no chance to save or close anything
                break
    finally:
        if app.poll() is None:
            app.kill()
        stderr = app.stderr.read() if app.stderr else ""  # type: ignore[union-attr]
        app.wait(60)
    assert len(reported) == KILL_AFTER + 1, stderr
    assert app.returncode == -signal.SIGKILL
    catalogue = Path(reported[0]["library"])
    assert [r["kind"] for r in reported[1:5]] == ["merge", "mark", "rename", "mark"]
    groups = reported[0]["groups"]
    assert groups >= 2  # the shapes' three colours: the tiny model finds at least two groups on any machine

    library = Library.open(catalogue, embed=EmbedSettings(cache_dir=tmp_path / "cache"))  # the lock went with it
    try:
        marks = library.state.marks
        for r in (r for r in reported if r["kind"] == "mark"):
            assert marks.get(r["path"]).rating == r["rating"] and marks.get(r["path"]).flag == r["flag"], r
            assert marks.get(r["path"]).label == r["label"], r
        library.analysis_job().drive()
        names = {c.name for c in library.analysis.clusters}
        renamed = {r["name"] for r in reported if r["kind"] == "rename"}
        assert renamed <= names and len(library.analysis.clusters) == groups - 1  # the merge held
        assert library.history.undo_text is not None  # and the history, to undo any of it
    finally:
        library.close()
