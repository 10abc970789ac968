// Camera access and frame capture: getUserMedia, a canvas, JPEG at quality 0.7 with the
// longest side at most 640 px. Errors become messages a student can act on.

export const JPEG_QUALITY = 0.7;
export const MAX_SIDE_PX = 640;

export class CameraError extends Error {}

export function cameraErrorMessage(error) {
  switch (error && error.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Camera access was denied. Allow the camera for this site in your browser's " +
        "address bar or settings, then reload the page.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera was found. Connect a webcam, then reload the page.";
    case "NotReadableError":
    case "AbortError":
      return "The camera is in use by another application (a video call?). Close it, " +
        "then reload the page.";
    default:
      return `The camera could not be started (${error && error.name ? error.name : error}).`;
  }
}

export async function startCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new CameraError("This browser cannot use a camera here (a secure https page is needed).");
  }
  try {
    return await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false,
    });
  } catch (error) {
    throw new CameraError(cameraErrorMessage(error));
  }
}

export class FrameGrabber {
  constructor(stream) {
    this.video = document.createElement("video");
    this.video.muted = true;
    this.video.playsInline = true;
    this.video.srcObject = stream;
    this.canvas = document.createElement("canvas");
  }

  async ready() {
    await this.video.play();
    if (!this.video.videoWidth) {
      await new Promise((resolve) => { this.video.onloadedmetadata = resolve; });
    }
  }

  // One JPEG frame as an ArrayBuffer, or null if the video has no picture yet.
  async grab() {
    const { videoWidth: width, videoHeight: height } = this.video;
    if (!width || !height) return null;
    const scale = Math.min(1, MAX_SIDE_PX / Math.max(width, height));
    this.canvas.width = Math.round(width * scale);
    this.canvas.height = Math.round(height * scale);
    this.canvas.getContext("2d").drawImage(this.video, 0, 0, this.canvas.width, this.canvas.height);
    const blob = await new Promise((resolve) => {
      this.canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY);
    });
    return blob ? blob.arrayBuffer() : null;
  }
}

// Voice activity only: the level of the microphone is measured here, in the page, and
// only "speaking or not" once a second leaves it. No audio is ever sent or stored.
export async function startVoiceActivity(onActivity) {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  let noiseFloor = 0.01;
  let loudTicks = 0;
  let ticks = 0;
  setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    const rms = Math.sqrt(sum / samples.length);
    // Track the room's noise floor slowly; speech is well above it.
    noiseFloor = 0.995 * noiseFloor + 0.005 * Math.min(rms, noiseFloor * 2);
    if (rms > Math.max(0.02, noiseFloor * 3)) loudTicks += 1;
    ticks += 1;
    if (ticks === 10) {
      onActivity(loudTicks >= 3);
      ticks = 0;
      loudTicks = 0;
    }
  }, 100);
  return stream;
}
