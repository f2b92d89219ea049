"""The ``photoatlas`` command line: a thin front end over ``desktop_app.core`` and its ``Library``.

Each command is a function (``set_defaults(func=...)``) that returns the exit code: 0 when the job ran (also with
skipped files), 1 for a fatal error (or an export with files that failed), 2 for bad arguments or a file that is
not what it should be, 130 when interrupted (Ctrl+C). Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from desktop_app import __version__
from desktop_app.core.analysis.cluster import CLUSTERERS
from desktop_app.core.analysis.groupings import EVENT_GAP_HOURS, EVENT_MAX_KM, PROMPT_MARGIN
from desktop_app.core.analysis.layout import REDUCERS
from desktop_app.core.errors import BadArgument, Cancelled, PhotoAtlasError
from desktop_app.core.filenames import printable
from desktop_app.core.ingest.images import PILLOW_DEFAULT_MAX_PIXELS
from desktop_app.core.ingest.sandbox import DEFAULT_MEMORY, DEFAULT_SECONDS
from desktop_app.core.model_names import DEFAULT_MODEL, FASTER_MODEL, MORE_ACCURATE_MODEL
from desktop_app.core.review.duplicates import BURST_SECONDS, BURST_SIMILARITY, DEFAULT_THRESHOLD
from desktop_app.core.review.marks import COLOUR_LABELS

EPILOG = f"""\
models (--model):
  ARCH:TAG            open_clip architecture + pretrained tag, downloaded once into the Hugging Face cache
                      default {DEFAULT_MODEL}; faster {FASTER_MODEL}; more accurate {MORE_ACCURATE_MODEL}
  hf-hub:ORG/REPO     an open_clip model on the Hugging Face hub
  local-dir:PATH      a folder with open_clip_config.json + open_clip_model.safetensors (works offline)

libraries (the window's catalogues; every decision saved as it is made: docs/LIBRARY.md):
  photoatlas libraries                          list them
  photoatlas marks LIBRARY [--json]             the ratings, flags and labels given in a library
  photoatlas rate LIBRARY PATH... --stars 4     set marks from a script (undoable in the window)
  photoatlas analyze --library LIBRARY -o r.json   a results document with the library's decisions
  photoatlas open LIBRARY|PROJECT               open it in the window

exit codes: 0 ran (also when some files were skipped), 1 fatal error or failed files, 2 bad arguments or a
damaged file, 130 interrupted (Ctrl+C)
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"photoatlas: error: {printable(message)}\n(see photoatlas --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="photoatlas", description="Turn folders of photos and notes into a map.",
                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"photoatlas {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    common = _Parser(add_help=False)
    common.add_argument("--model", default=None, help=f"model to embed with (default {DEFAULT_MODEL}; with "
                        "--library, the library's)")
    common.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                        help="where the model runs (default auto: CUDA, then Apple MPS, then CPU); with CUDA, "
                             "JPEGs are decoded on the GPU too")
    common.add_argument("--batch-size", type=_positive_int, default=32, help="images per model batch (default 32)")
    common.add_argument("--cache-dir", type=Path, default=None,
                        help="folder of the embedding cache (default: the platform's cache folder)")
    common.add_argument("--offline", action="store_true", help="never touch the network")
    common.add_argument("--max-pixels", type=_positive_int, default=PILLOW_DEFAULT_MAX_PIXELS,
                        help=f"skip images larger than this many pixels (default {PILLOW_DEFAULT_MAX_PIXELS:,})")
    common.add_argument("--decode-memory", type=_positive_int, default=DEFAULT_MEMORY // 2 ** 20, metavar="MB",
                        help="skip a picture whose decoding needs more than this much memory (default "
                             f"{DEFAULT_MEMORY // 2 ** 20} MB; each is decoded in a worker process, docs/DECODING.md)")
    common.add_argument("--decode-seconds", type=_positive_int, default=int(DEFAULT_SECONDS), metavar="S",
                        help=f"skip a picture that takes longer than this to decode (default {int(DEFAULT_SECONDS)} s)")
    common.add_argument("--quiet", action="store_true", help="no progress bar")
    cluster = common.add_argument_group("a Ray cluster (pip install 'photoatlas[cluster]'; docs/SCALE.md)")
    cluster.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                         help="embed the pictures on Ray: ADDRESS is the cluster (auto, host:6379 or "
                              "ray://host:10001); without one a Ray is started on this machine. This machine "
                              "scans, sends only what the cache lacks and writes the cache. Put it after the PATHs "
                              "(or write --ray=ADDRESS)")
    cluster.add_argument("--path-map", action="append", default=[], metavar="FROM=TO",
                         help="the folder FROM of this machine is TO on the workers (repeatable)")
    cluster.add_argument("--ray-actors", type=_positive_int, default=None, metavar="N",
                         help="model copies on the cluster (default: one per GPU, else one per 4 CPUs)")

    embed = sub.add_parser("embed", parents=[common], help="fill the embedding cache only (pre-index a library)",
                           description="Scan PATHs and embed everything the cache lacks.")
    embed.add_argument("paths", nargs="+", metavar="PATH", help="folders (searched recursively) and files")
    embed.set_defaults(func=_embed)
    analyze = sub.add_parser("analyze", parents=[common], help="scan, embed and write a results document",
                             description="Scan PATHs, embed them (using the cache), find the groups, read the "
                             "ratings and labels in XMP sidecars, and write a JSON document. With --library, the "
                             "library's folders (and PATHs, added to it) with its decisions: its marks, group "
                             "names, merges and best frames are in the document.")
    analyze.add_argument("paths", nargs="*", metavar="PATH", help="folders (searched recursively) and files")
    analyze.add_argument("--library", type=Path, default=None, metavar="LIBRARY",
                         help="a library (.photoatlas-library): its folders, settings and decisions")
    analyze.add_argument("--output", "-o", type=Path, default=Path("photoatlas-results.json"),
                         help="results document to write (default photoatlas-results.json); "
                              "vectors go next to it (<name>.vectors.<digest>.npz)")
    analyze.add_argument("--json", action="store_true", help="print a JSON summary (document, counts, groups)")
    analyze.set_defaults(func=_analyze)
    group = analyze.add_argument_group("map and groups")
    group.add_argument("--reducer", choices=list(REDUCERS), default=None,
                       help="how the 2-D map is drawn (default umap; with --library, the library's)")
    group.add_argument("--clusterer", choices=list(CLUSTERERS), default=None,
                       help="how groups are found (default hdbscan: as many as there are, stragglers ungrouped; "
                            "with --library, the library's)")
    group.add_argument("--k", type=_k_value, default=None, metavar="N|auto",
                       help="number of groups for kmeans / agglomerative (default auto for kmeans)")
    group.add_argument("--min-cluster-size", type=_positive_int, default=None, metavar="N",
                       help="smallest group hdbscan may form (default 3 pictures)")
    group.add_argument("--min-samples", type=_positive_int, default=None, metavar="N",
                       help="hdbscan's density smoothing: higher makes fewer, larger groups (default: chosen per "
                            "library, see docs/ANALYSIS.md)")
    group.add_argument("--no-subgroups", action="store_true",
                       help="hdbscan: keep groups that belong together as separate groups instead of joining "
                            "them into one group with sub-groups")
    group.add_argument("--eps", type=float, default=None,
                       help="dbscan: cosine distance within which items are neighbours (default 0.15)")
    group.add_argument("--assign-noise", action="store_true",
                       help="put ungrouped items into their nearest group")
    group.add_argument("--seed", type=int, default=0, help="random seed: same seed, same map (default 0)")
    group.add_argument("--vocabulary", type=Path, default=None, metavar="FILE",
                       help="concepts to name groups from, one per line (default resources/vocabulary.txt)")
    group.add_argument("--relayout", action="store_true",
                       help="recompute the map from scratch instead of reusing/extending the stored one")

    gui = sub.add_parser("gui", help="open the desktop app (the default when no command is given)",
                         description="Open the PhotoAtlas window, optionally analysing PATHs right away.")
    gui.add_argument("paths", nargs="*", metavar="PATH", help="folders and files to analyse at once")
    gui.add_argument("--model", default=None, help=f"model to embed with (default {DEFAULT_MODEL})")
    gui.add_argument("--cache-dir", type=Path, default=None, help="folder of the embedding and thumbnail cache")
    gui.add_argument("--offline", action="store_true", help="never touch the network")
    gui.add_argument("--library", type=Path, default=None, metavar="LIBRARY",
                     help="open this library (.photoatlas-library)")
    gui.add_argument("--project", type=Path, default=None, metavar="FILE.photoatlas",
                     help="make a library from a project file and open it")
    gui.set_defaults(func=_run_gui)
    opener = sub.add_parser("open", help="open a library or a project file in the window",
                            description="Open LIBRARY (.photoatlas-library) or make a library from a project file "
                            "(.photoatlas) and open it, in the window.")
    opener.add_argument("file", type=Path, metavar="LIBRARY|PROJECT")
    opener.add_argument("--cache-dir", type=Path, default=None, help="folder of the embedding and thumbnail cache")
    opener.add_argument("--offline", action="store_true", help="never touch the network")
    opener.set_defaults(func=_open)
    gui.add_argument("--screenshot", type=Path, default=None, metavar="FILE.png",
                     help="save a PNG of the whole window once the map is drawn")
    gui.add_argument("--quit-when-done", action="store_true",
                     help="quit after the analysis (and screenshot): exit 0, or 1 if anything failed")

    export = sub.add_parser("export", help="copy, link or move the groups into one folder per group",
                            description="Export the groups of a results document into DEST, one folder per group. "
                            "Never overwrites; a journal in DEST makes it resumable and undoable "
                            "(photoatlas undo DEST).")
    export.add_argument("results", type=Path, metavar="RESULTS.json")
    export.add_argument("dest", type=Path, metavar="DEST")
    export.add_argument("--mode", choices=["copy", "hardlink", "symlink", "move"], default="copy",
                        help="copy (default), hardlink or symlink (copy where impossible), or move")
    export.add_argument("--groups", default=None, metavar="ID,...", help="only these group ids (default all)")
    export.add_argument("--include-noise", action="store_true", help="also export ungrouped items to Unsorted/")
    export.add_argument("--companions", action="store_true",
                        help="take same-stem sidecars along: .xmp, .txt captions, the RAW of a RAW+JPEG pair")
    export.add_argument("--verify", action="store_true", help="compare SHA-256 of every copy (size always is)")
    export.add_argument("--xmp", action="store_true",
                        help="write each image's group name as keywords, and its rating (a reject as -1) and colour "
                        "label, into an XMP sidecar next to the original")
    export.add_argument("--xmp-on-copies", action="store_true", help="put the XMP sidecars next to the exported files")
    export.add_argument("--xmp-naming", choices=["lightroom", "darktable"], default="lightroom",
                        help="IMG_1.xmp (lightroom, capture one) or IMG_1.jpg.xmp (darktable, digikam)")
    export.add_argument("--best-only", action="store_true",
                        help="of each near-duplicate or burst set (photoatlas duplicates), only the best frame")
    export.add_argument("--best-rating", type=int, default=None, metavar="0-5",
                        help="write this star rating (xmp:Rating) into the sidecar of each set's best frame")
    export.add_argument("--best-label", default=None, metavar="LABEL",
                        help="write this colour label (xmp:Label, e.g. Green) into each best frame's sidecar")
    export.add_argument("--nested", action="store_true",
                        help="put each group's sub-groups in folders inside its folder")
    export.add_argument("--picks-only", action="store_true",
                        help="only pictures flagged as picks (the results document's marks, set in the window)")
    export.add_argument("--min-rating", type=int, default=0, metavar="N",
                        help="only pictures rated N stars or more (1-5; default 0: any)")
    export.add_argument("--not-rejected", action="store_true", help="leave out pictures flagged as rejects")
    export.add_argument("--dry-run", action="store_true", help="print what would happen; touch nothing")
    undo = sub.add_parser("undo", help="reverse the exports into DEST",
                          description="Reverse what 'photoatlas export' did in DEST: moved files go back, created "
                          "files are removed (never a file that changed since or that PhotoAtlas did not make).")
    undo.add_argument("dest", type=Path, metavar="DEST")
    for cmd in (export, undo):
        cmd.add_argument("--json", action="store_true", help="print the summary as JSON")
        cmd.add_argument("--quiet", action="store_true", help="no progress bar")
        cmd.set_defaults(func=_export)

    dups = sub.add_parser("duplicates", help="find near-duplicates and bursts, each with its best frame",
                          description="Group near-identical pictures (resized, recompressed, cropped copies) and "
                          "bursts (same camera, seconds apart, alike), pick the best frame of each by sharpness, "
                          "clipping and resolution, print them and keep them in RESULTS.json for "
                          "'photoatlas export --best-only'.")
    dups.add_argument("results", type=Path, metavar="RESULTS.json")
    dups.add_argument("--threshold", type=float, default=None,
                      help=f"cosine similarity from which pictures are near-duplicates (default {DEFAULT_THRESHOLD})")
    dups.add_argument("--burst-seconds", type=float, default=None,
                      help=f"longest gap between two shots of a burst (default {BURST_SECONDS:g} s)")
    dups.add_argument("--burst-similarity", type=float, default=None,
                      help=f"how alike two shots of a burst must be (default {BURST_SIMILARITY})")
    dups.add_argument("--json", action="store_true", help="print the sets as JSON")
    dups.add_argument("--no-save", action="store_true", help="do not write the sets into RESULTS.json")
    dups.add_argument("--quiet", action="store_true", help="no progress bar")

    classify = sub.add_parser("classify", help="group the items by prompts you type (and 'Other')",
                              description="Replace the groups of RESULTS.json by one group per prompt: every item "
                              "goes to the prompt it matches best, or to 'Other' when no prompt stands out for it. "
                              "The map stays; export the new groups with 'photoatlas export'.")
    classify.add_argument("results", type=Path, metavar="RESULTS.json")
    classify.add_argument("--prompts", required=True, help='comma-separated, e.g. "ceremony, portraits, food"')
    classify.add_argument("--margin", type=float, default=PROMPT_MARGIN,
                          help="how far (in standard deviations above the item's similarity to everyday concepts) "
                          f"the best prompt must stand out, else 'Other' (default {PROMPT_MARGIN})")
    events = sub.add_parser("events", help="group the pictures into events by capture time and place",
                            description="Replace the groups of RESULTS.json by events: shots more than GAP hours "
                            "apart (or far apart on the GPS) start a new event, named by its dates.")
    events.add_argument("results", type=Path, metavar="RESULTS.json")
    events.add_argument("--gap-hours", type=float, default=EVENT_GAP_HOURS,
                        help=f"a longer pause starts a new event (default {EVENT_GAP_HOURS:g})")
    events.add_argument("--max-km", type=float, default=EVENT_MAX_KM,
                        help=f"a longer jump between geotagged shots an hour apart starts one too "
                        f"(default {EVENT_MAX_KM:g})")
    for cmd in (classify, events):
        cmd.add_argument("--json", action="store_true", help="print the groups as JSON")
        cmd.add_argument("--no-save", action="store_true", help="do not write the groups into RESULTS.json")
    dups.set_defaults(func=_duplicates)
    classify.add_argument("--cache-dir", type=Path, default=None, help="folder of the embedding cache")
    classify.add_argument("--offline", action="store_true", help="never touch the network")
    classify.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    for cmd in (classify, events):
        cmd.set_defaults(func=_regroup)

    for name, what in (("search", "items best matching a text QUERY"), ("similar", "items most like the item PATH")):
        cmd = sub.add_parser(name, help=f"rank the {what}", description=f"Print the {what}, best first, "
                             "from a results document written by 'photoatlas analyze'.")
        cmd.add_argument("results", type=Path, metavar="RESULTS.json")
        cmd.add_argument("query", metavar="QUERY" if name == "search" else "PATH")
        cmd.add_argument("--top", type=_positive_int, default=10, help="how many results (default 10)")
        cmd.add_argument("--json", action="store_true", help='print a JSON list of {"path", "score"}')
        if name == "search":
            cmd.add_argument("--cache-dir", type=Path, default=None, help="folder of the embedding cache")
            cmd.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
            cmd.add_argument("--offline", action="store_true", help="never touch the network")
        cmd.set_defaults(func=_rank)

    libraries = sub.add_parser("libraries", help="list the libraries on this computer",
                               description="The libraries in the libraries folder: name, catalogue, folders.")
    libraries.add_argument("--json", action="store_true", help="print them as JSON")
    libraries.set_defaults(func=_libraries)
    marks = sub.add_parser("marks", help="list the ratings, flags and labels given in a library",
                           description="The marks given in LIBRARY (in the window or by 'photoatlas rate'), one "
                           "picture per line; read while the window has the library open.")
    marks.add_argument("library", type=Path, metavar="LIBRARY")
    marks.add_argument("--min-rating", type=int, default=0, metavar="N", help="only N stars or more")
    marks.add_argument("--picks", action="store_true", help="only picks")
    marks.add_argument("--rejects", action="store_true", help="only rejects")
    marks.add_argument("--json", action="store_true", help='print a JSON list of {"path", "rating", "flag", "label"}')
    marks.set_defaults(func=_marks)
    rate = sub.add_parser("rate", help="rate, flag or label pictures of a library",
                          description="Give PATHs (pictures in LIBRARY's folders) a rating, a flag or a colour "
                          "label, saved in the library as one change (Edit > Undo in the window takes it back).")
    rate.add_argument("library", type=Path, metavar="LIBRARY")
    rate.add_argument("pictures", nargs="+", type=Path, metavar="PATH")
    rate.add_argument("--stars", type=int, default=None, metavar="0-5", help="the rating (0 clears it)")
    flags = rate.add_mutually_exclusive_group()
    for flag in ("pick", "reject", "unflag"):
        flags.add_argument(f"--{flag}", action="store_true", help=f"{flag} them")
    rate.add_argument("--label", default=None, metavar="COLOUR|none",
                      help=f"a colour label ({', '.join(COLOUR_LABELS)}) or none")
    rate.set_defaults(func=_rate)
    return parser


def _k_value(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


class _ProgressPrinter:
    """tqdm bars on stderr, one per stage."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.stage = ""

    def __call__(self, event: Any) -> None:
        if event.stage == "warning":
            self._close()
            _print(f"photoatlas: warning: {event.message}", file=sys.stderr)
            return
        if self.quiet:
            return
        from tqdm import tqdm

        if event.stage != self.stage:
            self._close()
            self.stage = event.stage
            if event.stage == "done":
                return
            unit = {"download": "B", "scan": "item"}.get(event.stage, "item")
            self.bar = tqdm(total=event.total, desc=event.stage, unit=unit, unit_scale=unit == "B",
                            file=sys.stderr, dynamic_ncols=True, leave=True)
        if self.bar is not None:
            if event.total is not None and self.bar.total != event.total:
                self.bar.total = event.total
            self.bar.n = event.done
            if event.message:
                self.bar.set_postfix_str(printable(event.message), refresh=False)
            self.bar.refresh()
            if event.stage == "scan" and event.total is not None:
                self._close()  # scanning is over: don't let its bar tick on while the model loads

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        self._close()


def _embed_settings(args: argparse.Namespace, model: str) -> Any:
    from desktop_app.core.embedding.settings import EmbedSettings

    return EmbedSettings(model=model, device=args.device, batch_size=args.batch_size, cache_dir=args.cache_dir,
                         offline=args.offline, max_pixels=args.max_pixels, ray=_ray_options(args),
                         decode_memory=args.decode_memory * 2 ** 20, decode_seconds=float(args.decode_seconds))


def _check_paths(paths: Sequence[str]) -> None:
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise BadArgument(f"no such file or folder: {missing[0]}")


def _embed(args: argparse.Namespace) -> int:
    """``embed``: fill the embedding cache only."""
    from desktop_app.core.embedding.pipeline import run_embedding
    from desktop_app.core.progress import drive

    _check_paths(args.paths)
    settings = _embed_settings(args, args.model or DEFAULT_MODEL)
    printer = _ProgressPrinter(args.quiet)
    try:
        result = drive(run_embedding(args.paths, settings), printer)
    finally:
        printer.close()
    _print(_summary(result))
    _print_skipped(result)
    return 0


def _analyze(args: argparse.Namespace) -> int:
    """``analyze``: through a ``Library`` (the window's rules: sidecar marks read, grouping parameters checked) —
    in memory, or the catalogue ``--library`` names (its folders, settings and decisions)."""
    from desktop_app.core.library.library import Library

    _check_paths(args.paths)
    if args.library is None and not args.paths:
        raise BadArgument("give the folders to analyse (or --library LIBRARY)")
    # A library's analysis only reads it (unless PATHs are to be added): it works beside the window that has it
    # open, and settings given as flags apply to this run only.
    library = (Library.open(args.library, writable=bool(args.paths)) if args.library is not None else Library())
    try:
        library.add_folders(args.paths)
        if args.model:
            library.set_model(args.model)
        library.settings.analysis = _analysis_settings(args, library.settings.analysis)
        library.embed = _embed_settings(args, library.settings.model)
        printer = _ProgressPrinter(args.quiet or args.json)
        try:
            result = library.analysis_job(relayout=args.relayout).drive(printer)
            if library.needs_regroup():  # a library grouped by prompts or events
                library.regroup_job().drive(printer)
        finally:
            printer.close()
        document = library.document()
        try:
            document.save(args.output)
        except OSError as exc:
            raise PhotoAtlasError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    finally:
        library.close()
    if args.json:
        a = document.analysis
        print(json.dumps({"document": str(args.output), "stats": result.stats,
                          "groups": [{"id": c.id, "name": c.name, "size": c.size} for c in a.clusters],
                          "ungrouped": int((a.labels < 0).sum()), "outliers": int(a.outliers.sum()),
                          "marked": len({*document.marks.rating, *document.marks.flag, *document.marks.label}),
                          "skipped": [{"path": str(s.path), "reason": s.reason} for s in result.skipped]},
                         ensure_ascii=True, indent=1))
        return 0
    _print(f"wrote {args.output} ({_summary(result)})")
    _print_groups(document.analysis)
    marked = len({*document.marks.rating, *document.marks.flag, *document.marks.label})
    if marked:
        source = "sidecars and the library" if args.library else "sidecars"
        _print(f"{marked} pictures rated, flagged or labelled (from {source})")
    _print_skipped(result)
    return 0


RATE_WAIT_S = 3.0  # how long `rate` waits for another command that has the library open (not a window: it refuses)


def _print(line: str, file: TextIO | None = None) -> None:
    """Print one line of output as ``filenames.printable`` shows it: a name in it (or a group name, a reason, an
    error quoting either) can neither forge a second line, nor send the terminal an escape sequence, nor crash the
    print with bytes that are not UTF-8 (shown as ``\\xe9``). JSON output is printed ASCII-escaped instead."""
    print(printable(line), file=file)


def _count(n: int, what: str) -> str:
    """``1 file``, ``2 files``."""
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def _print_skipped(result: Any) -> None:
    for skipped in result.skipped[:20]:
        _print(f"  skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    if len(result.skipped) > 20:
        _print(f"  … and {len(result.skipped) - 20} more skipped (see the results document)", file=sys.stderr)


def _ray_before_paths(argv: list[str]) -> list[str]:
    """``--ray ~/Pictures``: an existing folder after a bare --ray is a PATH, not the cluster's address (argparse
    would take it for the address)."""
    for i, arg in enumerate(argv[:-1]):
        if arg == "--ray" and argv[i + 1] != "auto" and "://" not in argv[i + 1] and os.path.exists(argv[i + 1]):
            argv[i] = "--ray="
    return argv


def _ray_options(args: argparse.Namespace) -> Any:
    """``RayOptions`` from --ray/--path-map/--ray-actors (None without --ray)."""
    if args.ray is None:
        if args.path_map or args.ray_actors:
            raise BadArgument("--path-map and --ray-actors apply to --ray")
        return None
    from desktop_app.core.embedding.ray_embed import RayOptions, require_ray

    require_ray()  # before the scan, not after it: the cluster extra may not be installed
    return RayOptions(address=args.ray or None, path_map=RayOptions.parse_path_map(args.path_map),
                      actors=args.ray_actors)


def _analysis_settings(args: argparse.Namespace, current: Any) -> Any:
    """The analysis settings: ``current`` (a library's, or the defaults) with what the flags say on top. Grouping
    flags given without --clusterer apply to the current clusterer."""
    from dataclasses import replace

    from desktop_app.core.analysis.groupings import grouping_params

    if args.vocabulary is not None and not args.vocabulary.is_file():
        raise BadArgument(f"no such vocabulary file: {args.vocabulary}")
    chosen = (args.k, args.min_samples, args.min_cluster_size, args.no_subgroups or None, args.eps)
    clusterer = args.clusterer or current.clusterer
    settings = replace(current, reducer=args.reducer or current.reducer, seed=args.seed,
                       assign_noise=args.assign_noise or current.assign_noise,
                       vocabulary=args.vocabulary or current.vocabulary)
    if args.clusterer is not None or any(v is not None for v in chosen):
        params = grouping_params(clusterer, k=args.k, min_samples=args.min_samples,
                                 min_cluster_size=args.min_cluster_size,
                                 subgroups=False if args.no_subgroups else None, eps=args.eps)
        settings = replace(settings, clusterer=clusterer, cluster_params=params)
    return settings


def _rank(args: argparse.Namespace) -> int:
    """``search`` and ``similar``: rank the items of a results document."""
    from desktop_app.core.analysis.search import rank

    result = _load_results(args.results)
    if args.command == "similar":
        wanted = os.path.abspath(args.query)
        index = next((i for i, it in enumerate(result.items) if it.path in (args.query, wanted)), None)
        if index is None:
            raise BadArgument(f"{args.query} is not in {args.results}")
        ranking = rank(result.vectors, result.vectors[index], top=args.top, exclude=index)
    else:
        ranking = rank(result.vectors, _query_vector(args, result.model), top=args.top)
    hits = [{"path": result.items[i].path, "score": round(score, 4)} for i, score in ranking.top(args.top)]
    if args.json:
        print(json.dumps(hits, ensure_ascii=True))
    else:
        for hit in hits:
            _print(f"{hit['score']:.3f}  {hit['path']}")
    return 0


def _query_vector(args: argparse.Namespace, model: dict[str, Any]) -> Any:
    from desktop_app.core.embedding.pipeline import EmbedSettings, query_vector

    if not args.query.strip():
        raise BadArgument("the search query is empty")
    settings = EmbedSettings(device=args.device, cache_dir=args.cache_dir, offline=args.offline)
    return query_vector(model, args.query, settings)


def _summary(result: Any) -> str:
    s = result.stats
    return (f"{s['items']} items: {s['embedded']} embedded, {s['from_cache']} from cache; "
            f"{s['skipped']} skipped; {s['seconds']:.1f} s")


def _export(args: argparse.Namespace) -> int:
    from desktop_app.core.export.plan import ExportOptions, plan_export
    from desktop_app.core.export.run import run_export
    from desktop_app.core.export.undo import undo_export
    from desktop_app.core.progress import drive

    printer = _ProgressPrinter(args.quiet or args.json)
    try:
        if args.command == "undo":
            undone = drive(undo_export(args.dest), printer)
            printer.close()
            if args.json:
                print(json.dumps({"dest": str(args.dest), "reversed": undone.reversed,
                                  "kept": [{"path": p, "why": why} for p, why in undone.refused],
                                  "warnings": undone.warnings}, ensure_ascii=True, indent=1))
                return 0
            _print(f"reversed {_count(undone.reversed, 'file')} in {args.dest}")
            for path, why in undone.refused:
                _print(f"  kept {path}: {why}", file=sys.stderr)
            for warning in undone.warnings:
                _print(f"  warning: {warning}", file=sys.stderr)
            return 0
        groups = None
        if args.groups:
            try:
                groups = {int(g) for g in args.groups.split(",") if g.strip()}
            except ValueError:
                raise BadArgument(f"--groups takes ids like 0,3,7; got {args.groups!r}") from None
        options = ExportOptions(mode=args.mode, groups=groups, include_noise=args.include_noise,
                                companions=args.companions, verify=args.verify, dry_run=args.dry_run, xmp=args.xmp,
                                xmp_on_copies=args.xmp_on_copies, xmp_naming=args.xmp_naming,
                                best_only=args.best_only, best_rating=args.best_rating, best_label=args.best_label,
                                nested=args.nested, min_rating=args.min_rating, picks_only=args.picks_only,
                                not_rejected=args.not_rejected)  # marks: the document's (result.marks)
        result = _load_results(args.results, need_vectors=False)  # export reads paths and groups only
        planned = plan_export(result, args.dest.expanduser().resolve(), options) if args.dry_run else []
        if args.dry_run and not args.json:
            for p in planned:
                _print(f"{'exists' if p.done else args.mode}  {p.source} -> {p.target}")
        summary = drive(run_export(result, args.dest, options), printer)
    finally:
        printer.close()
    if args.json:
        print(json.dumps({"dest": str(summary.dest), "dry_run": summary.dry_run, "exported": summary.done,
                          "already_there": summary.skipped_existing, "left_out_by_marks": summary.left_out_by_marks,
                          "fallbacks": summary.fallbacks, "xmp_written": summary.xmp_written,
                          "failed": [{"path": p, "why": why} for p, why in summary.failed],
                          "warnings": summary.warnings,
                          **({"plan": [{"source": str(p.source), "target": str(p.target), "exists": p.done}
                                       for p in planned]} if args.dry_run else {})},
                         ensure_ascii=True, indent=1))
    else:
        for line in summary.lines():
            _print(line)
    return 0 if not summary.failed else 1


def _load_results(path: Path, need_vectors: bool = True) -> Any:
    """A results document with its vectors, checked field by field (a damaged one is one line, exit 2)."""
    from desktop_app.core.documents.document import load_results

    result = load_results(path)
    if need_vectors and len(result.vectors) != len(result.items):
        raise BadArgument(f"the vectors beside {path} are missing; run 'photoatlas analyze' again")
    return result


def _duplicates(args: argparse.Namespace) -> int:
    """Find near-duplicate and burst sets, print them with their best frames, keep them in the document."""
    from dataclasses import replace

    from desktop_app.core.embedding.pipeline import run_duplicates
    from desktop_app.core.progress import drive
    from desktop_app.core.review.duplicates import sets_to_json

    result = _load_results(args.results)
    settings = result.cull_settings
    for name in ("threshold", "burst_seconds", "burst_similarity"):
        if getattr(args, name) is not None:
            settings = replace(settings, **{name: getattr(args, name)})
    if not -1.0 <= settings.threshold <= 1.0 or not -1.0 <= settings.burst_similarity <= 1.0:
        raise BadArgument("--threshold and --burst-similarity are cosine similarities between -1 and 1")
    printer = _ProgressPrinter(args.quiet or args.json)
    try:
        sets = drive(run_duplicates(result, settings), printer)
    finally:
        printer.close()
    if not args.no_save:
        result.save(args.results)
    if args.json:
        print(json.dumps(sets_to_json(sets, result.paths, settings)["sets"], ensure_ascii=True, indent=1))
        return 0
    extra = sum(len(s.members) - 1 for s in sets)
    _print(f"{len(sets)} sets ({sum(s.kind == 'burst' for s in sets)} bursts); keeping only the best frames "
           f"would leave out {extra} of {len(result.items)} items")
    for number, s in enumerate(sets, 1):
        _print(f"{number:4d}. {s.kind} of {len(s.members)}, best: {result.items[s.best].path}"
               + (" (your pick)" if s.chosen_by == "user" else ""))
        for member, q in zip(s.members, s.qualities):
            mark = "*" if member == s.best else " "
            detail = (f"sharpness {q.sharpness:8.1f}  clipped {100 * (q.highlights + q.shadows):4.1f} %  "
                      f"{q.megapixels:5.{1 if q.megapixels >= 1 else 2}f} MP" if q.readable else "unreadable")
            _print(f"      {mark} {detail}  {result.items[member].path}")
    return 0


def _regroup(args: argparse.Namespace) -> int:
    """``classify`` and ``events``: replace the groups of a results document, keeping its map."""
    from desktop_app.core.analysis.groupings import parse_prompts
    from desktop_app.core.embedding.pipeline import (
        EmbedSettings,
        group_by_events,
        group_by_prompts,
        keep_metas,
        photo_metas,
    )

    result = _load_results(args.results)
    if args.command == "classify":
        prompts = parse_prompts(args.prompts)
        settings = EmbedSettings(device=args.device, cache_dir=args.cache_dir, offline=args.offline)
        analysis = group_by_prompts(result, prompts, settings, args.margin)
    else:
        if args.gap_hours <= 0 or args.max_km <= 0:
            raise BadArgument("--gap-hours and --max-km must be more than 0")
        metas = photo_metas(result)
        keep_metas(result, metas)
        analysis = group_by_events(result, args.gap_hours, args.max_km, metas=metas)
    result.analysis = analysis
    if not args.no_save:
        result.save(args.results)
    if args.json:
        print(json.dumps([{"id": c.id, "name": c.name, "size": c.size,
                           "paths": [result.items[i].path for i in range(len(result.items))
                                     if analysis.labels[i] == c.id]} for c in analysis.clusters],
                         ensure_ascii=True, indent=1))
    else:
        _print_groups(analysis, shown=50)
        if not args.no_save:
            _print(f"saved in {args.results}; export them with: photoatlas export {args.results} DEST")
    return 0


def _run_gui(args: argparse.Namespace) -> int:
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        _print(f"photoatlas: error: no such file or folder: {missing[0]}", file=sys.stderr)
        return 2
    if args.offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
    if _no_display():
        if not (args.screenshot or args.quit_when_done):
            print("photoatlas: error: no display to open the window on (DISPLAY is not set); "
                  "the command line works without one: photoatlas analyze PATH", file=sys.stderr)
            return 1
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # a screenshot or a check needs no screen
    try:
        from desktop_app.gui.app import run
    except ImportError as exc:  # PySide6 missing or its system libraries (libGL, xcb) absent
        _print(f"photoatlas: error: the desktop app cannot start ({exc}); the command line still works: "
               "photoatlas --help", file=sys.stderr)
        return 1
    return run(args.paths, model=args.model, cache_dir=args.cache_dir, offline=args.offline,
               screenshot=args.screenshot, quit_when_done=args.quit_when_done, project=args.project,
               library=args.library)


def _open(args: argparse.Namespace) -> int:
    """``open LIBRARY|PROJECT``: the window on a library (a project file is made into one)."""
    project = args.file.suffix.lower() == ".photoatlas"
    gui = argparse.Namespace(paths=[], model=None, cache_dir=args.cache_dir, offline=args.offline,
                             library=None if project else args.file, project=args.file if project else None,
                             screenshot=None, quit_when_done=False)
    return _run_gui(gui)


def _libraries(args: argparse.Namespace) -> int:
    """``libraries``: the libraries in the platform's libraries folder."""
    from desktop_app.core.library.library import list_libraries

    found = list_libraries()
    if args.json:
        print(json.dumps([{"name": name, "library": str(path), "folders": folders} for path, name, folders in found],
                         ensure_ascii=True, indent=1))
        return 0
    if not found:
        print("no libraries yet: the window makes one for the folders you add (or photoatlas gui FOLDER)")
    for path, name, folders in found:
        _print(f"{name}  ({path})")
        for folder in folders:
            _print(f"    {folder}")
    return 0


def _marks(args: argparse.Namespace) -> int:
    """``marks LIBRARY``: the ratings, flags and labels given in a library (read-only: works beside the window)."""
    from desktop_app.core.library.library import Library

    library = Library.open(args.library, writable=False)
    try:
        marks = library.state.marks
        rows = []
        for path in sorted({*marks.rating, *marks.flag, *marks.label}):
            mark = marks.get(path)
            if mark.rating < args.min_rating or (args.picks and mark.flag != "pick") or (
                    args.rejects and mark.flag != "reject"):
                continue
            rows.append({"path": path, "rating": mark.rating, "flag": mark.flag, "label": mark.label})
    finally:
        library.close()
    if args.json:  # ASCII escapes: names that are not UTF-8 stay exact, and the output is valid UTF-8 anyway
        print(json.dumps(rows, ensure_ascii=True, indent=1))
        return 0
    for row in rows:
        stars = "★" * row["rating"] + "☆" * (5 - row["rating"])
        _print(f"{stars}  {row['flag'] or '-':6}  {row['label'] or '-':6}  {row['path']}")
    return 0


def _rate(args: argparse.Namespace) -> int:
    """``rate LIBRARY PATH...``: marks from a script, one undoable change in the library."""
    from desktop_app.core.ingest.items import Item, Skipped, scan
    from desktop_app.core.library.library import Library

    flag: str | None | bool = "pick" if args.pick else "reject" if args.reject else None if args.unflag else False
    label: str | None | bool = False
    if args.label is not None:
        label = next((c for c in COLOUR_LABELS if c.lower() == args.label.lower()), "")
        if label == "" and args.label.lower() != "none":
            raise BadArgument(f"--label takes one of {', '.join(COLOUR_LABELS)} or none, not {args.label!r}")
        label = label or None
    if args.stars is not None and not 0 <= args.stars <= 5:
        raise BadArgument("--stars goes from 0 to 5")
    if args.stars is None and flag is False and label is False:
        raise BadArgument("say what to set: --stars N, --pick, --reject, --unflag or --label COLOUR")
    library = Library.open(args.library, wait=RATE_WAIT_S)
    try:
        roots = [Path(f) for f in library.folders]
        pictures: list[str] = []
        for p in args.pictures:
            path = Path(os.path.abspath(p))
            if path.is_symlink():  # the library holds the picture by the path its scan keeps: not a link's
                raise BadArgument(f"{printable(str(p))} is a link; rate the picture it points to")
            if not path.is_file():
                raise BadArgument(f"no such picture: {printable(str(p))}")
            if not any(path == r or r in path.parents for r in roots):
                folders = ", ".join(printable(str(r)) for r in roots) or "none"
                raise BadArgument(f"{printable(str(p))} is not in the library's folders ({folders})")
            found = list(scan([path]))  # the library's own rule for what is a picture (as its analysis reads them)
            if len(found) != 1 or not isinstance(found[0], Item) or found[0].kind != "image":
                why = found[0].reason if found and isinstance(found[0], Skipped) else "a note, not a picture"
                raise BadArgument(f"{printable(str(p))} is not a picture the library holds ({why})")
            if str(path) not in pictures:  # the same picture named twice is one picture
                pictures.append(str(path))
        parts = [("Rate ★" + str(args.stars) if args.stars else "Clear Rating") if args.stars is not None else "",
                 {"pick": "Pick", "reject": "Reject", None: "Unflag"}[flag] if flag is not False else "",
                 (f"Label {label}" if label else "Clear Label") if label is not False else ""]
        what = ", ".join(p for p in parts if p)
        changed = library.mark(pictures, rating=args.stars, flag=flag, label=label, text=what)
    finally:
        library.close()
    _print(f"{what}: {changed} of {_count(len(pictures), 'picture')} changed in {printable(str(args.library))}")
    return 0


def _print_groups(analysis: Any, shown: int = 12) -> None:
    outliers = int(analysis.outliers.sum())
    ungrouped = int((analysis.labels < 0).sum())
    subs = f" ({len(analysis.subclusters)} sub-groups)" if analysis.subclusters else ""
    _print(f"{len(analysis.clusters)} groups{subs}, {ungrouped} ungrouped, {outliers} flagged as outliers")
    for cluster in analysis.clusters[:shown]:
        _print(f"  {cluster.size:6d}  {cluster.name}")
        for sub in analysis.children(cluster.id):
            _print(f"  {sub.size:6d}    └ {sub.name}")
    if len(analysis.clusters) > shown:
        _print(f"  … and {len(analysis.clusters) - shown} more groups (see the results document)")
    for warning in analysis.warnings:
        _print(f"photoatlas: warning: {warning}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``photoatlas`` and ``python -m desktop_app``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(_ray_before_paths(list(sys.argv[1:] if argv is None else argv)))
    if args.command is None:
        if _no_display():  # a bare `photoatlas` over SSH or in a container: say what works, not an error
            print("photoatlas: the window needs a display, and there is none here (DISPLAY is not set).\n"
                  "The command line works without one, e.g.: photoatlas analyze ~/Pictures -o results.json\n"
                  "(photoatlas --help lists every command)")
            return 0
        args = parser.parse_args(["gui"])
    if args.command in ("gui", "open"):
        return int(args.func(args))
    if getattr(args, "offline", False):
        os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported anywhere
    try:
        return int(args.func(args))
    except Cancelled:
        print("photoatlas: cancelled", file=sys.stderr)
        return 130
    except PhotoAtlasError as exc:
        _print(f"photoatlas: error: {exc.user_message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("photoatlas: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `photoatlas marks L | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _no_display() -> bool:
    return (sys.platform.startswith("linux") and not os.environ.get("DISPLAY")
            and not os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("QT_QPA_PLATFORM"))
