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
    state.blocks.push(...fresh);
    state.tail = text.slice(at);
    state.version = msg.version;
    state.views.forEach((view) => view.update(fresh));
    if (msg.final && !model.get("html")) {
      // The kernel keeps the final HTML unless saved state needs it sent; this page has it
      // all already, so its own copy of the model (what JupyterLab saves) gets it here.
      state.settling = true;
      model.set("html", state.blocks.join(""));
      state.settling = false;
    }
  }
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

  const follow = (wasAtEnd) => {
    if (thinking && wasAtEnd) body.scrollTop = body.scrollHeight;
  };
  const atEnd = () => body.scrollHeight - body.scrollTop - body.clientHeight < 24;
  const view = {
    reset() {
      const final = model.get("html");
      if (final && final !== state.blocks.join("") + state.tail) {
        body.innerHTML = final;
        return;
      }
      blocksEl.innerHTML = state.blocks.join("");
      tailEl.innerHTML = state.tail;
      body.replaceChildren(blocksEl, tailEl);
      follow(true);
    },
    update(fresh) {
      if (!body.contains(tailEl)) return view.reset();
      const wasAtEnd = atEnd();
      for (const block of fresh) blocksEl.insertAdjacentHTML("beforeend", block);
      tailEl.innerHTML = state.tail;
      follow(wasAtEnd);
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
