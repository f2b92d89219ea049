"""Keywords for photo catalogues: XMP sidecars with ``dc:subject`` and Lightroom's ``lr:hierarchicalSubject``.

The image file itself is never touched. An existing sidecar is merged into (its other metadata and
keywords are kept); the new sidecar is written to a temporary file and renamed over the old one atomically.

Sidecar names differ between catalogues:
  * ``lightroom`` (also Capture One, Bridge): ``IMG_0001.xmp`` beside ``IMG_0001.jpg``;
  * ``darktable`` (also digiKam): ``IMG_0001.jpg.xmp``.
"""

from __future__ import annotations

import os
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Literal

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
}
for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)
HIERARCHY_ROOT = "PhotoAtlas"


def sidecar_path(image: Path, naming: Literal["lightroom", "darktable"] = "lightroom") -> Path:
    image = Path(image)
    return image.with_name(image.name + ".xmp") if naming == "darktable" else image.with_suffix(".xmp")


def _q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


def _empty_packet() -> ET.ElementTree:
    root = ET.Element(_q("x", "xmpmeta"))
    rdf = ET.SubElement(root, _q("rdf", "RDF"))
    ET.SubElement(rdf, _q("rdf", "Description"), {_q("rdf", "about"): ""})
    return ET.ElementTree(root)


def _bag(description: ET.Element, prefix: str, name: str) -> ET.Element:
    prop = description.find(f"{prefix}:{name}", NS)
    if prop is None:
        prop = ET.SubElement(description, _q(prefix, name))
    bag = prop.find("rdf:Bag", NS)
    if bag is None:
        bag = ET.SubElement(prop, _q("rdf", "Bag"))
    return bag


def read_keywords(sidecar: Path) -> list[str]:
    """The ``dc:subject`` keywords of a sidecar (empty when it has none or cannot be read)."""
    try:
        tree = ET.parse(sidecar)
    except (OSError, ET.ParseError):
        return []
    return [li.text or "" for li in tree.getroot().iterfind(".//dc:subject/rdf:Bag/rdf:li", NS)]


def _set_simple(description: ET.Element, prefix: str, name: str, value: str) -> None:
    """Set a simple property, whether the sidecar keeps it as an attribute (Lightroom) or an element."""
    attribute = _q(prefix, name)
    if attribute in description.attrib:
        description.set(attribute, value)
        return
    prop = description.find(f"{prefix}:{name}", NS)
    if prop is None:
        prop = ET.SubElement(description, attribute)
    prop.text = value


def write_keywords(image: Path, keywords: list[str], naming: Literal["lightroom", "darktable"] = "lightroom",
                   *, rating: int | None = None, label: str | None = None) -> Path | None:
    """Add ``keywords`` to the image's sidecar (creating it if needed), and set ``xmp:Rating`` / ``xmp:Label``
    when given; returns the sidecar, or None when an existing sidecar is not valid XML (it is left untouched
    rather than replaced)."""
    sidecar = sidecar_path(image, naming)
    if sidecar.exists():
        try:
            tree = ET.parse(sidecar)
        except ET.ParseError:
            return None
    else:
        tree = _empty_packet()
    root = tree.getroot()
    description = root.find(".//rdf:RDF/rdf:Description", NS)
    if description is None:
        rdf = root.find(".//rdf:RDF", NS)
        if rdf is None:
            rdf = ET.SubElement(root, _q("rdf", "RDF"))
        description = ET.SubElement(rdf, _q("rdf", "Description"), {_q("rdf", "about"): ""})
    if rating is not None:
        _set_simple(description, "xmp", "Rating", str(int(rating)))
    if label:
        _set_simple(description, "xmp", "Label", label)
    for prefix, name, values in (("dc", "subject", keywords),
                                 ("lr", "hierarchicalSubject", [f"{HIERARCHY_ROOT}|{k}" for k in keywords])):
        if not values:
            continue
        bag = _bag(description, prefix, name)
        present = {li.text for li in bag.iterfind("rdf:li", NS)}
        for value in values:
            if value not in present:
                ET.SubElement(bag, _q("rdf", "li")).text = value
    tmp = sidecar.with_name(f".{sidecar.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tree.write(tmp, encoding="utf-8", xml_declaration=False)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, sidecar)
    except OSError:
        tmp.unlink(missing_ok=True)
        return None
    return sidecar
