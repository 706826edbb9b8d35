"""The status line of a run, one markup for the live view and the saved snapshot.

``model · state · 3.2 s · 123 tokens``, then the notes that stay for the whole run: what the
request left out of the conversation to fit the model's context, and that a tiny local model
answered. Every piece is escaped: a model's name and a note can carry anything.
"""

from __future__ import annotations

from html import escape

from luxx_nb.render.formatting import STATE_LABELS

__all__ = ["LOCAL_NOTE", "status_html"]

_STATE_STYLES = {
    "done": "color:var(--jp-success-color1,#388e3c);",
    "error": "color:var(--jp-error-color1,#d32f2f);",
    "interrupted": "color:var(--jp-warn-color1,#f57c00);",
}
_STYLE = "font-size:12px;color:var(--jp-ui-font-color2,#616161);padding:2px 0;"
LOCAL_NOTE = (
    "This answer comes from a tiny model running on this machine: expect short, simple and "
    "sometimes wrong answers."
)


def status_html(
    *,
    model: str,
    state: str,
    detail: str = "",
    elapsed: float | None = None,
    tokens: int | None = None,
    estimate: int = 0,
    final: bool = False,
    local: bool = False,
    window: str = "",
) -> str:
    """The status line (``~123`` tokens while estimated); ``window``: what was left out."""
    label = escape(STATE_LABELS.get(state, state))
    if detail:
        label += f" ({escape(detail)})"
    parts = [f"<b>{escape(model or 'luxx')}</b>"]
    parts.append(f'<span style="{_STATE_STYLES.get(state, "")}">{label}</span>')
    if elapsed is not None:
        parts.append(f"{elapsed:.1f} s" if final else f"{int(elapsed)} s")
    if tokens:
        parts.append(f"{tokens:,} tokens")
    elif estimate:
        parts.append(f"~{estimate:,} tokens")
    notes = f'<div class="luxx-window">{escape(window)}</div>' if window else ""
    notes += f"<div><i>{LOCAL_NOTE}</i></div>" if local else ""
    return f'<div class="luxx-status" style="{_STYLE}">{" · ".join(parts)}{notes}</div>'
