"""Projects (``*.photoatlas``): what to reopen a library exactly as the user left it.

A JSON file with the folders, the model, the analysis settings, the user's group edits and marks (ratings,
flags, colour labels). Vectors and maps are not in it: they come back from the embedding cache, so opening an
unchanged project draws the map without recomputing anything.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from desktop_app.core.analysis.edits import GroupEdits
from desktop_app.core.analysis.model import AnalysisSettings
from desktop_app.core.documents.validate import check_project, read_json_object
from desktop_app.core.errors import BadArgument
from desktop_app.core.files import atomic_write, json_text
from desktop_app.core.model_names import DEFAULT_MODEL
from desktop_app.core.review.marks import Marks

PROJECT_FORMAT = "photoatlas-project"
PROJECT_VERSION = 1
PROJECT_SUFFIX = ".photoatlas"


@dataclass
class Project:
    folders: list[str] = field(default_factory=list)
    model: str = DEFAULT_MODEL
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    edits: GroupEdits = field(default_factory=GroupEdits)
    marks: Marks = field(default_factory=Marks)  # ratings, pick/reject flags, colour labels (by path)
    similar_sets: dict[str, Any] | None = None  # the duplicate/burst sets found (duplicates.sets_to_json), by path

    def save(self, path: Path) -> None:
        """Write atomically (a crash never leaves half a project)."""
        settings = asdict(self.analysis)
        settings["vocabulary"] = str(self.analysis.vocabulary) if self.analysis.vocabulary else None
        settings.pop("relayout", None)
        doc: dict[str, Any] = {"format": PROJECT_FORMAT, "version": PROJECT_VERSION, "folders": self.folders,
                               "model": self.model, "analysis": settings, "edits": self.edits.to_json(),
                               "marks": self.marks.to_json()}
        if self.similar_sets is not None:
            doc["similar_sets"] = self.similar_sets
        atomic_write(Path(path), json_text(doc) + "\n")

    @classmethod
    def load(cls, path: Path) -> Project:
        """Read a project; raises ``BadArgument`` with a one-line reason (naming the field) when it cannot."""
        doc = read_json_object(Path(path), "project")
        if doc.get("format") != PROJECT_FORMAT:
            raise BadArgument(f"{path} is not a PhotoAtlas project")
        check_project(doc, path)  # wrong types or a missing key: one line naming the field, never a TypeError
        if doc.get("version", 1) > PROJECT_VERSION:
            raise BadArgument(f"{path} was saved by a newer PhotoAtlas; update PhotoAtlas to open it")
        raw = doc.get("analysis", {})
        known = {k: v for k, v in raw.items() if k in AnalysisSettings.__dataclass_fields__}
        if known.get("vocabulary"):
            known["vocabulary"] = Path(known["vocabulary"])
        # A relative folder is relative to the project file (a project moved with its pictures), never to wherever
        # the program happens to run.
        base = Path(path).parent
        folders = [os.path.normpath(f if os.path.isabs(f) else os.path.join(os.path.abspath(base), f))
                   for f in (str(f) for f in doc.get("folders", []))]
        return cls(folders=folders, model=str(doc.get("model", DEFAULT_MODEL)),
                   analysis=AnalysisSettings(**known), edits=GroupEdits.from_json(doc.get("edits", {})),
                   marks=Marks.from_json(doc.get("marks")),
                   similar_sets=doc.get("similar_sets") if isinstance(doc.get("similar_sets"), dict) else None)
