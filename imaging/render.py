"""Consumer images (JPEG/PNG) of one frame: WADO-RS ``rendered`` and ``thumbnail``.

PS3.18 8.3.5 (rendered media types) and 8.3.5.1 (query parameters ``window``, ``viewport``,
``quality``). The pixel pipeline is PS3.4 N.2: decode → modality LUT/rescale → VOI (window or
VOI LUT) → presentation (MONOCHROME1 inverted), or the palette for PALETTE COLOR. Pixels are
decoded by pydicom with the pylibjpeg plugins (JPEG baseline/extended/lossless, JPEG-LS,
JPEG 2000, RLE); Pillow encodes the result.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from io import BytesIO

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import pixel_array
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut, apply_voi_lut

from imaging.errors import BadRequest, NotAcceptable, NotFound
from imaging.frames import frame_count

MEDIA_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG"}
DEFAULT_MEDIA_TYPE = "image/jpeg"          # PS3.18 8.3.5: JPEG when the client accepts anything
WINDOW_FUNCTIONS = ("linear", "linear_exact", "sigmoid")   # PS3.3 C.11.2.1.2 VOI LUT Function
THUMBNAIL_SIZE = 256                       # box a thumbnail fits in unless a viewport is given


@dataclass(frozen=True)
class RenderOptions:
    media_type: str = DEFAULT_MEDIA_TYPE
    window: tuple[float, float, str] | None = None       # center, width, function
    viewport: tuple[int, int] | None = None              # vw, vh: fit inside, aspect kept
    region: tuple[int, int, int, int] | None = None      # sx, sy, sw, sh in source pixels
    quality: int = 90

    @classmethod
    def from_request(cls, query: dict[str, str], accept: str, *, thumbnail: bool = False) -> RenderOptions:
        """Parse PS3.18 8.3.5.1 parameters; a thumbnail fits THUMBNAIL_SIZE unless told otherwise."""
        opts = cls(media_type=choose_media_type(accept))
        if "quality" in query:
            quality = _ints(query["quality"], "quality", 1)[0]
            if not 1 <= quality <= 100:
                raise BadRequest("quality must be 1..100")
            opts = replace(opts, quality=quality)
        if "window" in query:
            parts = [p.strip() for p in query["window"].split(",")]
            if len(parts) not in (2, 3):
                raise BadRequest("window is center,width[,function]")
            try:
                center, width = float(parts[0]), float(parts[1])
            except ValueError:
                raise BadRequest(f"window {query['window']!r}: center and width must be numbers") from None
            function = (parts[2] if len(parts) == 3 else "linear").lower()
            if width <= 0 or function not in WINDOW_FUNCTIONS:
                raise BadRequest(f"window {query['window']!r}: width must be > 0 and function one of "
                                 f"{', '.join(WINDOW_FUNCTIONS)}")
            opts = replace(opts, window=(center, width, function))
        if "viewport" in query:
            values = _ints(query["viewport"], "viewport", None)
            if len(values) not in (2, 6) or values[0] <= 0 or values[1] <= 0:
                raise BadRequest("viewport is vw,vh[,sx,sy,sw,sh] with vw, vh > 0")
            opts = replace(opts, viewport=(values[0], values[1]),
                           region=tuple(values[2:]) if len(values) == 6 else None)  # type: ignore[arg-type]
        elif thumbnail:
            opts = replace(opts, viewport=(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        return opts


def choose_media_type(accept: str) -> str:
    """The first acceptable of image/jpeg and image/png; ``NotAcceptable`` if neither."""
    if not accept.strip():
        return DEFAULT_MEDIA_TYPE
    for item in accept.split(","):
        media = item.split(";")[0].strip().lower()
        if media in MEDIA_TYPES:
            return media
        if media in ("*/*", "image/*"):
            return DEFAULT_MEDIA_TYPE
    raise NotAcceptable(f"rendered images are {' or '.join(MEDIA_TYPES)}; the request accepts {accept!r}")


def render_instance(data: bytes, frame: int, options: RenderOptions) -> bytes:
    """Render frame ``frame`` (1-based) of a PS3.10 instance."""
    ds = pydicom.dcmread(BytesIO(data))
    if "PixelData" not in ds:
        raise NotAcceptable("the instance has no pixel data to render")
    total = frame_count(ds)
    if not 1 <= frame <= total:
        raise NotFound(f"frame {frame} is outside 1..{total}")
    arr = pixel_array(ds, index=frame - 1)        # decodes one frame; YBR becomes RGB
    image = Image.fromarray(display_pixels(arr, ds, frame - 1, options.window))
    return encode(fit(image, options), options)


def display_pixels(arr: np.ndarray, ds: Dataset, index: int,
                   window: tuple[float, float, str] | None) -> np.ndarray:
    """8-bit grey or RGB pixels ready to show (PS3.4 N.2)."""
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(arr, ds)
        return _to_uint8(rgb, int(ds.RedPaletteColorLookupTableDescriptor[2]) if rgb.dtype != np.uint8 else 8)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        return _to_uint8(arr[..., :3], int(ds.get("BitsStored") or 8))
    frame_ds = frame_attributes(ds, index)
    values = apply_modality_lut(arr, frame_ds).astype(np.float64)
    if window is not None:
        grey = apply_window(values, *window)
    elif frame_ds.get("WindowCenter") is not None and frame_ds.get("WindowWidth") is not None:
        grey = apply_window(values, _first(frame_ds.WindowCenter), _first(frame_ds.WindowWidth),
                            str(frame_ds.get("VOILUTFunction", "LINEAR")).lower())
    elif frame_ds.get("VOILUTSequence"):
        voi = apply_voi_lut(values.astype(arr.dtype) if values.min() >= 0 else values, frame_ds).astype(np.float64)
        grey = _stretch(voi)
    else:
        grey = _stretch(values)
    if photometric == "MONOCHROME1":
        grey = 255.0 - grey
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


def apply_window(x: np.ndarray, center: float, width: float, function: str = "linear") -> np.ndarray:
    """PS3.3 C.11.2.1.2 (LINEAR, LINEAR_EXACT) and C.11.2.1.3.1 (SIGMOID) onto 0..255."""
    if function == "sigmoid":
        return 255.0 / (1.0 + np.exp(-4.0 * (x - center) / width))
    if function == "linear_exact":
        return np.clip(((x - center) / width + 0.5) * 255.0, 0, 255)
    if width < 1:
        width = 1.0
    if width == 1:
        return np.where(x < center - 0.5, 0.0, 255.0)
    return np.clip(((x - (center - 0.5)) / (width - 1) + 0.5) * 255.0, 0, 255)


def frame_attributes(ds: Dataset, index: int) -> Dataset:
    """Rescale and window of one frame, hoisted from the functional groups of an enhanced
    multi-frame image (PS3.3 C.7.6.16) when the top level does not carry them."""
    out = Dataset()
    for kw in ("RescaleSlope", "RescaleIntercept", "RescaleType", "ModalityLUTSequence", "WindowCenter",
               "WindowWidth", "VOILUTFunction", "VOILUTSequence", "BitsStored", "BitsAllocated",
               "PixelRepresentation", "PhotometricInterpretation"):
        if kw in ds:
            setattr(out, kw, ds.data_element(kw).value)
    groups = []
    if ds.get("PerFrameFunctionalGroupsSequence") and index < len(ds.PerFrameFunctionalGroupsSequence):
        groups.append(ds.PerFrameFunctionalGroupsSequence[index])
    if ds.get("SharedFunctionalGroupsSequence"):
        groups.append(ds.SharedFunctionalGroupsSequence[0])
    for group in groups:
        for seq, keywords in (("PixelValueTransformationSequence", ("RescaleSlope", "RescaleIntercept")),
                              ("FrameVOILUTSequence", ("WindowCenter", "WindowWidth", "VOILUTFunction"))):
            if group.get(seq):
                item = group[seq][0]
                for kw in keywords:
                    if kw in item and kw not in out:
                        setattr(out, kw, item.data_element(kw).value)
    return out


def fit(image: Image.Image, options: RenderOptions) -> Image.Image:
    """Crop to the region, then scale to fit the viewport keeping the aspect ratio (8.3.5.1.3)."""
    if options.region is not None:
        sx, sy, sw, sh = options.region
        if sw < 0:
            image, sx, sw = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), image.width - sx, -sw
        if sh < 0:
            image, sy, sh = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM), image.height - sy, -sh
        sw = sw or image.width - sx
        sh = sh or image.height - sy
        image = image.crop((sx, sy, sx + sw, sy + sh))
    if options.viewport is not None:
        vw, vh = options.viewport
        scale = min(vw / image.width, vh / image.height)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        if size != image.size:
            image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def encode(image: Image.Image, options: RenderOptions) -> bytes:
    out = BytesIO()
    if options.media_type == "image/png":
        image.save(out, format="PNG")
    else:
        image.save(out, format="JPEG", quality=options.quality)
    return out.getvalue()


def _stretch(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros_like(values)
    return (values - low) * (255.0 / (high - low))


def _to_uint8(arr: np.ndarray, bits: int) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    return np.clip(arr.astype(np.float64) * (255.0 / (2 ** bits - 1)), 0, 255).astype(np.uint8)


def _first(value) -> float:  # noqa: ANN001 - DS or a multi-value of DS
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = value[0]
    return float(value)


def _ints(text: str, name: str, count: int | None) -> list[int]:
    try:
        values = [int(float(v)) for v in text.split(",")]
    except ValueError:
        raise BadRequest(f"{name} {text!r} must be integers") from None
    if count is not None and len(values) != count:
        raise BadRequest(f"{name} takes {count} value(s)")
    return values
