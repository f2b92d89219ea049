"""Files PhotoAtlas writes and reads back: the results document (``document``, ``results``, ``schema``), project files
(``project``) and the checks on everything read from outside (``validate``).
"""
