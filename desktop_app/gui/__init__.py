"""The PySide6 + pyqtgraph desktop front end (a thin layer over ``desktop_app.core``)."""
