"""``python -m desktop_app`` runs the same front end as the ``photoatlas`` command."""

import sys

from desktop_app.cli import main

if __name__ == "__main__":  # also imported by helper processes started with "spawn"
    sys.exit(main())
