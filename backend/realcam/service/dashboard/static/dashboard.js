// The dashboard's script: polls /ui/api/state and draws the queue; cancels and deletes through the API.
// Every text that comes from a job is set with textContent, never as HTML: a bundle's names are the artist's.
// With a token set, the server answers 401 until the login form has sent it once (POST /ui/login, in the body);
// the browser then holds an HttpOnly session cookie this script never sees.
"use strict";

const POLL_MS = 1000;
const CONTROL = { "Content-Type": "application/json" }; // what the API wants on a cancel or a delete
const FINISHED = new Set(["done", "failed", "cancelled", "damaged"]);

const $ = (id) => document.getElementById(id);
const state = { jobs: new Map(), selected: null, lastOk: 0, timer: null, polling: false, again: false, loginShown: false, busy: new Set() };

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function when(t) {
  if (!t) return "";
  const d = new Date(t * 1000);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

function duration(s) {
  if (s === null || s === undefined || !isFinite(s)) return "";
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function device(d) {
  if (!d) return "";
  const name = d.name ? `${d.device} (${d.name})` : d.device || "";
  return d.count > 1 ? `${name} \u00d7${d.count}` : name;
}

function memory(d) {
  if (!d) return "";
  if (d.memory_gb) return `${d.memory_gb} GB`;
  if (d.cpus) return `${d.cpus} CPUs`;
  return "";
}

function shot(job) {
  const s = job.source || {};
  const parts = [s.scene, s.camera].filter(Boolean);
  return parts.length ? parts.join(" / ") : s.blend || "";
}

function showMessage(text) {
  const m = $("message");
  m.textContent = text || "";
  m.hidden = !text;
}

async function errorText(resp) {
  try {
    const body = await resp.json();
    if (body && body.error) return body.error;
  } catch (e) {
    /* not JSON */
  }
  return `the server answered ${resp.status}`;
}

// -- polling ------------------------------------------------------------------------------------------------
async function poll() {
  // One request at a time: a poll asked for while one is out (after a cancel, a login) follows it at once.
  clearTimeout(state.timer);
  if (state.polling) { state.again = true; return; }
  state.polling = true;
  try {
    const resp = await fetch("/ui/api/state", { cache: "no-cache", credentials: "same-origin" });
    if (resp.status === 401) {
      showLogin(true);
    } else if (resp.ok) {
      const body = await resp.json();
      showLogin(false);
      state.lastOk = Date.now();
      draw(body);
    } else {
      showMessage(await errorText(resp));
    }
  } catch (e) {
    /* the server is restarting or gone: the live label says so; keep trying */
  } finally {
    state.polling = false;
  }
  drawLive();
  if (state.again) { state.again = false; poll(); return; }
  state.timer = setTimeout(poll, POLL_MS);
}

function drawLive() {
  const live = $("live");
  const age = (Date.now() - state.lastOk) / 1000;
  const stale = !state.lastOk || age > 5;
  live.classList.toggle("stale", stale);
  live.textContent = !state.lastOk ? "not connected" : stale ? `no answer for ${duration(age)}` : "live";
}

// -- login --------------------------------------------------------------------------------------------------
function showLogin(show) {
  $("login").hidden = !show;
  $("jobs-section").hidden = show;
  if (show) {
    $("slots-section").hidden = true;
    $("detail").hidden = true;
    if (!state.loginShown) $("token").focus();
  }
  state.loginShown = show;
}

async function login(event) {
  event.preventDefault(); // never the form's own submit: the token must not end up in a URL
  const token = $("token").value;
  const button = $("login-button");
  button.disabled = true;
  $("login-error").textContent = "";
  try {
    const resp = await fetch("/ui/login", {
      method: "POST",
      headers: CONTROL,
      body: JSON.stringify({ token }),
      credentials: "same-origin",
    });
    if (resp.status === 204) {
      $("token").value = "";
      poll();
    } else {
      $("login-error").textContent = await errorText(resp);
    }
  } catch (e) {
    $("login-error").textContent = "the server cannot be reached";
  } finally {
    button.disabled = false;
  }
}

async function logout() {
  await fetch("/ui/logout", { method: "POST", headers: CONTROL, body: "{}", credentials: "same-origin" });
  state.jobs.clear();
  $("jobs").tBodies[0].replaceChildren();
  poll();
}

// -- the server and its slots -------------------------------------------------------------------------------
function draw(body) {
  const srv = body.server;
  const head = $("server");
  head.replaceChildren();
  const bits = [`v${srv.version}`];
  if (!srv.cluster) bits.push(device(srv.device));
  if (srv.loaded_model) bits.push(`model loaded: ${srv.loaded_model}`);
  head.append(el("span", null, bits.filter(Boolean).join(" \u00b7 ")));
  if (srv.worker && srv.worker.error) head.append(" \u00b7 ", el("span", "bad", srv.worker.error));
  $("logout").hidden = !(body.login && body.login.session);
  drawSlots(srv.slots);
  drawJobs(body.jobs, srv);
}

function drawSlots(slots) {
  $("slots-section").hidden = !slots;
  if (!slots) return;
  const rows = slots.map((s) => {
    const tr = el("tr");
    tr.dataset.slot = s.name || "";
    const job = el("td", "sub", s.job ? s.job.slice(0, 8) : "idle");
    if (s.job) job.title = s.job;
    tr.append(
      el("td", null, s.name),
      el("td", "sub", s.node),
      el("td", null, device(s.device)),
      el("td", "nowrap", memory(s.device)),
      el("td", null, s.model || "none"),
      job,
      el("td", s.answers ? null : "error", s.answers ? "yes" : "no")
    );
    return tr;
  });
  $("slots").tBodies[0].replaceChildren(...rows);
}

// -- jobs ---------------------------------------------------------------------------------------------------
function drawJobs(jobs, srv) {
  $("jobs-section").hidden = false;
  $("counts").textContent = `${srv.queued} queued, ${srv.running} running, ${jobs.length} in all`;
  $("no-jobs").hidden = jobs.length > 0;
  const tbody = $("jobs").tBodies[0];
  const seen = new Set();
  // Newest first: what a producer looks for is what was just submitted.
  const ordered = jobs.slice().sort((a, b) => b.seq - a.seq);
  let previous = null;
  for (const job of ordered) {
    seen.add(job.id);
    let row = state.jobs.get(job.id);
    if (!row) {
      row = makeRow(job);
      state.jobs.set(job.id, row);
    }
    updateRow(row, job, srv);
    const want = previous ? previous.tr.nextSibling : tbody.firstChild;
    if (want !== row.tr) tbody.insertBefore(row.tr, want);
    previous = row;
  }
  for (const [id, row] of state.jobs) {
    if (!seen.has(id)) {
      row.tr.remove();
      state.jobs.delete(id);
    }
  }
  if (state.selected && !state.jobs.has(state.selected)) select(null);
  else if (state.selected) drawDetail(state.jobs.get(state.selected).job);
}

function makeRow(job) {
  const tr = el("tr");
  tr.dataset.job = job.id;
  const cells = {};
  for (const name of ["preview", "take", "shot", "photo", "model", "state", "progress", "eta", "where", "created", "finished", "actions"]) {
    cells[name] = el("td", name === "preview" || name === "take" ? `thumb ${name}` : name);
    tr.append(cells[name]);
  }
  cells.created.classList.add("nowrap");
  cells.finished.classList.add("nowrap");
  const cancel = el("button", "cancel", "Cancel");
  cancel.type = "button";
  cancel.addEventListener("click", (e) => { e.stopPropagation(); act(job.id, "cancel"); });
  const del = el("button", "delete danger", "Delete");
  del.type = "button";
  del.addEventListener("click", (e) => { e.stopPropagation(); act(job.id, "delete"); });
  cells.actions.append(cancel, del);
  tr.addEventListener("click", () => select(job.id));
  return { tr, cells, cancel, del, job: null, posters: {} };
}

function poster(row, which, show) {
  // An image once there is one; a job's preview and finished take never change, so it is fetched once.
  const cell = row.cells[which];
  if (row.posters[which] === show) return;
  row.posters[which] = show;
  cell.replaceChildren();
  if (show) {
    const img = el("img");
    img.alt = `${which} of job ${row.tr.dataset.job.slice(0, 8)}`;
    img.loading = "lazy";
    img.src = `/ui/api/jobs/${row.tr.dataset.job}/poster/${which}`;
    cell.append(img);
  } else {
    cell.append(el("span", "none"));
  }
}

function updateRow(row, job, srv) {
  row.job = job;
  const c = row.cells;
  poster(row, "preview", job.has_preview);
  poster(row, "take", job.has_take);
  c.shot.textContent = shot(job);
  c.shot.title = job.prompt || "";
  c.photo.textContent = (job.source && job.source.photo) || "";
  c.model.textContent = job.model || "";
  const badge = el("span", `state ${job.state}`, job.state);
  c.state.replaceChildren(badge);
  if (job.state === "queued" && job.position !== undefined && job.position !== null) {
    c.state.append(el("div", "sub", `#${job.position + 1} in line`));
  }
  c.progress.replaceChildren();
  if (job.state === "running") {
    const bar = el("progress");
    bar.max = job.total || 1;
    if (job.step !== null && job.step !== undefined && job.total) bar.value = job.step;
    else bar.removeAttribute("value"); // indeterminate while loading or decoding
    const label = job.total && job.step !== null && job.step !== undefined
      ? `${job.stage} ${job.step}/${job.total}` : job.stage || "";
    c.progress.append(bar, el("div", "sub", label));
  } else if (job.state === "failed" || job.state === "damaged") {
    c.progress.append(el("span", "error", job.error || ""));
  } else if (job.note) {
    c.progress.append(el("span", "sub", job.note));
  }
  c.eta.textContent = job.state === "running" ? duration(job.eta_s) : "";
  c.where.textContent = job.worker ? [job.worker.slot, job.worker.node].filter(Boolean).join(" @ ")
    : job.state === "running" || job.state === "done" ? (srv.cluster ? "" : "this server") : "";
  c.created.textContent = when(job.created_at);
  c.finished.textContent = when(job.finished_at);
  const busy = state.busy.has(job.id);
  row.cancel.hidden = FINISHED.has(job.state);
  row.cancel.disabled = busy;
  row.del.disabled = busy;
  row.tr.classList.toggle("selected", state.selected === job.id);
}

async function act(id, what) {
  const row = state.jobs.get(id);
  const name = row && row.job ? shot(row.job) || id.slice(0, 8) : id.slice(0, 8);
  if (what === "delete" && !confirm(`Delete job ${name} and its take from the server?`)) return;
  state.busy.add(id);
  if (row) { row.cancel.disabled = true; row.del.disabled = true; }
  // A track (a clip's camera move) shares the queue but is answered for under /v1/tracks.
  const base = row && row.job && row.job.kind === "track" ? "/v1/tracks" : "/v1/jobs";
  try {
    const resp = what === "cancel"
      ? await fetch(`${base}/${id}/cancel`, { method: "POST", headers: CONTROL, body: "{}", credentials: "same-origin" })
      : await fetch(`${base}/${id}`, { method: "DELETE", headers: CONTROL, credentials: "same-origin" });
    if (!resp.ok) showMessage(`${what} failed: ${await errorText(resp)}`);
    else showMessage("");
  } catch (e) {
    showMessage(`${what} failed: the server cannot be reached`);
  } finally {
    state.busy.delete(id);
  }
  poll();
}

// -- one job in full ----------------------------------------------------------------------------------------
function select(id) {
  state.selected = id;
  for (const [jid, row] of state.jobs) row.tr.classList.toggle("selected", jid === id);
  const detail = $("detail");
  detail.dataset.job = "";
  detail.dataset.state = "";
  if (!id) { detail.hidden = true; detail.replaceChildren(); return; }
  drawDetail(state.jobs.get(id).job);
}

function drawDetail(job) {
  const detail = $("detail");
  // Drawn again only when the job's state moves on, so a take that is playing keeps playing.
  const key = `${job.state}|${job.stage}|${job.step}|${job.has_preview}|${job.has_take}`;
  if (detail.dataset.job === job.id && detail.dataset.key === key) return;
  const sameTake = detail.dataset.job === job.id && detail.dataset.state === job.state && job.has_take;
  detail.dataset.job = job.id;
  detail.dataset.key = key;
  detail.dataset.state = job.state;
  detail.hidden = false;
  let media = detail.querySelector(".media");
  if (!sameTake) {
    media = el("div", "media");
    if (job.has_preview) media.append(figure("img", `/ui/api/jobs/${job.id}/poster/preview`, "preview (Blender)"));
    if (job.has_take) {
      const video = el("video");
      video.controls = true;
      video.preload = "metadata";
      video.loop = true;
      video.poster = `/ui/api/jobs/${job.id}/poster/take`;
      video.src = `/v1/jobs/${job.id}/video`;
      media.append(figure(video, null, "take"));
    }
  }
  const fields = el("dl", "fields");
  const add = (k, v) => { if (v !== null && v !== undefined && v !== "") fields.append(el("dt", null, k), el("dd", null, v)); };
  const s = job.source || {};
  add("Job", job.id);
  add("State", job.stage && job.state === "running" ? `${job.state} (${job.stage})` : job.state);
  add("Shot", shot(job));
  add("Blend file", s.blend);
  add("Photo", s.photo);
  add("Model", job.model);
  add("Prompt", job.prompt);
  add("Frames", job.frames && `${job.frames} at ${job.width}\u00d7${job.height}, ${job.fps} fps`);
  add("Steps", job.steps);
  add("Seed", job.seed);
  add("Runs on", job.worker ? [job.worker.slot, job.worker.node].filter(Boolean).join(" @ ") : "");
  add("Attempts", job.attempts);
  add("Submitted", when(job.created_at));
  add("Started", when(job.started_at));
  add("Finished", when(job.finished_at));
  add("Error", job.error);
  add("Note", job.note);
  const title = el("h2", null, shot(job) || `Job ${job.id.slice(0, 8)}`);
  const close = el("button", null, "Close");
  close.type = "button";
  close.addEventListener("click", () => select(null));
  title.append(" ", close);
  detail.replaceChildren(title, media, fields);
}

function figure(what, src, caption) {
  const fig = el("figure");
  const media = typeof what === "string" ? el(what) : what;
  if (src) media.src = src;
  if (media.tagName === "IMG") media.alt = caption;
  fig.append(media, el("figcaption", null, caption));
  return fig;
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  setInterval(drawLive, 1000);
  poll();
});
