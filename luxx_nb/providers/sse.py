"""Text -> server-sent events, a whole network read at a time. Pure: no I/O.

Why not httpx-sse's ``aiter_sse``: it is correct, but it hands over one line at a time through
three nested async generators, and a chat stream is hundreds of thousands of tiny events.
Measured on a 1 MB answer in 4-character fragments (250,000 events), that chain cost more
than the JSON decoding itself and put the engine under half the speed of a bare
``httpx`` + ``json.loads`` reader. This decoder takes each decoded read whole, splits it
with ``str.split`` (C speed), and returns the events it completes as one list.

The rules are httpx-sse's, which are the spec's:

* lines end only at CR, LF or CRLF; never ``str.splitlines``, which also breaks at U+2028
  and friends and would cut JSON inside a ``data:`` line;
* a CR at the very end of a read is held back, because its LF may start the next read
  (CRLF must count as one line end, not two);
* a blank line dispatches the event being built; comments (``:``) are skipped; one space
  after the field's colon is dropped; several ``data:`` lines join with LF;
* an event is dispatched when it has an event type, data, an id or a retry (as httpx-sse
  does); an event still open when the stream ends is dropped, as the spec says.

The common block, a single ``data:`` line, takes a fast path; anything else goes through
the general line-by-line decoder, so both give the same events.
"""

from __future__ import annotations

__all__ = ["SSEDecoder", "ServerSentEvent"]

ServerSentEvent = tuple[str, str]
"""``(event type, data)``: a plain tuple, built at C speed (a NamedTuple's ``__new__`` is not)."""


class SSEDecoder:
    """Feed decoded text as it arrives; get back the events each read completes."""

    __slots__ = ("_buffer", "_cr", "_data", "_event", "_fields")

    def __init__(self) -> None:
        self._buffer = ""  # text after the last blank line: an event still open
        self._cr = False  # the last read ended with CR
        self._event = ""
        self._data: list[str] = []
        self._fields = False  # an id or retry field was seen in the open event

    def feed(self, text: str) -> list[ServerSentEvent]:
        if self._cr:
            text = "\r" + text
            self._cr = False
        if text.endswith("\r"):
            text = text[:-1]
            self._cr = True
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if not text:
            return []
        blocks = (self._buffer + text).split("\n\n")
        self._buffer = blocks.pop()
        out: list[ServerSentEvent] = []
        for block in blocks:
            if block[:5] == "data:" and "\n" not in block:  # every block starts idle
                data = block[6:] if block[5:6] == " " else block[5:]
                out.append(("", data))
                continue
            for line in block.split("\n"):
                self._line(line, out)
            self._line("", out)
        return out

    def _idle(self) -> bool:
        return not (self._event or self._data or self._fields)

    def _line(self, line: str, out: list[ServerSentEvent]) -> None:
        if not line:
            if not self._idle():
                out.append((self._event, "\n".join(self._data)))
            self._event, self._data, self._fields = "", [], False
            return
        if line[0] == ":":
            return
        name, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._fields = self._fields or "\0" not in value
        elif name == "retry":
            self._fields = self._fields or value.isdigit()
