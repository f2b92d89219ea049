"""Keywords for photo catalogues: XMP sidecars with ``dc:subject`` and Lightroom's ``lr:hierarchicalSubject``.

The image file itself is never touched. An existing sidecar is merged into (its other metadata and
keywords are kept); the new sidecar is written to a temporary file and renamed over the old one atomically.

What other tools wrote stays as they wrote it: the ``<?xpacket?>`` wrapper (and anything else around the
root element), namespace prefixes and where they are declared, comments. A sidecar with several
``rdf:Description`` blocks (exiftool and Lightroom split them) gets each property once, in the block that
already has it. Sidecars are parsed with ``defusedxml``: one that declares a DOCTYPE or entities (the
"billion laughs" expansion) is refused like any other invalid file, and left as it is.

Ratings and colour labels (``xmp:Rating``, ``xmp:Label``) are written and read the way Lightroom, darktable
and digiKam do (``core.review``: a reject is ``xmp:Rating = -1``, labels are Lightroom's English colour names):
``read_mark`` (``review.sidecar_marks.write_mark`` writes one).

Sidecar names differ between catalogues:
  * ``lightroom`` (also Capture One, Bridge): ``IMG_0001.xmp`` beside ``IMG_0001.jpg``;
  * ``darktable`` (also digiKam): ``IMG_0001.jpg.xmp``.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from desktop_app.core.files import atomic_write
from desktop_app.core.ingest.opening import open_regular

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
}
HIERARCHY_ROOT = "PhotoAtlas"
_PREFERRED = {uri: prefix for prefix, uri in NS.items()}
MAX_SIDECAR_BYTES = 16 << 20  # a sidecar is kilobytes; a bigger file under its name is not read into memory
# Processing instructions, comments and white space before the root element: the xpacket wrapper's start.
_BEFORE = re.compile(r"(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.S)


class _Sidecar:
    """A parsed sidecar: the element tree, the namespace declarations of each element as written, and the
    text around the root element, so that writing it back changes only what we changed."""

    def __init__(self, root: ET.Element, declared: dict[ET.Element, list[tuple[str, str]]], before: str = "",
                 after: str = "\n") -> None:
        self.root = root
        self.declared = declared
        self.before = before
        self.after = after


def sidecar_path(image: Path, naming: Literal["lightroom", "darktable"] = "lightroom") -> Path:
    image = Path(image)
    return image.with_name(image.name + ".xmp") if naming == "darktable" else image.with_suffix(".xmp")


def _q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


def _parse(data: bytes) -> _Sidecar:
    """Parse safely (no DOCTYPE, no entities), keeping namespace declarations and the text around the root.
    Raises ``ValueError`` (or a subclass) for anything that is not a plain, well-formed XMP file."""
    text = data.decode("utf-8-sig")  # sidecars are UTF-8; anything else is refused, not guessed
    declared: dict[ET.Element, list[tuple[str, str]]] = {}
    waiting: list[tuple[str, str]] = []
    root = None
    builder = ET.TreeBuilder(insert_comments=True)
    parser = SafeET.DefusedXMLParser(target=builder, forbid_dtd=True)
    for event, value in SafeET.iterparse(io.BytesIO(data), events=("start-ns", "start"), parser=parser,
                                         forbid_dtd=True):
        if event == "start-ns":
            waiting.append(value)
        else:
            if waiting:
                declared[value] = waiting
                waiting = []
            if root is None:
                root = value
    if root is None:
        raise ValueError("empty document")
    before = _BEFORE.match(text)
    return _Sidecar(root, declared, before.group(0) if before else "", _after_root(text))


def _after_root(text: str) -> str:
    """What follows the root element: white space, padding, ``<?xpacket end="w"?>``, comments."""
    end = len(text)
    while True:
        kept = text[:end].rstrip()
        for opening, closing in (("<?", "?>"), ("<!--", "-->")):
            if kept.endswith(closing) and kept.rfind(opening) >= 0:
                end = kept.rfind(opening)
                break
        else:
            return text[len(kept):]


def _load(sidecar: Path) -> _Sidecar | None:
    """The sidecar parsed, or None when it is not valid (or not safe) XML, or larger than ``MAX_SIDECAR_BYTES``.
    Raises ``OSError`` if unreadable, also (``opening.NotAFile``) for a named pipe or a device under the sidecar's
    name: those are never read (a FIFO would wait forever)."""
    with open_regular(sidecar) as f:
        data = f.read(MAX_SIDECAR_BYTES + 1)
    if len(data) > MAX_SIDECAR_BYTES:
        return None
    try:
        return _parse(data)
    except (ET.ParseError, DefusedXmlException, ValueError):  # UnicodeDecodeError is a ValueError
        return None


def _empty_packet() -> _Sidecar:
    root = ET.Element(_q("x", "xmpmeta"))
    rdf = ET.SubElement(root, _q("rdf", "RDF"))
    ET.SubElement(rdf, _q("rdf", "Description"), {_q("rdf", "about"): ""})
    return _Sidecar(root, {root: [("x", NS["x"])], rdf: [("rdf", NS["rdf"])]})


def read_keywords(sidecar: Path) -> list[str]:
    """The ``dc:subject`` keywords of a sidecar (empty when it has none or cannot be read)."""
    try:
        doc = _load(sidecar)
    except OSError:
        return []
    if doc is None:
        return []
    return [li.text or "" for subject in doc.root.iter(_q("dc", "subject")) for li in subject.iter(_q("rdf", "li"))]


def read_mark(sidecar: Path) -> tuple[int | None, str | None]:
    """``(xmp:Rating, xmp:Label)`` of a sidecar, each None when absent; (None, None) when the sidecar cannot be
    read or is not valid (or not safe) XML. Ratings are whole numbers (``"3.0"`` reads as 3); turn them into a
    ``Mark`` with ``core.review.mark_from_xmp``."""
    try:
        doc = _load(sidecar)
    except OSError:
        return None, None
    if doc is None:
        return None, None
    return _rating_label(doc.root)


def _simple(root: ET.Element, prefix: str, name: str) -> str | None:
    """A simple property's value, written as an attribute (Lightroom, exiftool) or an element."""
    qname = _q(prefix, name)
    for description in root.iter(_q("rdf", "Description")):
        if qname in description.attrib:
            return description.attrib[qname]
        prop = description.find(qname)
        if prop is not None:
            return (prop.text or "").strip()
    return None


def _rating_label(root: ET.Element) -> tuple[int | None, str | None]:
    text = _simple(root, "xmp", "Rating")
    rating = None
    if text:
        try:
            rating = int(float(text))
        except ValueError:  # not a number: as if there were none
            rating = None
    label = _simple(root, "xmp", "Label") or None
    return rating, label


def _descriptions(doc: _Sidecar) -> list[ET.Element]:
    """The top-level ``rdf:Description`` blocks (creating one when there is none)."""
    rdf = doc.root if doc.root.tag == _q("rdf", "RDF") else doc.root.find(".//rdf:RDF", NS)
    if rdf is None:
        rdf = ET.SubElement(doc.root, _q("rdf", "RDF"))
    found = rdf.findall("rdf:Description", NS)
    if not found:
        found = [ET.SubElement(rdf, _q("rdf", "Description"), {_q("rdf", "about"): ""})]
    return found


def _owner(descriptions: list[ET.Element], prefix: str, name: str) -> ET.Element:
    """The block that already holds the property (as element or attribute), else the first one."""
    qname = _q(prefix, name)
    for d in descriptions:
        if qname in d.attrib or d.find(qname) is not None:
            return d
    return descriptions[0]


def _set_simple(descriptions: list[ET.Element], prefix: str, name: str, value: str) -> None:
    """Set a simple property, whether the sidecar keeps it as an attribute (Lightroom) or an element."""
    description = _owner(descriptions, prefix, name)
    attribute = _q(prefix, name)
    if attribute in description.attrib:
        description.set(attribute, value)
        return
    prop = description.find(attribute)
    if prop is None:
        prop = ET.SubElement(description, attribute)
    prop.text = value


def _add_to_bag(descriptions: list[ET.Element], prefix: str, name: str, values: list[str]) -> None:
    """Add the values missing from the property's list (looked for in every block, so none is duplicated)."""
    qname = _q(prefix, name)
    present = {li.text for d in descriptions for prop in d.iterfind(qname) for li in prop.iter(_q("rdf", "li"))}
    missing = [v for v in dict.fromkeys(values) if v not in present]
    if not missing:
        return
    description = _owner(descriptions, prefix, name)
    prop = description.find(qname)
    if prop is None:
        prop = ET.SubElement(description, qname)
    container = next((c for c in prop if c.tag in (_q("rdf", "Bag"), _q("rdf", "Seq"), _q("rdf", "Alt"))), None)
    if container is None:
        container = ET.SubElement(prop, _q("rdf", "Bag"))
    for value in missing:
        ET.SubElement(container, _q("rdf", "li")).text = value


def write_keywords(image: Path, keywords: list[str], naming: Literal["lightroom", "darktable"] = "lightroom",
                   *, rating: int | None = None, label: str | None = None) -> Path | None:
    """Add ``keywords`` to the image's sidecar (creating it if needed), and set ``xmp:Rating`` / ``xmp:Label``
    when given; returns the sidecar, or None when an existing sidecar is not valid XML (or declares a DOCTYPE
    or entities): it is left untouched rather than replaced. Raises ``OSError`` when the sidecar cannot be read
    or written."""
    sidecar = sidecar_path(image, naming)
    if sidecar.exists():
        doc = _load(sidecar)
        if doc is None:
            return None
    else:
        doc = _empty_packet()
    descriptions = _descriptions(doc)
    if rating is not None:
        _set_simple(descriptions, "xmp", "Rating", str(int(rating)))
    if label:
        _set_simple(descriptions, "xmp", "Label", label)
    if keywords:
        _add_to_bag(descriptions, "dc", "subject", keywords)
        _add_to_bag(descriptions, "lr", "hierarchicalSubject", [f"{HIERARCHY_ROOT}|{k}" for k in keywords])
    data = (doc.before + _serialize(doc) + doc.after).encode("utf-8")
    # The temporary name is short: a sidecar's own name may already be near the 255-byte limit.
    atomic_write(sidecar, data)
    return sidecar


# -- writing back ----------------------------------------------------------------------------------------
# ElementTree would renumber every namespace it was not told about (ns0:, ns1:) and declare them all on the
# root; catalogues that match prefixes as strings then lose the settings they wrote. So the tree is written
# back with the declarations where, and as, the file had them; only elements we added may need new ones.
def _serialize(doc: _Sidecar) -> str:
    out: list[str] = []
    _write_element(doc.root, {"xml": "http://www.w3.org/XML/1998/namespace"}, doc.declared, out)
    return "".join(out)


def _split(qname: str) -> tuple[str, str]:
    if qname.startswith("{"):
        uri, _, local = qname[1:].partition("}")
        return uri, local
    return "", qname


def _prefix(uri: str, scope: dict[str, str], new: list[tuple[str, str]], attribute: bool) -> str:
    """A prefix bound to ``uri`` here (declaring one on this element when there is none)."""
    for prefix, bound in reversed(list(scope.items())):
        if bound == uri and (prefix or not attribute):
            return prefix
    prefix = _PREFERRED.get(uri, "ns")
    base, n = prefix, 1
    while prefix in scope:
        n += 1
        prefix = f"{base}{n}"
    scope[prefix] = uri
    new.append((prefix, uri))
    return prefix


def _attr(value: str) -> str:
    return escape(value, {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def _write_element(elem: ET.Element, outer: dict[str, str], declared: dict[ET.Element, list[tuple[str, str]]],
                   out: list[str]) -> None:
    if elem.tag is ET.Comment:
        out.append(f"<!--{elem.text or ''}-->{escape(elem.tail or '')}")
        return
    scope = dict(outer)
    new = list(declared.get(elem, []))
    scope.update(new)
    uri, local = _split(elem.tag)
    if uri:
        prefix = _prefix(uri, scope, new, attribute=False)
        tag = f"{prefix}:{local}" if prefix else local
    else:
        tag = local
        if scope.get(""):
            scope[""] = ""
            new.append(("", ""))  # undo an inherited default namespace
    attributes = []
    for key, value in elem.attrib.items():
        a_uri, a_local = _split(key)
        name = f"{_prefix(a_uri, scope, new, attribute=True)}:{a_local}" if a_uri else a_local
        attributes.append(f' {name}="{_attr(value)}"')
    declarations = "".join(f' xmlns:{p}="{_attr(u)}"' if p else f' xmlns="{_attr(u)}"' for p, u in new)
    out.append(f"<{tag}{declarations}{''.join(attributes)}")
    if elem.text is None and len(elem) == 0:
        out.append("/>")
    else:
        out.append(f">{escape(elem.text or '')}")
        for child in elem:
            _write_element(child, scope, declared, out)
        out.append(f"</{tag}>")
    out.append(escape(elem.tail or ""))
