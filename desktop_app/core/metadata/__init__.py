"""What pictures say about themselves: EXIF capture time, camera and place (``photo_meta``), the loupe's details
(``photo_info``), and XMP sidecars read and written (``xmp``).
"""
