// luxx_nb streaming HTML view: final blocks that never change, plus one open tail.
//
// The kernel sends increments ({type: "delta"}) and, on request, the whole state
// ({type: "snapshot"}). State lives per model, so every view of one model agrees. Once the
// step is complete the kernel sets the synced `html` trait, which is all a view needs when
// the notebook is reopened without a kernel.

// One state per model, by its `ident`: this module is shared by every stream widget of the
// page (see loader.js), and each proxy anywidget passes is a new object.
const STATES = new Map();

function stateOf(model) {
  const key = model.get("ident");
  let state = STATES.get(key);
  if (!state) {
    state = {
      version: 0,
      blocks: [],
      tail: "",
      views: new Set(),
      waiting: false,
      settling: false,
    };
    STATES.set(key, state);
  }
  return state;
}

function requestSync(model, state) {
  state.waiting = true;
  try {
    model.send({ type: "sync" });
  } catch (error) {
    state.waiting = false; // no kernel: the html trait is all there is
  }
}

function receive(model, state, msg) {
  if (msg.type === "snapshot") {
    if (msg.version < state.version) return;
    state.version = msg.version;
    state.blocks = msg.blocks.slice();
    state.tail = msg.tail;
    state.waiting = false;
    state.views.forEach((view) => view.reset());
  } else if (msg.type === "delta") {
    if (msg.version <= state.version) return;
    if (msg.version !== state.version + 1) {
      if (!state.waiting) requestSync(model, state);
      return;
    }
    const text = state.tail.slice(0, msg.keep) + msg.add;
    const fresh = [];
    let at = 0;
    for (const length of msg.blocks) {
      fresh.push(text.slice(at, at + length));
      at += length;
    }
    const old = state.tail;
    state.blocks.push(...fresh);
    state.tail = text.slice(at);
    state.version = msg.version;
    const grown = fresh.length ? null : textAdded(old, msg.keep, state.tail);
    state.views.forEach((view) => view.update(fresh, grown));
    if (msg.final && !model.get("html")) {
      // The kernel keeps the final HTML unless saved state needs it sent; this page has it
      // all already, so its own copy of the model (what JupyterLab saves) gets it here.
      state.settling = true;
      model.set("html", state.blocks.join(""));
      state.settling = false;
    }
  }
}

// The tail grew by plain text before its closing tags ("<p>Lorem ip</p>" to
// "<p>Lorem ipsum</p>"): {text, closing}, else null. Text with no "<", "&", CR or NUL parses
// to itself, so a view appends it to the tail's last text node instead of parsing and
// laying out the whole tail again (measured: a long paragraph cost the square of its length).
const CLOSING = /^(?:<\/[a-z][a-z0-9]*>|\s)*$/;
function textAdded(old, keep, tail) {
  const closing = old.slice(keep);
  if (tail.length <= old.length || !tail.endsWith(closing) || !CLOSING.test(closing)) {
    return null;
  }
  const text = tail.slice(keep, tail.length - closing.length);
  return /[<&\r\0]/.test(text) ? null : { text, closing };
}

// Append `text` where the parser would have put it: walk back from the end of `container`
// over the closing tags and the whitespace between them, and add it to the text node they
// close. False (the caller parses the whole tail) wherever the DOM does not match exactly.
function appendText(container, { text, closing }) {
  const tokens = closing.match(/<\/[a-z][a-z0-9]*>|\s+/g) || [];
  let node = container.lastChild;
  for (let i = tokens.length - 1; i >= 0; i--) {
    const token = tokens[i];
    if (!node) return false;
    if (token[0] === "<") {
      if (node.nodeType !== 1 || node.localName !== token.slice(2, -1)) return false;
      node = node.lastChild;
    } else if (node.nodeType === 3 && node.data.endsWith(token)) {
      if (node.data.length > token.length) {
        if (i !== 0) return false;
        node.insertData(node.data.length - token.length, text);
        return true;
      }
      node = node.previousSibling;
    } else {
      return false;
    }
  }
  if (!node || node.nodeType !== 3) return false;
  node.appendData(text);
  return true;
}

function initialize({ model }) {
  const state = stateOf(model);
  const onMessage = (msg) => receive(model, state, msg);
  model.on("msg:custom", onMessage);
  if (!model.get("html")) requestSync(model, state);
  return () => {
    model.off("msg:custom", onMessage);
    STATES.delete(model.get("ident"));
  };
}

// Final blocks go in chunks of about CHUNK characters of HTML, each laid out and painted
// only while it is near the screen (`content-visibility: auto`, markup.CHUNK_STYLE): a long
// answer's updates then cost the page the chunks in view, not the whole output. The size
// is markup.CHUNK, shared with the saved view (tests/test_snapshot_chunks.py holds them equal).
// A chunk made as the stream grows takes text that was already shown in the tail, so it is
// `luxx-open` (laid out as any block) until the next frame: Chromium leaves a new
// `content-visibility: auto` element out of the page's text (`innerText`, what is found and
// copied) until a frame has checked it against the screen, and a one-paragraph answer, moved
// from the tail into its first chunk at the end of a run, read as gone until then. Left
// open until full instead, a chunk cost the page 87 and 104 long tasks while 10 MB streamed,
// against 7 and 15 (benchmarks/page.py).
const CHUNK = 65536;

function element(tag, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}

function render({ model, el }) {
  const state = stateOf(model);
  const thinking = model.get("kind") === "thinking";
  const body = element("div", "luxx-md jp-RenderedHTMLCommon");
  const blocksEl = element("div", "luxx-blocks");
  const tailEl = element("div", "luxx-tail");
  el.classList.add("luxx-stream");
  let details = null;
  let summary = null;
  if (thinking) {
    details = element("details", "luxx-thinking");
    summary = element("summary");
    body.classList.add("luxx-thinking-body");
    details.append(summary, body);
    el.append(details);
    details.open = model.get("expanded");
    summary.textContent = model.get("label");
    details.addEventListener("toggle", () => {
      if (details.open !== model.get("expanded")) {
        model.set("expanded", details.open);
        model.save_changes();
      }
    });
    model.on("change:expanded", () => {
      details.open = model.get("expanded");
    });
    model.on("change:label", () => {
      summary.textContent = model.get("label");
    });
  } else {
    el.append(body);
  }

  // Thinking scrolls to its end while the person has not scrolled up: known from scroll
  // events, so an update reads no layout (a read of scrollHeight per update forced one),
  // and the scroll itself waits for the next frame, once however many updates came.
  let pinned = true;
  let frame = 0;
  if (thinking) {
    body.addEventListener(
      "scroll",
      () => {
        pinned = body.scrollHeight - body.scrollTop - body.clientHeight < 24;
      },
      { passive: true },
    );
  }
  const follow = () => {
    if (!thinking || !pinned || frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      body.scrollTop = body.scrollHeight;
    });
  };
  let chunk = null;
  let chunkSize = 0;
  const newChunk = () => blocksEl.appendChild(element("div", "luxx-chunk"));
  let settle = 0;
  const openChunk = () => {
    settle ||= requestAnimationFrame(() => {
      settle = 0;
      for (const open of blocksEl.querySelectorAll(":scope > .luxx-open")) {
        open.className = "luxx-chunk";
      }
    });
    return blocksEl.appendChild(element("div", "luxx-open"));
  };
  const view = {
    reset() {
      const final = model.get("html");
      if (final && final !== state.blocks.join("") + state.tail) {
        body.innerHTML = final;
        return;
      }
      blocksEl.replaceChildren();
      chunk = null;
      let group = [];
      let size = 0;
      for (const block of state.blocks) {
        group.push(block);
        size += block.length;
        if (size >= CHUNK) {
          newChunk().innerHTML = group.join("");
          group = [];
          size = 0;
        }
      }
      if (group.length) (chunk = newChunk()).innerHTML = group.join("");
      chunkSize = size;
      tailEl.innerHTML = state.tail;
      body.replaceChildren(blocksEl, tailEl);
      pinned = true;
      follow();
    },
    update(fresh, grown) {
      if (!body.contains(tailEl)) return view.reset();
      for (const block of fresh) {
        if (!chunk || chunkSize >= CHUNK) {
          chunk = openChunk();
          chunkSize = 0;
        }
        chunk.insertAdjacentHTML("beforeend", block);
        chunkSize += block.length;
      }
      if (!grown || !appendText(tailEl, grown)) tailEl.innerHTML = state.tail;
      follow();
    },
  };
  state.views.add(view);
  model.on("change:html", () => {
    if (!state.settling) view.reset();
  });
  view.reset();
  return () => state.views.delete(view);
}

export default { initialize, render };
