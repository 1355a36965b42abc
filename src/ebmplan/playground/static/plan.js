// The plan page: a map (bundled, loaded or drawn), an agent, a start and a goal; the planned episode drawn.
"use strict";

const canvas = document.getElementById("maze");
const ctx = canvas.getContext("2d");
const byId = id => document.getElementById(id);

const state = {
  map: { name: "FourRooms" },  // the descriptor the server scales: {name} or {rows}
  maze: null,                  // the server's answer: walls (scaled rows), rows (unscaled), key, size
  agents: [],
  start: null, goal: null,     // [row, col] in scaled map cells
  plan: null,
  shownSteps: 0,               // rollout steps drawn so far (the animation)
};
window.playground = { state };

// ---- the map ----
function descriptor() {
  return { ...state.map, resize: Number(byId("resize").value), thin: byId("thin").checked };
}
async function loadMaze() {
  try {
    state.maze = await api("/api/maze", { map: descriptor() });
    state.plan = null;
    for (const end of ["start", "goal"]) {
      const p = state[end];
      if (p && (p[0] > state.maze.height || p[1] > state.maze.width)) state[end] = null;
    }
    say("");
    draw();
    showAgents();
  } catch (err) { say(err.message, "error"); }
}
let reloadTimer = null;
function loadMazeSoon() { clearTimeout(reloadTimer); reloadTimer = setTimeout(loadMaze, 250); }

// ---- drawing ----
function cellSize() { return Math.min(canvas.width / state.maze.width, canvas.height / state.maze.height); }
function toScreen([r, c]) { const s = cellSize(); return [c * s, r * s]; }
function toCell(event) {
  const rect = canvas.getBoundingClientRect();
  const s = cellSize();
  const x = (event.clientX - rect.left) * canvas.width / rect.width, y = (event.clientY - rect.top) * canvas.height / rect.height;
  return [y / s, x / s];
}
function dot([r, c], color, radius, outline) {
  const [x, y] = toScreen([r, c]);
  ctx.fillStyle = color;
  ctx.beginPath();
  ctx.arc(x, y, radius, 0, 2 * Math.PI);
  ctx.fill();
  if (outline) { ctx.strokeStyle = outline; ctx.lineWidth = 1; ctx.stroke(); }
}
function polyline(points, color, width) {
  if (points.length < 2) return;
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.beginPath();
  points.forEach((p, i) => { const [x, y] = toScreen(p); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
  ctx.stroke();
}

function draw() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!state.maze) return;
  const s = cellSize();
  ctx.fillStyle = "#f8f9fb";
  ctx.fillRect(0, 0, state.maze.width * s, state.maze.height * s);
  ctx.fillStyle = "#2b2f3a";
  state.maze.walls.forEach((row, i) => {
    for (let j = 0; j < row.length; j++) if (row[j] === "#") ctx.fillRect(j * s, i * s, s + 0.5, s + 0.5);
  });
  const plan = state.plan;
  if (plan) {
    if (byId("show-edges").checked) {
      ctx.strokeStyle = "rgba(120,150,220,0.35)";
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (const [i, j] of plan.edges) {
        const [x0, y0] = toScreen(plan.candidates[i]), [x1, y1] = toScreen(plan.candidates[j]);
        ctx.moveTo(x0, y0); ctx.lineTo(x1, y1);
      }
      ctx.stroke();
    }
    plan.candidates.forEach((p, i) => dot(p, plan.in_walls[i] ? "#ff9f1c" : "#2457c5", 2.5));
    if (plan.waypoints.length) {
      polyline([state.start, ...plan.waypoints, state.goal], "#7b2cbf", 3);
      plan.waypoints.forEach((p, i) => {
        const label = String(i + 1);
        dot(p, "#7b2cbf", label.length > 1 ? 7 : 5, "#fff");  // room for a two-digit number
        const [x, y] = toScreen(p);
        ctx.fillStyle = "#fff";
        ctx.font = "bold 9px system-ui, sans-serif";
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        ctx.fillText(label, x, y + 0.5);
        ctx.textAlign = "start";
        ctx.textBaseline = "alphabetic";
      });
    }
    const path = plan.path.slice(0, state.shownSteps + 1);
    polyline(path, "#00b4d8", 2.5);
    if (path.length) dot(path[path.length - 1], "#00b4d8", 5, "#003b46");
  }
  if (state.start) dot(state.start, "#1f9d55", 7, "#fff");
  if (state.goal) dot(state.goal, "#e63946", 7, "#fff");
}

// ---- agents and jobs ----
async function refreshAgents() {
  try {
    state.agents = (await api("/api/agents")).agents;
    showAgents();
  } catch (err) { say(err.message, "error"); }
}
function showAgents() {
  const select = byId("agent");
  const previous = select.value;
  select.innerHTML = "";
  const key = state.maze && state.maze.key;
  const usable = state.agents.filter(a => a.key === key && a.state === "ready");
  for (const a of usable) select.add(new Option(`${a.name} (${a.steps} updates)`, a.name));
  if (usable.some(a => a.name === previous)) select.value = previous;
  const others = state.agents.filter(a => a.key === key && a.state !== "ready");
  const note = usable.length ? "" : "No trained agent for this map yet: train one below. ";
  byId("agent-note").textContent = note + others.map(a => `${a.name}: ${a.state} (${a.trained}/${a.steps}).`).join(" ");
  for (const a of others.filter(a => a.state === "training" && a.job)) watchJob(a.job);
}

const watched = new Set();
function watchJob(jobId, then) {
  if (watched.has(jobId)) return;
  watched.add(jobId);
  const box = document.createElement("div");
  box.innerHTML = `<label><span></span><progress max="1" value="0"></progress></label>
    <button type="button">Stop</button>`;
  byId("jobs").append(box);
  box.querySelector("button").onclick = () => api(`/api/jobs/${jobId}`, undefined, "DELETE").catch(e => say(e.message, "error"));
  const poll = async () => {
    try {
      const job = await api(`/api/jobs/${jobId}`);
      box.querySelector("span").textContent = `${job.title}: ${job.state}${job.message ? " (" + job.message + ")" : ""} `;
      const bar = box.querySelector("progress");
      if (job.kind === "generator" && job.state === "running") bar.removeAttribute("value"); else bar.value = job.progress;
      if (job.state === "running") { setTimeout(poll, 1000); return; }
      watched.delete(jobId);
      box.querySelector("button").remove();
      if (job.state === "failed") say(job.message, "error");
      await refreshAgents();
      if (then && job.state === "finished") then(job);
    } catch (err) { say(err.message, "error"); watched.delete(jobId); }
  };
  poll();
}

async function trainAgent() {
  try {
    const reply = await api("/api/agents", { map: descriptor(), steps: Number(byId("agent-steps").value),
      name: byId("agent-name").value });
    say(`Training ${byId("agent-name").value}; the same from the command line: ${reply.command}`, "ok");
    watchJob(reply.job.id, job => {
      byId("agent").value = byId("agent-name").value;
      say(`Agent ${byId("agent-name").value} is ready.`, "ok");
    });
  } catch (err) { say(err.message, "error"); }
}

// ---- planning ----
async function plan() {
  const request = { agent: byId("agent").value, map: descriptor(), start: state.start, goal: state.goal,
    source: byId("source").value, nodes: Number(byId("nodes").value), max_dist: Number(byId("max-dist").value),
    max_steps: Number(byId("max-steps").value),
    gen_steps: Number(byId("gen-steps").value) };
  byId("plan").disabled = true;
  try {
    say("Planning...", "");
    const reply = await api("/api/plan", request);
    if (reply.job) {
      say(`The ${request.source} generator is learning from this agent's exploration first (once).`, "");
      watchJob(reply.job.id, () => plan());
      return;
    }
    showPlan(reply);
  } catch (err) { say(err.message, "error"); } finally { byId("plan").disabled = false; }
}

function showPlan(result) {
  state.plan = result;
  state.shownSteps = 0;
  say(result.reached ? `Reached the goal in ${result.steps} steps.` : `Did not reach the goal in ${result.steps} steps.`,
    result.reached ? "ok" : "error");
  const ms = result.milliseconds;
  const rows = [
    ["result", result.reached ? "reached" : "failed"],
    ["steps", result.steps],
    ["planning time", `${ms.total.toFixed(0)} ms (candidates ${ms.candidates.toFixed(0)}, graph ${ms.graph.toFixed(0)}, closed loop ${ms.loop.toFixed(0)})`],
    ["distance queries", result.queries],
    ["candidates", `${result.candidates.length} (${result.in_walls.filter(Boolean).length} inside walls)`],
    ["graph edges", `${result.edge_count} (${result.wormholes} wormholes by the true map)`],
    ["waypoints planned", result.route.length],
    ["shortest path", `${result.shortest_path} cells (true map)`],
    ["steps / shortest", result.path_ratio === null ? "-" : result.path_ratio.toFixed(2)],
  ];
  const dl = byId("result");
  dl.innerHTML = "";
  for (const [k, v] of rows) {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = k; dd.textContent = v;
    dl.append(dt, dd);
  }
  byId("status").textContent = `Planned with ${byId("source").value} candidates; the rollout replays below.`;
  const step = () => {
    state.shownSteps = Math.min(state.shownSteps + 2, result.path.length - 1);
    draw();
    if (state.shownSteps < result.path.length - 1 && state.plan === result) requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}

// ---- controls ----
let drawing = null;  // while drawing walls: the value being painted ("#" or ".")
function wallAt(event) {
  const [r, c] = toCell(event);
  const k = Number(byId("resize").value);
  const rows = state.maze.rows.map(row => row.split(""));
  const i = Math.floor(r / k), j = Math.floor(c / k);
  if (i < 0 || j < 0 || i >= rows.length || j >= rows[0].length) return;
  if (drawing === null) drawing = rows[i][j] === "#" ? "." : "#";
  if (rows[i][j] === drawing) return;
  rows[i][j] = drawing;
  state.map = { rows: rows.map(row => row.join("")) };
  state.maze.rows = state.map.rows;
  for (let a = 0; a < k; a++) {  // shown at once; the server's scaling follows
    const line = state.maze.walls[i * k + a];
    if (line !== undefined) state.maze.walls[i * k + a] = line.slice(0, j * k) + drawing.repeat(k) + line.slice((j + 1) * k);
  }
  byId("map").value = "";
  draw();
  loadMazeSoon();
}
canvas.addEventListener("pointerdown", event => {
  if (!state.maze) return;
  const tool = document.querySelector('input[name="tool"]:checked').value;
  if (tool === "wall") { canvas.setPointerCapture(event.pointerId); drawing = null; wallAt(event); return; }
  state[tool] = toCell(event);
  state.plan = null;
  byId("result").innerHTML = "";
  if (tool === "start") document.querySelector('input[name="tool"][value="goal"]').checked = true;
  draw();
});
canvas.addEventListener("pointermove", event => { if (drawing !== null) wallAt(event); });
canvas.addEventListener("pointerup", () => { drawing = null; });

byId("map").onchange = () => { if (byId("map").value) { state.map = { name: byId("map").value }; loadMaze(); } };
byId("resize").onchange = loadMaze;
byId("thin").onchange = loadMaze;
byId("show-edges").onchange = draw;
byId("refresh-agents").onclick = refreshAgents;
byId("train-agent").onclick = trainAgent;
byId("plan").onclick = plan;
byId("new-map").onclick = () => {
  const rows = Number(byId("new-rows").value), cols = Number(byId("new-cols").value);
  const edge = "#".repeat(cols), inner = "#" + ".".repeat(Math.max(cols - 2, 0)) + "#";
  state.map = { rows: [edge, ...Array(Math.max(rows - 2, 0)).fill(inner), edge] };
  byId("map").value = "";
  state.start = state.goal = null;
  loadMaze();
};
byId("mapfile").onchange = async event => {
  const file = event.target.files[0];
  if (!file) return;
  try {
    const maze = await api("/api/maze", { text: await file.text(), resize: Number(byId("resize").value),
      thin: byId("thin").checked });
    state.map = { rows: maze.rows };
    state.maze = maze;
    state.start = state.goal = state.plan = null;
    byId("map").value = "";
    say(`Loaded ${file.name}.`, "ok");
    draw();
    showAgents();
  } catch (err) { say(err.message, "error"); }
  event.target.value = "";
};

async function start() {
  try {
    const { maps } = await api("/api/maps");
    for (const m of maps) byId("map").add(new Option(`${m.name} (${m.height}x${m.width})`, m.name));
    byId("map").add(new Option("(drawn or loaded)", ""));
    byId("map").value = "FourRooms";
    const { jobs } = await api("/api/jobs");
    for (const job of jobs) if (job.state === "running") watchJob(job.id);
  } catch (err) { say(err.message, "error"); }
  await refreshAgents();
  await loadMaze();
}
start();
