"""``python -m desktop_app`` runs the same front end as the ``photoatlas`` command."""

import sys

from desktop_app.cli import main

sys.exit(main())
