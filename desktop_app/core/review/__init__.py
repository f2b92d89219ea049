"""The photographer's decisions about pictures: marks (ratings, flags, labels) and filters (``marks``), marks other
catalogues left in sidecars (``sidecar_marks``), near-duplicate and burst sets (``duplicates``) and the picture
quality that picks their best frame (``quality``).
"""
