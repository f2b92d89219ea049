"""Where PhotoAtlas keeps its own files on this computer (platformdirs: the conventions of each desktop).

* the **cache** (embedding vectors, stored maps, thumbnails): ``~/.cache/PhotoAtlas`` on Linux,
  ``~/Library/Caches/PhotoAtlas`` on macOS, ``%LOCALAPPDATA%\\PhotoAtlas\\Cache`` on Windows. Everything in it can
  be made again, so the system or a cleaning tool may delete it;
* the **libraries** (catalogues: every decision the user made): ``~/.local/share/PhotoAtlas/Libraries`` on Linux,
  ``~/Library/Application Support/PhotoAtlas/Libraries`` on macOS, ``%LOCALAPPDATA%\\PhotoAtlas\\Libraries`` on
  Windows. Not a cache: nothing deletes it but the user (docs/LIBRARY.md says why it lives here).
"""

from __future__ import annotations

from pathlib import Path

APP_NAME = "PhotoAtlas"


def default_cache_dir() -> Path:
    """The platform's cache folder for PhotoAtlas (e.g. ~/.cache/PhotoAtlas on Linux)."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP_NAME, appauthor=False))


def default_library_dir() -> Path:
    """The folder that holds the user's libraries (catalogues) unless they keep one elsewhere."""
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False)) / "Libraries"


def default_config_dir() -> Path:
    """The platform's settings folder for PhotoAtlas (e.g. ~/.config/PhotoAtlas on Linux); holds the key that
    signs export journals (``core.export.journal``)."""
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False))
