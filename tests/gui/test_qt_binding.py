"""The Qt binding itself: PySide6 6.12.0 on Python 3.11 drops a reference to None on every void call, so a
long session (or a long test run) aborts with "deallocating None". pyproject.toml keeps that version out; this
test says so at once if such a binding is installed again."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("PySide6")
from PySide6.QtWidgets import QLabel  # noqa: E402


def test_void_calls_do_not_eat_references_to_none(qtbot) -> None:
    label = QLabel("x")
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(5000):
        label.update()
        label.setText("y")
    lost = before - sys.getrefcount(None)
    assert lost < 1000, f"the Qt binding lost {lost} references to None in 10,000 calls (PySide6 6.12.0 on 3.11?)"
