"""The eleven augmentation ops of the Community Forensics recipe, with the official parameters.

Each op is `op(image, rng, crop_size) -> image` on RGB PIL images; parameters come from
`custom_transforms.RandomStateAugmentation.parse_auglist` of the official code
(JeongsooP/Community-Forensics). All randomness comes from the numpy Generator passed in.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
from PIL import Image

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
RESIZE_RATIO = 440 / 384  # official: Resize(440) before a 384 crop (256 before 224)

# the official `rsa_ops` default, in its order (names shortened)
AUGMENTATIONS: tuple[str, ...] = (
    "jpeg",  # JPEGinMemory
    "resize",  # RandomResizeWithRandomIntpl
    "crop",  # RandomCrop
    "hflip",  # RandomHorizontalFlip
    "vflip",  # RandomVerticalFlip
    "resized_crop",  # RRCWithRandomIntpl
    "rotate",  # RandomRotation
    "translate",  # RandomTranslate
    "shear",  # RandomShear
    "pad",  # RandomPadding(AndResize)
    "cutout",  # RandomCutout
)
OP_COUNT_RANGE = (0, 2)  # rsa_min_num_ops=0, rsa_max_num_ops=2, drawn per op

# RandomStateAugmentation builds JPEGinMemory with quality_range=(75, 100) (the class
# default, 30-100, is not what training used).
JPEG_QUALITY_RANGE = (75, 100)
RESIZE_MAX_FACTOR = 1.228  # resize shorter side to randint(C + 1, round(1.228 C))
RRC_SCALE = (0.9, 1.0)
RRC_RATIO = (3 / 4, 4 / 3)
ROTATE_MAX_DEGREES = 15.0
TRANSLATE_MAX_FRACTION = 0.1
SHEAR_MAX_DEGREES = 15.0
PAD_MAX_FRACTION = 0.05  # per side (pad_percentage_range 0.1 / 2)
CUTOUT_P = 0.5
CUTOUT_SCALE = (0.02, 0.06)
CUTOUT_RATIO = (0.3, 3.3)

_BILINEAR = Image.Resampling.BILINEAR
_RESIZE_FILTERS = (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC)
_RRC_FILTERS = (
    Image.Resampling.NEAREST,
    Image.Resampling.BILINEAR,
    Image.Resampling.BICUBIC,
    Image.Resampling.LANCZOS,
    Image.Resampling.HAMMING,
    Image.Resampling.BOX,
)
FINAL_INTERPOLATION = _BILINEAR  # torchvision Resize on PIL images defaults to bilinear

Op = Callable[[Image.Image, np.random.Generator, int], Image.Image]


def resize_size_for(crop_size: int) -> int:
    """The pre-crop Resize of a crop size, in the official 440:384 proportion."""
    if crop_size <= 0:
        raise ValueError(f"image_size must be positive, got {crop_size}")
    return 440 if crop_size == 384 else 256 if crop_size == 224 else round(crop_size * RESIZE_RATIO)


def _uniform_int(rng: np.random.Generator, lo: int, hi: int) -> int:
    """Inclusive integer draw, like python's randint."""
    return int(rng.integers(lo, hi + 1))


def resize_shorter(image: Image.Image, size: int, resample=FINAL_INTERPOLATION) -> Image.Image:
    """Scale so the shorter side is `size` (torchvision `Resize(int)` semantics)."""
    w, h = image.size
    if min(w, h) == size:
        return image
    if w <= h:
        new = (size, int(size * h / w))
    else:
        new = (int(size * w / h), size)
    return image.resize(new, resample)


def random_crop(image: Image.Image, rng: np.random.Generator, size: int) -> Image.Image:
    """A size x size window at a random position (the image is grown first if smaller)."""
    if min(image.size) < size:
        image = resize_shorter(image, size)
    w, h = image.size
    x0, y0 = _uniform_int(rng, 0, w - size), _uniform_int(rng, 0, h - size)
    return image.crop((x0, y0, x0 + size, y0 + size))


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """Central size x size window (torchvision rounding) of an image at least that big."""
    w, h = image.size
    x0, y0 = int(round((w - size) / 2.0)), int(round((h - size) / 2.0))
    return image.crop((x0, y0, x0 + size, y0 + size))


def jpeg(image: Image.Image, rng: np.random.Generator, crop: int = 0) -> Image.Image:
    """Re-encode as JPEG in memory at a random quality."""
    quality = _uniform_int(rng, *JPEG_QUALITY_RANGE)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as decoded:
        return decoded.convert("RGB")


def resize(image: Image.Image, rng: np.random.Generator, crop: int) -> Image.Image:
    """Shorter side to a random size just above the crop, bilinear or bicubic at random."""
    size = _uniform_int(rng, crop + 1, max(crop + 1, round(crop * RESIZE_MAX_FACTOR)))
    return resize_shorter(image, size, _RESIZE_FILTERS[int(rng.integers(2))])


def crop(image: Image.Image, rng: np.random.Generator, crop: int) -> Image.Image:
    """RandomCrop to the final crop size."""
    return random_crop(image, rng, crop)


def hflip(image: Image.Image, rng: np.random.Generator, crop: int = 0) -> Image.Image:
    """Mirror left-right with probability 0.5."""
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else image


def vflip(image: Image.Image, rng: np.random.Generator, crop: int = 0) -> Image.Image:
    """Mirror top-bottom with probability 0.5."""
    return image.transpose(Image.Transpose.FLIP_TOP_BOTTOM) if rng.random() < 0.5 else image


def resized_crop(image: Image.Image, rng: np.random.Generator, crop: int) -> Image.Image:
    """RandomResizedCrop(C, scale 0.9-1, ratio 3/4-4/3) with one of six filters at random."""
    w, h = image.size
    area = w * h
    box = (0, 0, w, h)
    for _ in range(10):  # torchvision's get_params: ten tries, then the whole image
        target = area * float(rng.uniform(*RRC_SCALE))
        ratio = math.exp(float(rng.uniform(math.log(RRC_RATIO[0]), math.log(RRC_RATIO[1]))))
        cw, ch = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < cw <= w and 0 < ch <= h:
            x0, y0 = _uniform_int(rng, 0, w - cw), _uniform_int(rng, 0, h - ch)
            box = (x0, y0, x0 + cw, y0 + ch)
            break
    resample = _RRC_FILTERS[int(rng.integers(len(_RRC_FILTERS)))]
    return image.resize((crop, crop), resample, box=box)


def rotate(image: Image.Image, rng: np.random.Generator, crop: int = 0) -> Image.Image:
    """Rotate by up to 15 degrees either way (bilinear, black corners, same canvas)."""
    angle = float(rng.uniform(-ROTATE_MAX_DEGREES, ROTATE_MAX_DEGREES))
    return image.rotate(angle, resample=_BILINEAR, fillcolor=(0, 0, 0))


def translate(image: Image.Image, rng: np.random.Generator, crop: int = 0) -> Image.Image:
    """Shift by whole pixels, up to 10% of each side (RandomAffine translate), black fill."""
    w, h = image.size
    dx = round(float(rng.uniform(-TRANSLATE_MAX_FRACTION * w, TRANSLATE_MAX_FRACTION * w)))
    dy = round(float(rng.uniform(-TRANSLATE_MAX_FRACTION * h, TRANSLATE_MAX_FRACTION * h)))
    return image.rotate(0, resample=_BILINEAR, translate=(dx, dy), fillcolor=(0, 0, 0))


def shear(image: Image.Image, rng: np.random.Generator, crop: int = 0) -> Image.Image:
    """Shear by up to 15 degrees on x and y about the centre (torchvision's affine matrix)."""
    sx = math.radians(float(rng.uniform(-SHEAR_MAX_DEGREES, SHEAR_MAX_DEGREES)))
    sy = math.radians(float(rng.uniform(-SHEAR_MAX_DEGREES, SHEAR_MAX_DEGREES)))
    # torchvision's _get_inverse_affine_matrix with angle 0, no translation, scale 1
    a = math.cos(-sy) / math.cos(sy)
    b = -math.cos(-sy) * math.tan(sx) / math.cos(sy)
    c = math.sin(-sy) / math.cos(sy)
    d = math.cos(-sy) * math.tan(sx) / math.cos(sy) + 1.0
    det = a * d - b * c
    inv = [d / det, -b / det, 0.0, -c / det, a / det, 0.0]
    cx, cy = image.size[0] * 0.5, image.size[1] * 0.5
    inv[2] = inv[0] * -cx + inv[1] * -cy + cx
    inv[5] = inv[3] * -cx + inv[4] * -cy + cy
    return image.transform(
        image.size, Image.Transform.AFFINE, inv, resample=_BILINEAR, fillcolor=(0, 0, 0)
    )


def pad(image: Image.Image, rng: np.random.Generator, crop: int = 0) -> Image.Image:
    """Pad each side by up to 5% with one random grey level, then resize back (bilinear)."""
    w, h = image.size
    left, right = (int(float(rng.uniform(0, PAD_MAX_FRACTION)) * w) for _ in range(2))
    top, bottom = (int(float(rng.uniform(0, PAD_MAX_FRACTION)) * h) for _ in range(2))
    fill = _uniform_int(rng, 0, 255)
    canvas = Image.new("RGB", (w + left + right, h + top + bottom), (fill, fill, fill))
    canvas.paste(image, (left, top))
    return canvas.resize((w, h), _BILINEAR)


def cutout(image: Image.Image, rng: np.random.Generator, crop: int = 0) -> Image.Image:
    """With p=0.5 erase a rectangle of 2-6% of the area with one random grey level."""
    if rng.random() >= CUTOUT_P:
        return image
    arr = np.array(image, dtype=np.uint8, copy=True)
    h, w = arr.shape[:2]
    for _ in range(10):  # torchvision RandomErasing: ten tries, else unchanged
        target = h * w * float(rng.uniform(*CUTOUT_SCALE))
        ratio = math.exp(float(rng.uniform(math.log(CUTOUT_RATIO[0]), math.log(CUTOUT_RATIO[1]))))
        eh, ew = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < eh < h and 0 < ew < w:
            y0, x0 = _uniform_int(rng, 0, h - eh), _uniform_int(rng, 0, w - ew)
            arr[y0 : y0 + eh, x0 : x0 + ew] = _uniform_int(rng, 0, 255)
            return Image.fromarray(arr)
    return image


OPS: dict[str, Op] = {
    "jpeg": jpeg,
    "resize": resize,
    "crop": crop,
    "hflip": hflip,
    "vflip": vflip,
    "resized_crop": resized_crop,
    "rotate": rotate,
    "translate": translate,
    "shear": shear,
    "pad": pad,
    "cutout": cutout,
}


