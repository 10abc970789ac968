// The exam page: webcam frames at the exam's rate and browser events, each written to the
// encrypted outbox first and sent from there (stream.js), with a visible connection state.

import { CameraError, FrameGrabber, startCamera, startVoiceActivity } from "./capture.js";
import { Outbox } from "./outbox.js";
import { StreamClient, fetchTicket } from "./stream.js";

const root = document.getElementById("exam-session");
const indicator = document.getElementById("connection-status");

function show({ state, queued, message }) {
  root.dataset.streamState = state;
  root.dataset.queued = String(queued);
  indicator.dataset.state = state;
  if (state === "online") indicator.textContent = "Online: proctoring is active.";
  else if (state === "syncing") indicator.textContent = `Syncing: ${queued} left to send.`;
  else if (state === "offline") {
    indicator.textContent = `Buffering (${queued} queued): no connection, everything is kept on ` +
      "this device and sent when it returns.";
  } else indicator.textContent = message || "Proctoring has stopped.";
}

async function firstTicket(url) {
  // The outbox key comes with the ticket; keep trying until the server answers.
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await fetchTicket(url, "exam");
    } catch (error) {
      if (error.status && error.status < 500) throw error;
      show({ state: "offline", queued: 0 });
      await new Promise((resolve) => { setTimeout(resolve, Math.min(15000, 500 * 2 ** attempt)); });
    }
  }
}

async function main() {
  const sessionId = root.dataset.session;
  const ticketUrl = root.dataset.ticketUrl || `/monitoring/sessions/${sessionId}/ticket/`;
  const fps = Math.min(5, Math.max(1, Number(root.dataset.frameRate || 1)));
  let ticket;
  try {
    ticket = await firstTicket(ticketUrl);
  } catch (error) {
    show({ state: "stopped", queued: 0, message: error.message });
    return;
  }
  const outbox = await Outbox.open(sessionId, ticket.outbox_key);
  const client = new StreamClient({ sessionId, purpose: "exam", ticketUrl, outbox, onStatus: show });

  async function record(kind, detail = {}) {
    await outbox.add("event", Date.now(), { kind, detail });
    client.notify();
  }

  const navigation = performance.getEntriesByType("navigation")[0];
  if (navigation && navigation.type === "reload") await record("page_reload");
  client.start(ticket);

  document.addEventListener("visibilitychange", () => {
    record(document.visibilityState === "hidden" ? "tab_hidden" : "tab_visible");
  });
  window.addEventListener("blur", () => record("window_blur"));
  window.addEventListener("focus", () => record("window_focus"));
  let wasFullscreen = Boolean(document.fullscreenElement);
  document.addEventListener("fullscreenchange", () => {
    const isFullscreen = Boolean(document.fullscreenElement);
    if (wasFullscreen && !isFullscreen) record("fullscreen_exit");
    if (!wasFullscreen && isFullscreen) record("fullscreen_enter");
    wasFullscreen = isFullscreen;
  });
  for (const kind of ["copy", "cut", "paste"]) document.addEventListener(kind, () => record(kind));
  document.addEventListener("contextmenu", () => record("context_menu"));

  let camera;
  try {
    camera = await startCamera();
  } catch (error) {
    indicator.textContent = error instanceof CameraError ? error.message : String(error);
    await record("camera_ended", { reason: "unavailable" });
    return;
  }
  camera.getVideoTracks().forEach((track) => track.addEventListener("ended", () => {
    record("camera_ended");
  }));
  const grabber = new FrameGrabber(camera);
  await grabber.ready();
  setInterval(async () => {
    const jpeg = await grabber.grab();
    if (!jpeg) return;
    const seq = await outbox.add("frame", Date.now(), jpeg);
    root.dataset.captured = String(seq);
    client.notify();
  }, 1000 / fps);

  if (root.dataset.speech === "1") {
    try {
      await startVoiceActivity((active) => record("voice", { active }));
    } catch (error) {
      // The microphone is optional: the exam goes on without voice activity.
    }
  }
}

if (root) main();
