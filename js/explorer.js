// ganexplorer Explorer front-end: an anywidget ESM module, no build step, no framework.
// Python owns the state (traits); this view owns layout and keyboard. Frames arrive as binary messages with a
// sequence number and a frame older than the newest one drawn is dropped. Slider moves go back as the `shifts`
// trait at most once per animation frame; ipywidgets keeps one update in flight, so a fast drag coalesces.
// Built as parts over a small shared store (see `render` at the end): commands, messages, zoom, connection, tabs,
// then one function per panel: the image, Explore, Find directions, Label, Export.

function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "style") el.style.cssText = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

function bytesOf(value) {
  if (!value) return null;
  if (value instanceof DataView) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return null;
}

function fmt(x, digits = 3) {
  if (x === null || x === undefined) return "";
  return Number(x).toPrecision(digits).replace(/\.?0+$/, "").replace(/\.?0+e/, "e");
}

const TAB_NAMES = [["explore", "Explore"], ["find", "Find directions"], ["label", "Label"], ["export", "Export"]];
const DEFORMATOR_NAMES = {
  ortho: "orthonormal (learned)", "unit-norm": "unit length (learned)", linear: "free (learned)",
  random: "random (fixed baseline)", coordinate: "latent axes (fixed baseline)",
};

// The focused element of the document or shadow root that holds `node` (marimo renders widgets in a shadow root,
// where document.activeElement is only the host).
const focusedNear = (node) => (node && node.getRootNode ? node.getRootNode() : document).activeElement;
const setIfIdle = (input, value) => { if (input && focusedNear(input) !== input) input.value = String(value); };

// A typed value: sent on Enter or when the field loses focus; a refused one goes back to the value in use, and the
// refusal, quoting what was typed, shows beside the box.
function makeTyped(store) {
  const { model, cmd, showFlash } = store;
  function typed(input, command, argName, trait, shown = () => String(model.get(trait))) {
    let sent = null; // Enter sends, and the browser's change event follows it: one command, not two
    const send = () => {
      if (input.value === shown() || input.value === sent) return;
      const value = sent = input.value;
      setTimeout(() => { if (sent === value) sent = null; }, 1500);
      cmd(command, { [argName]: value }, (error) => {
        sent = null;
        input.value = shown();
        showFlash({ kind: "error", text: `“${value}” not used: ${error}. It stays ${input.value}.` }, input);
      }, null, input);
    };
    input.addEventListener("change", send);
    input._gxKey = (e) => { if (e.key === "Enter") { send(); return true; } return false; };
    return input;
  }
  return typed;
}

function field(label, input, title) {
  return h("label", { class: "gx-field", title }, h("span", {}, label), input);
}

// ---------------------------------------------------------------- commands to Python
// Every button and typed value is a command: Python runs the public method of the same name and replies with the
// outcome and what it said, shown beside the control (messagesPart). Also the ping used by the latency benchmark.
function commandsPart(store) {
  const { model, root, el } = store;
  let nextId = 0;
  const pending = new Map();
  // Background asks, and commands whose result shows in place (a mask preview under its row): no message unless
  // they fail.
  const QUIET = new Set(["request_thumbnails", "request_suggestions", "select", "mask_preview"]);
  // A command's message is shown next to the control that sent it (the button, the typed box, the focused row),
  // so it is in view wherever the widget is scrolled; the status line under the widget keeps the last one too.
  function cmd(name, args = {}, onError = null, button = null, anchor = null, buffers = undefined) {
    const from = anchor || button || (root.contains(focusedNear(root)) ? focusedNear(root) : null);
    if (store.dead) { store.showFlash({ kind: "error", text: store.deadText() }, from); return null; }
    const id = ++nextId;
    if (button) button.disabled = true; // no double runs from a double click
    pending.set(id, (error, said) => {
      if (button && !store.dead) button.disabled = false;
      if (!QUIET.has(name) || error !== null) store.showFlash(said || (error !== null ? { kind: "error", text: error } : null), from);
      if (onError && error !== null) onError(error);
    });
    model.send({ type: "cmd", id, name, args }, undefined, buffers); // (content, callbacks, buffers)
    return id;
  }

  store.cmd = cmd;
  store.pending = pending;
  store.onMsg("reply", (msg) => {
    const done = pending.get(msg.id);
    pending.delete(msg.id);
    if (done) done(msg.ok ? null : msg.error, msg.status || null);
  });
  const pings = new Map();
  el.gxPing = () => new Promise((resolve) => {
    const id = Math.random();
    pings.set(id, [performance.now(), resolve]);
    model.send({ type: "ping", id });
  });
  store.onMsg("pong", (msg) => {
    if (!pings.has(msg.id)) return;
    const [t0, resolve] = pings.get(msg.id);
    pings.delete(msg.id);
    resolve(performance.now() - t0);
  });
}

// ---------------------------------------------------------------- messages where the eye is
// The status line under the widget keeps the last message; each message also shows beside the control that caused
// it (a "flash"), or at the top of the widget's visible part when nothing caused it (a run finished).
function messagesPart(store) {
  const { model, root } = store;
  const status = h("div", { class: "gx-status", role: "status", "aria-live": "polite" });
  const flash = h("div", { class: "gx-flash", role: "status", "aria-live": "polite", hidden: true });
  let flashTimer = null;
  // The top of the widget's part the person can see: below whatever covers it (Lab's toolbar, Notebook 7's header,
  // the window's edge), found by asking the browser what is drawn at each height.
  function visibleTop() {
    const r = root.getBoundingClientRect();
    const x = Math.min(Math.max(r.left + 12, 0), window.innerWidth - 1);
    for (let y = Math.max(0, Math.ceil(r.top)); y < Math.min(r.bottom, window.innerHeight); y += 4) {
      const hit = document.elementFromPoint(x, y);
      if (hit && root.contains(hit)) return y;
    }
    return Math.max(0, r.top);
  }
  function showFlash(said, anchor) {
    if (!said || !said.text) return;
    flash.className = `gx-flash gx-${said.kind || "info"}`;
    flash.textContent = said.text;
    flash.hidden = false;
    const r = root.getBoundingClientRect();
    const a = anchor && anchor.isConnected && root.contains(anchor) ? anchor.getBoundingClientRect() : null;
    const w = flash.offsetWidth, fh = flash.offsetHeight;
    let top, left;
    if (a && a.width) { // under the control, or over it when there is no room below in the window
      top = a.bottom - r.top + 4;
      if (a.bottom + 4 + fh > window.innerHeight && a.top - fh - 4 > visibleTop()) top = a.top - r.top - fh - 4;
      left = a.left - r.left;
    } else { // the top of the part of the widget that is in view, unless the status line is in view and says it
      const sb = status.getBoundingClientRect();
      const hit = document.elementFromPoint(Math.min((sb.left + sb.right) / 2, window.innerWidth - 1), (sb.top + sb.bottom) / 2);
      if (sb.height && sb.top >= 0 && sb.bottom <= window.innerHeight && hit && status.contains(hit)) {
        flash.hidden = true;
        return;
      }
      top = Math.max(0, Math.min(visibleTop() - r.top + 8, r.height - fh));
      left = 8;
    }
    flash.style.top = `${Math.max(0, top)}px`;
    flash.style.left = `${Math.max(0, Math.min(left, r.width - w))}px`;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { flash.hidden = true; }, said.kind === "error" || said.kind === "warn" ? 10000 : 4000);
  }

  let lastSaid = (model.get("status") || {}).t;
  function updateStatus() {
    const said = model.get("status") || {};
    status.className = `gx-status gx-${said.kind || "info"}`;
    status.textContent = said.text || "";
    // Messages no click asked for (a run finished, another writer's edit) show in view too; a command's own
    // message is shown beside its control when its reply comes.
    if (said.t !== lastSaid && !store.pending.size && said.kind !== "info") showFlash(said, null);
    lastSaid = said.t;
  }
  store.flash = flash;
  store.status = status;
  store.visibleTop = visibleTop;
  store.showFlash = showFlash;
  store.on("change:status", updateStatus);
  store.cleanups.push(() => clearTimeout(flashTimer));
  updateStatus();
}

// ---------------------------------------------------------------- click an image to enlarge it
function zoomPart(store) {
  const { root, visibleTop } = store;
  const zoomImg = h("img", { alt: "enlarged" });
  const zoomBox = h("div", { class: "gx-zoom", hidden: true, role: "dialog", "aria-label": "enlarged image",
    title: "click or press Escape to close", onclick: () => { zoomBox.hidden = true; } }, zoomImg);
  zoomBox._gxKey = (e) => { if (e.key === "Escape") { zoomBox.hidden = true; return true; } return false; };
  root.addEventListener("click", (e) => {
    const img = e.target.closest?.(".gx-thumbs img, .gx-proposal img, .gx-mask-box img, .gx-real-item img, .gx-export img");
    if (!img || store.dead) return;
    zoomImg.src = img.src;
    zoomBox.hidden = false;
    const r = root.getBoundingClientRect();
    zoomBox.style.top = `${Math.max(0, visibleTop() - r.top)}px`;
    zoomBox.tabIndex = -1;
    zoomBox.focus();
  });
  store.zoomBox = zoomBox;
}

// ---------------------------------------------------------------- the kernel is gone
function connectionPart(store) {
  const { model, root, el, visibleTop } = store;
  // After a kernel restart the widget's comm is dead: nothing sent reaches Python. The widget manager marks the
  // model (comm_live false, the view's node gets `jupyter-widgets-disconnected`); the kernel's status says
  // restarting or dead. Then every control is disabled under a message, the last frame stays in view, and edits
  // typed but not yet saved are listed so they can be copied, never silently lost.
  const deadBox = h("div", { class: "gx-dead", role: "alert", hidden: true });
  const veil = h("div", { class: "gx-veil", hidden: true, title: "Disconnected from the kernel: re-run the cell" });
  // The message follows the scroll so it is in view wherever the widget is (sticky positioning does not work
  // inside notebook output areas, which are scroll containers of their own).
  function placeDead() {
    if (!store.dead) return;
    const r = root.getBoundingClientRect();
    const top = Math.max(0, Math.min(visibleTop() - r.top + 8, r.height - deadBox.offsetHeight));
    deadBox.style.top = `${top}px`;
  }
  function deadText() {
    return "Not connected: the kernel restarted or stopped (or this is a saved copy of the notebook), so nothing done here reaches Python. Re-run the cell to get a live Explorer.";
  }
  function unsavedEdits() {
    const dirs = model.get("directions") || [];
    const out = [];
    for (const input of root.querySelectorAll(".gx-name-input")) {
      const k = Number(input.closest(".gx-grow")?.dataset.k);
      if (dirs[k] && input.value !== dirs[k].label) out.push(`name of direction ${k}: “${input.value}”`);
    }
    for (const t of root.querySelectorAll(".gx-notes")) {
      const k = Number(t.closest(".gx-grow")?.dataset.k);
      if (dirs[k] && t.value !== dirs[k].notes) out.push(`notes on direction ${k}: “${t.value}”`);
    }
    return out;
  }
  function markDead() {
    if (store.dead) return;
    store.dead = true;
    const unsaved = unsavedEdits();
    for (const c of root.querySelectorAll("input, button, select, textarea")) c.disabled = true;
    store.main.inert = true;
    store.status.inert = true;
    root.classList.add("gx-disconnected");
    deadBox.replaceChildren(h("b", {}, "Disconnected. "), deadText(),
      unsaved.length ? h("div", {}, "Not saved (copy them before re-running): ", unsaved.join("; ")) : "");
    deadBox.hidden = false;
    veil.hidden = false;
    store.flash.hidden = true;
    store.status.className = "gx-status gx-error";
    store.status.textContent = deadText();
    document.addEventListener("scroll", placeDead, true);
    window.addEventListener("resize", placeDead);
    placeDead();
  }
  const isDisconnected = () => !!el.closest(".jupyter-widgets-disconnected");
  const checkAlive = () => setTimeout(() => { if (isDisconnected()) markDead(); }, 0);
  const classWatch = new MutationObserver(checkAlive);
  for (let node = el; node && node !== document.body; node = node.parentElement) {
    classWatch.observe(node, { attributes: true, attributeFilter: ["class"] });
    if (node.classList.contains("jupyter-widgets") && node !== el) break;
  }
  const kernel = model.widget_manager?.kernel;
  const onKernelStatus = (_, s) => { if (s === "restarting" || s === "autorestarting" || s === "dead") markDead(); };
  if (kernel?.statusChanged?.connect) kernel.statusChanged.connect(onKernelStatus);
  store.deadText = deadText;
  store.deadBox = deadBox;
  store.veil = veil;
  store.on("comm_live_update", checkAlive);
  store.on("destroy", markDead);
  checkAlive(); // a view of a model restored from a saved notebook is disconnected from the start
  store.cleanups.push(() => {
    classWatch.disconnect();
    if (kernel?.statusChanged?.disconnect) kernel.statusChanged.disconnect(onKernelStatus);
    document.removeEventListener("scroll", placeDead, true);
    window.removeEventListener("resize", placeDead);
  });
}

// ---------------------------------------------------------------- the panel and its tabs
function tabsPart(store) {
  const sections = {};
  const tabButtons = {};
  const tabs = h("div", { class: "gx-tabs", role: "tablist" });
  const panel = h("div", { class: "gx-panel" }, tabs);
  let currentTab = "explore";
  for (const [key, name] of TAB_NAMES) {
    tabButtons[key] = h("button", {
      class: `gx-tab gx-tab-${key}`, role: "tab", "aria-selected": String(key === currentTab), title: name,
      onclick: () => showTab(key),
    }, name);
    tabs.append(tabButtons[key]);
    sections[key] = h("div", { class: `gx-section gx-section-${key}`, role: "tabpanel", "aria-label": name });
    if (key !== currentTab) sections[key].hidden = true;
    panel.append(sections[key]);
  }
  tabs._gxKey = (e) => {
    const keys = TAB_NAMES.map(([k]) => k);
    const i = keys.indexOf(currentTab);
    if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return false;
    const next = keys[(i + (e.key === "ArrowRight" ? 1 : keys.length - 1)) % keys.length];
    showTab(next);
    tabButtons[next].focus();
    e.preventDefault();
    return true;
  };
  function showTab(key) {
    currentTab = store.tab = key;
    store.flash.hidden = true; // a message about another tab's control would hang over nothing
    for (const [k] of TAB_NAMES) {
      sections[k].hidden = k !== key;
      tabButtons[k].setAttribute("aria-selected", String(k === key));
    }
    if (key === "label") store.renderGallery(); // its rows ask for thumbnails as they come into view
  }
  store.tab = currentTab;
  store.panel = panel;
  store.sections = sections;
  store.showTab = showTab;
}

// ---------------------------------------------------------------- the image
function imagePanel(store) {
  const { model, info, root, cmd } = store;
  const canvas = h("canvas", { class: "gx-live-canvas", "aria-label": "generated image" });
  const ctx = canvas.getContext("2d");
  const caption = h("div", { class: "gx-caption" });
  const tags = h("div", { class: "gx-tags", "aria-hidden": "true" }); // marks over your projected images' tiles
  const wrap = h("div", { class: "gx-canvas-wrap" }, canvas, tags);
  const view = h("div", { class: "gx-view" }, wrap, caption);
  const resizer = new ResizeObserver(() => layout());
  resizer.observe(wrap);
  resizer.observe(root);
  let newest = -1;

  // Samples arrive as a grid of tiles; the view lays them out again in the number of columns that makes each
  // sample largest in the space it has (2 samples: side by side in a wide cell, stacked in a tall one).
  let last = null; // {bitmap, tiles}
  function bestColumns(n, tw, th, gap, width, maxHeight) {
    let best = [1, 0];
    for (let c = 1; c <= n; c++) {
      const rows = Math.ceil(n / c);
      const s = Math.min((width - (c - 1) * gap) / (c * tw), (maxHeight - (rows - 1) * gap) / (rows * th));
      if (s > best[1] + 1e-9) best = [c, s];
    }
    return best;
  }
  function layout() {
    if (!last) return;
    const { bitmap, tiles } = last;
    const { n, tw, th, gap, cols: srcCols } = tiles;
    const width = Math.max(120, wrap.clientWidth);
    // Beside the panel the image may be tall; with the panel under it, it leaves room to see the sliders too.
    const stacked = store.panel.offsetTop > view.offsetTop + 20;
    const large = model.get("size") === "large"; // class mode: the image as large as the window allows
    const maxHeight = Math.max(200, large ? window.innerHeight * (stacked ? 0.6 : 0.85)
      : Math.min(window.innerHeight * (stacked ? 0.4 : 0.72), 720));
    const [c, scale] = bestColumns(n, tw, th, gap, width, maxHeight);
    const rows = Math.ceil(n / c);
    const w = c * tw + (c - 1) * gap;
    const hgt = rows * th + (rows - 1) * gap;
    if (canvas.width !== w || canvas.height !== hgt) { canvas.width = w; canvas.height = hgt; }
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, w, hgt);
    for (let i = 0; i < n; i++) {
      const sx = (i % srcCols) * (tw + gap);
      const sy = Math.floor(i / srcCols) * (th + gap);
      ctx.drawImage(bitmap, sx, sy, tw, th, (i % c) * (tw + gap), Math.floor(i / c) * (th + gap), tw, th);
    }
    canvas.style.width = `${Math.floor(w * scale)}px`;
    canvas.style.height = `${Math.floor(hgt * scale)}px`;
    // Your projected images follow the samples in the grid: each gets a frame and its name on the image itself.
    const real = model.get("real_images") || [];
    const first = n - real.length;
    const px = Math.floor(w * scale) / w;
    tags.replaceChildren(...real.map((r, j) => {
      const i = first + j;
      if (i < 0 || i >= n) return "";
      return h("div", { class: "gx-tag", style: `left:${canvas.offsetLeft + (i % c) * (tw + gap) * px}px;top:${canvas.offsetTop + Math.floor(i / c) * (th + gap) * px}px;width:${tw * px}px;height:${th * px}px` },
        h("span", {}, `your image: ${r.name}`));
    }));
    // Small generators are shown enlarged with crisp pixels; large ones are scaled smoothly.
    canvas.classList.toggle("gx-pixelated", scale >= 1.5 && last.quality !== "preview");
  }
  function drawBitmap(bitmap, tiles, quality = "full", size = 0) {
    if (last && last.bitmap !== bitmap && last.bitmap.close) last.bitmap.close();
    last = { bitmap, tiles, quality };
    layout();
    canvas.dataset.quality = quality;
    quality_.textContent = quality === "preview" ? `preview ${size}×${size} while you drag · full frame when you stop`
      : quality === "partial" ? "the first sample follows the drag · all samples when you stop" : "";
  }
  function tilesFor(n) {
    const tw = info.width, th = info.height;
    return { n, tw, th, gap: Math.max(1, Math.floor(tw / 16)), cols: n <= 3 ? n : Math.ceil(Math.sqrt(n)) };
  }

  async function decodeFrame(msg, buffer) {
    const bytes = bytesOf(buffer);
    if (msg.format === "raw") {
      const rgba = new Uint8ClampedArray(msg.width * msg.height * 4);
      for (let i = 0, j = 0; i < msg.width * msg.height; i++, j += 3) {
        rgba[i * 4] = bytes[j]; rgba[i * 4 + 1] = bytes[j + 1]; rgba[i * 4 + 2] = bytes[j + 2]; rgba[i * 4 + 3] = 255;
      }
      return createImageBitmap(new ImageData(rgba, msg.width, msg.height));
    }
    return createImageBitmap(new Blob([bytes], { type: `image/${msg.format}` }));
  }

  async function drawSnapshot() { // the saved last frame: first paint, and notebooks opened without a kernel
    const bytes = bytesOf(model.get("snapshot"));
    if (!bytes || !bytes.length || newest >= 0) return;
    const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
    if (newest >= 0) return;
    drawBitmap(bitmap, tilesFor(model.get("samples") + model.get("real_images").length));
    canvas.dataset.seq = "0";
  }

  const quality_ = h("span", { class: "gx-quality" });
  const presentBtn = h("button", { class: "gx-linkish gx-present", onclick: () => cmd("present", { on: model.get("size") !== "large" }, null, presentBtn) });
  function updateCaption() {
    const n = model.get("samples");
    const real = (model.get("real_images") || []).length;
    presentBtn.textContent = model.get("size") === "large" ? "normal size" : "class mode";
    presentBtn.title = model.get("size") === "large" ? "Back to the normal layout (Python: ex.present(False))"
      : "For a projector: a larger image and text, thumbnails that fill their space (Python: ex.present())";
    caption.replaceChildren(quality_,
      h("span", {}, `${info.name} · ${info.width}×${info.height}`),
      h("span", {}, `seed ${model.get("seed")}`),
      h("span", {}, `${n} sample${n === 1 ? "" : "s"}${real ? ` + ${real} of your images (framed, last)` : ""}`), presentBtn,
    );
  }
  function applySize() {
    root.classList.toggle("gx-large", model.get("size") === "large");
    layout();
  }
  store.onMsg("frame", async (msg, buffers) => {
    if (msg.seq <= newest) return;
    const bitmap = await decodeFrame(msg, buffers[0]);
    if (msg.seq <= newest) return; // a newer frame was drawn while this one decoded
    newest = msg.seq;
    drawBitmap(bitmap, msg.tiles, msg.quality, msg.size);
    canvas.dataset.seq = String(newest);
    canvas.dataset.drawnAt = String(performance.now());
  });
  store.on("change:seed", updateCaption);
  store.on("change:samples", updateCaption);
  store.on("change:size", () => { applySize(); updateCaption(); });
  store.on("change:snapshot", drawSnapshot);
  store.on("change:real_images", () => { updateCaption(); layout(); });
  store.cleanups.push(() => resizer.disconnect());
  store.view = view;
  updateCaption();
  applySize();
  drawSnapshot();
}

// ---------------------------------------------------------------- Explore: latents, sliders, pad, play, your images
function explorePanel(store) {
  const { model, info, cmd, showFlash, sections } = store;
  const typed = makeTyped(store);
  const seedInput = typed(h("input", { class: "gx-num gx-seed", "aria-label": "seed", value: String(model.get("seed")) }),
    "set_seed", "seed", "seed");
  const samplesInput = typed(h("input", { class: "gx-num gx-samples", "aria-label": "samples",
    value: String(model.get("samples")) }), "set_samples", "samples", "samples");
  // The range box shows the directions' own range, or their span when they differ (typing one replaces them all).
  function rangeText() {
    const rs = (model.get("directions") || []).map((d) => d.range);
    if (!rs.length) return String(model.get("shift_range"));
    const lo = Math.min(...rs), hi = Math.max(...rs);
    return lo === hi ? String(lo) : `${fmt(lo)}–${fmt(hi)}`;
  }
  const rangeInput = typed(h("input", { class: "gx-num gx-range", "aria-label": "slider range",
    value: rangeText() }), "set_range", "r", "shift_range", rangeText);
  const latentRow = h("div", { class: "gx-row-controls" },
    field("seed", seedInput, "Which latent samples are shown (0 to 2147483647)"),
    h("button", { class: "gx-btn gx-resample", title: "Draw new latents with a random seed", "aria-label": "new seed",
      onclick: () => cmd("resample") }, "new seed"),
    field("samples", samplesInput, `How many samples the image shows as a grid (1 to ${info.max_samples})`),
    field("range ±", rangeInput, "Slider range, in latent units (above 0, at most 100). Shows each direction's own range, or their span when they differ; a number typed here replaces them all"),
    h("button", { class: "gx-btn gx-reset", title: "Put every slider back to 0", onclick: () => cmd("reset") }, "reset"));
  const familyRow = h("div", { class: "gx-row-controls" });
  let truncInput = null;
  let classInput = null;
  if (info.truncation) {
    truncInput = typed(h("input", { class: "gx-num gx-truncation", "aria-label": "truncation",
      value: String(model.get("truncation")) }), "set_truncation", "psi", "truncation");
    familyRow.append(field("truncation ψ", truncInput, "Lower is more typical, less varied (1 = none)"));
  }
  if (info.classes) {
    classInput = typed(h("input", { class: "gx-num gx-class", "aria-label": "class",
      value: String(model.get("class_index")) }), "set_class", "index", "class_index");
    familyRow.append(field("class", classInput, `Class index, 0 to ${info.classes - 1}`));
  }
  const sliderBox = h("div", { class: "gx-sliders", "aria-label": "direction sliders" });
  const sliderHelp = h("div", { class: "gx-keys gx-slider-help" });
  // Play: the selected direction swept back and forth in the live image (Python's play(k) / stop()).
  const playBtn = h("button", { class: "gx-btn gx-play", onclick: () => {
    if (model.get("playing") >= 0) cmd("stop", {}, null, playBtn); else cmd("play", { k: model.get("selected") }, null, playBtn);
  } });
  function renderPlay() {
    const p = model.get("playing");
    const k = p >= 0 ? p : model.get("selected");
    const d = (model.get("directions") || [])[k];
    const what = d ? `${k}: ${d.label}` : String(k);
    playBtn.textContent = p >= 0 ? `■ stop (${what})` : `▶ play ${what}`;
    playBtn.title = p >= 0 ? "Stop the sweep; the slider goes back to where it was"
      : "Sweep the selected direction back and forth in the image (click a slider's name to select another)";
    playBtn.setAttribute("aria-pressed", String(p >= 0));
  }
  const moreBox = h("div", { class: "gx-more" });
  const padDot = h("div", { class: "gx-pad-dot", style: "left:50%;top:50%" });
  const pad = h("div", { class: "gx-pad", tabindex: "0", title: "Drag, or focus and use the arrow keys, to move along two directions at once",
    "aria-label": "2-D pad" }, padDot);
  const padX = h("select", { class: "gx-pad-x", "aria-label": "pad direction across" });
  const padY = h("select", { class: "gx-pad-y", "aria-label": "pad direction up" });
  padX.addEventListener("change", () => cmd("set_pad", { x: Number(padX.value), y: Number(padY.value) }));
  padY.addEventListener("change", () => cmd("set_pad", { x: Number(padX.value), y: Number(padY.value) }));
  // Your own images: upload (any generator) or draw (grey generators), projected into the latent space.
  const fileInput = h("input", { type: "file", accept: "image/*", class: "gx-file", hidden: true });
  const uploadBtn = h("button", { class: "gx-btn gx-upload", title: "Project one of your images into the latent space; it joins the samples and every slider moves it",
    onclick: () => fileInput.click() }, "Upload an image…");
  fileInput.addEventListener("change", async () => {
    const file = fileInput.files[0];
    if (!file) return;
    const buffer = await file.arrayBuffer();
    sendImage(buffer, file.name);
    fileInput.value = "";
  });
  function sendImage(buffer, name) {
    projText.textContent = `projecting ${name}…`;
    cmd("add_image", { name }, () => { projText.textContent = ""; }, null, uploadBtn, [buffer]);
  }
  const projText = h("span", { class: "gx-keys gx-projecting" });
  const realList = h("div", { class: "gx-real-list" });
  const draw = h("canvas", { class: "gx-draw", width: "112", height: "112", title: "Draw with the mouse (white on black)",
    "aria-label": "drawing pad" });
  const drawCtx = draw.getContext("2d");
  function clearDrawing() { drawCtx.fillStyle = "#000"; drawCtx.fillRect(0, 0, draw.width, draw.height); }
  clearDrawing();
  let drawing = false;
  const drawAt = (e) => {
    const b = draw.getBoundingClientRect();
    drawCtx.fillStyle = "#fff";
    drawCtx.beginPath();
    drawCtx.arc(((e.clientX - b.left) / b.width) * draw.width, ((e.clientY - b.top) / b.height) * draw.height, 6, 0, 2 * Math.PI);
    drawCtx.fill();
  };
  draw.addEventListener("pointerdown", (e) => { drawing = true; draw.setPointerCapture(e.pointerId); drawAt(e); });
  draw.addEventListener("pointermove", (e) => { if (drawing) drawAt(e); });
  draw.addEventListener("pointerup", () => { drawing = false; });
  const useDrawing = h("button", { class: "gx-btn gx-use-drawing", title: "Project the drawing into the latent space",
    onclick: () => draw.toBlob(async (blob) => sendImage(await blob.arrayBuffer(), "drawing"), "image/png") }, "Project drawing");
  const clearBtn = h("button", { class: "gx-btn gx-clear-drawing", onclick: clearDrawing }, "Clear");
  const realBox = h("div", { class: "gx-real" },
    h("div", { class: "gx-row-controls" }, uploadBtn, fileInput, projText),
    info.channels === 1 ? h("div", { class: "gx-pad-row" }, draw, h("div", { class: "gx-pad-axes" }, useDrawing, clearBtn)) : "",
    realList);
  function renderReal() {
    const p = model.get("projecting") || {};
    if (p.state === "running") projText.textContent = `projecting ${p.name}: step ${p.step}/${p.total}${p.error === undefined ? "" : ` · error ${p.error}/255`}`;
    else if (p.state === "failed") projText.textContent = `failed: ${p.message}`;
    else projText.textContent = "";
    uploadBtn.disabled = useDrawing.disabled = p.state === "running";
    realList.replaceChildren(...model.get("real_images").map((r, i) => h("div", { class: "gx-real-item" },
      h("img", { src: r.original, alt: `your image ${r.name}`, title: "the original, as the generator sees it" }),
      h("span", {}, `${r.name} → sample ${r.sample + 1} · fit error ${fmt(r.error, 2)}/255 `),
      h("button", { class: "gx-linkish gx-remove-image", onclick: () => cmd("remove_image", { index: i }) }, "remove"))));
  }

  sections.explore.append(
    latentRow, info.truncation || info.classes ? familyRow : "",
    h("div", { class: "gx-h" }, "Directions"), h("div", { class: "gx-row-controls gx-play-row" }, playBtn, sliderHelp), sliderBox, moreBox,
    h("div", { class: "gx-h" }, "2-D pad"),
    h("div", { class: "gx-pad-row" }, pad, h("div", { class: "gx-pad-axes" },
      field("→", padX, "Direction moved across"), field("↑", padY, "Direction moved up"))),
    h("div", { class: "gx-h" }, "Your images"), realBox);

  let showAll = false;
  let shifts = model.get("shifts").slice();
  let sendQueued = false;
  const sliderInputs = new Map();
  let dragging = -1;

  function queueShifts() {
    if (store.dead) return;
    if (sendQueued) return;
    sendQueued = true;
    requestAnimationFrame(() => {
      sendQueued = false;
      model.set("shifts", shifts.slice());
      model.save_changes();
    });
  }

  function visibleDirections() {
    const dirs = model.get("directions");
    return dirs.map((d, k) => [k, d]).filter(([, d]) => !d.hidden);
  }

  function renderSliders() {
    const dirs = model.get("directions");
    shifts = model.get("shifts").slice();
    const visible = visibleDirections();
    const limit = showAll ? visible.length : Math.min(visible.length, model.get("max_sliders"));
    sliderInputs.clear();
    const rows = visible.slice(0, limit).map(([k, d]) => {
      const r = d.range;
      const input = h("input", { type: "range", min: String(-r), max: String(r), step: "any",
        value: String(shifts[k] || 0), "aria-label": `shift along direction ${k}: ${d.label}`,
        title: `${d.label}: drag, or focus and use the arrow keys` });
      const readout = h("span", { class: "gx-readout" }, (shifts[k] || 0).toFixed(2));
      input.addEventListener("input", () => {
        shifts[k] = Number(input.value);
        readout.textContent = shifts[k].toFixed(2);
        queueShifts();
      });
      input._gxKey = (e) => {
        const sign = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1 }[e.key];
        if (!sign) return false;
        e.preventDefault();
        const value = Math.max(-r, Math.min(r, Number(input.value) + sign * r / (e.shiftKey ? 5 : 20)));
        input.value = String(value);
        input.dispatchEvent(new Event("input"));
        return true;
      };
      input.addEventListener("pointerdown", () => { dragging = k; });
      input.addEventListener("pointerup", () => { dragging = -1; });
      input.addEventListener("focus", () => { dragging = k; });
      input.addEventListener("blur", () => { dragging = -1; });
      sliderInputs.set(k, [input, readout]);
      // A click selects the direction (what GIF/MP4 export and the gallery's current row are); a double click
      // opens it in the gallery to name it.
      const name = h("span", { class: `gx-slider-name${d.named ? " gx-named" : ""}${model.get("selected") === k ? " gx-selected" : ""}`,
        title: `#${k} ${d.label} — click to select it (Export sweeps it), double-click to name it under Label`,
        onclick: (e) => { cmd("select", { k }); showFlash({ kind: "info", text: `selected direction ${k}: ${d.label} · double-click to name it` }, e.currentTarget); },
        ondblclick: () => { cmd("select", { k }); store.showTab("label"); } }, `${d.starred ? "★ " : ""}${d.label}`);
      const score = h("span", { class: "gx-score", title: "score: eigenvalue (SeFa), explained variance (PCA) or reconstructor accuracy (Discover)" },
        d.score === null || d.score === undefined ? "" : fmt(d.score));
      return h("div", { class: `gx-slider gx-slider-${k}` }, name, input, readout, score);
    });
    sliderBox.replaceChildren(...rows);
    const SCORE_NAMES = { sefa: "SeFa eigenvalue", pca: "PCA explained variance", discovery: "Discover reconstructor accuracy" };
    const kinds = [...new Set(visible.map(([, d]) => d.source))].filter((x) => SCORE_NAMES[x] && visible.some(([, d]) => d.source === x && d.score !== null && d.score !== undefined));
    sliderHelp.textContent = `Beside each slider: its shift${kinds.length ? `, then its score (${kinds.map((x) => SCORE_NAMES[x]).join("; ")}: higher, a stronger direction)` : ""}. Click a name to select it (play, export); double-click to name it.`;
    const total = dirs.length;
    const hidden = total - visible.length;
    moreBox.replaceChildren();
    if (limit < visible.length || showAll || hidden) {
      moreBox.append(h("span", { class: "gx-showing" },
        `showing ${limit} of ${visible.length} directions${hidden ? ` (${hidden} hidden)` : ""}`));
      if (visible.length > model.get("max_sliders")) {
        moreBox.append(h("button", { class: "gx-linkish gx-show-all", onclick: () => { showAll = !showAll; renderSliders(); } },
          showAll ? `show first ${model.get("max_sliders")}` : `show all ${visible.length}`));
      }
    }
    const options = dirs.map((d, k) => h("option", { value: String(k) }, `${k}: ${d.label}`));
    const [px, py] = model.get("pad");
    padX.replaceChildren(...options.map((o) => o.cloneNode(true)));
    padY.replaceChildren(...options);
    padX.value = String(px);
    padY.value = String(py);
  }

  function updateSliderValues() {
    shifts = model.get("shifts").slice();
    for (const [k, [input, readout]] of sliderInputs) {
      if (k === dragging && focusedNear(input) === input) continue;
      input.value = String(shifts[k] || 0);
      readout.textContent = (shifts[k] || 0).toFixed(2);
    }
    updatePadDot();
  }
  function updatePadDot() {
    const [px, py] = model.get("pad");
    const dirs = model.get("directions");
    if (dirs[px] && dirs[py]) {
      const u = (shifts[px] || 0) / dirs[px].range;
      const v = (shifts[py] || 0) / dirs[py].range;
      padDot.style.left = `${((Math.max(-1, Math.min(1, u)) + 1) / 2) * 100}%`;
      padDot.style.top = `${((1 - Math.max(-1, Math.min(1, v))) / 2) * 100}%`;
    }
  }

  function padMove(e) {
    const box = pad.getBoundingClientRect();
    const u = Math.max(-1, Math.min(1, ((e.clientX - box.left) / box.width) * 2 - 1));
    const v = Math.max(-1, Math.min(1, 1 - ((e.clientY - box.top) / box.height) * 2));
    const [px, py] = model.get("pad");
    const dirs = model.get("directions");
    shifts[px] = u * dirs[px].range;
    shifts[py] = v * dirs[py].range;
    padDot.style.left = `${((u + 1) / 2) * 100}%`;
    padDot.style.top = `${((1 - v) / 2) * 100}%`;
    for (const k of [px, py]) {
      const pair = sliderInputs.get(k);
      if (pair) { pair[0].value = String(shifts[k]); pair[1].textContent = shifts[k].toFixed(2); }
    }
    queueShifts();
  }
  pad._gxKey = (e) => {
    const d = { ArrowRight: [1, 0], ArrowLeft: [-1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] }[e.key];
    if (!d) return false;
    e.preventDefault();
    const [px, py] = model.get("pad");
    const dirs = model.get("directions");
    const step = e.shiftKey ? 0.2 : 0.05;
    for (const [k, dk] of [[px, d[0]], [py, d[1]]]) {
      if (!dk) continue;
      shifts[k] = Math.max(-dirs[k].range, Math.min(dirs[k].range, (shifts[k] || 0) + dk * step * dirs[k].range));
      const pair = sliderInputs.get(k);
      if (pair) { pair[0].value = String(shifts[k]); pair[1].textContent = shifts[k].toFixed(2); }
    }
    updatePadDot();
    queueShifts();
    return true;
  };
  pad.addEventListener("pointerdown", (e) => { pad.setPointerCapture(e.pointerId); padMove(e); });
  pad.addEventListener("pointermove", (e) => { if (pad.hasPointerCapture(e.pointerId)) padMove(e); });
  pad.addEventListener("pointerup", (e) => pad.releasePointerCapture(e.pointerId));
  store.on("change:directions", () => { renderSliders(); updateSliderValues(); setIfIdle(rangeInput, rangeText()); renderPlay(); });
  store.on("change:shifts", updateSliderValues);
  store.on("change:pad", updateSliderValues);
  store.on("change:max_sliders", renderSliders);
  store.on("change:seed", () => setIfIdle(seedInput, model.get("seed")));
  store.on("change:samples", () => setIfIdle(samplesInput, model.get("samples")));
  store.on("change:shift_range", () => setIfIdle(rangeInput, rangeText()));
  store.on("change:truncation", () => setIfIdle(truncInput, model.get("truncation")));
  store.on("change:class_index", () => setIfIdle(classInput, model.get("class_index")));
  store.on("change:playing", renderPlay);
  store.on("change:selected", () => {
    renderPlay();
    const k = model.get("selected");
    for (const [i, [input]] of sliderInputs) input.closest(".gx-slider")?.querySelector(".gx-slider-name")?.classList.toggle("gx-selected", i === k);
  });
  store.on("change:real_images", renderReal);
  store.on("change:projecting", renderReal);
  renderSliders();
  updateSliderValues();
  renderPlay();
  renderReal();
}

// ---------------------------------------------------------------- Find directions: methods, progress, proposals
function findPanel(store) {
  const { model, info, cmd, sections, presetsId } = store;
  const kInput = h("input", { class: "gx-num gx-k", "aria-label": "number of directions K", value: String(Math.min(10, info.latent_dim)) });
  const layersInput = h("input", { class: "gx-num gx-layers", "aria-label": "SeFa layer range", value: "all",
    list: presetsId });
  const presets = h("datalist", { id: presetsId }, ...info.layer_presets.map((p) => h("option", { value: p })));
  const stepsInput = h("input", { class: "gx-num gx-steps", "aria-label": "training steps", value: "1000" });
  const lrInput = h("input", { class: "gx-num gx-lr", "aria-label": "learning rate", value: String(info.discover_lr ?? 0.001) });
  const deformatorSelect = h("select", { class: "gx-deformator", "aria-label": "direction constraint" },
    ...info.deformators.map((d) => h("option", { value: d }, DEFORMATOR_NAMES[d] || d)));
  const kept = (v) => (v === "" ? null : v);
  const runSefa = h("button", { class: "gx-btn gx-primary gx-sefa", title: "Closed form, instant: top eigenvectors of WᵀW of the first layer's weights",
    onclick: () => cmd("run_sefa", { k: kept(kInput.value), layers: layersInput.value || "all" }, null, runSefa) }, "Run SeFa");
  const runPca = h("button", { class: "gx-btn gx-primary gx-pca", title: "GANSpace: principal components of early activations, a few seconds",
    onclick: () => { setPcaBusy(); cmd("run_pca", { k: kept(kInput.value) }, null, runPca); } }, "Run PCA");
  function setPcaBusy() { store.status.className = "gx-status gx-info"; store.status.textContent = "PCA: sampling activations…"; }
  const runDiscover = h("button", { class: "gx-btn gx-primary gx-discover", title: "Train directions A and a reconstructor R (Voynov & Babenko); runs in the background",
    onclick: () => {
      setRunText("starting…", "");
      cmd("discover", { steps: stepsInput.value, k: kept(kInput.value), deformator: deformatorSelect.value, lr: lrInput.value },
        () => { progressBox.hidden = !model.get("run").state || model.get("run").state === "idle"; updateRun(); });
    } }, "Start training");
  const cancelBtn = h("button", { class: "gx-btn gx-danger gx-cancel", title: "Stop training; its directions so far become a proposal marked incomplete",
    onclick: () => cmd("cancel") }, "Cancel");
  const progressBar = h("progress", { max: "1", value: "0", "aria-label": "training progress" });
  const runText = h("div", { class: "gx-run-text" });
  const curve = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  curve.setAttribute("class", "gx-curve");
  curve.setAttribute("viewBox", "0 0 300 90");
  curve.setAttribute("preserveAspectRatio", "none");
  const legend = h("div", { class: "gx-keys gx-legend" });
  const progressBox = h("div", { class: "gx-progress", hidden: true }, progressBar, runText, curve, legend);
  const hint = h("div", { class: "gx-hint", hidden: true });
  const proposalsBox = h("div", { class: "gx-proposals" });
  const undoBtn = h("button", { class: "gx-btn gx-undo", onclick: () => cmd("undo") }, "Undo last apply");
  const hasLayers = info.layer_presets.length > 1;
  sections.find.append(
    h("div", { class: "gx-row-controls" }, field("K", kInput, `How many directions to find (1 to ${info.latent_dim})`),
      hasLayers ? field("layers", layersInput, "SeFa on these layers' style weights; its directions move only them (all, 0-1, 2-5, …)") : "",
      presets),
    h("div", { class: "gx-method" }, h("div", { class: "gx-method-title" }, "SeFa ", h("small", {}, "closed form, milliseconds")), h("div", { class: "gx-row-controls" }, runSefa)),
    h("div", { class: "gx-method" }, h("div", { class: "gx-method-title" }, "PCA ", h("small", {}, "GANSpace, seconds")), h("div", { class: "gx-row-controls" }, runPca)),
    h("div", { class: "gx-method" }, h("div", { class: "gx-method-title" }, "Discover ", h("small", {}, "latent discovery training, minutes")),
      h("div", { class: "gx-row-controls" }, field("steps", stepsInput, `Training steps (1 to ${info.max_steps}); 1000 is a short run, the paper uses 100000`),
        field("learning rate", lrInput, "Adam's step size (above 0, at most 1). 1e-3 reaches about 0.8 accuracy in 1000 steps on MNIST; 1e-4 is safer for long runs but barely moves in a short one"),
        field("directions", deformatorSelect, "How the direction matrix A is constrained")),
      h("div", { class: "gx-row-controls" }, runDiscover, cancelBtn), progressBox, hint),
    h("div", { class: "gx-h" }, "Proposals"),
    h("div", { class: "gx-keys" }, "A run never changes your sliders: apply its directions, or keep what you have."),
    proposalsBox, h("div", { class: "gx-row-controls" }, undoBtn));

  function setRunText(text, cls) {
    progressBox.hidden = false;
    runText.className = `gx-run-text ${cls}`;
    runText.textContent = text;
  }

  // The accuracy axis spans what the run shows (and chance, 1/K, drawn dashed), not 0–1: early accuracies near
  // chance would otherwise be a flat line at the bottom.
  function drawCurve(history, chance) {
    const W = 300, H = 90;
    curve.replaceChildren();
    legend.replaceChildren();
    if (!history || !history.length) return;
    const maxStep = history[history.length - 1][0] || 1;
    const maxErr = Math.max(...history.map((p) => p[2]), 1e-6);
    const accs = history.map((p) => p[1]).concat(chance ? [chance] : []);
    let lo = Math.min(...accs), hi = Math.max(...accs);
    const pad = Math.max((hi - lo) * 0.08, 0.01);
    lo = Math.max(0, lo - pad); hi = Math.min(1, hi + pad);
    const y = (a) => H - ((a - lo) / (hi - lo || 1)) * H;
    legend.append(h("span", { style: "color:#1976d2" }, `━ reconstructor accuracy (axis ${fmt(lo, 2)}–${fmt(hi, 2)})`),
      "  ", h("span", { style: "color:#ef6c00" }, `━ shift error (axis 0–${fmt(maxErr, 2)})`), "  ",
      chance ? h("span", { style: "color:#777" }, `┅ chance ${fmt(chance, 2)} (1/K)`) : "");
    const line = (pts, color, dash) => {
      const el = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
      el.setAttribute("points", pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" "));
      el.setAttribute("fill", "none");
      el.setAttribute("stroke", color);
      el.setAttribute("stroke-width", "1.5");
      el.setAttribute("vector-effect", "non-scaling-stroke");
      if (dash) el.setAttribute("stroke-dasharray", "4 3");
      curve.append(el);
    };
    line(history.map(([s, a]) => [(s / maxStep) * W, y(a)]), "#1976d2");
    line(history.map(([s, , e]) => [(s / maxStep) * W, H - (e / maxErr) * H * 0.95]), "#ef6c00");
    if (chance) line([[0, y(chance)], [W, y(chance)]], "#777", true);
  }

  function updateRun() {
    const run = model.get("run") || {};
    const busy = ["starting", "running", "cancelling"].includes(run.state);
    runDiscover.disabled = busy;
    cancelBtn.disabled = !busy;
    hint.hidden = !busy;
    hint.textContent = busy ? "Training runs in the background: the sliders keep working, SeFa and PCA make their own proposals now, and this run's directions arrive as a separate proposal when it ends." : "";
    if (!run.state || run.state === "idle") return;
    progressBox.hidden = false;
    progressBar.max = run.total || 1;
    progressBar.value = run.step || 0;
    const acc = run.accuracy === undefined ? "" : ` · accuracy ${fmt(run.accuracy)} (chance ${fmt(run.chance)}) · shift error ${fmt(run.shift_error)}`;
    const words = { starting: "starting…", running: "training", cancelling: "cancelling…", done: "done",
      cancelled: "cancelled", failed: "failed" };
    const secs = (t) => (t >= 90 ? `${Math.floor(t / 60)} min ${Math.round(t % 60)} s` : `${Math.round(t)} s`);
    const clock = run.elapsed ? ` · ${secs(run.elapsed)} elapsed${busy && run.eta !== null && run.eta !== undefined ? `, about ${secs(run.eta)} left` : ""}` : "";
    const rate = run.lr ? ` · learning rate ${fmt(run.lr)}` : "";
    let text = `${words[run.state] || run.state}: step ${run.step || 0}/${run.total}${clock}${acc}${rate}`;
    if (run.state === "failed") text = `failed: ${run.message}`;
    if (run.state === "done" || run.state === "cancelled") text += ` → proposal #${run.proposal}`;
    setRunText(text, `gx-run-${run.state}`);
    drawCurve(run.history, run.chance);
  }

  const keptCount = () => model.get("directions").filter((d) => d.kept).length;
  function renderProposals() {
    const list = model.get("proposals");
    proposalsBox.replaceChildren(...(list.length ? list.slice().reverse().map((p) => h("div", {
      class: `gx-proposal gx-proposal-${p.id}${p.complete ? "" : " gx-incomplete"}` },
      h("div", {}, h("b", {}, `#${p.id} ${p.method}`), ` — ${p.summary}`),
      p.preview ? h("img", { src: p.preview, alt: `preview of proposal ${p.id}` }) : "",
      p.preview_note ? h("div", { class: "gx-keys" }, p.preview_note) : "",
      h("div", { class: "gx-row-controls" },
        h("button", { class: "gx-btn gx-primary gx-apply", title: keptCount()
          ? `Replace the sliders' directions with these; the ${keptCount()} you named, starred, annotated or hid stay, and none is added twice`
          : "Replace the sliders' directions with these (none of them is named, starred, annotated or hidden)",
          onclick: (e) => cmd("apply", { proposal: p.id, mode: "replace" }, null, e.currentTarget) },
          keptCount() ? `Apply (keeps your ${keptCount()})` : "Apply (replaces the sliders)"),
        h("button", { class: "gx-btn gx-add", title: "Add these directions after all current ones",
          onclick: (e) => cmd("apply", { proposal: p.id, mode: "add" }, null, e.currentTarget) }, "Add to current"),
        h("button", { class: "gx-btn gx-discard", title: "Forget this proposal; the sliders stay as they are",
          onclick: () => cmd("discard", { proposal: p.id }) }, "Discard")))) : [h("div", { class: "gx-keys" }, "No open proposal.")]));
    const steps = model.get("undo_steps");
    undoBtn.disabled = !steps.length;
    undoBtn.title = steps.length ? `Undo: ${steps[steps.length - 1]} (${steps.length} step${steps.length > 1 ? "s" : ""} back possible)` : "Nothing to undo";
    undoBtn.textContent = steps.length ? `Undo (${steps.length})` : "Undo";
  }
  store.on("change:run", updateRun);
  store.on("change:proposals", renderProposals);
  store.on("change:undo_steps", renderProposals);
  updateRun();
  renderProposals();
}

// ---------------------------------------------------------------- Label: the gallery
function labelPanel(store) {
  const { model, info, cmd, sections, presetsId } = store;
  let filter = "all";
  const filters = [["all", "all"], ["unnamed", "unnamed"], ["starred", "★ starred"], ["hidden", "hidden"]];
  const filterButtons = filters.map(([key, name]) => h("button", { class: `gx-btn gx-filter gx-filter-${key}`,
    "aria-pressed": String(key === filter), onclick: () => { filter = key; renderGallery(); } }, name));
  const galleryCount = h("span", { class: "gx-keys" });
  const gallery = h("div", { class: "gx-gallery", "aria-label": "directions gallery" });
  sections.label.append(
    h("div", { class: "gx-gallery-bar" }, ...filterButtons, galleryCount),
    h("div", { class: "gx-keys" }, ["Keys:", "↑/↓ move", "Enter name it (Enter saves, goes on)", "a accept suggestion",
      "s star", "h hide", "m masks", "n notes", "Esc back"].map((t) => t.replaceAll(" ", "\u00a0")).join(" · ")),
    gallery);
  const thumbs = new Map(); // k -> {url, shifts, key}
  const rowEls = new Map();
  let wantThumbs = new Set();
  let thumbTimer = null;

  function matches(d) {
    if (filter === "all") return !d.hidden;
    if (filter === "unnamed") return !d.hidden && !d.named;
    if (filter === "starred") return d.starred;
    return d.hidden;
  }

  function galleryRow(k, d) {
    const name = h("input", { class: "gx-name-input", value: d.label, "aria-label": `name of direction ${k}`,
      title: "Type a name; Enter saves it" });
    name._gxKey = (e) => {
      if (e.key === "Enter") { e.preventDefault(); commitName(k, name, true); }
      else if (e.key === "Escape") { name.value = model.get("directions")[k].label; rowEls.get(k)?.focus(); }
      return true; // typing in the name box is not a row shortcut
    };
    name.addEventListener("change", () => commitName(k, name, false));
    const star = h("button", { class: "gx-star", "aria-pressed": String(d.starred), title: "star (s)",
      "aria-label": `star direction ${k}`, onclick: () => cmd("star", { k, starred: !model.get("directions")[k].starred }) },
      d.starred ? "★" : "☆");
    const hide = h("button", { class: "gx-hide", "aria-pressed": String(d.hidden), title: d.hidden ? "show again (h)" : "hide (h)",
      "aria-label": `hide direction ${k}`, onclick: () => cmd("hide", { k, hidden: !model.get("directions")[k].hidden }) },
      d.hidden ? "show" : "hide");
    const suggestion = d.suggestion
      ? h("button", { class: "gx-suggest", title: "measured by describe(); press a to accept",
        onclick: () => cmd("label", { k, name: d.suggestion }) }, `use: ${d.suggestion} (${Math.round(d.confidence * 100)}%)`)
      : h("span", { class: "gx-keys gx-suggest-wait" }, "measuring…");
    const t = thumbs.get(k);
    const thumbBox = h("div", { class: "gx-thumbs" });
    if (t) fillThumb(thumbBox, t); else thumbBox.append(h("div", { class: "gx-thumb-empty" }));
    const notes = h("textarea", { class: "gx-notes", "aria-label": `notes on direction ${k}`, placeholder: "notes", hidden: (model.get("selected") !== k && !d.notes) || undefined });
    notes.value = d.notes;
    notes.addEventListener("change", () => cmd("note", { k, text: notes.value }));
    notes._gxKey = (e) => { if (e.key === "Escape") rowEls.get(k)?.focus(); return true; };
    const layers = info.layer_presets.length > 1 ? h("input", { class: "gx-num gx-dir-layers", value: d.layers, list: presetsId,
      "aria-label": `layers of direction ${k}`, title: "Which layers this direction moves" }) : null;
    if (layers) layers.addEventListener("change", () => cmd("set_layers", { k, layers: layers.value }, () => { layers.value = model.get("directions")[k].layers; }));
    const score = d.score === null || d.score === undefined ? "" : h("span", { class: "gx-score", title: "score" }, fmt(d.score));
    const maskBtn = h("button", { class: "gx-mask-btn", title: "Mask preview (m): does this direction remove the background? Shift the samples along it and threshold the shifted images into foreground masks",
      "aria-label": `mask preview of direction ${k}`, onclick: () => askMasks(k, maskBtn) }, "masks");
    const maskBox = h("div", { class: "gx-mask-box", "aria-label": `mask preview of direction ${k}` });
    if (maskPreviews.has(k)) fillMasks(maskBox, maskPreviews.get(k));
    const row = h("div", { class: `gx-grow gx-grow-${k}${model.get("selected") === k ? " gx-current" : ""}${d.hidden ? " gx-hidden-dir" : ""}`,
      tabindex: "0", "data-k": String(k), "aria-label": `direction ${k}: ${d.label}` },
      h("div", { class: "gx-grow-head" }, h("span", { class: "gx-idx" }, `#${k}`), name, star, hide, score),
      h("div", { class: "gx-grow-head" }, suggestion, layers ? field("layers", layers) : "", maskBtn),
      thumbBox, maskBox, notes);
    row.addEventListener("focusin", () => { if (model.get("selected") !== k) cmd("select", { k }); });
    row._gxKey = (e, target) => rowKey(e, k, row, target);
    return row;
  }

  function fillThumb(box, t) {
    box.replaceChildren(h("img", { src: t.url, alt: "traversal thumbnails" }),
      h("div", { class: "gx-shift-labels", style: `grid-template-columns: repeat(${t.shifts.length}, 1fr); width: ${t.width}px; max-width: 100%` },
        ...t.shifts.map((s) => h("span", {}, (s > 0 ? "+" : "") + fmt(s, 2)))));
    const img = box.firstChild;
    img.addEventListener("load", () => { box.lastChild.style.width = `${img.clientWidth}px`; });
  }

  // Mask preview: the direction's traversal towards the sign that darkens the background, the thresholded masks
  // (red: discarded by the size filter) and the sample with its background dimmed; Python's mask_preview(k).
  const maskPreviews = new Map(); // k -> {url, msg}
  function askMasks(k, button) {
    const box = rowEls.get(k)?.querySelector(".gx-mask-box");
    if (box && !maskPreviews.has(k)) box.replaceChildren(h("div", { class: "gx-keys" }, "computing masks…"));
    cmd("mask_preview", { k }, () => { if (box && !maskPreviews.has(k)) box.replaceChildren(); }, button);
  }
  function fillMasks(box, p) {
    const s = p.msg.stats;
    const kept = p.msg.kept.filter(Boolean).length;
    const good = s.score >= 0.1 && s.plausible >= 0.5;
    box.replaceChildren(
      h("div", { class: `gx-mask-verdict ${good ? "gx-run-done" : "gx-keys"}` },
        `shift ${p.msg.shift > 0 ? "+" : ""}${fmt(p.msg.shift, 2)} · background change ${fmt(s.bg_change, 2)} vs object ${fmt(s.fg_change, 2)} · ${kept}/${p.msg.kept.length} masks plausible · ${p.msg.rule === "brightness" ? `mask: brightness > ${fmt(p.msg.threshold, 2)}` : "mask: share of brightness kept"}`,
        good ? " · looks like background removal" : ""),
      h("img", { src: p.url, alt: `mask preview of direction ${p.msg.k}` }),
      h("div", { class: "gx-shift-labels gx-mask-labels", style: `grid-template-columns: repeat(${p.msg.columns.length}, 1fr)` },
        ...p.msg.columns.map((c) => h("span", {}, c))));
    const img = box.querySelector("img");
    img.addEventListener("load", () => { box.lastChild.style.width = `${img.clientWidth}px`; });
  }
  function onMasks(msg, buffers) {
    const old = maskPreviews.get(msg.k);
    if (old) URL.revokeObjectURL(old.url);
    const p = { url: URL.createObjectURL(new Blob([bytesOf(buffers[0])], { type: "image/png" })), msg };
    maskPreviews.set(msg.k, p);
    const box = rowEls.get(msg.k)?.querySelector(".gx-mask-box");
    if (box) fillMasks(box, p);
    gallery.dataset.masks = String(maskPreviews.size);
  }

  function commitName(k, input, advance) {
    const d = model.get("directions")[k];
    if (d && input.value !== d.label) cmd("label", { k, name: input.value }, () => { input.value = model.get("directions")[k].label; });
    if (advance) moveRow(k, 1, false);
  }

  function orderedRows() { return [...gallery.querySelectorAll(".gx-grow")]; }

  function moveRow(k, delta, focusName) {
    const rows = orderedRows();
    const i = rows.findIndex((r) => Number(r.dataset.k) === k);
    const next = rows[Math.max(0, Math.min(rows.length - 1, i + delta))];
    if (!next) return;
    next.focus();
    next.scrollIntoView({ block: "nearest" });
    if (focusName) next.querySelector(".gx-name-input").focus();
  }

  function rowKey(e, k, row, target) {
    if (target !== row) return; // typing in the row's inputs
    const d = model.get("directions")[k];
    const key = e.key;
    if (key === "ArrowDown" || key === "j") moveRow(k, 1, false);
    else if (key === "ArrowUp" || key === "k") moveRow(k, -1, false);
    else if (key === "Enter") { const n = row.querySelector(".gx-name-input"); n.focus(); n.select(); }
    else if (key === "a" && d.suggestion) cmd("label", { k, name: d.suggestion });
    else if (key === "a") cmd("accept_suggestion", { k });
    else if (key === "s") cmd("star", { k, starred: !d.starred });
    else if (key === "h") cmd("hide", { k, hidden: !d.hidden });
    else if (key === "m") askMasks(k, row.querySelector(".gx-mask-btn"));
    else if (key === "n") { const t = row.querySelector(".gx-notes"); t.hidden = false; t.focus(); }
    else return;
    e.preventDefault();
  }

  let observer = null;
  let lastOrder = [];
  function renderGallery() {
    if (store.tab !== "label") return;
    const dirs = model.get("directions");
    const focused = focusedNear(gallery);
    const focusK = focused && gallery.contains(focused) ? Number(focused.closest(".gx-grow")?.dataset.k) : null;
    const focusIsName = focused && focused.classList && focused.classList.contains("gx-name-input");
    const focusIsNotes = focused && focused.classList && focused.classList.contains("gx-notes");
    const typing = focusIsName || focusIsNotes ? focused.value : null;
    const selection = focusIsName ? [focused.selectionStart, focused.selectionEnd] : null;
    const shown = dirs.map((d, k) => [k, d]).filter(([, d]) => matches(d));
    const named = dirs.filter((d) => d.named).length;
    galleryCount.textContent = `${shown.length} shown · ${dirs.length} directions · ${named} named · ${dirs.filter((d) => d.starred).length} starred`;
    for (const b of filterButtons) b.setAttribute("aria-pressed", String(b.classList.contains(`gx-filter-${filter}`)));
    if (observer) observer.disconnect();
    rowEls.clear();
    const rows = shown.map(([k, d]) => { const r = galleryRow(k, d); rowEls.set(k, r); return r; });
    gallery.replaceChildren(...(rows.length ? rows : [h("div", { class: "gx-keys" }, "No direction matches this filter.")]));
    observer = new IntersectionObserver((entries) => {
      for (const e of entries) if (e.isIntersecting) wantRow(Number(e.target.dataset.k));
    }, { root: gallery, rootMargin: "300px" });
    rows.forEach((r) => observer.observe(r));
    // Small generators render a gallery page in milliseconds: fetch every row's thumbnails after those in view,
    // so scrolling never shows an empty row. Large ones load as rows come into view.
    if (info.prefetch_thumbnails) {
      setTimeout(() => {
        const missing = shown.map(([k]) => k).filter((k) => !thumbs.has(k) && !requested.has(k));
        missing.forEach((k) => requested.add(k));
        if (missing.length) cmd("request_thumbnails", { indices: missing });
      }, 60);
    }
    if (focusK !== null && !rowEls.has(focusK) && lastOrder.length) { // e.g. hidden with h: go on to the next row
      const after = lastOrder.slice(lastOrder.indexOf(focusK) + 1).find((k) => rowEls.has(k));
      const target = rowEls.get(after ?? [...rowEls.keys()].pop());
      if (target) target.focus();
    }
    lastOrder = shown.map(([k]) => k);
    if (focusK !== null && rowEls.has(focusK)) {
      const row = rowEls.get(focusK);
      if (focusIsName) {
        const n = row.querySelector(".gx-name-input");
        n.value = typing; n.focus(); if (selection) n.setSelectionRange(...selection);
      } else if (focusIsNotes) {
        const t = row.querySelector(".gx-notes"); t.hidden = false; t.value = typing; t.focus();
      } else row.focus();
    }
  }

  function wantRow(k) {
    const d = model.get("directions")[k];
    if (!d) return;
    if (!thumbs.has(k)) wantThumbs.add(k);
    if (!d.suggestion) wantSuggest.add(k);
    if (thumbTimer) return;
    thumbTimer = setTimeout(() => {
      thumbTimer = null;
      const ks = [...wantThumbs].filter((k) => !requested.has(k));
      ks.forEach((k) => requested.add(k));
      wantThumbs = new Set();
      if (ks.length) cmd("request_thumbnails", { indices: ks });
      const ss = [...wantSuggest].filter((i) => !asked.has(i));
      wantSuggest = new Set();
      ss.forEach((i) => asked.add(i));
      if (ss.length) cmd("request_suggestions", { indices: ss });
    }, 30);
  }
  let wantSuggest = new Set();
  const asked = new Set();
  const requested = new Set(); // thumbnails asked for and not yet arrived

  function onThumbs(msg, buffers) {
    msg.rows.forEach((row, i) => {
      const old = thumbs.get(row.k);
      if (old) URL.revokeObjectURL(old.url);
      const url = URL.createObjectURL(new Blob([bytesOf(buffers[i])], { type: "image/png" }));
      const t = { url, shifts: row.shifts, width: 0 };
      thumbs.set(row.k, t);
      requested.delete(row.k);
      const el = rowEls.get(row.k);
      if (el) fillThumb(el.querySelector(".gx-thumbs"), t);
    });
    gallery.dataset.thumbs = String(thumbs.size);
  }

  function staleThumbs(msg) {
    const ks = msg.k === undefined ? [...thumbs.keys()] : [msg.k];
    for (const k of ks) { const t = thumbs.get(k); if (t) URL.revokeObjectURL(t.url); thumbs.delete(k); requested.delete(k); }
    if (msg.k === undefined) asked.clear();
    for (const k of (msg.k === undefined ? [...maskPreviews.keys()] : [msg.k])) {
      const p = maskPreviews.get(k); if (p) URL.revokeObjectURL(p.url); maskPreviews.delete(k);
    }
    gallery.dataset.thumbs = String(thumbs.size);
    gallery.dataset.masks = String(maskPreviews.size);
    if (store.tab === "label") renderGallery();
  }
  store.renderGallery = renderGallery;
  store.onMsg("thumbs", onThumbs);
  store.onMsg("thumbs-stale", staleThumbs);
  store.onMsg("masks", onMasks);
  store.on("change:directions", renderGallery);
  store.on("change:selected", () => {
    const k = model.get("selected");
    for (const [i, row] of rowEls) {
      row.classList.toggle("gx-current", i === k);
      const notes = row.querySelector(".gx-notes");
      if (notes && focusedNear(notes) !== notes) notes.hidden = i !== k && !notes.value;
    }
  });
  store.cleanups.push(() => {
    if (observer) observer.disconnect();
    for (const t of thumbs.values()) URL.revokeObjectURL(t.url);
    for (const p of maskPreviews.values()) URL.revokeObjectURL(p.url);
  });
}

// ---------------------------------------------------------------- Export
function exportPanel(store) {
  const { model, cmd, sections } = store;
  const typed = makeTyped(store);
  const nameInput = typed(h("input", { class: "gx-export-name", "aria-label": "export file name", value: model.get("export_name") }),
    "set_export_name", "name", "export_name");
  const exportList = h("div", { class: "gx-exports" });
  const files = new Map(); // path -> blob url
  const exportButton = (cls, text, title, command) => {
    const b = h("button", { class: `gx-btn ${cls}`, title, onclick: () => cmd(command, {}, null, b) }, text);
    return b;
  };
  // Which direction the GIF and MP4 sweep: the selected one (a gallery row, or a slider's name).
  const exportDir = h("div", { class: "gx-export-dir" });
  function renderExportDir() {
    const k = model.get("selected");
    const d = (model.get("directions") || [])[k];
    exportDir.replaceChildren("GIF and MP4 sweep ", h("b", {}, d ? `direction ${k}: ${d.label}` : `direction ${k}`),
      h("span", { class: "gx-keys" }, " · choose another by clicking its name beside a slider or its row under Label"));
  }
  sections.export.append(
    h("div", { class: "gx-row-controls" }, field("file", nameInput, "Start of the file names; each export adds what it shows and a number, so none overwrites another (relative to the notebook's folder)")),
    exportDir,
    h("div", { class: "gx-row-controls" },
      exportButton("gx-export-grid", "grid PNG", "Traversal grid of the starred directions (else the first 8)", "export_grid"),
      exportButton("gx-export-gif", "GIF", "Animated sweep of the selected direction", "export_gif"),
      exportButton("gx-export-mp4", "MP4", "Video sweep of the selected direction (H.264)", "export_mp4"),
      exportButton("gx-export-bank", "bank", "The directions with names, stars and notes (.gxb)", "export_bank")),
    exportList);

  function renderExports() {
    exportList.replaceChildren(...model.get("exports").map((e) => {
      const url = files.get(e.path);
      let preview = "";
      if (url && e.mime.startsWith("image/")) preview = h("img", { src: url, alt: e.name });
      else if (url && e.mime.startsWith("video/")) preview = h("video", { src: url, controls: true, loop: true, muted: true, autoplay: true });
      else if (e.kind === "bank") preview = h("div", { class: "gx-keys" }, `${model.get("directions").length} directions with names, stars and notes`);
      return h("div", { class: "gx-export" }, h("div", {}, h("b", {}, e.kind), e.about ? ` of ${e.about}` : "", ` · ${(e.bytes / 1024).toFixed(1)} kB`,
        url ? [" · ", h("a", { href: url, download: e.name, class: "gx-download" }, "download")] : ""),
        h("div", { class: "gx-path", title: "absolute path on the kernel's machine" }, e.path), preview);
    }));
  }
  store.onMsg("file", (msg, buffers) => {
    const old = files.get(msg.path);
    if (old) URL.revokeObjectURL(old);
    files.set(msg.path, URL.createObjectURL(new Blob([bytesOf(buffers[0])], { type: msg.mime })));
    renderExports();
  });
  store.on("change:exports", renderExports);
  store.on("change:export_name", () => setIfIdle(nameInput, model.get("export_name")));
  store.on("change:selected", renderExportDir);
  store.on("change:directions", renderExportDir);
  store.cleanups.push(() => { for (const url of files.values()) URL.revokeObjectURL(url); });
  renderExports();
  renderExportDir();
}

// ---------------------------------------------------------------- the view: a small shared store, one part per panel
// Python owns the state (traits); the store holds what the parts share: the model, the generator's info, the root,
// `cmd` and `showFlash`, the tab shown, and whether the kernel is gone. Each part builds its panel, listens to the
// traits and messages it shows (store.on / store.onMsg, undone on cleanup) and exposes the little others call.
function render({ model, el }) {
  const info = model.get("generator_info");
  const root = h("div", {
    class: "gx-root", tabindex: "-1", "data-lm-suppress-shortcuts": "true", "data-p-suppress-shortcuts": "true",
  });
  el.classList.add("gx-explorer");
  el.appendChild(root);
  // Keys typed inside the widget belong to the widget, not to the notebook. JupyterLab honours the attribute
  // above, but Notebook 7 still takes arrow and letter keys in its capture-phase handler, so the widget listens
  // first (window, capture), keeps the event from the page's handlers and runs its own (`el._gxKey`), walking up
  // from the target (the event's real target, `composedPath()[0]`: inside marimo's shadow root `e.target` is the
  // host); the browser's default action (a range input's arrow step, typing) still happens.
  function onKey(e) {
    const target = e.composedPath ? e.composedPath()[0] : e.target; // inside a shadow root, e.target is its host
    if (!root.contains(target)) return;
    e.stopPropagation();
    for (let node = target; node && node !== root.parentNode; node = node.parentNode) {
      if (node._gxKey && node._gxKey(e, target) === true) break;
    }
  }
  window.addEventListener("keydown", onKey, true);

  const listeners = [];
  const msgHandlers = {};
  const store = {
    model, el, root, info, dead: false, cleanups: [],
    presetsId: `gx-layer-presets-${Math.random().toString(36).slice(2)}`, // layer presets: Find and Label share them
    on(event, fn) { model.on(event, fn); listeners.push([event, fn]); },
    onMsg(type, fn) { msgHandlers[type] = fn; },
  };
  commandsPart(store);
  messagesPart(store);
  zoomPart(store);
  connectionPart(store);
  tabsPart(store);
  imagePanel(store);
  explorePanel(store);
  findPanel(store);
  labelPanel(store);
  exportPanel(store);
  store.main = h("div", { class: "gx-main" }, store.view, store.panel);
  root.append(store.main, store.status, store.flash, store.zoomBox, store.veil, store.deadBox);

  const onMessage = (msg, buffers) => { const fn = msgHandlers[msg.type]; if (fn) fn(msg, buffers); };
  model.on("msg:custom", onMessage);
  model.send({ type: "ready" }); // ask for the current frame (a new view, or a re-opened notebook)

  return () => {
    for (const [event, fn] of listeners) model.off(event, fn);
    model.off("msg:custom", onMessage);
    window.removeEventListener("keydown", onKey, true);
    for (const fn of store.cleanups) fn();
  };
}

export default { render };
