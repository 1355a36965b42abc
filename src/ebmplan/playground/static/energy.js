// The energy page: paint points, train over a websocket, draw every frame the server sends.
"use strict";

const plane = document.getElementById("plane");
const ctx = plane.getContext("2d");
const heatCanvas = document.createElement("canvas");  // the GRID x GRID energies, scaled up onto the plane
const DEFAULT_VIEW = [[-2.5, -2.5], [2.5, 2.5]];
const NEGATIVE_COLORS = { uniform: "#9aa3b2", perturb: "#ff9f1c", hard: "#e63946", model: "#c77dff" };

const state = {
  points: [],          // [[x, y], ...] in data units
  dataset: null,       // the bundled set's name while the points are exactly that set
  view: DEFAULT_VIEW,  // [[x0, y0], [x1, y1]]
  training: false,     // a model exists on the server for this tab
  frame: null,
  curves: { loss: [], gap: [], nll: [] },
  particles: [],       // {path, shown, converged}
  nextParticle: 1,
};
// For tests and the benchmark: frames shown, and per frame the server's time to make it and the page's to show it.
window.playground = { frames: 0, timings: [], state };

// ---- coordinates ----
function toScreen([x, y]) {
  const [[x0, y0], [x1, y1]] = state.view;
  return [(x - x0) / (x1 - x0) * plane.width, (y1 - y) / (y1 - y0) * plane.height];
}
function toData(px, py) {
  const [[x0, y0], [x1, y1]] = state.view;
  return [x0 + px / plane.width * (x1 - x0), y1 - py / plane.height * (y1 - y0)];
}
function eventPoint(event) {
  const r = plane.getBoundingClientRect();
  return toData((event.clientX - r.left) * plane.width / r.width, (event.clientY - r.top) * plane.height / r.height);
}
// The smallest square around the points (padded), or the default plane when they fit in it.
function viewFor(points) {
  if (!points.length) return DEFAULT_VIEW;
  const xs = points.map(p => p[0]), ys = points.map(p => p[1]);
  const lo = [Math.min(...xs), Math.min(...ys)], hi = [Math.max(...xs), Math.max(...ys)];
  const fits = lo[0] >= -2.4 && lo[1] >= -2.4 && hi[0] <= 2.4 && hi[1] <= 2.4;
  if (fits) return DEFAULT_VIEW;
  const half = 0.6 * Math.max(hi[0] - lo[0], hi[1] - lo[1], 1e-6);
  const c = [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2];
  return [[c[0] - half, c[1] - half], [c[0] + half, c[1] + half]];
}

// ---- drawing ----
function dots(points, color, radius, outline) {
  ctx.fillStyle = color;
  for (const p of points) {
    const [sx, sy] = toScreen(p);
    ctx.beginPath();
    ctx.arc(sx, sy, radius, 0, 2 * Math.PI);
    ctx.fill();
    if (outline) { ctx.strokeStyle = outline; ctx.lineWidth = 0.8; ctx.stroke(); }
  }
}
function checked(id) { return document.getElementById(id).checked; }

// The data layer is drawn once per change of the points or the view (thousands of points), then copied.
const dataLayer = document.createElement("canvas");
let dataLayerKey = null;
function drawData(color) {
  const key = `${state.points.length}|${state.points.length && state.points[0]}|${state.view}|${color}`;
  if (key !== dataLayerKey || dataLayer.width !== plane.width) {
    dataLayer.width = plane.width;
    dataLayer.height = plane.height;
    const layer = dataLayer.getContext("2d");
    layer.fillStyle = color;
    for (const p of state.points) {
      const [sx, sy] = toScreen(p);
      layer.fillRect(sx - 1.5, sy - 1.5, 3, 3);
    }
    dataLayerKey = key;
  }
  ctx.drawImage(dataLayer, 0, 0);
}

function draw() {
  ctx.clearRect(0, 0, plane.width, plane.height);
  const frame = state.frame;
  if (frame) {
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(heatCanvas, 0, 0, plane.width, plane.height);
  } else {
    ctx.fillStyle = "#f6f7fa";
    ctx.fillRect(0, 0, plane.width, plane.height);
  }
  if (checked("show-data")) drawData(frame ? "rgba(0,0,0,0.55)" : "rgba(20,30,60,0.7)");
  if (frame) {
    for (const kind of Object.keys(NEGATIVE_COLORS)) {
      if (checked(`show-${kind}`) && frame.negatives[kind]) dots(frame.negatives[kind], NEGATIVE_COLORS[kind], 2.2);
    }
    if (checked("show-samples")) dots(frame.samples, "#ffffff", 2.2, "#000");
  }
  if (checked("show-particles")) {
    for (const p of state.particles) {
      const path = p.path.slice(0, p.shown);
      ctx.strokeStyle = "#00e5ff";
      ctx.lineWidth = 2;
      ctx.beginPath();
      path.forEach((q, i) => { const [sx, sy] = toScreen(q); if (i) ctx.lineTo(sx, sy); else ctx.moveTo(sx, sy); });
      ctx.stroke();
      dots([path[path.length - 1]], p.converged && p.shown >= p.path.length ? "#00e5ff" : "#ffffff", 4, "#003b46");
    }
  }
}

function paintHeat(heat) {
  const n = heat.size;
  heatCanvas.width = heatCanvas.height = n;
  const hctx = heatCanvas.getContext("2d");
  const image = hctx.createImageData(n, n);
  const [lo, hi] = heat.range;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const [r, g, b] = viridis((heat.grid[i][j] - lo) / (hi - lo));
      const k = 4 * (i * n + j);
      image.data[k] = r; image.data[k + 1] = g; image.data[k + 2] = b; image.data[k + 3] = 255;
    }
  }
  hctx.putImageData(image, 0, 0);
  document.getElementById("energy-low").textContent = lo.toPrecision(3);
  document.getElementById("energy-high").textContent = hi.toPrecision(3);
}

function showCount() {
  const source = state.dataset ? ` (the ${state.dataset} training set)` : "";
  document.getElementById("count").textContent = `${state.points.length} points${source}`;
}

// ---- the server ----
let socket = null;
function connect() {
  socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/energy`);
  socket.onmessage = event => receive(JSON.parse(event.data));
  socket.onclose = () => {
    say("The connection to the playground server was lost; reload the page once it runs again.", "error");
    setButtons("closed");
  };
}
function send(request) {
  if (!socket || socket.readyState !== WebSocket.OPEN) {
    say("Not connected to the playground server yet; try again in a moment.", "error");
    return;
  }
  socket.send(JSON.stringify(request));
}

function receive(m) {
  if (m.type === "error") {
    say(m.message, "error");
    if (!state.frame) { state.training = false; setButtons("idle"); }  // nothing was trained
    return;
  }
  if (m.type === "started") { say(""); return; }
  if (m.type === "frame") { showFrame(m); return; }
  if (m.type === "particle") {
    const p = state.particles.find(q => q.id === m.id);
    if (p) { p.path = m.path; p.converged = m.converged; p.energy = m.energy; animateParticle(p); }
    return;
  }
  if (m.type === "saved") {
    document.getElementById("saved").hidden = false;
    document.getElementById("saved-folder").textContent = m.folder;
    document.getElementById("saved-command").textContent = m.command;
    document.getElementById("saved-python").textContent = m.python;
    say(`Saved the run folder ${m.name}.`, "ok");
    return;
  }
  if (m.type === "stopped") { say("Reset: the model is gone; the points stay.", ""); }
}

function showFrame(frame) {
  const t0 = performance.now();
  if (!state.frame) document.querySelector('input[name="tool"][value="particle"]').checked = true;  // a model now
  state.frame = frame;
  paintHeat(frame.heat);
  if (frame.loss !== null) { state.curves.loss.push(frame.loss); state.curves.gap.push(frame.energy_gap); }
  for (const row of frame.rows) state.curves.nll.push(row.val_nll);
  lineChart(document.getElementById("curve-loss"), state.curves.loss, "#2457c5");
  lineChart(document.getElementById("curve-gap"), state.curves.gap, "#b3261e");
  lineChart(document.getElementById("curve-nll"), state.curves.nll, "#1f7a3a");
  let text = `step ${frame.step} / ${frame.steps} · ${frame.steps_per_second.toFixed(0)} steps/s · ${frame.state}`;
  if (frame.stopped_early) {
    text += ` early: the validation NLL had stopped improving; the best model (step ${frame.best_step}) is what a save keeps`;
  }
  document.getElementById("status").textContent = text;
  setButtons(frame.state);
  draw();
  window.playground.frames += 1;
  window.playground.timings.push({ server: frame.frame_ms, page: performance.now() - t0 });
}

function setButtons(s) {
  const byId = id => document.getElementById(id);
  byId("train").disabled = s === "closed";
  byId("pause").disabled = s !== "training";
  byId("resume").disabled = s !== "paused";
  byId("reset").disabled = !state.training;
  byId("save").disabled = !state.training || s === "training" || s === "starting";
}

function animateParticle(p) {
  p.shown = 1;
  const tick = () => {
    p.shown = Math.min(p.shown + 1, p.path.length);
    draw();
    if (p.shown < p.path.length) setTimeout(tick, 40);
  };
  tick();
}

// ---- controls ----
function negativesSpec() {
  return ["uniform", "perturb", "hard", "model"]
    .map(k => [k, Number(document.getElementById(`neg-${k}`).value)])
    .filter(([, w]) => w > 0).map(([k, w]) => `${k}:${w}`).join(",");
}
function recipe() {
  const number = id => Number(document.getElementById(id).value);
  return { width: number("width"), depth: number("depth"), loss: document.getElementById("loss").value,
    negatives: negativesSpec(), margin: number("margin"), lr: number("lr"), steps: number("steps") };
}

document.getElementById("train").onclick = () => {
  say("Starting the training process...", "");
  state.frame = null;
  state.view = viewFor(state.points);
  state.curves = { loss: [], gap: [], nll: [] };
  state.particles = [];
  state.training = true;
  document.getElementById("saved").hidden = true;
  setButtons("starting");
  const data = state.dataset ? { data: state.dataset } : { points: state.points };
  send({ op: "train", recipe: recipe(), view: state.view, ...data });
};
document.getElementById("pause").onclick = () => send({ op: "pause" });
document.getElementById("resume").onclick = () => send({ op: "resume" });
document.getElementById("reset").onclick = () => {
  send({ op: "reset" });
  state.training = false;
  state.frame = null;
  state.particles = [];
  document.getElementById("status").textContent = "Paint points (or load a set), then press Train.";
  setButtons("idle");
  draw();
};
document.getElementById("save").onclick = () => send({ op: "save", name: document.getElementById("run-name").value });
document.getElementById("clear").onclick = () => {
  state.points = [];
  state.dataset = null;
  state.view = state.training ? state.view : DEFAULT_VIEW;
  showCount();
  draw();
};
document.getElementById("load-set").onclick = async () => {
  const name = document.getElementById("dataset").value;
  try {
    const reply = await api(`/api/energy/datasets/${encodeURIComponent(name)}`);
    state.points = reply.points;
    state.dataset = name;
    if (!state.training) state.view = viewFor(state.points);
    say("");
    showCount();
    draw();
  } catch (err) { say(err.message, "error"); }
};
document.getElementById("upload").onchange = async event => {
  const file = event.target.files[0];
  if (!file) return;
  try {
    const reply = await fetch(`/api/energy/upload?filename=${encodeURIComponent(file.name)}`,
      { method: "POST", body: await file.arrayBuffer() });
    const data = await reply.json();
    if (!reply.ok) throw new Error(data.error);
    state.points = data.points;
    state.dataset = null;
    if (!state.training) state.view = viewFor(state.points);
    say(`Loaded ${data.count} points from ${file.name}.`, "ok");
    showCount();
    draw();
  } catch (err) { say(err.message, "error"); }
  event.target.value = "";
};
for (const id of ["show-data", "show-samples", "show-particles", "show-uniform", "show-perturb", "show-hard",
  "show-model"]) document.getElementById(id).onchange = draw;

// Painting: each move drops a few points in a disc of the brush's radius; erasing removes the points in it.
let painting = false;
function brushAt(event) {
  const [x, y] = eventPoint(event);
  const tool = document.querySelector('input[name="tool"]:checked').value;
  const radius = Number(document.getElementById("brush").value) * (state.view[1][0] - state.view[0][0]) / 5;
  if (tool === "paint") {
    for (let k = 0; k < 4; k++) {
      const a = 2 * Math.PI * Math.random(), r = radius * Math.sqrt(Math.random());
      state.points.push([x + r * Math.cos(a), y + r * Math.sin(a)]);
    }
  } else {
    state.points = state.points.filter(p => (p[0] - x) ** 2 + (p[1] - y) ** 2 > radius * radius);
  }
  state.dataset = null;
  showCount();
  draw();
}
plane.addEventListener("pointerdown", event => {
  const tool = document.querySelector('input[name="tool"]:checked').value;
  if (tool === "particle") {
    if (!state.training) { say("Train a model first: a particle rolls down the energy of the model.", "error"); return; }
    const [x, y] = eventPoint(event);
    const p = { id: state.nextParticle++, path: [[x, y]], shown: 1, converged: false };
    state.particles.push(p);
    if (state.particles.length > 20) state.particles.shift();
    send({ op: "particle", id: p.id, x, y });
    draw();
    return;
  }
  painting = true;
  plane.setPointerCapture(event.pointerId);
  brushAt(event);
});
plane.addEventListener("pointermove", event => { if (painting) brushAt(event); });
plane.addEventListener("pointerup", () => { painting = false; });

async function start() {
  drawColorbar(document.getElementById("colorbar"));
  try {  // the choices, and `ebmplan train`'s defaults for every field of the recipe
    const { datasets, losses, recipe } = await api("/api/energy/datasets");
    for (const name of datasets) document.getElementById("dataset").add(new Option(name, name));
    for (const name of losses) document.getElementById("loss").add(new Option(name, name));
    for (const field of ["width", "depth", "loss", "margin", "lr", "steps"]) {
      document.getElementById(field).value = recipe[field];
    }
    const weights = Object.fromEntries(recipe.negatives.split(",").map(item => item.split(":")));
    for (const kind of ["uniform", "perturb", "hard", "model"]) {
      document.getElementById(`neg-${kind}`).value = weights[kind] === undefined ? 0 : (weights[kind] || 1);
    }
  } catch (err) { say(err.message, "error"); }
  showCount();
  draw();
  connect();
}
start();
