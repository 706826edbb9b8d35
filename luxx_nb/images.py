"""Images a tool gives (an MCP server's), checked before anything shows them.

Only PNG and JPEG, recognised by their first bytes (not by what the server declares), at
most ``MAX_IMAGE_BYTES``, decoded strictly and re-encoded, so the ``data:`` URI that
``img_html`` writes holds nothing but base64 of a real raster image: no SVG (which can carry
script), no other markup, no attribute to break out of. Anything else becomes a note.
"""

from __future__ import annotations

import base64
import binascii
import re
from html import escape

from luxx_nb.events import Image

__all__ = ["MAX_IMAGE_BYTES", "checked", "img_html", "model_note"]

MAX_IMAGE_BYTES = 4 * 2**20
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_STYLE = "max-width:100%;max-height:30em;display:block;margin:4px 0;"


def checked(data: str, declared: str = "") -> Image | str:
    """The image, or a note saying why it is not shown."""
    kind = f"an image (declared {declared})" if declared else "an image"
    if len(data) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        return f"{kind} of more than {MAX_IMAGE_BYTES // 2**20} MB was not shown"
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        return f"{kind} that is not valid base64 was not shown"
    for magic, mime in _MAGIC:
        if raw.startswith(magic):
            return Image(mime=mime, data=base64.b64encode(raw).decode("ascii"))
    return f"{kind} that is not a PNG or JPEG was not shown"


def model_note(image: Image) -> str:
    """What the model reads in place of the image."""
    size = len(image.data) * 3 // 4
    return f"[An image ({image.mime}, {size:,} bytes) was shown to the person; you cannot see it.]"


def img_html(image: Image) -> str:
    """The one piece of markup an image becomes, live and in the saved snapshot."""
    if image.mime not in ("image/png", "image/jpeg") or not _BASE64.fullmatch(image.data):
        return "<div><i>(an image that was not checked is not shown)</i></div>"
    src = f"data:{image.mime};base64,{escape(image.data)}"
    return f'<img src="{src}" alt="an image from the tool" style="{_STYLE}">'
