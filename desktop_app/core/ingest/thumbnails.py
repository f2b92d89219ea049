"""Thumbnails on disk: small JPEGs in the platform cache folder, so a reopened library shows them at once.

Keyed by the file's path, size and modification time (a changed photo gets a new thumbnail) and the side
length. Made with the same robust decoder as embedding, in a sandbox worker with its memory cap and time limit
(``sandbox.decode``; ``draft()`` first: a 24 MP JPEG decodes at 1/8 scale in a few tens of milliseconds), shrunk
there. Called from worker threads; files are written atomically.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from desktop_app.core.app_dirs import default_cache_dir
from desktop_app.core.errors import UnreadableFile
from desktop_app.core.files import atomic_file
from desktop_app.core.ingest import sandbox

THUMBNAIL_SIDE = 160  # pixels; drawn at up to 80 logical px, so sharp on 2x HiDPI screens


def thumbnail_folder(cache_dir: Path | None = None) -> Path:
    return Path(cache_dir or default_cache_dir()) / "thumbnails"


def thumbnail_file(folder: Path, path: Path, size: int, mtime_ns: int, side: int = THUMBNAIL_SIDE) -> Path:
    """Where the thumbnail of this version of ``path`` lives (it may not exist yet)."""
    # surrogateescape: a name that is not UTF-8 hashes by its own bytes (the same digest as before for any other)
    digest = hashlib.sha1(f"{path}|{size}|{mtime_ns}|{side}".encode("utf-8", "surrogateescape"),
                          usedforsecurity=False).hexdigest()
    return folder / digest[:2] / f"{digest}.jpg"


def get_thumbnail(path: Path, folder: Path, side: int = THUMBNAIL_SIDE) -> Path | None:
    """The thumbnail file of ``path``, made now if missing; None when the picture cannot be read."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        return None
    target = thumbnail_file(folder, path, st.st_size, st.st_mtime_ns, side)
    if target.exists():
        return target
    try:
        picture = sandbox.decode(path, min_side=side, fit=side).image
    except (UnreadableFile, sandbox.SandboxUnavailable):
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_file(target, durable=False) as f:  # a cache: never half a file, no need to sync it
            picture.save(f, "JPEG", quality=85)
    except OSError:
        return None
    return target
