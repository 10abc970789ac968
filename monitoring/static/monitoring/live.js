// Reviewers' live view: rows of in-progress sessions, updated over a WebSocket. The table
// is rendered by the server first, so the page works (by reloading) without this module.

const table = document.getElementById("live-sessions");
const status = document.getElementById("live-status");
const FIELDS = ["student", "exam", "is_connected", "face_count", "open_incidents",
  "last_frame_at", "frames", "buffered"];

function text(field, row) {
  const value = row[field];
  if (field === "is_connected") return value ? "online" : "offline";
  if (field === "open_incidents") return value.length ? value.join(", ") : "none";
  if (field === "face_count") return value === null ? "–" : String(value);
  if (field === "last_frame_at") return age(value);
  return String(value);
}

// "Last frame" as an age that ticks every second: the server pushes a row when faces or
// incidents change and otherwise only every few seconds, not for every frame.
function age(iso) {
  if (!iso) return "–";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 2) return "just now";
  if (seconds < 120) return `${seconds} s ago`;
  return `${Math.round(seconds / 60)} min ago`;
}

function tick() {
  for (const cell of table.querySelectorAll('td[data-field="last_frame_at"][data-at]')) {
    cell.textContent = age(cell.dataset.at);
  }
}

function upsert(row) {
  const body = table.tBodies[0];
  const empty = body.querySelector("tr.empty");
  if (empty) empty.remove();
  let tr = body.querySelector(`tr[data-session="${row.session}"]`);
  if (row.state !== "in_progress") { if (tr) tr.remove(); return; }
  if (!tr) {
    tr = document.createElement("tr");
    tr.dataset.session = row.session;
    for (const field of FIELDS) {
      const td = document.createElement("td");
      td.dataset.field = field;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  for (const field of FIELDS) tr.querySelector(`[data-field="${field}"]`).textContent = text(field, row);
  const last = tr.querySelector('[data-field="last_frame_at"]');
  if (row.last_frame_at) last.dataset.at = row.last_frame_at; else delete last.dataset.at;
  tr.dataset.openIncidents = row.open_incidents.join(",");
  tr.dataset.frames = String(row.frames);
}

let attempt = 0;
function connect() {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${window.location.host}${table.dataset.wsPath}`);
  ws.onopen = () => { attempt = 0; status.textContent = "Live: updates appear as they happen."; };
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "snapshot") message.rows.forEach(upsert);
    if (message.type === "update") upsert(message.row);
    table.dataset.updates = String(Number(table.dataset.updates || 0) + 1);
  };
  ws.onclose = (event) => {
    if (event.code === 4404 || event.code === 4411) { status.textContent = "Live updates stopped."; return; }
    status.textContent = "Live updates paused; reconnecting…";
    const delay = Math.random() * Math.min(15000, 500 * 2 ** attempt);
    attempt += 1;
    setTimeout(connect, delay);
  };
}

if (table) {
  for (const time of table.querySelectorAll('td[data-field="last_frame_at"] time[datetime]')) {
    if (time.dateTime) time.parentElement.dataset.at = time.dateTime;
  }
  tick();
  setInterval(tick, 1000);
  connect();
}
