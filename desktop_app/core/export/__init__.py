"""Putting groups on disk without ever losing a file: what goes where (``plan``), placing files safely (``placing``,
``journal``), doing it (``run``), the tables beside it (``manifests``) and undo (``undo``).
"""
