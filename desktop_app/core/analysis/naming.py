"""Cluster names: zero-shot from a vocabulary of photography concepts, keywords for groups of notes.

The vocabulary is a plain text file (``resources/vocabulary.txt``; ``--vocabulary FILE`` for your own):
one concept per line, ``#`` starts a comment, and ``@template a photo of {}.`` lines replace the prompt
templates. Each concept is embedded through every template and the normalised mean is its vector (CLIP's
prompt ensembling). A cluster's centroid is scored against all concepts; concepts are handed out with one
optimal assignment (Hungarian) so no two clusters share a name, and a close runner-up joins the name
("beach, sunset").

Clusters made mostly of notes are named by their most distinctive words instead: class-based TF-IDF
(c-TF-IDF, as BERTopic does) over the text of every cluster.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from desktop_app.core.errors import BadArgument
from desktop_app.resources import resource

DEFAULT_VOCABULARY = resource("vocabulary.txt")
DEFAULT_TEMPLATES = ("a photo of {}.", "a photograph of {}.", "a picture of {}.")
SECOND_NAME_MARGIN = 0.01  # a runner-up within this cosine of the winner is named too

TextEncoder = Callable[[Sequence[str]], np.ndarray]  # texts -> (n, dim) normalised vectors


@dataclass
class Vocabulary:
    concepts: list[str]
    templates: tuple[str, ...] = DEFAULT_TEMPLATES

    @property
    def prompts(self) -> list[str]:
        """Every concept through every template, concept-major."""
        return [t.format(c) for c in self.concepts for t in self.templates]


def load_vocabulary(path: Path | None = None) -> Vocabulary:
    """Read a vocabulary file (default: the one shipped in ``resources/``); raises ``BadArgument``."""
    path = Path(path) if path else DEFAULT_VOCABULARY
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadArgument(f"cannot read the vocabulary {path}: {exc}") from None
    concepts: list[str] = []
    templates: list[str] = []
    seen: set[str] = set()
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("@template"):
            template = line[len("@template"):].strip()
            if "{}" not in template:
                raise BadArgument(f"{path}: a template needs {{}} where the concept goes: {line!r}")
            templates.append(template)
        elif line.lower() not in seen:
            seen.add(line.lower())
            concepts.append(line)
    if not concepts:
        raise BadArgument(f"the vocabulary {path} has no concepts (one per line)")
    return Vocabulary(concepts, tuple(templates) or DEFAULT_TEMPLATES)


def concept_vectors(vocabulary: Vocabulary, encode: TextEncoder) -> np.ndarray:
    """(n_concepts, dim) normalised vectors: the mean over templates of each concept's prompt vectors."""
    t = len(vocabulary.templates)
    prompt_vecs = np.asarray(encode(vocabulary.prompts), np.float32)
    vecs = prompt_vecs.reshape(len(vocabulary.concepts), t, -1).mean(axis=1)
    return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)


def zero_shot_names(centroids: np.ndarray, concepts: Sequence[str], concept_vecs: np.ndarray) -> list[str]:
    """One distinct name per centroid (row). More clusters than concepts get numbered repeats."""
    if len(centroids) == 0:
        return []
    from scipy.optimize import linear_sum_assignment

    c = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    sims = c @ concept_vecs.T  # (clusters, concepts)
    names: list[str] = [""] * len(c)
    remaining = list(range(len(c)))
    # Hungarian assignment maximises the total score; repeat in rounds when clusters outnumber concepts.
    round_no = 1
    while remaining:
        rows, cols = linear_sum_assignment(-sims[remaining])
        taken = {int(col) for col in cols}
        for r, col in zip(rows, cols):
            cluster = remaining[r]
            name = concepts[col]
            if round_no == 1:
                # A close runner-up that is nobody else's name joins it: "beach, sunset".
                runner = next((int(j) for j in np.argsort(-sims[cluster]) if int(j) not in taken), None)
                if runner is not None and sims[cluster, col] - sims[cluster, runner] < SECOND_NAME_MARGIN:
                    name = f"{name}, {concepts[runner]}"
            else:
                name = f"{name} ({round_no})"
            names[cluster] = name
        assigned = set(int(r) for r in rows)
        remaining = [cluster for r, cluster in enumerate(remaining) if r not in assigned]
        round_no += 1
    return names


_WORD = re.compile(r"[^\W\d_][\w'-]{2,}", re.UNICODE)


def keyword_names(cluster_texts: Sequence[str], wanted: Sequence[int], n_words: int = 3) -> dict[int, str]:
    """Names of the clusters in ``wanted`` from their most distinctive words (c-TF-IDF over all clusters).

    ``cluster_texts[i]`` is all the text of cluster i joined; clusters without words get no entry.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    if not any(t.strip() for t in cluster_texts):
        return {}
    vectorizer = CountVectorizer(stop_words="english", token_pattern=_WORD.pattern, lowercase=True)
    try:
        counts = vectorizer.fit_transform(cluster_texts).toarray().astype(np.float64)
    except ValueError:  # only stop words
        return {}
    words = vectorizer.get_feature_names_out()
    # c-TF-IDF: term frequency within the cluster x log(1 + average words per cluster / frequency overall).
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    avg = counts.sum() / len(cluster_texts)
    idf = np.log(1 + avg / np.maximum(counts.sum(axis=0), 1))
    scores = tf * idf
    names: dict[int, str] = {}
    used: set[str] = set()
    for i in wanted:
        order = [j for j in np.argsort(-scores[i]) if scores[i, j] > 0]
        top = [str(words[j]) for j in order[:n_words]]
        if not top:
            continue
        name = ", ".join(top)
        extra = n_words
        while name in used and extra < len(order):  # keep names distinct by adding the next word
            top.append(str(words[order[extra]]))
            extra += 1
            name = ", ".join(top)
        used.add(name)
        names[i] = name
    return names
