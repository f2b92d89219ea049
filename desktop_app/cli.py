"""The ``photoatlas`` command line: a thin front end over ``desktop_app.core``.

Exit codes: 0 when the job ran (also with skipped files), 1 for a fatal error, 2 for bad arguments;
errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from desktop_app import __version__
from desktop_app.core.analysis.cluster import CLUSTERERS
from desktop_app.core.analysis.groupings import EVENT_GAP_HOURS, EVENT_MAX_KM, PROMPT_MARGIN
from desktop_app.core.analysis.layout import REDUCERS
from desktop_app.core.errors import BadArgument, Cancelled, PhotoAtlasError
from desktop_app.core.ingest.images import PILLOW_DEFAULT_MAX_PIXELS
from desktop_app.core.model_names import DEFAULT_MODEL, FASTER_MODEL, MORE_ACCURATE_MODEL
from desktop_app.core.review.duplicates import BURST_SECONDS, BURST_SIMILARITY, DEFAULT_THRESHOLD

EPILOG = f"""\
models (--model):
  ARCH:TAG            open_clip architecture + pretrained tag, downloaded once into the Hugging Face cache
                      default {DEFAULT_MODEL}; faster {FASTER_MODEL}; more accurate {MORE_ACCURATE_MODEL}
  hf-hub:ORG/REPO     an open_clip model on the Hugging Face hub
  local-dir:PATH      a folder with open_clip_config.json + open_clip_model.safetensors (works offline)

exit codes: 0 ran (also when some files were skipped), 1 fatal error, 2 bad arguments
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"photoatlas: error: {message}\n(see photoatlas --help)\n")


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
    common.add_argument("paths", nargs="+", metavar="PATH", help="folders (searched recursively) and files")
    common.add_argument("--model", default=DEFAULT_MODEL, help=f"model to embed with (default {DEFAULT_MODEL})")
    common.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                        help="where the model runs (default auto: CUDA, then Apple MPS, then CPU); with CUDA, "
                             "JPEGs are decoded on the GPU too")
    common.add_argument("--batch-size", type=_positive_int, default=32, help="images per model batch (default 32)")
    common.add_argument("--cache-dir", type=Path, default=None,
                        help="folder of the embedding cache (default: the platform's cache folder)")
    common.add_argument("--offline", action="store_true", help="never touch the network")
    common.add_argument("--max-pixels", type=_positive_int, default=PILLOW_DEFAULT_MAX_PIXELS,
                        help=f"skip images larger than this many pixels (default {PILLOW_DEFAULT_MAX_PIXELS:,})")
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

    sub.add_parser("embed", parents=[common], help="fill the embedding cache only (pre-index a library)",
                   description="Scan PATHs and embed everything the cache lacks.")
    analyze = sub.add_parser("analyze", parents=[common], help="scan, embed and write a results document",
                             description="Scan PATHs, embed them (using the cache) and write a JSON document.")
    analyze.add_argument("--output", "-o", type=Path, default=Path("photoatlas-results.json"),
                         help="results document to write (default photoatlas-results.json); "
                              "vectors go next to it as <name>.vectors.npz")
    group = analyze.add_argument_group("map and groups")
    group.add_argument("--reducer", choices=list(REDUCERS), default="umap",
                       help="how the 2-D map is drawn (default umap)")
    group.add_argument("--clusterer", choices=list(CLUSTERERS), default="hdbscan",
                       help="how groups are found (default hdbscan: as many as there are, stragglers ungrouped)")
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
    gui.add_argument("--project", type=Path, default=None, metavar="FILE.photoatlas", help="open a saved project")
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
    for cmd in (dups, classify):
        cmd.add_argument("--cache-dir", type=Path, default=None, help="folder of the embedding cache")
        cmd.add_argument("--offline", action="store_true", help="never touch the network")
    classify.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])

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
            print(f"photoatlas: warning: {event.message}", file=sys.stderr)
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
                self.bar.set_postfix_str(event.message, refresh=False)
            self.bar.refresh()
            if event.stage == "scan" and event.total is not None:
                self._close()  # scanning is over: don't let its bar tick on while the model loads

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        self._close()


def _run_pipeline(args: argparse.Namespace) -> Any:
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        raise BadArgument(f"no such file or folder: {missing[0]}")
    from desktop_app.core.embedding.pipeline import EmbedSettings, drive, run_analysis, run_embedding

    settings = EmbedSettings(model=args.model, device=args.device, batch_size=args.batch_size,
                             cache_dir=args.cache_dir, offline=args.offline, max_pixels=args.max_pixels,
                             ray=_ray_options(args))
    printer = _ProgressPrinter(args.quiet)
    try:
        if args.command == "analyze":
            return drive(run_analysis(args.paths, settings, _analysis_settings(args)), printer)
        return drive(run_embedding(args.paths, settings), printer)
    finally:
        printer.close()


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


def _analysis_settings(args: argparse.Namespace) -> Any:
    from desktop_app.core.analysis.groupings import grouping_params
    from desktop_app.core.analysis.model import AnalysisSettings

    if args.vocabulary is not None and not args.vocabulary.is_file():
        raise BadArgument(f"no such vocabulary file: {args.vocabulary}")
    params = grouping_params(args.clusterer, k=args.k, min_samples=args.min_samples,
                             min_cluster_size=args.min_cluster_size, subgroups=False if args.no_subgroups else None,
                             eps=args.eps)
    return AnalysisSettings(reducer=args.reducer, clusterer=args.clusterer, cluster_params=params, seed=args.seed,
                            assign_noise=args.assign_noise, vocabulary=args.vocabulary, relayout=args.relayout)


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
        print(json.dumps(hits, ensure_ascii=False))
    else:
        for hit in hits:
            print(f"{hit['score']:.3f}  {hit['path']}")
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

    printer = _ProgressPrinter(False)
    try:
        if args.command == "undo":
            summary = drive(undo_export(args.dest), printer)
            printer.close()
            print(f"reversed {summary.reversed} files in {args.dest}")
            for path, why in summary.refused:
                print(f"  kept {path}: {why}", file=sys.stderr)
            for warning in summary.warnings:
                print(f"  warning: {warning}", file=sys.stderr)
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
        if args.dry_run:
            for p in plan_export(result, args.dest.expanduser().resolve(), options):
                print(f"{'exists' if p.done else args.mode}  {p.source} -> {p.target}")
        summary = drive(run_export(result, args.dest, options), printer)
    finally:
        printer.close()
    for line in summary.lines():
        print(line)
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
        print(json.dumps(sets_to_json(sets, result.paths, settings)["sets"], ensure_ascii=False, indent=1))
        return 0
    extra = sum(len(s.members) - 1 for s in sets)
    print(f"{len(sets)} sets ({sum(s.kind == 'burst' for s in sets)} bursts); keeping only the best frames "
          f"would leave out {extra} of {len(result.items)} items")
    for number, s in enumerate(sets, 1):
        print(f"{number:4d}. {s.kind} of {len(s.members)}, best: {result.items[s.best].path}"
              + (" (your pick)" if s.chosen_by == "user" else ""))
        for member, q in zip(s.members, s.qualities):
            mark = "*" if member == s.best else " "
            detail = (f"sharpness {q.sharpness:8.1f}  clipped {100 * (q.highlights + q.shadows):4.1f} %  "
                      f"{q.megapixels:5.{1 if q.megapixels >= 1 else 2}f} MP" if q.readable else "unreadable")
            print(f"      {mark} {detail}  {result.items[member].path}")
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
                         ensure_ascii=False, indent=1))
    else:
        _print_groups(analysis, shown=50)
        if not args.no_save:
            print(f"saved in {args.results}; export them with: photoatlas export {args.results} DEST")
    return 0


def _run_gui(args: argparse.Namespace) -> int:
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        print(f"photoatlas: error: no such file or folder: {missing[0]}", file=sys.stderr)
        return 2
    if args.offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
    headless = (sys.platform.startswith("linux") and not os.environ.get("DISPLAY")
                and not os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("QT_QPA_PLATFORM"))
    if headless:
        if not (args.screenshot or args.quit_when_done):
            print("photoatlas: error: no display to open the window on (DISPLAY is not set); "
                  "the command line works without one: photoatlas analyze PATH", file=sys.stderr)
            return 1
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # a screenshot or a check needs no screen
    try:
        from desktop_app.gui.app import run
    except ImportError as exc:  # PySide6 missing or its system libraries (libGL, xcb) absent
        print(f"photoatlas: error: the desktop app cannot start ({exc}); the command line still works: "
              "photoatlas --help", file=sys.stderr)
        return 1
    return run(args.paths, model=args.model, cache_dir=args.cache_dir, offline=args.offline,
               screenshot=args.screenshot, quit_when_done=args.quit_when_done, project=args.project)


def _print_groups(analysis: Any, shown: int = 12) -> None:
    outliers = int(analysis.outliers.sum())
    ungrouped = int((analysis.labels < 0).sum())
    subs = f" ({len(analysis.subclusters)} sub-groups)" if analysis.subclusters else ""
    print(f"{len(analysis.clusters)} groups{subs}, {ungrouped} ungrouped, {outliers} flagged as outliers")
    for cluster in analysis.clusters[:shown]:
        print(f"  {cluster.size:6d}  {cluster.name}")
        for sub in analysis.children(cluster.id):
            print(f"  {sub.size:6d}    └ {sub.name}")
    if len(analysis.clusters) > shown:
        print(f"  … and {len(analysis.clusters) - shown} more groups (see the results document)")
    for warning in analysis.warnings:
        print(f"photoatlas: warning: {warning}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``photoatlas`` and ``python -m desktop_app``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(_ray_before_paths(list(sys.argv[1:] if argv is None else argv)))
    if args.command is None:
        args = parser.parse_args(["gui"])
    if args.command == "gui":
        return _run_gui(args)
    if getattr(args, "offline", False):
        os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported anywhere
    try:
        if args.command in ("search", "similar"):
            return _rank(args)
        if args.command in ("export", "undo"):
            return _export(args)
        if args.command == "duplicates":
            return _duplicates(args)
        if args.command in ("classify", "events"):
            return _regroup(args)
        result = _run_pipeline(args)
        if args.command == "analyze":
            result.save(args.output)
            print(f"wrote {args.output} ({_summary(result)})")
            _print_groups(result.analysis)
        else:
            print(_summary(result))
        for skipped in result.skipped[:20]:
            print(f"  skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
        if len(result.skipped) > 20:
            print(f"  … and {len(result.skipped) - 20} more skipped (see the results document)", file=sys.stderr)
        return 0
    except Cancelled:
        print("photoatlas: cancelled", file=sys.stderr)
        return 130
    except PhotoAtlasError as exc:
        print(f"photoatlas: error: {exc.user_message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("photoatlas: interrupted", file=sys.stderr)
        return 130
