"""Cluster names: the vocabulary file, distinct zero-shot names, c-TF-IDF keywords; and exact search."""

from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.analysis.naming import (
    DEFAULT_TEMPLATES,
    DEFAULT_VOCABULARY,
    keyword_names,
    load_vocabulary,
    zero_shot_names,
)
from desktop_app.core.analysis.search import rank
from desktop_app.core.errors import BadArgument


def test_shipped_vocabulary_has_hundreds_of_distinct_concepts() -> None:
    vocab = load_vocabulary()
    assert len(vocab.concepts) >= 300 and len(set(vocab.concepts)) == len(vocab.concepts)
    assert {"beach", "portrait", "wedding ceremony", "food", "night city", "documents"} <= set(vocab.concepts)
    assert all("{}" in t for t in vocab.templates) and DEFAULT_VOCABULARY.is_file()


def test_vocabulary_file_format(tmp_path: Path) -> None:
    f = tmp_path / "v.txt"
    f.write_text("# my concepts\n@template a {} photo\nbeach  # sand\n\nBeach\ncats\n")
    vocab = load_vocabulary(f)
    assert vocab.concepts == ["beach", "cats"] and vocab.templates == ("a {} photo",)
    assert vocab.prompts == ["a beach photo", "a cats photo"]
    f.write_text("beach\n")
    assert load_vocabulary(f).templates == DEFAULT_TEMPLATES
    for bad in ("# nothing\n", "@template no placeholder\nbeach\n"):
        f.write_text(bad)
        with pytest.raises(BadArgument):
            load_vocabulary(f)
    with pytest.raises(BadArgument, match="cannot read"):
        load_vocabulary(tmp_path / "missing.txt")


def test_zero_shot_names_are_distinct_even_for_twin_clusters() -> None:
    concepts = ["beach", "forest", "city"]
    vecs = np.eye(3, 8, dtype=np.float32)
    centroids = np.stack([vecs[0], vecs[0], vecs[1] + 0.2 * vecs[2]])
    names = zero_shot_names(centroids, concepts, vecs)
    assert names[2] == "forest" and "beach" in names[:2] and len(set(names)) == 3


def test_close_runner_up_joins_the_name_and_extra_clusters_are_numbered() -> None:
    concepts = ["beach", "sunset"]
    vecs = np.eye(2, 4, dtype=np.float32)
    names = zero_shot_names(np.array([[1.0, 0.999, 0, 0]], np.float32), concepts, vecs)
    assert names == ["beach, sunset"]
    names = zero_shot_names(np.array([[1, 0, 0, 0], [0, 1, 0, 0], [1, 0.1, 0, 0]], np.float32), concepts, vecs)
    assert names[:2] == ["beach", "sunset"] and names[2] == "beach (2)"


def test_keywords_pick_the_distinctive_words_of_each_group() -> None:
    texts = ["invoice tax invoice payment tax office", "holiday beach sun holiday swim office", "tax"]
    names = keyword_names(texts, [0, 1])
    assert names[0].startswith("tax, invoice") or names[0].startswith("invoice, tax")
    assert "holiday" in names[1] and "office" not in names[1].split(", ")[0]
    assert keyword_names(["the and of", "a"], [0]) == {}


def test_search_ranks_by_cosine_and_can_leave_the_item_itself_out() -> None:
    v = np.array([[1, 0], [0.8, 0.6], [0, 1], [-1, 0]], np.float32)
    r = rank(v, np.array([2.0, 0.0]))
    assert list(r.order) == [0, 1, 2, 3] and r.scores[1] == pytest.approx(0.8)
    assert [i for i, _ in rank(v, v[0], top=2, exclude=0).top(5)] == [1, 2]
    assert len(rank(v, v[0], top=99).order) == 4 and len(rank(v[:0], v[0]).order) == 0
