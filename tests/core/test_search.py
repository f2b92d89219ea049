"""Ranking by cosine similarity: best first, equal scores by row, the item itself left out of "more like this"."""

import numpy as np

from desktop_app.core.analysis.search import rank


def test_best_first_ties_by_row_and_the_item_itself_left_out() -> None:
    v = np.array([[1, 0], [0, 1], [1, 0], [0.6, 0.8], [1, 0]], np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    assert rank(v, np.array([1, 0]), top=3).order.tolist() == [0, 2, 4]  # three equal scores: by row
    assert rank(v, v[2], top=3, exclude=2).order.tolist() == [0, 4, 3]
    everything = rank(v, np.array([0, 1]))
    assert everything.order.tolist() == [1, 3, 0, 2, 4] and len(everything.scores) == 5
    assert rank(v, v[0], top=10, exclude=0).order.tolist() == [2, 4, 3, 1]  # asks for more than there are
    assert rank(v[:0], np.array([1, 0]), top=5).order.tolist() == []
