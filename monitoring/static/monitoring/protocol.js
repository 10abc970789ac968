// The stream's wire format (docs/streaming.md): a 32-byte header, then the JPEG.
//   0 "PFR1" | 4 session UUID (16 bytes) | 20 seq uint32 BE | 24 capture ms float64 BE

const MAGIC = [0x50, 0x46, 0x52, 0x31]; // "PFR1"
export const HEADER_BYTES = 32;

export function uuidBytes(uuid) {
  const hex = uuid.replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`not a UUID: ${uuid}`);
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i += 1) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

export function encodeFrame(sessionId, seq, capturedMs, jpeg) {
  const image = new Uint8Array(jpeg);
  const buffer = new ArrayBuffer(HEADER_BYTES + image.byteLength);
  const view = new DataView(buffer);
  const bytes = new Uint8Array(buffer);
  bytes.set(MAGIC, 0);
  bytes.set(uuidBytes(sessionId), 4);
  view.setUint32(20, seq, false);
  view.setFloat64(24, capturedMs, false);
  bytes.set(image, HEADER_BYTES);
  return buffer;
}

export const CLOSE = {
  BAD_REQUEST: 4400,
  UNAUTHENTICATED: 4401,
  NOT_FOUND: 4404,
  AUTH_TIMEOUT: 4408,
  SESSION_ENDED: 4409,
  REPLACED: 4410,
  LOGGED_OUT: 4411,
  FLOOD: 4429,
};

// Closes after which reconnecting cannot help: the page says why and stops.
export const FINAL_CLOSES = new Set([
  CLOSE.NOT_FOUND, CLOSE.SESSION_ENDED, CLOSE.REPLACED, CLOSE.LOGGED_OUT,
]);
