// The desk's cache in the browser: IndexedDB for what the desk knows (pairing, cursor, roster,
// today's check-ins, notices, pass keys, revocations, showings taken, the outbox) and Cache
// Storage for members' photos. One pairing's data only: pairing again deletes all of it.

const DB = "gymgate-desk";
const PHOTOS = "gymgate-desk-photos";
const STORES = ["meta", "roster", "cards", "notices", "outbox", "revocations", "seen"];
/** Accepted outbox items are kept this long: a restored server (a new history) gets them again. */
export const KEEP_ACCEPTED_MS = 30 * 86400 * 1000;

function promise(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("transaction aborted"));
  });
}

export class Store {
  static async open() {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore("meta");
      db.createObjectStore("roster", { keyPath: "id" });
      db.createObjectStore("cards", { keyPath: "checkin.id" });
      db.createObjectStore("notices", { keyPath: "id" });
      db.createObjectStore("outbox", { keyPath: "local_id" });
      db.createObjectStore("revocations", { keyPath: "member_id" });
      db.createObjectStore("seen", { keyPath: "fingerprint" });
    };
    const db = await promise(request);
    return new Store(db);
  }

  constructor(db) {
    this.db = db;
    // Another tab deleting the database (pairing again there) closes this one.
    db.onversionchange = () => db.close();
  }

  async get(store, key) {
    return promise(this.db.transaction(store).objectStore(store).get(key));
  }

  async all(store) {
    return promise(this.db.transaction(store).objectStore(store).getAll());
  }

  async meta(key) {
    return this.get("meta", key);
  }

  async setMeta(key, value) {
    await this.write(["meta"], (tx) => tx.objectStore("meta").put(value, key));
  }

  /** Runs `fill(tx)` in one read-write transaction; resolves once it is committed. */
  async write(stores, fill) {
    const tx = this.db.transaction(stores, "readwrite", { durability: "strict" });
    const finished = done(tx);
    let result;
    try {
      result = fill(tx);
    } catch (error) {
      tx.abort();
      await finished.catch(() => {});
      throw error;
    }
    await finished;
    return result;
  }

  /** Everything, for the re-pairing test and the settings page. */
  async dump() {
    const out = {};
    for (const name of STORES) out[name] = await this.all(name);
    return out;
  }

  close() {
    this.db.close();
  }

  /** Deletes every trace of the pairing: the database and the photos. */
  static async wipe(store) {
    if (store) store.close();
    await new Promise((resolve, reject) => {
      const request = indexedDB.deleteDatabase(DB);
      request.onsuccess = () => resolve();
      request.onerror = () => reject(request.error);
      // Another tab holds it open: it closes on versionchange, then this goes on.
      request.onblocked = () => {};
    });
    if ("caches" in self) await caches.delete(PHOTOS);
  }
}

/** A member's photo: from Cache Storage, else fetched with the desk's token and kept. */
export async function photo(url, token) {
  if (!("caches" in self)) return null;
  const cache = await caches.open(PHOTOS);
  let response = await cache.match(url);
  if (!response) {
    try {
      const fetched = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
      if (!fetched.ok) return null;
      await cache.put(url, fetched.clone());
      response = fetched;
    } catch {
      return null;
    }
  }
  return URL.createObjectURL(await response.blob());
}

/** Deletes this device's copies of the members' photos (`…/photos/<member id>?v=…`). */
export async function forgetCachedPhotos(memberIds) {
  if (!("caches" in self)) return;
  const cache = await caches.open(PHOTOS);
  for (const request of await cache.keys()) {
    const path = new URL(request.url).pathname;
    if (memberIds.some((id) => path.endsWith(`/photos/${id}`))) await cache.delete(request);
  }
}
