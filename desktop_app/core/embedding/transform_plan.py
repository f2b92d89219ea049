"""Whether a model's preprocessing is the plain open_clip shape (Resize shortest side, CenterCrop, ToTensor,
Normalize) and its settings: what the GPU path reproduces on the device (``gpu_decode.DevicePreprocess``) and what
the decoding sandbox's workers do themselves (``settings.worker_resize``). Kept apart so that both read the one rule
without importing each other."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TransformPlan:
    """The settings of a plain open_clip transform."""

    size: int  # Resize: the shorter side
    crop: tuple[int, int]  # CenterCrop (height, width)
    interpolation: Any  # torchvision InterpolationMode (bicubic or bilinear, antialiased like PIL)
    mean: tuple[float, ...]
    std: tuple[float, ...]


def plain_transform(preprocess: Callable[[Any], Any]) -> TransformPlan | None:
    """The settings of an open_clip transform, or None when it is not the plain shape.

    Plain: ``Resize(int)`` (bicubic or bilinear, antialiased, no max_size), ``CenterCrop``, mode conversion and
    ToTensor, ``Normalize``: open_clip's ``resize_mode="shortest"`` with a square size. ``"longest"`` (resize the
    longer side, then pad) and ``"squash"`` (no crop), non-square sizes (``ResizeKeepRatio``) and anything else
    are not plain: None.
    """
    from open_clip.transform import MaybeConvertMode, MaybeToTensor, _convert_to_rgb
    from torchvision import transforms as tv

    steps = list(getattr(preprocess, "transforms", []))
    if len(steps) < 3 or type(steps[0]) is not tv.Resize or type(steps[1]) is not tv.CenterCrop \
            or type(steps[-1]) is not tv.Normalize:
        return None
    resize, crop, normalize = steps[0], steps[1], steps[-1]
    for step in steps[2:-1]:
        if step is _convert_to_rgb or type(step) in (MaybeToTensor, tv.ToTensor):
            continue
        if type(step) is MaybeConvertMode and step.mode == "RGB":
            continue
        return None
    size = resize.size
    if isinstance(size, (list, tuple)):
        if len(size) != 1:
            return None  # (h, w): squash, no aspect ratio kept
        size = size[0]
    # (Resize's antialias flag does not matter: PIL, on the CPU path, always filters when it shrinks.)
    modes = (tv.InterpolationMode.BICUBIC, tv.InterpolationMode.BILINEAR)
    if resize.interpolation not in modes or resize.max_size is not None:
        return None
    mean, std = tuple(float(v) for v in normalize.mean), tuple(float(v) for v in normalize.std)
    if len(mean) != 3 or len(std) != 3:
        return None
    ch, cw = crop.size if len(crop.size) == 2 else (crop.size[0], crop.size[0])
    return TransformPlan(size=int(size), crop=(int(ch), int(cw)), interpolation=resize.interpolation, mean=mean,
                         std=std)
