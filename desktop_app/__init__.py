"""PhotoAtlas: turn folders of photos and notes into a map of what is in them.

The scripting face is the ``Library`` — the same object the window and the command line act on::

    from desktop_app import Library, ExportOptions

    library = Library.open(Path("~/…/Libraries/Wedding.photoatlas-library"))  # or Library() in memory
    library.analysis_job().drive(print)
    library.state.rate([0, 1], 5)
    library.export_job(Path("~/Sorted"), ExportOptions(min_rating=4)).drive(print)
    library.close()

Importing ``desktop_app`` (or reading these names) loads neither torch nor Qt: the model loads when a job needs it.
"""

from __future__ import annotations

import time as _time
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
STARTED = _time.monotonic()  # when the package was first imported: "map drawn after X s" (PHOTOATLAS_TIMING=1)

# name -> the module that defines it (imported on first use: ``desktop_app`` itself stays light)
_PUBLIC = {
    "Library": "desktop_app.core.library.library",
    "LibrarySettings": "desktop_app.core.library.library",
    "list_libraries": "desktop_app.core.library.library",
    "Job": "desktop_app.core.library.jobs",
    "ExportOptions": "desktop_app.core.export.plan",
    "EmbedSettings": "desktop_app.core.embedding.settings",
    "AnalysisSettings": "desktop_app.core.analysis.model",
    "MarkFilter": "desktop_app.core.review.marks",
    "Mark": "desktop_app.core.review.marks",
    "EmbedResult": "desktop_app.core.documents.document",
    "load_results": "desktop_app.core.documents.document",
    "PhotoAtlasError": "desktop_app.core.errors",
}
__all__ = ["AnalysisSettings", "EmbedResult", "EmbedSettings", "ExportOptions", "Job", "Library", "LibrarySettings",
           "Mark", "MarkFilter", "PhotoAtlasError", "list_libraries", "load_results"]

if TYPE_CHECKING:  # what a type checker and an editor see
    from desktop_app.core.analysis.model import AnalysisSettings
    from desktop_app.core.documents.document import EmbedResult, load_results
    from desktop_app.core.embedding.settings import EmbedSettings
    from desktop_app.core.errors import PhotoAtlasError
    from desktop_app.core.export.plan import ExportOptions
    from desktop_app.core.library.jobs import Job
    from desktop_app.core.library.library import Library, LibrarySettings, list_libraries
    from desktop_app.core.review.marks import Mark, MarkFilter


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'desktop_app' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
