// The student's stream socket: ticket, auth, send oldest-first from the outbox, acks,
// reconnects with exponential backoff and jitter. See docs/streaming.md.

import { CLOSE, FINAL_CLOSES, encodeFrame } from "./protocol.js";

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15000;
const MAX_UNACCEPTED = 8; // messages sent but not yet "accepted" by the broker
const RESEND_AFTER_MS = 20000; // accepted but never acked: send again (server dedups),
const RESEND_MAX_MS = 160000; // doubling each time, so a slow server is not flooded
const SYNC_RATE_PER_S = 10; // resends after a reconnect, well under the server's limit
const HEARTBEAT_MS = 5000;
const DEAD_AFTER_MS = 12000; // no message from the server this long: the socket is dead

function csrfToken() {
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  if (input) return input.value;
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function fetchTicket(ticketUrl, purpose) {
  const body = new URLSearchParams({ purpose });
  const response = await fetch(ticketUrl, {
    method: "POST",
    body,
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken() },
    cache: "no-store",
  });
  if (!response.ok) {
    const detail = await response.json().catch(() => ({}));
    const error = new Error(detail.error || `ticket request failed (${response.status})`);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

function wsUrl(path) {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}${path}`;
}

export class StreamClient {
  // options: sessionId, purpose ("check" | "exam"), ticketUrl, outbox (exam only),
  // onStatus({state, queued, message}), onPreview(ArrayBuffer), onTicket(ticketJson)
  constructor(options) {
    Object.assign(this, options);
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.ready = false;
    this.inFlight = new Map(); // "stream:seq" -> {sentAt, accepted}
    this.pumping = false;
    this.pausedUntil = 0;
    this.lastHeard = 0;
    this.queued = 0;
    this.syncing = false;
    window.addEventListener("offline", () => this.drop("offline"));
    window.addEventListener("online", () => { if (!this.ws) this.connectSoon(0); });
  }

  status(state, message = "") {
    if (this.onStatus) this.onStatus({ state, queued: this.queued, message });
  }

  // `ticket`: one already fetched (the page needed its outbox key first), or none.
  async start(ticket = null) {
    await this.connect(ticket);
  }

  stop(message) {
    this.stopped = true;
    if (this.ws) this.ws.close(1000);
    this.status("stopped", message);
  }

  connectSoon(delayMs) {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => { this.timer = null; this.connect(); }, delayMs);
  }

  backoff() {
    // Full jitter: a classroom of pages reconnecting after an outage spreads out.
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    this.attempt += 1;
    return Math.random() * cap;
  }

  drop(reason) {
    if (this.ws) {
      this.ws.close(4000, reason);
      this.onClosed({ code: 4000, reason });
    }
  }

  async connect(firstTicket = null) {
    if (this.stopped || this.ws) return;
    let ticket = firstTicket;
    try {
      ticket = ticket || await fetchTicket(this.ticketUrl, this.purpose);
    } catch (error) {
      if (error.status === 409 || error.status === 404 || error.status === 403) {
        this.stop(error.message);
        return;
      }
      this.status("offline", "No connection; your work is kept on this device.");
      this.connectSoon(this.backoff());
      return;
    }
    if (this.onTicket) await this.onTicket(ticket);
    const ws = new WebSocket(wsUrl(ticket.ws_path));
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.ready = false;
    ws.onopen = () => {
      this.lastHeard = Date.now();
      ws.send(JSON.stringify({
        type: "auth", session: this.sessionId, ticket: ticket.ticket, client_ms: Date.now(),
      }));
    };
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      if (typeof event.data !== "string") {
        if (this.onPreview) this.onPreview(event.data);
        return;
      }
      this.onMessage(JSON.parse(event.data));
    };
    ws.onclose = (event) => { if (ws === this.ws) this.onClosed(event); };
    this.heartbeat = this.heartbeat || setInterval(() => this.beat(), HEARTBEAT_MS);
  }

  beat() {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.lastHeard > DEAD_AFTER_MS) { this.drop("silent"); return; }
    ws.send(JSON.stringify({ type: "ping" }));
    if (this.ready && this.outbox) ws.send(JSON.stringify({ type: "status", buffered: this.queued }));
  }

  onClosed(event) {
    this.ws = null;
    this.ready = false;
    this.inFlight.clear();
    if (FINAL_CLOSES.has(event.code)) {
      this.stop(this.closingMessage || "The connection was closed.");
      return;
    }
    this.status("offline", "Connection lost; reconnecting. Your work is kept on this device.");
    this.connectSoon(this.backoff());
  }

  async onMessage(message) {
    switch (message.type) {
      case "ready":
        this.attempt = 0;
        this.ready = true;
        if (this.outbox) {
          // Everything up to the highest contiguous sequence is safe on the server.
          for (const stream of ["frame", "event"]) {
            await this.outbox.deleteUpTo(stream, message[stream] || 0);
            await this.outbox.atLeast(stream, message[stream] || 0);
          }
          await this.refreshCount();
          this.syncing = this.queued > 0;
        }
        this.status(this.syncing ? "syncing" : "online");
        this.pump();
        break;
      case "accepted": {
        const entry = this.inFlight.get(`${message.stream}:${message.seq}`);
        if (entry) entry.accepted = true;
        this.pump();
        break;
      }
      case "ack":
      case "reject":
        this.inFlight.delete(`${message.stream}:${message.seq}`);
        if (this.outbox && message.seq) await this.outbox.delete(message.stream, message.seq);
        await this.refreshCount();
        this.pump();
        break;
      case "error":
        if (message.seq) this.inFlight.delete(`${message.stream}:${message.seq}`);
        if (message.code === "rate_limited") this.pausedUntil = Date.now() + 1000;
        setTimeout(() => this.pump(), 1000);
        break;
      case "closing":
        this.closingMessage = message.message;
        break;
      default:
        break;
    }
  }

  async refreshCount() {
    if (!this.outbox) return;
    this.queued = await this.outbox.count();
    if (this.syncing && this.queued <= 1) this.syncing = false;
    const state = !this.ready ? "offline" : this.syncing ? "syncing" : "online";
    this.status(state);
  }

  // A new message was queued (or the camera check has a frame): send what may be sent.
  notify() {
    this.refreshCount().then(() => this.pump());
  }

  sendPreview(seq, jpeg) {
    if (this.ready && this.ws && this.ws.bufferedAmount < 256 * 1024) {
      this.ws.send(encodeFrame(this.sessionId, seq, Date.now(), jpeg));
    }
  }

  async pump() {
    if (this.pumping || !this.ready || !this.outbox) return;
    this.pumping = true;
    try {
      while (this.ready && this.ws && this.ws.readyState === WebSocket.OPEN) {
        const now = Date.now();
        if (now < this.pausedUntil) { setTimeout(() => this.pump(), this.pausedUntil - now); break; }
        const unaccepted = [...this.inFlight.values()].filter((e) => !e.accepted).length;
        if (unaccepted >= MAX_UNACCEPTED) break;
        const [row] = await this.outbox.oldest(1, (r) => {
          const entry = this.inFlight.get(`${r.stream}:${r.seq}`);
          return entry && now - entry.sentAt < entry.resendAfter;
        });
        if (!row) {
          // Check back for accepted-but-unacked messages that may need resending.
          if (this.inFlight.size && !this.resendTimer) {
            this.resendTimer = setTimeout(() => { this.resendTimer = null; this.pump(); },
              RESEND_AFTER_MS);
          }
          break;
        }
        const body = await this.outbox.decrypt(row);
        if (!this.ws || this.ws.readyState !== WebSocket.OPEN) break;
        this.ws.send(row.isBinary ? encodeFrame(this.sessionId, row.seq, row.t, body)
          : JSON.stringify({ ...body, type: "event", seq: row.seq, t: row.t }));
        const key = `${row.stream}:${row.seq}`;
        const previous = this.inFlight.get(key);
        this.inFlight.set(key, {
          sentAt: Date.now(),
          accepted: false,
          resendAfter: previous ? Math.min(RESEND_MAX_MS, previous.resendAfter * 2) : RESEND_AFTER_MS,
        });
        if (this.syncing) {
          // Resending a backlog: paced, oldest first.
          await new Promise((resolve) => { setTimeout(resolve, 1000 / SYNC_RATE_PER_S); });
        }
      }
    } finally {
      this.pumping = false;
    }
  }
}

export { CLOSE };
