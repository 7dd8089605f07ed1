// synesthete's page: plain JavaScript over the JSON API (/api). No build step, no network beyond this server.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { info: null, token: null, seeds: [], playlist: [], queue: [], map: null, asked: null };

// ---- talking to the server ----------------------------------------------------------------------
function initToken() {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get("token");
  if (fromUrl) {
    localStorage.setItem("synesthete-token", fromUrl);
    url.searchParams.delete("token");
    history.replaceState(null, "", url);  // keep the token out of the address bar and history
  }
  state.token = fromUrl || localStorage.getItem("synesthete-token");
}

function withToken(path) {
  if (!state.token) return path;
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(state.token);
}

class ApiError extends Error {}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.token) headers["Authorization"] = "Bearer " + state.token;
  let response;
  try {
    response = await fetch(path, Object.assign({}, options, { headers }));
  } catch (e) {
    throw new ApiError("the server does not answer (is `synesthete serve` still running?)");
  }
  if (response.status === 401) {  // say it for a person, not as the API's own words about headers
    $("#token-form").hidden = false;
    $("#token-input").focus();
    throw new ApiError(state.token
      ? "That token is not this server's: enter the one it was started with."
      : "This server is protected by a token: enter it below.");
  }
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const body = await response.json();
      detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch (e) { /* not JSON */ }
    throw new ApiError(`${detail} (HTTP ${response.status})`);
  }
  return response.json();
}

function queryString(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (Array.isArray(value)) value.forEach((v) => q.append(key, v));
    else if (value !== null && value !== undefined && value !== "") q.append(key, value);
  }
  return q.toString();
}

function dissimilarMode() {
  return $("#mode").value === "dissimilar";
}

function options({ similarOnly = false } = {}) {
  return {
    k: Math.max(1, Math.min(100, parseInt($("#k").value, 10) || 10)),
    model: $("#model").value || null,
    dissimilar: dissimilarMode() && !similarOnly ? "true" : null,
  };
}

// ---- messages -----------------------------------------------------------------------------------
function say(text, isError = false) {
  const el = $("#message");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

function label(t) {
  return [t.artist, t.title].filter(Boolean).join(" - ") || (t.path || "").split("/").pop();
}

// ---- playing ------------------------------------------------------------------------------------
function play(track, queue = []) {
  const player = $("#player");
  state.queue = queue;
  state.played = [...(state.played || []), track].slice(-50);
  player.src = withToken(`/api/tracks/${track.track_id}/audio`);
  player.dataset.trackId = track.track_id;
  $("#now-playing").textContent = "▶ " + label(track);
  const cover = $("#cover");  // the file's own artwork, or cover.jpg beside it; hidden when there is none
  cover.hidden = true;
  cover.onload = () => { cover.hidden = false; };
  cover.onerror = () => { cover.hidden = true; };
  cover.src = withToken(`/api/tracks/${track.track_id}/cover`);
  document.querySelectorAll("li.playing").forEach((li) => li.classList.remove("playing"));
  document.querySelectorAll(`li[data-id="${track.track_id}"]`).forEach((li) => li.classList.add("playing"));
  player.play().catch((e) => say(`cannot play ${label(track)}: ${e.message}`, true));
  renderQueue();
  refillQueue();
}

function playNextInQueue() {
  const next = state.queue.shift();
  if (next) play(next, state.queue);
}

function renderQueue() {
  $("#queue").replaceChildren(...state.queue.map((t, i) => {
    const li = trackItem(t, { rank: i + 1 });
    // Play from here: what came before it leaves the queue.
    li.querySelector(".play").replaceWith(button("▶", `Play ${label(t)}`, () => play(t, state.queue.slice(i + 1)), "play"));
    return li;
  }));
  $("#queue-count").textContent = state.queue.length;
  $("#next").disabled = !state.queue.length;
}

// Endless radio: when the queue runs low, a radio from the last tracks played refills it.
let refilling = false;
async function refillQueue() {
  if (!$("#endless").checked || refilling || state.queue.length > 1 || !(state.info && state.info.features.radio)) return;
  refilling = true;
  try {
    const seeds = state.played.slice(-3).map((t) => t.track_id);
    const doc = await api("/api/playlists/radio?" + queryString({ seed: seeds, n: 10, model: options().model }));
    const seen = new Set([...state.played, ...state.queue].map((t) => t.track_id));
    state.queue.push(...doc.tracks.filter((t) => !seen.has(t.track_id)));
    renderQueue();
  } catch (e) {
    say(`endless radio: ${e.message}`, true);
  } finally {
    refilling = false;
  }
}

// ---- track lists --------------------------------------------------------------------------------
function button(text, title, onClick, cls = "") {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.title = title;
  b.setAttribute("aria-label", title);
  if (cls) b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

function trackItem(t, { rank = null, score = null, pick = null } = {}) {
  const li = document.createElement("li");
  li.dataset.id = t.track_id;
  li.dataset.label = label(t);
  if (rank !== null) {
    const r = document.createElement("span");
    r.className = "rank";
    r.textContent = rank;
    li.append(r);
  }
  li.append(button("▶", `Play ${label(t)}`, () => play(t), "play"));
  const info = document.createElement(pick ? "button" : "div");
  info.className = pick ? "info pick" : "info";
  if (pick) {
    info.type = "button";
    info.title = `What sounds like ${label(t)}?`;
    info.addEventListener("click", () => pick(t));
  }
  const title = document.createElement("span");
  title.className = "title";
  title.textContent = t.title || (t.path || "").split("/").pop();
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = [t.artist, t.album, t.genre].filter(Boolean).join(" · ");
  info.append(title, meta);
  if (t.explanation) {
    const why = document.createElement("span");
    why.className = "why";
    why.textContent = t.explanation.words;
    info.append(why);
  }
  li.append(info);
  if (score !== null) {
    const s = document.createElement("span");
    s.className = "score";
    const meter = document.createElement("meter");
    meter.min = -1; meter.max = 1; meter.value = score;
    const num = document.createElement("span");
    num.textContent = (score >= 0 ? "+" : "") + score.toFixed(3);
    s.append(meter, num);
    s.title = "cosine similarity, from -1 to 1";
    li.append(s);
  }
  const actions = document.createElement("span");
  actions.className = "actions";
  if (!pick) actions.append(button("≈", `More like ${label(t)}`, () => similarTo(t, { similarOnly: true }), "quiet"));
  if (playlistsEnabled()) actions.append(button("+", `Add ${label(t)} to the playlist seeds`, () => addSeed(t), "quiet"));
  if (actions.childElementCount) li.append(actions);
  return li;
}

function showResults(doc, heading, dissimilar) {
  $("#results-title").textContent = heading;
  const list = $("#results");
  list.replaceChildren(
    ...doc.results.map((m, i) => trackItem(m, { rank: i + 1, score: m.score }))
  );
  const word = dissimilar ? "least like" : "like";
  say(doc.results.length ? `${doc.results.length} tracks ${word} it · model ${doc.model}` : "no results");
}

// The track asked about can be played from the results' heading.
function showQueryPlay(track) {
  const b = $("#play-query");
  b.hidden = !track;
  if (!track) return;
  b.title = `Play ${label(track)}`;
  b.setAttribute("aria-label", b.title);
  b.onclick = () => play(track);
}

// Results land below the fold on a phone (and behind the player): bring them into view, and focus them.
function revealResults() {
  const panel = $("#results-panel");
  panel.scrollIntoView({ block: "start", behavior: "smooth" });
  panel.focus({ preventScroll: true });
}

// Changing Show, Model or How many asks the current question again.
function askAgain() {
  const asked = state.asked;
  if (!asked) return;
  if (asked.track) similarTo(asked.track);
  else similarToBlob(asked.blob, asked.name);
}

// ---- asking -------------------------------------------------------------------------------------
// similarOnly: the "≈" (more like this) buttons ask for the most similar whatever Show says.
async function similarTo(track, { similarOnly = false } = {}) {
  const dissimilar = dissimilarMode() && !similarOnly;
  state.asked = { track };
  showQueryPlay(track);
  const word = dissimilar ? "Least like" : "Sounds like";
  $("#results-title").textContent = `${word}: ${label(track)}`;
  $("#identified").replaceChildren();
  say(`Looking for what ${dissimilar ? "sounds least like" : "sounds like"} ${label(track)}…`);
  try {
    const explain = (state.info && state.info.features.explain) ? "true" : null;
    const query = { ...options({ similarOnly }), explain };
    const doc = await api(`/api/tracks/${track.track_id}/similar?` + queryString(query));
    showResults(doc, `${word}: ${label(doc.query)}`, dissimilar);
    revealResults();
  } catch (e) {
    $("#results").replaceChildren();
    say(e.message, true);
  }
}

async function similarToBlob(blob, name) {
  const form = new FormData();
  form.append("file", blob, name);
  state.asked = { blob, name };
  showQueryPlay(null);
  const dissimilar = dissimilarMode();
  const word = dissimilar ? "Least like" : "Sounds like";
  // The heading names this file from the start, so an error is never shown under an earlier answer's.
  $("#results-title").textContent = `${word}: ${name}`;
  say(`Analysing ${name}…`);
  $("#results").replaceChildren();
  const identified = identify(blob, name);
  try {
    const doc = await api("/api/similar?" + queryString(options()), { method: "POST", body: form });
    // A recording of a catalogued track: that track is the recording itself, not something like it.
    const match = await identified;
    if (match) doc.results = doc.results.filter((r) => r.track_id !== match.track_id);
    showResults(doc, `${word}: ${name}`, dissimilar);
    revealResults();
  } catch (e) {
    say(`${name}: ${e.message}`, true);
    revealResults();
  }
}

// Which catalogued track the file is a recording of (shown above the results), or null.
async function identify(blob, name) {
  const out = $("#identified");
  out.replaceChildren();
  if (!(state.info && state.info.features.identify)) return null;
  const form = new FormData();
  form.append("file", blob, name);
  try {
    const doc = await api("/api/identify", { method: "POST", body: form });
    if (!doc.match) {
      out.textContent = "Not a recording of any track in the library.";
      return null;
    }
    const m = doc.match;
    const text = document.createElement("span");
    const at = m.offset_s ? ` from ${Math.floor(m.offset_s / 60)}:${String(Math.floor(m.offset_s % 60)).padStart(2, "0")}` : "";
    const sure = m.confidence !== undefined ? ` (confidence ${Math.round(100 * m.confidence)} %)` : "";
    text.textContent = `This is ${label(m)}${at}${sure}. `;
    out.append(text, button("▶", `Play ${label(m)}`, () => play(m)));
    return m;
  } catch (e) {
    out.textContent = "";  // the similarity answer already says what went wrong with the file
    return null;
  }
}

// ---- search -------------------------------------------------------------------------------------
let searchTimer = null;
let searchSeq = 0;

async function runSearch() {
  const text = $("#search").value.trim();
  const seq = ++searchSeq;
  const list = $("#search-results");
  if (!text) { list.replaceChildren(); return; }
  try {
    const doc = await api("/api/tracks?" + queryString({ search: text, limit: 20 }));
    if (seq !== searchSeq) return;  // a newer keystroke already asked
    if (!doc.tracks.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = `nothing matches "${text}"`;
      list.replaceChildren(li);
      return;
    }
    list.replaceChildren(...doc.tracks.map((t) => trackItem(t, { pick: similarTo })));
  } catch (e) {
    say(e.message, true);
  }
}

function setupSearch() {
  const input = $("#search");
  input.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, 120);
  });
  input.addEventListener("keydown", (e) => {
    const first = $("#search-results .pick");
    if (e.key === "ArrowDown" && first) { e.preventDefault(); first.focus(); }
    if (e.key === "Enter") {
      e.preventDefault();
      clearTimeout(searchTimer);
      runSearch().then(() => { const p = $("#search-results .pick"); if (p) p.click(); });
    }
  });
  $("#search-results").addEventListener("keydown", (e) => {
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
    const picks = [...document.querySelectorAll("#search-results .pick")];
    const i = picks.indexOf(document.activeElement);
    if (i < 0) return;
    e.preventDefault();
    if (e.key === "ArrowUp" && i === 0) input.focus();
    else picks[Math.max(0, Math.min(picks.length - 1, i + (e.key === "ArrowDown" ? 1 : -1)))].focus();
  });
  document.addEventListener("keydown", (e) => {
    const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName);
    if (e.key === "/" && !typing) { e.preventDefault(); input.focus(); }
  });
}

// ---- upload -------------------------------------------------------------------------------------
function setupUpload() {
  const drop = $("#drop");
  const file = $("#file");
  file.addEventListener("change", () => {
    if (file.files.length) similarToBlob(file.files[0], file.files[0].name);
    file.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    const f = e.dataTransfer.files[0];
    if (f) similarToBlob(f, f.name);
  });
}

// ---- microphone ---------------------------------------------------------------------------------
const MIN_RECORD_SECONDS = 5;
const recorder = { media: null, chunks: [], started: 0, timer: null, stream: null, note: "" };

function extensionFor(mime) {
  if (mime.includes("ogg")) return "ogg";
  if (mime.includes("mp4")) return "m4a";
  if (mime.includes("wav")) return "wav";
  return "webm";
}

async function startRecording() {
  const status = $("#record-status");
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    status.textContent = "This browser cannot record (it needs MediaRecorder, and https or localhost).";
    return;
  }
  try {
    recorder.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (e) {
    status.textContent = `No microphone: ${e.message}`;
    return;
  }
  const seconds = parseInt($("#record-seconds").value, 10);
  recorder.chunks = [];
  recorder.media = new MediaRecorder(recorder.stream);
  recorder.media.addEventListener("dataavailable", (e) => { if (e.data.size) recorder.chunks.push(e.data); });
  recorder.media.addEventListener("stop", finishRecording);
  recorder.media.start(250);
  recorder.started = performance.now();
  const btn = $("#record");
  btn.setAttribute("aria-pressed", "true");
  btn.textContent = "■ Stop";
  recorder.note = "";
  recorder.timer = setInterval(() => {
    const elapsed = (performance.now() - recorder.started) / 1000;
    // The ticking count keeps any note (such as why Stop did not stop yet) beside it.
    status.textContent = `Recording… ${Math.floor(elapsed)} / ${seconds} s` + (recorder.note ? ` · ${recorder.note}` : "");
    if (elapsed >= seconds) stopRecording();
  }, 200);
}

function stopRecording() {
  const elapsed = (performance.now() - recorder.started) / 1000;
  if (elapsed < MIN_RECORD_SECONDS) {
    recorder.note = `keep going: at least ${MIN_RECORD_SECONDS} s are needed, then press Stop again`;
    $("#record-status").textContent = `Recording… ${Math.floor(elapsed)} s · ${recorder.note}`;
    return;
  }
  clearInterval(recorder.timer);
  if (recorder.media && recorder.media.state !== "inactive") recorder.media.stop();
}

function finishRecording() {
  recorder.stream.getTracks().forEach((t) => t.stop());
  const btn = $("#record");
  btn.setAttribute("aria-pressed", "false");
  btn.textContent = "● Record";
  const mime = recorder.media.mimeType || "audio/webm";
  const blob = new Blob(recorder.chunks, { type: mime });
  const seconds = ((performance.now() - recorder.started) / 1000).toFixed(0);
  $("#record-status").textContent = `Recorded ${seconds} s.`;
  similarToBlob(blob, `recording.${extensionFor(mime)}`);
}

function setupRecorder() {
  $("#record").addEventListener("click", () => {
    if (recorder.media && recorder.media.state === "recording") stopRecording();
    else startRecording();
  });
}

// ---- playlists ----------------------------------------------------------------------------------
function playlistsEnabled() {
  const f = (state.info && state.info.features) || {};
  return Boolean(f.radio || f.journey);
}

function addSeed(t) {
  if (!state.seeds.some((s) => s.track_id === t.track_id)) state.seeds.push(t);
  renderSeeds();
}

function renderSeeds() {
  const list = $("#seeds");
  list.replaceChildren(...state.seeds.map((t, i) => {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = (i === 0 ? "from: " : i === 1 ? "to: " : "") + label(t);
    li.append(name, button("×", `Remove ${label(t)}`, () => {
      state.seeds = state.seeds.filter((s) => s.track_id !== t.track_id);
      renderSeeds();
    }, "quiet"));
    return li;
  }));
  const f = state.info.features;
  $("#radio").disabled = !f.radio || state.seeds.length < 1;
  $("#journey").disabled = !f.journey || state.seeds.length < 2;
}

async function buildPlaylist(kind) {
  const n = parseInt($("#playlist-n").value, 10) || 12;
  const ids = state.seeds.map((s) => s.track_id);
  const params = kind === "radio"
    ? { seed: ids, n, model: options().model }
    : { start: ids[0], end: ids[1], n, model: options().model };
  const path = `/api/playlists/${kind}?` + queryString(params);
  try {
    const doc = await api(path);
    state.playlist = doc.tracks;
    $("#playlist").replaceChildren(
      ...doc.tracks.map((t, i) => trackItem(t, { rank: i + 1, score: t.score ?? null }))
    );
    const notes = [`${doc.tracks.length} tracks · model ${doc.model}`];
    if (doc.smoothness) {
      notes.push(`steps: mean ${doc.smoothness.mean_step.toFixed(2)}, largest ${doc.smoothness.max_step.toFixed(2)} (smaller is smoother)`);
    }
    sayPlaylist([...notes, ...(doc.warnings || [])].join(" · "));
    // A file to share: with a token, a signed link (the file holds signed links too), never the token.
    const m3u = $("#m3u");
    const to = path + "&format=m3u8";
    m3u.href = state.token ? (await api("/api/link?" + queryString({ to }))).url : to;
    m3u.hidden = false;
    $("#play-all").hidden = !doc.tracks.length;
  } catch (e) {
    // Said where it was asked; the playlist shown before stays as it was.
    sayPlaylist(`${kind}: ${e.message}`, true);
  }
}

function sayPlaylist(text, isError = false) {
  const el = $("#playlist-message");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

function setupPlaylists() {
  if (!playlistsEnabled()) return;
  $("#playlist-panel").hidden = false;
  $("#radio").addEventListener("click", () => buildPlaylist("radio"));
  $("#journey").addEventListener("click", () => buildPlaylist("journey"));
  $("#play-all").addEventListener("click", () => {
    const [first, ...rest] = state.playlist;
    if (first) play(first, rest);
  });
  renderSeeds();
}

// ---- map ----------------------------------------------------------------------------------------
function loadPlotly() {
  if (window.Plotly) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = "/vendor/plotly.min.js";
    s.onload = resolve;
    s.onerror = () => reject(new Error("plotly.js is missing on the server (pip install plotly)"));
    document.head.append(s);
  });
}

const PALETTE = ["#5b3cc4", "#e4572e", "#17bebb", "#ffc914", "#76b041", "#d1495b", "#2e86ab", "#a23b72",
  "#f18f01", "#3b1f2b", "#6a994e", "#bc4749", "#00798c", "#edae49", "#66a182", "#8d96a3"];

async function showMap() {
  const msg = $("#map-message");
  const method = $("#map-method").value;
  msg.classList.remove("error");
  msg.textContent = "Projecting the library… (the first " + method.toUpperCase() + " map of a library takes a while; it is kept)";
  try {
    await loadPlotly();
    const dims = parseInt($("#map-dims").value, 10);
    const clusters = $("#map-color").value === "cluster" ? "true" : null;
    const doc = await api("/api/map?" + queryString({ method, dims, model: options().model, clusters }));
    state.map = { points: doc.points, dims, axes: doc.axes || [], selected: null, clusters: Boolean(clusters) };
    const genres = [...new Set(doc.points.map((p) => p.genre || "unknown"))].sort();
    // an untagged collection is coloured by folder, as the command line's map is
    if ($("#map-color").value === "genre" && !doc.points.some((p) => p.genre)) $("#map-color").value = "folder";
    $("#map-genre").replaceChildren(new Option("all", ""), ...genres.map((g) => new Option(g, g)));
    msg.textContent = `${doc.points.length} tracks · ${doc.method || ""} ${dims}D · click a point to play it`;
    drawMap();
  } catch (e) {
    msg.textContent = e.message;
    msg.classList.add("error");
  }
}

function visiblePoints() {
  const genre = $("#map-genre").value;
  return state.map.points.filter((p) => !genre || (p.genre || "unknown") === genre);
}

function distance(a, b) {
  const dz = state.map.dims === 3 ? (a.z - b.z) : 0;
  return Math.hypot(a.x - b.x, a.y - b.y, dz);
}

function mapExtent() {
  const pts = state.map.points;
  const span = (key) => Math.max(...pts.map((p) => p[key])) - Math.min(...pts.map((p) => p[key]));
  return Math.max(span("x"), span("y"), state.map.dims === 3 ? span("z") : 0) || 1;
}

// What a point is coloured by: a tag, the folder its file sits in (untagged collections are mostly
// organised by folder), or its sonic cluster; the same choices as `synesthete map --color-by`.
function colourKey(p, by) {
  if (by === "cluster") return p.cluster || "no cluster";
  if (by === "folder") return (p.path || "").split("/").slice(-2, -1)[0] || "/";
  if (by === "artist") return p.artist || "unknown";
  return p.genre || "unknown";
}

function drawMap() {
  const m = state.map;
  const colorBy = $("#map-color").value;
  const pts = visiblePoints();
  const groups = new Map();
  for (const p of pts) {
    const key = colourKey(p, colorBy);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(p);
  }
  const radius = parseFloat($("#map-radius").value) * mapExtent();
  const near = m.selected ? new Set(pts.filter((p) => distance(p, m.selected) <= radius).map((p) => p.track_id)) : null;
  // SVG in 2D, not WebGL: plotly's scattergl compiles code at run time, which the page's policy forbids.
  const kind = m.dims === 3 ? "scatter3d" : "scatter";
  const traces = [...groups.entries()].sort().map(([key, group], i) => {
    const trace = {
      type: kind, mode: "markers", name: key,
      x: group.map((p) => p.x), y: group.map((p) => p.y),
      customdata: group.map((p) => p.track_id),
      text: group.map((p) => label(p) + (p.genre ? ` [${p.genre}]` : "")),
      hoverinfo: "text",
      marker: {
        size: m.dims === 3 ? 5 : 10, color: PALETTE[i % PALETTE.length],
        opacity: near ? group.map((p) => (near.has(p.track_id) ? 1 : 0.15)) : 0.85,
      },
    };
    if (m.dims === 3) trace.z = group.map((p) => p.z);
    return trace;
  });
  if (m.selected) {
    const sel = { type: kind, mode: "markers", name: "selected", x: [m.selected.x], y: [m.selected.y],
      customdata: [m.selected.track_id], text: [label(m.selected)], hoverinfo: "text",
      marker: { size: m.dims === 3 ? 9 : 16, color: "rgba(0,0,0,0)", line: { color: "#f0a400", width: 3 } } };
    if (m.dims === 3) sel.z = [m.selected.z];
    traces.push(sel);
  }
  const dark = matchMedia("(prefers-color-scheme: dark)").matches;
  const layout = {
    margin: { l: 30, r: 10, t: 40, b: 30 }, showlegend: true, legend: { orientation: "h", x: 0, y: 1, yanchor: "bottom" },
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: dark ? "#ececf1" : "#1b1b22" },
    uirevision: "keep", autosize: true,
  };
  const axis = (i) => ({ title: { text: m.axes[i] || "" }, showticklabels: false, showgrid: false, zeroline: false });
  if (m.dims === 3) layout.scene = { xaxis: axis(0), yaxis: axis(1), zaxis: axis(2) };
  else Object.assign(layout, { xaxis: axis(0), yaxis: axis(1) });
  const el = $("#map");
  el.hidden = false;  // before drawing: plotly sizes the plot to its box, and a hidden box has none
  // On a phone the mode bar would sit on the legend; pinch and drag do its work there.
  const narrow = matchMedia("(max-width: 520px)").matches;
  Plotly.react(el, traces, layout, { responsive: true, displaylogo: false, displayModeBar: !narrow && "hover" });
  if (!el.dataset.bound) {
    el.dataset.bound = "1";
    bindMapEvents(el);
  }
}

function pointById(id) {
  return state.map.points.find((q) => q.track_id === id);
}

// Clicks in 2D come from plotly_click. In 3D plotly reports a click only if a render frame happens to see
// the button down over a point, so most clicks were lost: there the point under the pointer (from
// plotly_hover) is played on a click that did not drag the view around.
function bindMapEvents(el) {
  // The plot follows its box (window resizes, the panel's width, a phone turned), not only the window.
  new ResizeObserver(() => { if (el.data) Plotly.Plots.resize(el); }).observe(el);
  el.on("plotly_click", (ev) => {
    const p = pointById(ev.points[0].customdata);
    if (p && !(state.map.dims === 3 && state.map.selected === p)) selectPoint(p);
  });
  el.on("plotly_hover", (ev) => { el.dataset.hovered = ev.points[0].customdata; });
  el.on("plotly_unhover", () => { delete el.dataset.hovered; });
  let down = null;
  el.addEventListener("pointerdown", (e) => { down = [e.clientX, e.clientY]; });
  el.addEventListener("click", (e) => {
    if (state.map.dims !== 3 || !down || !el.dataset.hovered) return;
    if (Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 5) return;  // a drag turned the view
    const p = pointById(Number(el.dataset.hovered));
    if (p && state.map.selected !== p) selectPoint(p);
  });
}

function selectPoint(p) {
  state.map.selected = p;
  $("#map-selected").textContent = label(p) + (p.genre ? ` [${p.genre}]` : "");
  const closest = visiblePoints().filter((q) => q.track_id !== p.track_id)
    .sort((a, b) => distance(a, p) - distance(b, p)).slice(0, 3);
  $("#map-closest").replaceChildren(...closest.map((q, i) => trackItem(q, { rank: i + 1 })));
  play(p);
  drawMap();
}

function setupMap() {
  if (!(state.info.features || {}).map) return;
  $("#map-panel").hidden = false;
  $("#map-show").addEventListener("click", showMap);
  for (const id of ["#map-dims", "#map-method"]) $(id).addEventListener("change", () => state.map && showMap());
  $("#map-genre").addEventListener("change", () => state.map && drawMap());
  $("#map-color").addEventListener("change", () => {
    if (!state.map) return;
    if ($("#map-color").value === "cluster" && !state.map.clusters) showMap();
    else drawMap();
  });
  $("#map-radius").addEventListener("input", () => {
    $("#map-radius-value").textContent = $("#map-radius").value;
    if (state.map) drawMap();
  });
}

// ---- start --------------------------------------------------------------------------------------
async function start() {
  initToken();
  $("#token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.token = $("#token-input").value.trim();
    localStorage.setItem("synesthete-token", state.token);
    location.reload();
  });
  $("#player").addEventListener("ended", playNextInQueue);
  $("#next").addEventListener("click", playNextInQueue);
  $("#endless").addEventListener("change", refillQueue);
  $("#player").addEventListener("error", () => {
    const src = $("#player").currentSrc;
    if (src) say(`this browser cannot play that file (${$("#now-playing").textContent.slice(2)}): its format is not one it decodes`, true);
  });
  setupSearch();
  $("#mode").addEventListener("change", askAgain);
  $("#model").addEventListener("change", askAgain);
  $("#k").addEventListener("change", askAgain);
  setupUpload();
  setupRecorder();
  try {
    state.info = await api("/api/info");
    const status = await api("/api/status");
    $("#model").replaceChildren(...state.info.models.map((m) => new Option(m, m)));
    $("#library-status").textContent =
      `${status.tracks} tracks · default model ${status.default_model}` +
      (status.failed.length ? ` · ${status.failed.length} files could not be analysed` : "");
    setupPlaylists();
    setupMap();
  } catch (e) {
    $("#library-status").textContent = e.message;
    $("#library-status").classList.add("error");
  }
  document.body.dataset.ready = "1";
}

start();
