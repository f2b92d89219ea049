"""PhotoAtlas: turn folders of photos and notes into a map of what is in them."""

__version__ = "0.1.0"
