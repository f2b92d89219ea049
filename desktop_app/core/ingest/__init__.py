"""Reading what is in the user's folders: scanning (``items``), decoding pictures safely (``images``), text notes
(``texts``) and thumbnails. Everything here treats files as untrusted input.
"""
