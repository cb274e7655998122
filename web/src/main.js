// The playground page: every edit re-checks the program on the server (debounced; an answer to an older
// request is dropped), and the answer fills the summary, the param sliders, the diagram, the stats and
// the PyTorch source, or the errors.

import * as api from "./api.js";
import { createEditor } from "./editor.js";

const DEBOUNCE_MS = 150; // after the last keystroke
const POLL_MS = 1500; // how often the served file is checked for edits made in another editor

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

const page = {
  name: "network", // the document's name, for the .cnn download
  architecture: null, // the shipped architecture the document was opened from (its `use` lines resolve there)
  served: null, // GET /api/file's answer
  onServed: false, // the editor holds the served file: Ctrl+S writes it, edits on disk reload it
  dirty: false, // edited since it was loaded or saved
  saving: false, // a PUT is on its way (its own change on disk is not another editor's)
  overrides: {}, // param name -> the value its slider set
  sent: 0, // the number of the latest analysis request
  timer: 0,
  tab: "diagram",
  ok: null, // the last good answer
};

const editor = createEditor($("editor"), (typed) => {
  if (typed) setDirty(true);
  schedule(DEBOUNCE_MS);
});

function setDirty(dirty) {
  page.dirty = dirty;
  $("file-name").classList.toggle("dirty", dirty && page.onServed && page.served.writable);
}

// ---- analysis

function request(extra = {}) {
  const depth = $("depth").value;
  return {
    text: editor.text(),
    params: page.overrides,
    diagram: page.tab === "diagram" ? $("style").value : "none",
    depth: depth === "" ? null : Number(depth),
    fold: $("fold").checked,
    fit: $("fit").value || null,
    theme: document.documentElement.dataset.theme,
    source: page.tab === "source",
    architecture: page.architecture,
    ...extra,
  };
}

function schedule(delay) {
  clearTimeout(page.timer);
  page.timer = setTimeout(check, delay);
}

async function check() {
  const number = ++page.sent;
  const doc = editor.view.state.doc;
  setStatus("checking…");
  let answer;
  try {
    answer = await api.analyze(request());
  } catch (error) {
    if (number === page.sent) setStatus(`server: ${error.message}`, "bad");
    return;
  }
  if (number !== page.sent) return; // a newer request is on its way
  if (answer.ok) showGood(answer);
  else showErrors(doc, answer.errors);
}

function showGood(answer) {
  page.ok = answer;
  editor.showErrors(editor.view.state.doc, []);
  $("errors").replaceChildren();
  document.body.classList.remove("invalid");
  const { network, stats, timings } = answer;
  $("network-name").textContent = network.title || network.name;
  $("shape").textContent = `${network.input.join("x")} → ${network.output.join("x")}`;
  setFigure("params-total", stats.totals.params);
  setFigure("macs-total", stats.totals.macs);
  showParams(answer.params);
  $("stats-text").textContent = stats.text;
  if (answer.svg) showSvg(answer.svg);
  if (answer.source) $("source").textContent = answer.source;
  const ms = Object.values(timings).reduce((a, b) => a + b, 0);
  setStatus(`ok · ${Math.round(ms)} ms`, "good");
}

function showErrors(doc, errors) {
  editor.showErrors(doc, errors.filter((e) => e.here));
  document.body.classList.add("invalid"); // dims the last good figures
  $("errors").replaceChildren(...errors.map(errorItem));
  for (const input of $("params").querySelectorAll("input")) {
    input.classList.toggle("bad", errors.some((e) => e.param === input.name));
  }
  setStatus(errors.length === 1 ? "1 error" : `${errors.length} errors`, "bad");
}

// An error's or a note's place: LINE:COL in the document (`here`), else prefixed by the `use`d file's name.
const place = (at) => at.here ? `${at.line}:${at.col}` : `${at.file.split(/[\\/]/).pop()}:${at.line}:${at.col}`;

function errorItem(e) {
  const where = e.line === 0 ? (e.param ? `param ${e.param}` : "error") : place(e);
  const item = el("li", { title: e.text },
    el("code", { className: "where" }, where), " ", el("span", { className: "message" }, e.message));
  if (e.hint) item.append(el("div", { className: "hint" }, `hint: ${e.hint}`));
  for (const note of e.notes) {
    item.append(el("div", { className: "note" }, `${place(note)}: ${note.message}`));
  }
  Object.assign(item.dataset, { line: e.line, col: e.col });
  if (e.here) item.addEventListener("click", () => editor.select(e.line, e.col));
  return item;
}

function setFigure(id, value) {
  $(id).textContent = value.toLocaleString("en-US");
  $(id).dataset.value = value;
  $(id).title = short(value);
}

const short = (n) => n >= 1e9 ? `${(n / 1e9).toPrecision(3)}G` : n >= 1e6 ? `${(n / 1e6).toPrecision(3)}M`
  : n >= 1e3 ? `${(n / 1e3).toPrecision(3)}K` : String(n);

function setStatus(text, kind = "") {
  $("status").textContent = text;
  $("status").className = kind;
}

// ---- the diagram: the server's SVG, inlined without anything that could run

function showSvg(text) {
  const svg = new DOMParser().parseFromString(text, "image/svg+xml").documentElement;
  if (svg.nodeName !== "svg") return;
  svg.querySelectorAll("script, foreignObject").forEach((node) => node.remove());
  for (const node of [svg, ...svg.querySelectorAll("*")]) {
    for (const { name, value } of [...node.attributes]) {
      if (/^on/i.test(name) || /^\s*javascript:/i.test(value)) node.removeAttribute(name);
    }
  }
  $("diagram").replaceChildren(document.importNode(svg, true));
  zoom();
}

// fit: the whole figure in the panel; width: as wide as the panel (scrolls down); else a scale of its size.
function zoom() {
  const svg = $("diagram").querySelector("svg");
  const z = $("zoom").value;
  $("diagram").classList.toggle("fit", z === "fit");
  if (!svg) return;
  const fitted = z === "fit" || z === "width";
  svg.style.width = fitted ? "100%" : `${parseFloat(svg.getAttribute("width")) * Number(z)}pt`;
}

// ---- params: one slider each, sent as overrides (the text is not edited)

function showParams(params) {
  const box = $("params");
  const shape = params.map((p) => `${p.name}:${p.min}:${p.max}:${p.step}`).join(" ");
  if (box.dataset.shape !== shape) {
    box.dataset.shape = shape;
    box.replaceChildren(...params.map(paramControl));
  }
  for (const p of params) {
    const input = box.querySelector(`input[name="${CSS.escape(p.name)}"]`);
    if (document.activeElement !== input) input.value = p.value;
    input.classList.remove("bad");
    input.closest("label").classList.toggle("overridden", p.name in page.overrides);
    input.parentElement.querySelector("output").textContent = p.value;
  }
  for (const name of Object.keys(page.overrides)) {
    if (!params.some((p) => p.name === name)) delete page.overrides[name];
  }
}

function paramControl(p) {
  const ranged = p.min !== null && p.max !== null;
  const input = el("input", {
    type: ranged ? "range" : "number", name: p.name, min: p.min ?? "", max: p.max ?? "", step: p.step ?? "any",
  });
  input.dataset.testid = `param-${p.name}`;
  input.addEventListener("input", () => {
    if (input.value === "") return;
    page.overrides[p.name] = Number(input.value);
    input.parentElement.querySelector("output").textContent = input.value;
    schedule(0);
  });
  const reset = el("button", { type: "button", className: "reset", title: `back to ${p.name} = ${p.default}` }, "↺");
  reset.addEventListener("click", () => {
    delete page.overrides[p.name];
    schedule(0);
  });
  return el("label", { className: "param" }, el("span", {}, p.name), input, el("output"), reset);
}

// ---- documents: the served file, the shipped architectures

function open(text, name, onServed) {
  page.name = name.replace(/\.cnn$/, "");
  page.onServed = onServed;
  page.architecture = onServed ? null : page.name;
  page.overrides = {};
  $("params").replaceChildren();
  delete $("params").dataset.shape;
  editor.open(text);
  setDirty(false);
  $("file-name").textContent = onServed && page.served.writable ? page.served.name : `${name} (read only)`;
  $("changed").hidden = true;
}

async function openServed() {
  try {
    page.served = await api.file();
    open(page.served.text, page.served.name ?? "tiny", true);
  } catch (error) {
    setStatus(error.message, "bad");
  }
}

async function openArchitecture(name) {
  try {
    open((await api.architecture(name)).text, name, false);
  } catch (error) {
    setStatus(error.message, "bad");
  }
}

async function save() {
  if (!(page.onServed && page.served.writable)) {
    setStatus("not a served file: nothing to save (use ↓ .cnn)", "bad");
    return;
  }
  page.saving = true;
  try {
    page.served.mtime = (await api.save(editor.text())).mtime;
    setDirty(false);
    setStatus("saved", "good");
  } catch (error) {
    setStatus(`not saved: ${error.message}`, "bad");
  } finally {
    page.saving = false;
  }
}

async function poll() {
  if (!(page.onServed && page.served.writable)) return;
  let now;
  try {
    now = await api.file();
  } catch {
    return; // the server is gone for a moment; the next poll tries again
  }
  if (now.mtime === page.served.mtime || !page.onServed || page.saving) return;
  page.served.mtime = now.mtime;
  if (now.text === editor.text()) return;
  page.disk = now.text;
  if (page.dirty) $("changed").hidden = false; // ask: the page has edits of its own
  else reloadFromDisk();
}

function reloadFromDisk() {
  editor.reload(page.disk);
  setDirty(false);
  $("changed").hidden = true;
  setStatus("reloaded: the file changed on disk");
}

// ---- downloads

function download(blob, filename) {
  const a = el("a", { href: URL.createObjectURL(blob), download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

async function downloadImage(format) {
  try {
    const blob = await api.render(request({ diagram: $("style").value }), format);
    download(blob, `${page.ok?.network.name ?? page.name}.${format}`);
  } catch (error) {
    setStatus(`no ${format}: ${error.message}`, "bad");
  }
}

async function downloadSource() {
  const answer = await api.analyze(request({ diagram: "none", source: true }));
  if (answer.ok) download(new Blob([answer.source], { type: "text/x-python" }), `${answer.network.name}.py`);
  else setStatus("fix the errors first", "bad");
}

// ---- look: tabs, theme, presentation mode

function showTab(tab) {
  page.tab = tab;
  for (const button of document.querySelectorAll("[role=tab]")) {
    const on = button.dataset.tab === tab;
    button.setAttribute("aria-selected", on);
    $(`${button.dataset.tab}-panel`).hidden = !on;
  }
  schedule(0); // the diagram and the source are computed only for their tab
}

function setTheme(dark) {
  document.documentElement.dataset.theme = dark ? "dark" : "light";
  $("theme").textContent = dark ? "Light" : "Dark";
  editor.setDark(dark);
  localStorage.setItem("cnndsl.theme", dark ? "dark" : "light");
}

function setPresentation(on) {
  document.documentElement.classList.toggle("presentation", on);
  $("presentation").setAttribute("aria-pressed", on);
  localStorage.setItem("cnndsl.presentation", on ? "1" : "");
  editor.view.requestMeasure();
}

function wire() {
  for (const button of document.querySelectorAll("[role=tab]")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }
  for (const id of ["style", "depth", "fold", "fit"]) $(id).addEventListener("input", () => schedule(0));
  $("style").addEventListener("input", () => { $("fold").disabled = $("style").value === "volumes"; });
  $("zoom").addEventListener("change", zoom);
  $("open").addEventListener("change", () => {
    const name = $("open").value;
    $("open").value = "";
    if (name === ":served") openServed();
    else if (name) openArchitecture(name);
  });
  $("save").addEventListener("click", save);
  $("reload").addEventListener("click", reloadFromDisk);
  $("download-cnn").addEventListener("click", () =>
    download(new Blob([editor.text()], { type: "text/plain" }), `${page.name}.cnn`));
  $("download-svg").addEventListener("click", () => downloadImage("svg"));
  $("download-png").addEventListener("click", () => downloadImage("png"));
  $("download-py").addEventListener("click", downloadSource);
  $("theme").addEventListener("click", () => {
    setTheme(document.documentElement.dataset.theme !== "dark");
    schedule(0); // the diagram is drawn in the theme's colours
  });
  $("presentation").addEventListener("click", () =>
    setPresentation(!document.documentElement.classList.contains("presentation")));
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
      event.preventDefault();
      save();
    }
  });
}

async function start() {
  wire();
  const theme = localStorage.getItem("cnndsl.theme");
  setTheme(theme ? theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches);
  setPresentation(Boolean(localStorage.getItem("cnndsl.presentation")));
  const [served, shipped] = await Promise.all([api.file(), api.architectures()]);
  page.served = served;
  const menu = $("open");
  if (served.writable) menu.append(el("option", { value: ":served" }, `${served.name} (served file)`));
  for (const a of shipped.architectures) {
    menu.append(el("option", { value: a.name }, a.title ? `${a.name} — ${a.title}` : a.name));
  }
  $("save").hidden = !served.writable;
  open(served.text, served.name ?? "tiny", true);
  setInterval(poll, POLL_MS);
}

start().catch((error) => setStatus(`server: ${error.message}`, "bad"));
