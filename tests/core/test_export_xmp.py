"""XMP sidecars as other tools write them: several rdf:Description blocks, the xpacket wrapper, their own namespace
prefixes, and hostile files (DOCTYPE, entity expansion) — merged without duplicates, kept as written, or refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from desktop_app.core.metadata.xmp import NS, read_keywords, sidecar_path, write_keywords

LIGHTROOM_STYLE = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0-c000">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
   crs:Exposure2012="+0.50"
   xmp:Rating="3"/>
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:subject>
    <rdf:Bag>
     <rdf:li>family</rdf:li>
    </rdf:Bag>
   </dc:subject>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Tom &amp; Ann</rdf:li></rdf:Alt></dc:title>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
""" + " " * 200 + """
<?xpacket end="w"?>"""


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "IMG_1.jpg"
    path.write_bytes(b"not really a jpeg")
    return path


def _count(sidecar: Path, prefix: str, name: str) -> int:
    return sum(1 for _ in ET.parse(sidecar).getroot().iter(f"{{{NS[prefix]}}}{name}"))


def test_several_description_blocks_get_no_duplicate_subject(image: Path) -> None:
    """exiftool and Lightroom split properties over several rdf:Description blocks; the keywords go into the
    block that has dc:subject already (before: a second dc:subject in the first block)."""
    sidecar = sidecar_path(image)
    sidecar.write_text(LIGHTROOM_STYLE, encoding="utf-8")
    assert write_keywords(image, ["beach", "family"], rating=5) == sidecar
    assert _count(sidecar, "dc", "subject") == 1 and _count(sidecar, "xmp", "Rating") == 0  # Rating: an attribute
    assert read_keywords(sidecar) == ["family", "beach"]
    write_keywords(image, ["beach"], rating=4)  # again: nothing added twice
    assert read_keywords(sidecar) == ["family", "beach"] and _count(sidecar, "lr", "hierarchicalSubject") == 1
    exiftool = shutil.which("exiftool")
    if exiftool is None:
        pytest.skip("exiftool is not installed (bootstrap.py test installs it on Debian)")
    out = subprocess.run([exiftool, "-j", "-XMP-dc:Subject", "-XMP-xmp:Rating", "-XMP-crs:Exposure2012",
                          "-XMP-dc:Title", str(sidecar)], capture_output=True, text=True, check=True)
    tags = json.loads(out.stdout)[0]
    assert tags["Subject"] == ["family", "beach"] and tags["Rating"] == 4
    assert tags["Exposure2012"] in ("+0.50", 0.5) and tags["Title"] == "Tom & Ann"


def test_the_xpacket_wrapper_and_namespace_prefixes_are_kept(image: Path) -> None:
    sidecar = sidecar_path(image)
    sidecar.write_text(LIGHTROOM_STYLE, encoding="utf-8")
    write_keywords(image, ["beach"], label="Green")
    text = sidecar.read_text(encoding="utf-8")
    assert text.startswith('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n<x:xmpmeta ')
    assert text.endswith(" " * 200 + '\n<?xpacket end="w"?>')
    assert 'xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"' in text and 'crs:Exposure2012="+0.50"' in text
    assert "ns0:" not in text and "ns1:" not in text  # before: ElementTree renamed every prefix it did not know
    assert '<rdf:li xml:lang="x-default">Tom &amp; Ann</rdf:li>' in text
    assert "<xmp:Label>Green</xmp:Label>" in text


def test_an_unusual_prefix_for_a_known_namespace_is_kept(image: Path) -> None:
    sidecar = sidecar_path(image)
    sidecar.write_text('<a:xmpmeta xmlns:a="adobe:ns:meta/"><r:RDF xmlns:r="http://www.w3.org/1999/02/22-rdf-syntax-'
                       'ns#"><r:Description r:about="" xmlns:purl="http://purl.org/dc/elements/1.1/"><purl:subject>'
                       '<r:Bag><r:li>old</r:li></r:Bag></purl:subject></r:Description></r:RDF></a:xmpmeta>')
    write_keywords(image, ["new"])
    text = sidecar.read_text()
    assert "<purl:subject><r:Bag><r:li>old</r:li><r:li>new</r:li></r:Bag></purl:subject>" in text
    assert read_keywords(sidecar) == ["old", "new"]


@pytest.mark.parametrize("hostile", [
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY k "injected">]>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag><rdf:li>&k;</rdf:li>'
    '</rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>',
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + ']><x:xmpmeta xmlns:x="adobe:ns:meta/">&lol9;</x:xmpmeta>',
    '<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><x:xmpmeta xmlns:x="adobe:ns:meta/"/>',
])
def test_a_sidecar_with_a_doctype_or_entities_is_refused_and_left_as_it_is(image: Path, hostile: str) -> None:
    sidecar = sidecar_path(image)
    sidecar.write_text(hostile)
    assert write_keywords(image, ["k"]) is None
    assert sidecar.read_text() == hostile and read_keywords(sidecar) == []


def test_pictures_that_share_a_lightroom_sidecar_are_a_warning(tmp_path: Path) -> None:
    """Lightroom names a sidecar by the stem, so shot.jpg and shot.png share shot.xmp and it holds both groups'
    keywords: the summary says so; darktable naming (shot.jpg.xmp) keeps them apart, without a warning."""
    from test_export import make_library

    from desktop_app.core.export.plan import ExportOptions
    from desktop_app.core.export.run import run_export
    from desktop_app.core.progress import drive

    src = tmp_path / "src"
    result = make_library(src, {"beach": ["d/shot.jpg"], "city": ["d/shot.png"]})
    summary = drive(run_export(result, tmp_path / "out", ExportOptions(mode="copy", xmp=True)))
    shared = [w for w in summary.warnings if "share one XMP sidecar" in w]
    assert len(shared) == 1 and "shot.jpg" in shared[0] and "shot.png" in shared[0]
    assert sorted(read_keywords(src / "d" / "shot.xmp")) == ["beach", "city"]

    summary = drive(run_export(result, tmp_path / "out2", ExportOptions(mode="copy", xmp=True,
                                                                        xmp_naming="darktable")))
    assert not [w for w in summary.warnings if "share one XMP sidecar" in w]
    assert read_keywords(src / "d" / "shot.jpg.xmp") == ["beach"] and read_keywords(src / "d" / "shot.png.xmp") == [
        "city"]
