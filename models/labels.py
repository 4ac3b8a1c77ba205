"""The three labels every part of MaskWatch uses, in the order of the classifier's outputs."""

CLASSES: tuple[str, ...] = ("with_mask", "without_mask", "mask_worn_incorrectly")

# BGR, for OpenCV drawing: green with mask, red without, orange worn incorrectly.
COLORS_BGR: dict[str, tuple[int, int, int]] = {
    "with_mask": (0, 170, 0),
    "without_mask": (0, 0, 220),
    "mask_worn_incorrectly": (0, 140, 255),
}

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
