"""Entry point of the frozen app (PyInstaller): the same ``photoatlas`` command; no arguments opens the window."""

import multiprocessing
import sys

from desktop_app.cli import main

if __name__ == "__main__":
    # UMAP and t-SNE run in a spawned helper process (core/analysis/isolated.py); in a frozen app that process is this
    # executable started again, and freeze_support() hands it to multiprocessing instead of the CLI.
    multiprocessing.freeze_support()
    sys.exit(main())
