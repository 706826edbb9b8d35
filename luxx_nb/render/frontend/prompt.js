// luxx_nb chat panel: the prompt box and its Send button (render/live/panel.py).
//
// Enter sends, Shift+Enter is a new line (and so is Enter while an input method composes).
// The text goes to the kernel as one custom message, {type: "send", text}, so the kernel
// reads exactly what was typed, with no race against a synced value. The note under the box
// is the kernel's plain text, shown with textContent: it is never parsed as markup.

function render({ model, el }) {
  const label = model.get("placeholder") || "Message";
  const row = document.createElement("div");
  row.className = "luxx-prompt-row";
  const box = document.createElement("textarea");
  box.className = "luxx-prompt-box";
  box.rows = 2;
  box.placeholder = label;
  box.setAttribute("aria-label", label);
  // JupyterLab's and Notebook 7's shortcuts (Lumino's, on the document in the capture phase,
  // before any handler here) skip a key typed under this attribute: Shift+Enter would run
  // the cell instead of breaking the line (measured in JupyterLab 4.6).
  box.setAttribute("data-lm-suppress-shortcuts", "true");
  const send = document.createElement("button");
  send.type = "button";
  send.className = "luxx-send jupyter-widgets jupyter-button widget-button mod-primary";
  send.textContent = "Send";
  const note = document.createElement("div");
  note.className = "luxx-prompt-note";
  note.setAttribute("role", "status");
  note.setAttribute("aria-live", "polite");
  row.append(box, send);
  el.classList.add("luxx-prompt");
  el.append(row, note);

  function submit() {
    const text = box.value;
    if (!text.trim()) return;
    try {
      model.send({ type: "send", text });
    } catch (error) {
      note.textContent = "Not sent: the kernel is not connected.";
      note.classList.add("luxx-prompt-failed");
      return;
    }
    box.value = "";
    box.focus();
  }

  box.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.isComposing) return; // an input method's Enter is its own
    event.stopPropagation(); // a key meant for the box is no one else's
    event.preventDefault();
    if (event.shiftKey) {
      // The line break is inserted here: in JupyterLab 4.6 something after the box cancels
      // the browser's own ("insertLineBreak" arrives prevented; measured in Chromium).
      box.setRangeText("\n", box.selectionStart, box.selectionEnd, "end");
      box.dispatchEvent(new Event("input", { bubbles: true }));
    } else if (!event.altKey && !event.ctrlKey && !event.metaKey) {
      submit();
    }
  });
  send.addEventListener("click", submit);

  function showNote() {
    note.textContent = model.get("note");
    note.classList.toggle("luxx-prompt-failed", Boolean(model.get("failed")));
  }
  model.on("change:note", showNote);
  model.on("change:failed", showNote);
  showNote();
  return () => {
    model.off("change:note", showNote);
    model.off("change:failed", showNote);
  };
}

export default { render };
