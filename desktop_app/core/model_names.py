"""The recommended CLIP models by name (open_clip ``ARCH:TAG``): what a new library and the command line use
unless told otherwise. Kept apart from ``embedding.embed`` so that files which only name a model (projects,
libraries) need not import the embedding code."""

DEFAULT_MODEL = "ViT-B-32-256:datacomp_s34b_b86k"
FASTER_MODEL = "ViT-B-32:laion2b_s34b_b79k"
MORE_ACCURATE_MODEL = "ViT-B-16:dfn2b"
