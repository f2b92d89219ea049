"""Untrusted names and entries in the user's folders (issue 23): a name is shown as one harmless line, and only regular
files are ever opened — a named pipe under a sidecar's or a picture's name, or a link to a device, never blocks or
floods a reader, also when it is swapped in between a check and the open."""

from __future__ import annotations

import os
import socket
import stat
import threading
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import save_shape

from desktop_app.core.errors import FileAccessError
from desktop_app.core.filenames import printable
from desktop_app.core.ingest import opening
from desktop_app.core.ingest.items import Item, Skipped, looks_like_picture, scan
from desktop_app.core.ingest.opening import NotAFile, open_regular
from desktop_app.core.ingest.texts import read_text
from desktop_app.core.metadata.photo_info import photo_info
from desktop_app.core.metadata.photo_meta import PhotoMeta, read_meta
from desktop_app.core.metadata.xmp import read_mark
from desktop_app.core.review.marks import Mark
from desktop_app.core.review.sidecar_marks import read_sidecar_marks, write_mark

posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")


# -- printable ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "shown"), [
    ("IMG_0001.jpg", "IMG_0001.jpg"),
    ("Café 👨\u200d👩\u200d👧 été.jpg", "Café 👨\u200d👩\u200d👧 été.jpg"),  # accents, emoji and their joiners stay
    (os.fsdecode(b"caf\xe9.jpg"), "caf\\xe9.jpg"),  # a Latin-1 byte: shown as the byte
    ("a\x1b]0;PWNED\x07b.jpg", "a\\x1b]0;PWNED\\x07b.jpg"),  # a terminal title sequence
    ("x.jpg\nskipped y.jpg: forged", "x.jpg\\nskipped y.jpg: forged"),  # a forged line
    ("cr\r\t.jpg", "cr\\r\\t.jpg"),
    ("\x7fdel\x9bc1.jpg", "\\x7fdel\\x9bc1.jpg"),  # DEL and a C1 control (8-bit CSI)
    ("\u202egpj.exe", "\\u202egpj.exe"),  # a bidi override that makes it read as exe.jpg
    ("line\u2028sep.jpg", "line\\u2028sep.jpg"),
    ("no\u00a0break.jpg", "no\u00a0break.jpg"),  # a no-break space is harmless
])
def test_printable_makes_any_name_one_harmless_line(name: str, shown: str) -> None:
    assert printable(name) == shown
    assert printable(shown) == shown  # escaping twice changes nothing
    # Nothing a terminal acts on is left: no control character, surrogate or line separator.
    assert not any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in printable(name))


def test_printable_takes_paths_and_keeps_windows_separators() -> None:
    assert printable(Path("/photos") / os.fsdecode(b"\xff.jpg")) == "/photos/\\xff.jpg"
    assert printable("C:\\Users\\Ann\\IMG_1.jpg") == "C:\\Users\\Ann\\IMG_1.jpg"


# -- open_regular ---------------------------------------------------------------------------------------------

def _finishes(call: Callable[[], Any], fifo: Path | None = None, seconds: float = 20.0) -> Any:
    """``call()``'s value; fails (instead of hanging the test run) if it is still blocked after ``seconds``: then the
    named pipe ``fifo`` gets a writer that closes at once, which ends a read blocked on it."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = call()
        except BaseException as exc:  # handed to the test below
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if fifo is not None:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail(f"blocked for {seconds} s on a named pipe")
    if "error" in out:
        raise out["error"]
    return out.get("value")


@posix_only
def test_a_named_pipe_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "IMG_1.xmp"
    os.mkfifo(fifo)
    with pytest.raises(NotAFile) as caught:
        _finishes(lambda: open_regular(fifo), fifo)
    assert caught.value.reason == "a named pipe (FIFO), not a file"
    assert isinstance(caught.value, OSError)  # every reader that handles an unreadable file handles this one


@posix_only
def test_a_pipe_swapped_in_after_the_check_is_opened_without_blocking_and_closed_unread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fifo = tmp_path / "IMG_1.xmp"
    os.mkfifo(fifo)
    regular = os.stat(__file__)
    real_stat = os.stat
    # The check sees a regular file (as it was), the open finds the pipe: no writer, yet the open returns at once.
    monkeypatch.setattr(opening.os, "stat", lambda p, *a, **k: regular if Path(p) == fifo else real_stat(p, *a, **k))
    opened: list[int] = []
    real_open = os.open
    monkeypatch.setattr(opening.os, "open", lambda *a, **k: opened.append(fd := real_open(*a, **k)) or fd)
    with pytest.raises(NotAFile, match="named pipe"):
        _finishes(lambda: open_regular(fifo), fifo)
    assert len(opened) == 1
    with pytest.raises(OSError):
        os.fstat(opened[0])  # closed again


def _refusal(path: Path) -> str:
    with pytest.raises(NotAFile) as caught:
        open_regular(path)
    return caught.value.reason


def test_devices_sockets_and_folders_are_refused_and_regular_files_read(tmp_path: Path) -> None:
    picture = save_shape(tmp_path / "a.jpg", "red", "circle")
    with open_regular(picture) as f:
        assert f.read() == picture.read_bytes()
    assert _refusal(tmp_path) == "a folder, not a file"
    if os.name == "posix":
        (tmp_path / "zero.jpg").symlink_to("/dev/zero")
        assert _refusal(tmp_path / "zero.jpg") == "a device, not a file"
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(tmp_path / "s.png"))
            assert _refusal(tmp_path / "s.png") == "a socket, not a file"


# -- every reader of the user's files ------------------------------------------------------------------------

@posix_only
def test_a_named_pipe_beside_a_picture_as_its_sidecar_is_never_read(tmp_path: Path) -> None:
    save_shape(tmp_path / "f.jpg", "red", "circle")
    os.mkfifo(tmp_path / "f.xmp")  # Lightroom's name
    os.mkfifo(tmp_path / "f.jpg.xmp")  # darktable's name
    marks = _finishes(lambda: read_sidecar_marks([str(tmp_path / "f.jpg")]), tmp_path / "f.xmp")
    assert marks.is_empty()
    assert _finishes(lambda: read_mark(tmp_path / "f.xmp"), tmp_path / "f.xmp") == (None, None)
    # Writing a mark into a sidecar that is a pipe refuses (an OSError the export reports), it never waits.
    with pytest.raises(OSError, match="named pipe"):
        _finishes(lambda: write_mark(tmp_path / "f.jpg", Mark(rating=3)), tmp_path / "f.xmp")
    assert stat.S_ISFIFO(os.stat(tmp_path / "f.xmp").st_mode)  # left as it was


@posix_only
def test_notes_pictures_and_their_metadata_readers_refuse_pipes_and_devices(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "note.txt")
    os.mkfifo(tmp_path / "IMG_1.jpg")
    os.mkfifo(tmp_path / "unnamed")
    (tmp_path / "zero.jpg").symlink_to("/dev/zero")
    with pytest.raises(FileAccessError, match="^a named pipe \\(FIFO\\), not a file$"):
        _finishes(lambda: read_text(tmp_path / "note.txt"), tmp_path / "note.txt")
    for path in (tmp_path / "IMG_1.jpg", tmp_path / "zero.jpg"):
        assert _finishes(lambda p=path: read_meta(p), tmp_path / "IMG_1.jpg") == PhotoMeta()
        info = _finishes(lambda p=path: photo_info(p), tmp_path / "IMG_1.jpg")
        assert info["error"] in ("a named pipe (FIFO), not a file", "a device, not a file")
    assert _finishes(lambda: looks_like_picture(tmp_path / "unnamed"), tmp_path / "unnamed") is False


@posix_only
def test_the_scan_lists_what_a_special_entry_is_and_never_opens_it(tmp_path: Path) -> None:
    save_shape(tmp_path / "f.jpg", "red", "circle")
    os.mkfifo(tmp_path / "f.xmp")
    os.mkfifo(tmp_path / "pipe.jpg")
    os.mkfifo(tmp_path / "no-extension")  # a regular file without an extension would be sniffed: a pipe never is
    (tmp_path / "zero.jpg").symlink_to("/dev/zero")
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "nothing-here")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock.png"))
        found = _finishes(lambda: list(scan([tmp_path])), tmp_path / "no-extension")
        named = _finishes(lambda: list(scan([tmp_path / "pipe.jpg", tmp_path / "zero.jpg"])), tmp_path / "pipe.jpg")
    assert [(r.path.name, r.reason if isinstance(r, Skipped) else r.kind) for r in found] == [
        ("f.jpg", "image"),
        ("f.xmp", "a named pipe (FIFO), not a file"),
        ("gone.jpg", "broken symbolic link"),
        ("no-extension", "a named pipe (FIFO), not a file"),
        ("pipe.jpg", "a named pipe (FIFO), not a file"),
        ("sock.png", "a socket, not a file"),
        ("zero.jpg", "a symbolic link to a device (/dev/zero), not a file"),
    ]
    assert [(r.path.name, r.reason) for r in named if isinstance(r, Skipped)] == [
        ("pipe.jpg", "a named pipe (FIFO), not a file"),
        ("zero.jpg", "a symbolic link to a device (/dev/zero), not a file")]
    assert not any(isinstance(r, Item) for r in named)
