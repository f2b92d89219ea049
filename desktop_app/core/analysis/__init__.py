"""From vectors to a map and groups: what an analysis is (``model``), the work that makes one (``analyze``: layout,
clustering, naming, outliers), big libraries by sample (``sampled``), regrouping by prompts or events
(``groupings``), search, tidy, and the user's group edits (``edits``).
"""
