// What both pages share: requests to the server, messages, the colour map and small line charts.
"use strict";

// A JSON request; a reply with {"error": sentence} becomes an Error with that sentence.
async function api(path, body, method) {
  const options = { method: method || (body === undefined ? "GET" : "POST") };
  if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers = { "Content-Type": "application/json" };
  }
  const reply = await fetch(path, options);
  const data = await reply.json().catch(() => ({ error: `the server answered ${reply.status}` }));
  if (!reply.ok || data.error) throw new Error(data.error || `the server answered ${reply.status}`);
  return data;
}

// One sentence in the page's message line: kind "error", "ok" or "" (plain).
function say(text, kind) {
  const el = document.getElementById("message");
  el.textContent = text || "";
  el.className = "message " + (kind || "");
}

// Viridis, by its 9 anchor colours, interpolated: t in [0, 1] -> [r, g, b].
const VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]];
function viridis(t) {
  const x = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const f = x - i;
  return VIRIDIS[i].map((c, k) => Math.round(c + f * (VIRIDIS[i + 1][k] - c)));
}

// A vertical colour bar: low values at the bottom.
function drawColorbar(canvas) {
  const ctx = canvas.getContext("2d");
  for (let y = 0; y < canvas.height; y++) {
    const [r, g, b] = viridis(1 - y / (canvas.height - 1));
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(0, y, canvas.width, 1);
  }
}

// A small line chart of `values` (numbers, in order) with its last value and range written on it.
function lineChart(canvas, values, color) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 4;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#d5dae3";
  ctx.strokeRect(0.5, 0.5, w - 1, h - 1);
  const finite = values.filter(Number.isFinite);
  if (finite.length < 1) return;
  let lo = Math.min(...finite), hi = Math.max(...finite);
  if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  values.forEach((v, i) => {
    const x = pad + (w - 2 * pad) * (values.length > 1 ? i / (values.length - 1) : 0.5);
    const y = h - pad - (h - 2 * pad) * (v - lo) / (hi - lo);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
  ctx.fillStyle = "#5b6474";
  ctx.font = "10px system-ui, sans-serif";
  ctx.fillText(hi.toPrecision(3), 4, 11);
  ctx.fillText(lo.toPrecision(3), 4, h - 4);
  ctx.fillStyle = color;
  ctx.fillText(`now ${finite[finite.length - 1].toPrecision(3)}`, w - 62, 11);
}
