"""Tooltips that show text as the text it is.

Qt shows a tooltip that *looks* like HTML as HTML (``Qt::mightBeRichText``): a picture named
``<font size=7 color=red>x.jpg`` came up as big red letters, and one named ``<img src=&#47;dev&#47;zero>x.jpg``
made a hover read a device until memory ran out. Every tooltip that quotes a file name, a group name or a message
goes through ``plain_tip``: each line made printable (``filenames.printable``: control characters and stray bytes
escaped), HTML-escaped, and marked as rich text so that the escapes are what Qt renders.
"""

from __future__ import annotations

import html

from desktop_app.core.filenames import printable


def plain_tip(text: str) -> str:
    """``text`` (lines split at newlines) as a tooltip Qt shows literally, each line on its own line."""
    lines = [html.escape(printable(line), quote=False) for line in str(text).split("\n")]
    return "<p style='white-space:pre'>" + "<br>".join(lines) + "</p>"
