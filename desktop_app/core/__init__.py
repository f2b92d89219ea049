"""PhotoAtlas core: pure Python, never imports Qt. Heavy libraries (torch, open_clip) load lazily."""
