"""The ``photoatlas`` command line: a thin front end over ``desktop_app.core``.

Exit codes: 0 when the job ran (also with skipped files), 1 for a fatal error, 2 for bad arguments;
errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from desktop_app import __version__
from desktop_app.core.embed import DEFAULT_MODEL, FASTER_MODEL, MORE_ACCURATE_MODEL
from desktop_app.core.errors import BadArgument, Cancelled, PhotoAtlasError
from desktop_app.core.images import PILLOW_DEFAULT_MAX_PIXELS

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
                        help="where the model runs (default auto: CUDA, then Apple MPS, then CPU)")
    common.add_argument("--batch-size", type=_positive_int, default=32, help="images per model batch (default 32)")
    common.add_argument("--cache-dir", type=Path, default=None,
                        help="folder of the embedding cache (default: the platform's cache folder)")
    common.add_argument("--offline", action="store_true", help="never touch the network")
    common.add_argument("--max-pixels", type=_positive_int, default=PILLOW_DEFAULT_MAX_PIXELS,
                        help=f"skip images larger than this many pixels (default {PILLOW_DEFAULT_MAX_PIXELS:,})")
    common.add_argument("--quiet", action="store_true", help="no progress bar")

    sub.add_parser("embed", parents=[common], help="fill the embedding cache only (pre-index a library)",
                   description="Scan PATHs and embed everything the cache lacks.")
    analyze = sub.add_parser("analyze", parents=[common], help="scan, embed and write a results document",
                             description="Scan PATHs, embed them (using the cache) and write a JSON document.")
    analyze.add_argument("--output", "-o", type=Path, default=Path("photoatlas-results.json"),
                         help="results document to write (default photoatlas-results.json); "
                              "vectors go next to it as <name>.vectors.npz")
    return parser


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


def _run_embedding(args: argparse.Namespace) -> Any:
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        raise BadArgument(f"no such file or folder: {missing[0]}")
    from desktop_app.core.pipeline import EmbedSettings, drive, run_embedding

    settings = EmbedSettings(model=args.model, device=args.device, batch_size=args.batch_size,
                             cache_dir=args.cache_dir, offline=args.offline, max_pixels=args.max_pixels)
    printer = _ProgressPrinter(args.quiet)
    try:
        return drive(run_embedding(args.paths, settings), printer)
    finally:
        printer.close()


def _summary(result: Any) -> str:
    s = result.stats
    return (f"{s['items']} items: {s['embedded']} embedded, {s['from_cache']} from cache; "
            f"{s['skipped']} skipped; {s['seconds']:.1f} s")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``photoatlas`` and ``python -m desktop_app``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if getattr(args, "offline", False):
        os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported anywhere
    try:
        result = _run_embedding(args)
        if args.command == "analyze":
            result.save(args.output)
            print(f"wrote {args.output} ({_summary(result)})")
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
