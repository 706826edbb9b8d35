"""The one message a finished inline run sends: ``update_display_data``, its JSON in pieces.

The path, stated: the kernel's display publisher (``ipykernel.zmqshell.ZMQDisplayPublisher``,
``get_ipython().display_pub``) is asked for its public parts, ``session``, ``pub_socket``,
``topic`` and ``parent_header`` (the cell's request, so the page puts the update in that
cell), and the message goes out through ``Session.msg`` and ``Session.send``, which take a
content already serialized as bytes. Only the content's JSON is written here, by hand, for
the memory measured below. Where that cannot be done exactly as ``publish`` would (no
ipykernel, another packer, a publisher swapped by ``capture_output``, a hook registered on
the publisher), the caller takes IPython's own ``DisplayHandle.update``.

ipywidgets' ``Output`` captures in the page, not here: inside ``with out:`` it sets its
``msg_id`` to the cell's request, and the page routes messages with that parent into the
widget; this message has the same parent, so it lands where ``publish`` would put it.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from typing import Any

from luxx_nb import transcript

__all__ = ["send_update_display"]


def send_update_display(
    display_id: str, html: Iterator[str], text: str, metadata: dict[str, Any]
) -> bool:
    """Send ``update_display_data`` as ipykernel would, but with its JSON written in pieces.

    ipykernel serializes a display's content with one ``json.dumps`` then ``encode``: for a
    10 MB answer that is, beside the HTML itself, the escaped string, the joined JSON and its
    bytes, all at once (measured: 30 MB of Python objects for a 6 MB snapshot). Written
    piece by piece into one buffer, the content costs its bytes once, and the HTML blocks
    are let go of as they are written. False where this cannot be done exactly as ipykernel
    does (not an ipykernel, another packer, or an ``Output`` widget capturing displays): the
    caller then takes IPython's own path. Once sent, ``metadata`` has been emptied.
    """
    from IPython import get_ipython

    try:
        from ipykernel.zmqshell import ZMQDisplayPublisher
    except ImportError:  # IPython without ipykernel: no IOPub to write to
        return False
    publisher = getattr(get_ipython(), "display_pub", None)
    if not isinstance(publisher, ZMQDisplayPublisher):  # captured (capture_output) or another
        return False
    session, socket = publisher.session, publisher.pub_socket
    if session is None or socket is None or session.packer != "json":
        return False
    # A registered hook (``register_hook``, public) transforms or swallows every display;
    # ipykernel has no public reader of the hooks it holds, so this one read is private.
    if publisher._hooks:
        return False
    buffer = io.BytesIO()
    write = buffer.write
    write(b'{"metadata":')
    for chunk in transcript.json_chunks(metadata):
        write(chunk.encode("utf-8", "replace"))
    metadata.clear()  # written: the packed transcript is let go of before the HTML grows
    write(b',"data":{"text/html":"')
    for piece in html:
        for chunk in transcript.json_string_body(piece):
            write(chunk.encode("utf-8", "replace"))
    write(b'","text/plain":')
    write(json.dumps(text, ensure_ascii=False).encode("utf-8", "replace"))
    write(b'},"transient":')
    write(json.dumps({"display_id": display_id}).encode())
    write(b"}")
    sys.stdout.flush()  # what the cell printed before goes first, as ipykernel does
    sys.stderr.flush()
    message = session.msg("update_display_data", buffer.getvalue(), parent=publisher.parent_header)
    session.send(socket, message, ident=publisher.topic)
    return True


def _close_tree(widget: Any) -> None:
    """Close a widget and its descendants: the page and the kernel both let go of them."""
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()
