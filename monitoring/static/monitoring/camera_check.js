// Camera check page: the local preview, and beside it the anonymized frame exactly as the
// server returns it (what reviewers will see). Nothing is stored during the check.

import { CameraError, FrameGrabber, startCamera } from "./capture.js";
import { StreamClient } from "./stream.js";

const root = document.getElementById("camera-check");
const status = document.getElementById("camera-status");
const preview = document.getElementById("camera-preview");
const anonymized = document.getElementById("anonymized-preview");

function say(text) { status.textContent = text; }

async function main() {
  const sessionId = root.dataset.session;
  let stream;
  try {
    stream = await startCamera();
  } catch (error) {
    say(error instanceof CameraError ? error.message : String(error));
    root.dataset.cameraState = "error";
    return;
  }
  preview.srcObject = stream;
  const grabber = new FrameGrabber(stream);
  await grabber.ready();
  say("Camera on. Connecting to show you the anonymized image…");
  let lastUrl = null;
  const client = new StreamClient({
    sessionId,
    purpose: "check",
    ticketUrl: root.dataset.ticketUrl || `/monitoring/sessions/${sessionId}/ticket/`,
    onStatus: ({ state, message }) => {
      if (state === "online") say("Camera on. The right-hand image is what reviewers see.");
      else if (message) say(message);
    },
    onPreview: (buffer) => {
      const url = URL.createObjectURL(new Blob([buffer], { type: "image/jpeg" }));
      anonymized.src = url;
      anonymized.hidden = false;
      root.dataset.previews = String(Number(root.dataset.previews || 0) + 1);
      if (lastUrl) URL.revokeObjectURL(lastUrl);
      lastUrl = url;
    },
  });
  await client.start();
  let seq = 0;
  const fps = Number(root.dataset.frameRate || 1);
  setInterval(async () => {
    const jpeg = await grabber.grab();
    if (jpeg) { seq += 1; client.sendPreview(seq, jpeg); }
  }, 1000 / fps);
  stream.getVideoTracks().forEach((track) => track.addEventListener("ended", () => {
    say("The camera stopped. Reconnect it and reload the page.");
  }));
}

if (root) main();
