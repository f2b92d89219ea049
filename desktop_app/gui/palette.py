"""Group colours: distinct, readable on light and dark backgrounds, the same for the same group id."""

from __future__ import annotations

from PySide6.QtGui import QColor

# Tableau 20 reordered so neighbouring ids differ strongly; beyond 20, hues are spread by the golden ratio.
_BASE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f",
         "#af7aa1", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
         "#bcbd22", "#7f7f7f"]
NOISE = QColor("#9a9a9a")


def group_colour(cluster_id: int) -> QColor:
    if cluster_id < 0:
        return QColor(NOISE)
    if cluster_id < len(_BASE):
        return QColor(_BASE[cluster_id])
    hue = (cluster_id * 0.618033988749895) % 1.0
    return QColor.fromHsvF(hue, 0.55, 0.85)
