from pathlib import Path

import pytest

from desktop_app.core.errors import UnreadableFile
from desktop_app.core.ingest.texts import read_text


def test_utf8_text_and_snippet(tmp_path: Path) -> None:
    path = tmp_path / "n.md"
    path.write_text("# Trip\n\n" + "word " * 100, encoding="utf-8")
    content = read_text(path)
    assert content.text.startswith("# Trip")
    assert content.snippet.startswith("# Trip word word") and len(content.snippet) <= 160
    assert content.snippet.endswith("…")


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16"])
def test_non_utf8_text_is_decoded_by_charset_detection(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "old.txt"
    text = ("Souvenirs de l'été : le café de la gare, près du marché, où nous déjeunions après la randonnée. "
            "Les enfants ont photographié les bâteaux et la forêt ; c'était très beau, même sous la pluie. ") * 3
    path.write_bytes(text.encode(encoding))
    assert read_text(path).text.strip() == text.strip()


@pytest.mark.parametrize("content, reason", [(b"", "empty"), (b"  \n\t ", "empty"),
                                             (bytes(range(256)) * 4, "binary")])
def test_empty_and_binary_files_are_refused(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(content)
    with pytest.raises(UnreadableFile, match=reason):
        read_text(path)
