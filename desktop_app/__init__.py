"""PhotoAtlas: turn folders of photos and notes into a map of what is in them."""

import time as _time

__version__ = "0.1.0"
STARTED = _time.monotonic()  # when the package was first imported: "map drawn after X s" (PHOTOATLAS_TIMING=1)
