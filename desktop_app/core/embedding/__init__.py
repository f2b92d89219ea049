"""From files to CLIP vectors: the models and their download (``embed``, ``downloads``), the embedding cache
(``cache``), the pipeline that scans, decodes and embeds (``pipeline``), and the GPU and Ray paths (``gpu_decode``,
``ray_embed``).
"""
