"""The Photo menu: stars (0-5), pick / reject / unflag (P / X / U) and colour labels (6-9), as in Lightroom.

The actions act on whatever the user is looking at (``targets()``: the loupe's picture, or the selection on the
map or in the grid) through the shared ``LibraryState``, so every change is one undoable command. Shortcuts are
the window's: a text field with focus keeps its digits and letters (Qt gives a focused line edit the keys
first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from desktop_app.core.library.state import LibraryState
from desktop_app.core.review.marks import COLOUR_LABELS, LABEL_KEYS

LABEL_SHORTCUTS = {name: key for key, name in LABEL_KEYS.items()}


class PhotoMenu(QMenu):
    """``targets()`` returns the rows an action applies to (empty: the actions do nothing)."""

    def __init__(self, state: Callable[[], LibraryState], targets: Callable[[], Sequence[int]],
                 parent: QWidget) -> None:
        super().__init__("&Photo", parent)
        self._state = state
        self._targets = targets
        self.marking: list[QAction] = []  # enabled only while there is something to mark
        rating = self.addMenu("Set Rating")
        for stars in range(6):
            text = "None" if stars == 0 else "★" * stars
            self._add(rating, text, str(stars), lambda _checked=False, s=stars: self._apply("rate", s))
        flag = self.addMenu("Set Flag")
        self._add(flag, "Pick", "P", lambda: self._apply("flag", "pick"))
        self._add(flag, "Reject", "X", lambda: self._apply("flag", "reject"))
        self._add(flag, "Unflag", "U", lambda: self._apply("flag", None))
        label = self.addMenu("Set Colour Label")
        for name in COLOUR_LABELS:
            self._add(label, name, LABEL_SHORTCUTS.get(name), lambda _checked=False, n=name: self._apply("label", n))
        self._add(label, "None", None, lambda: self._apply("label", None))

    def _add(self, menu: QMenu, text: str, key: str | None, slot: Callable[[], None]) -> QAction:
        action = menu.addAction(text)
        if key:
            action.setShortcut(QKeySequence(key))
        action.triggered.connect(slot)
        self.marking.append(action)
        return action

    def _apply(self, what: str, value) -> None:
        rows = list(self._targets())
        if not rows:
            return
        state = self._state()
        if what == "label" and value:
            state.toggle_label(rows, value)  # the same colour again takes the label off, as in Lightroom
        else:
            getattr(state, what)(rows, value)

    def set_enabled(self, enabled: bool) -> None:
        for a in self.marking:
            a.setEnabled(enabled)
