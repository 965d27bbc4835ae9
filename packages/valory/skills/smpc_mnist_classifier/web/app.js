// The agent's web page: draw or upload a digit, show the prediction and the global model's history.
// Plain JS and canvas, served by the agent itself (no network access beyond this agent).
"use strict";

const SIDE = 28; // MNIST images are 28x28
const BOX = 20; // MNIST digits fit a 20x20 box centred by centre of mass
const STROKE = 22; // pen width on the 280x280 pad
const REFRESH_MS = 5000;
const MAX_ROUND_TICKS = 10; // label every round up to this many, else the first and last

const pad = document.getElementById("pad");
const padContext = pad.getContext("2d");
const seen = document.getElementById("seen");
const seenContext = seen.getContext("2d", { willReadFrequently: true });
const $ = (id) => document.getElementById(id);

function clearPad() {
  padContext.fillStyle = "#000";
  padContext.fillRect(0, 0, pad.width, pad.height);
  seenContext.fillStyle = "#000";
  seenContext.fillRect(0, 0, SIDE, SIDE);
}

// --- drawing ---------------------------------------------------------------
let drawing = false;
function padPoint(event) {
  const rect = pad.getBoundingClientRect();
  return [(event.clientX - rect.left) * (pad.width / rect.width), (event.clientY - rect.top) * (pad.height / rect.height)];
}
pad.addEventListener("pointerdown", (event) => {
  drawing = true;
  pad.setPointerCapture(event.pointerId);
  const [x, y] = padPoint(event);
  padContext.beginPath();
  padContext.moveTo(x, y);
  padContext.lineTo(x + 0.1, y);
  padContext.stroke();
});
pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const [x, y] = padPoint(event);
  padContext.lineTo(x, y);
  padContext.stroke();
});
pad.addEventListener("pointerup", () => {
  if (!drawing) return;
  drawing = false;
  predictDrawing();
});

// --- the drawing as MNIST sees digits: ink box scaled into 20x20, centre of mass at the centre ---
function inkBox(pixels, width, height) {
  let left = width, right = -1, top = height, bottom = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (pixels[(y * width + x) * 4] > 0) {
        left = Math.min(left, x); right = Math.max(right, x);
        top = Math.min(top, y); bottom = Math.max(bottom, y);
      }
    }
  }
  return right < 0 ? null : { x: left, y: top, w: right - left + 1, h: bottom - top + 1 };
}

function drawingAsMnist() {
  const box = inkBox(padContext.getImageData(0, 0, pad.width, pad.height).data, pad.width, pad.height);
  if (!box) return null;
  const scale = BOX / Math.max(box.w, box.h);
  const w = box.w * scale, h = box.h * scale;
  const place = (dx, dy) => {
    seenContext.fillStyle = "#000";
    seenContext.fillRect(0, 0, SIDE, SIDE);
    seenContext.imageSmoothingQuality = "high";
    seenContext.drawImage(pad, box.x, box.y, box.w, box.h, (SIDE - w) / 2 + dx, (SIDE - h) / 2 + dy, w, h);
    return greyPixels();
  };
  const [cx, cy] = centreOfMass(place(0, 0));
  return place(SIDE / 2 - cx, SIDE / 2 - cy);
}

function greyPixels() {
  const rgba = seenContext.getImageData(0, 0, SIDE, SIDE).data;
  return Array.from({ length: SIDE * SIDE }, (_, i) => rgba[i * 4]);
}

function centreOfMass(pixels) {
  let total = 0, sx = 0, sy = 0;
  pixels.forEach((value, i) => { total += value; sx += value * (i % SIDE + 0.5); sy += value * (Math.floor(i / SIDE) + 0.5); });
  return total ? [sx / total, sy / total] : [SIDE / 2, SIDE / 2];
}

function predictDrawing() {
  const pixels = drawingAsMnist();
  if (pixels) predict(JSON.stringify({ pixels }), "application/json");
}

// --- uploads: the PNG goes to the agent as it is ------------------------------------
async function predictFile(file) {
  if (!file) return;
  try {
    const bitmap = await createImageBitmap(file);
    clearPad();
    padContext.imageSmoothingEnabled = false;
    padContext.drawImage(bitmap, 0, 0, pad.width, pad.height);
    seenContext.drawImage(bitmap, 0, 0, SIDE, SIDE);
  } catch (error) {
    clearPad(); // not an image the browser can show: the agent will say why
  }
  predict(file, file.type || "application/octet-stream");
}
$("file").addEventListener("change", (event) => predictFile(event.target.files[0]));
pad.addEventListener("dragover", (event) => { event.preventDefault(); pad.classList.add("over"); });
pad.addEventListener("dragleave", () => pad.classList.remove("over"));
pad.addEventListener("drop", (event) => {
  event.preventDefault();
  pad.classList.remove("over");
  predictFile(event.dataTransfer.files[0]);
});
$("clear").addEventListener("click", () => {
  clearPad();
  $("file").value = "";
  $("digit").textContent = "–";
  showProbabilities(null);
  $("error").textContent = "";
});

// --- the API -----------------------------------------------------------------
async function predict(body, contentType) {
  $("error").textContent = "";
  try {
    const response = await fetch("/predict", { method: "POST", headers: { "Content-Type": contentType }, body });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || response.statusText);
    $("digit").textContent = String(data.digit);
    $("digit").dataset.round = String(data.round);
    showProbabilities(data.probabilities);
    $("prediction-round").textContent = String(data.round);
    showDigest($("prediction-digest"), data.model_digest);
  } catch (error) {
    $("digit").textContent = "–";
    showProbabilities(null);
    $("error").textContent = `Prediction failed: ${error.message}`;
  }
}

function showProbabilities(probabilities) {
  const list = $("probabilities");
  list.replaceChildren();
  const values = probabilities || new Array(10).fill(0);
  const best = probabilities ? values.indexOf(Math.max(...values)) : -1;
  values.forEach((p, digit) => {
    const item = document.createElement("li");
    if (digit === best) item.className = "top";
    item.innerHTML = `<span class="label">${digit}</span><span class="track"><span class="fill"></span></span><span class="value"></span>`;
    item.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    item.querySelector(".fill").style.display = "block";
    item.querySelector(".value").textContent = probabilities ? `${(100 * p).toFixed(1)}%` : "";
    list.appendChild(item);
  });
}

function showDigest(element, digest) {
  element.textContent = digest ? `${digest.slice(0, 12)}…` : "–";
  element.title = digest || "";
}

async function refreshModel() {
  try {
    const model = await (await fetch("/model")).json();
    $("model-round").textContent = model.round ?? "none yet";
    $("model-period").textContent = model.period ?? "–";
    showDigest($("model-digest"), model.model_digest);
    const contributors = Object.keys(model.contributors || {});
    $("contributors").textContent = contributors.length ? contributors.map((a) => `${a.slice(0, 8)}…`).join(", ") : "–";
    plotAccuracy(model.accuracy_history || []);
  } catch (error) {
    $("model-round").textContent = "unreachable";
  }
}

async function refreshHealth() {
  try {
    const health = await (await fetch("/healthcheck")).json();
    const since = health.seconds_since_last_transition;
    $("health").textContent = `agent in ${health.current_round ?? "no round yet"}, period ${health.period ?? "–"}, ` +
      `${since == null ? "no transition yet" : `last transition ${since.toFixed(0)} s ago`}, ` +
      (health.is_healthy ? "healthy" : "not healthy");
  } catch (error) {
    $("health").textContent = "agent unreachable";
  }
}

// --- accuracy per round as an SVG line ---------------------------------------------
function plotAccuracy(history) {
  const svg = $("accuracy-chart");
  const [width, height, left, bottom, top, right] = [320, 180, 30, 20, 10, 10];
  const plotW = width - left - right, plotH = height - top - bottom;
  const rounds = history.map((h) => h.round);
  const minRound = Math.min(...rounds, 1), maxRound = Math.max(...rounds, minRound + 1);
  const x = (r) => left + ((r - minRound) / (maxRound - minRound)) * plotW;
  const y = (a) => top + (1 - a) * plotH;
  const parts = [`<line class="axis" x1="${left}" y1="${y(0)}" x2="${left + plotW}" y2="${y(0)}"/>`,
    `<line class="axis" x1="${left}" y1="${y(0)}" x2="${left}" y2="${y(1)}"/>`];
  [0, 0.5, 1].forEach((a) => parts.push(`<text x="2" y="${y(a) + 3}">${a.toFixed(1)}</text>`));
  const ticks = rounds.length && rounds.length <= MAX_ROUND_TICKS ? rounds : [minRound, maxRound];
  ticks.forEach((r) => parts.push(`<text x="${x(r) - 3}" y="${height - 5}">${r}</text>`));
  if (history.length) {
    const points = history.map((h) => `${x(h.round).toFixed(1)},${y(h.validation_accuracy).toFixed(1)}`);
    parts.push(`<polyline class="line" points="${points.join(" ")}"/>`);
    history.forEach((h) => parts.push(`<circle cx="${x(h.round)}" cy="${y(h.validation_accuracy)}" r="3"><title>round ${h.round}: ${(100 * h.validation_accuracy).toFixed(1)}%</title></circle>`));
  } else {
    parts.push(`<text x="${left + 10}" y="${top + plotH / 2}">no accepted round yet</text>`);
  }
  svg.innerHTML = parts.join("");
  svg.dataset.points = String(history.length);
}

padContext.strokeStyle = "#fff";
padContext.lineWidth = STROKE;
padContext.lineCap = "round";
padContext.lineJoin = "round";
clearPad();
showProbabilities(null);
refreshModel();
refreshHealth();
setInterval(refreshModel, REFRESH_MS);
setInterval(refreshHealth, REFRESH_MS);
