// The offline outbox: every message is written here (encrypted) before it is sent, and
// deleted only when the server acknowledges it, so nothing is lost to a dropped
// connection or a reload. Payloads are encrypted with AES-GCM under the session's key,
// which the server hands out with each ticket; the key itself is never stored here.

const DB_NAME = "proctor-outbox";
const DB_VERSION = 1;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

function openDb() {
  const req = indexedDB.open(DB_NAME, DB_VERSION);
  req.onupgradeneeded = () => {
    const db = req.result;
    const messages = db.createObjectStore("messages", { keyPath: ["session", "stream", "seq"] });
    messages.createIndex("by_session_time", ["session", "t"]);
    db.createObjectStore("counters", { keyPath: ["session", "stream"] });
  };
  return request(req);
}

function b64ToBytes(b64) {
  const raw = atob(b64);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

export class Outbox {
  static async open(sessionId, keyB64) {
    const key = await crypto.subtle.importKey(
      "raw", b64ToBytes(keyB64), { name: "AES-GCM" }, false, ["encrypt", "decrypt"],
    );
    return new Outbox(sessionId, key, await openDb());
  }

  constructor(sessionId, key, db) {
    this.sessionId = sessionId;
    this.key = key;
    this.db = db;
  }

  // After a reload with an empty counter (storage cleared), never reuse what the server holds.
  async atLeast(stream, seq) {
    const tx = this.db.transaction("counters", "readwrite");
    const store = tx.objectStore("counters");
    const row = (await request(store.get([this.sessionId, stream]))) || {
      session: this.sessionId, stream, last: 0,
    };
    if (row.last < seq) { row.last = seq; store.put(row); }
    await done(tx);
  }

  // Queue one message under the stream's next sequence number and return that number.
  // `body` is an ArrayBuffer (a frame) or a JSON-able object (an event). The number is
  // taken and the message stored in one transaction, so a reload can never leave a gap.
  async add(stream, t, body) {
    const isBinary = body instanceof ArrayBuffer;
    const plain = isBinary ? new Uint8Array(body) : new TextEncoder().encode(JSON.stringify(body));
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const data = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, this.key, plain);
    const tx = this.db.transaction(["counters", "messages"], "readwrite");
    const counters = tx.objectStore("counters");
    let seq = 0;
    const get = counters.get([this.sessionId, stream]);
    get.onsuccess = () => {
      const row = get.result || { session: this.sessionId, stream, last: 0 };
      row.last += 1;
      seq = row.last;
      counters.put(row);
      tx.objectStore("messages").put({
        session: this.sessionId, stream, seq, t, isBinary, iv, data,
      });
    };
    await done(tx);
    return seq;
  }

  async decrypt(row) {
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: row.iv }, this.key, row.data);
    return row.isBinary ? plain : JSON.parse(new TextDecoder().decode(plain));
  }

  // Up to `limit` queued messages, oldest capture first (metadata only; decrypt to send).
  async oldest(limit, skip = () => false) {
    const tx = this.db.transaction("messages", "readonly");
    const index = tx.objectStore("messages").index("by_session_time");
    const range = IDBKeyRange.bound([this.sessionId, -Infinity], [this.sessionId, Infinity]);
    const rows = [];
    await new Promise((resolve, reject) => {
      const req = index.openCursor(range);
      req.onerror = () => reject(req.error);
      req.onsuccess = () => {
        const cursor = req.result;
        if (!cursor || rows.length >= limit) { resolve(); return; }
        const row = cursor.value;
        if (!skip(row)) rows.push(row);
        cursor.continue();
      };
    });
    return rows;
  }

  async delete(stream, seq) {
    const tx = this.db.transaction("messages", "readwrite");
    tx.objectStore("messages").delete([this.sessionId, stream, seq]);
    await done(tx);
  }

  // Delete 1..seq of a stream (the server holds them all).
  async deleteUpTo(stream, seq) {
    if (seq < 1) return;
    const tx = this.db.transaction("messages", "readwrite");
    tx.objectStore("messages").delete(
      IDBKeyRange.bound([this.sessionId, stream, 0], [this.sessionId, stream, seq]),
    );
    await done(tx);
  }

  async count() {
    const tx = this.db.transaction("messages", "readonly");
    const index = tx.objectStore("messages").index("by_session_time");
    return request(index.count(IDBKeyRange.bound([this.sessionId, -Infinity], [this.sessionId, Infinity])));
  }
}
