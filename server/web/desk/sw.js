// gymgate web desk: the service worker keeps the desk's files on the tablet or PC, so the page
// reloads and goes on checking members in with the server down. The desk's data is the
// page's (IndexedDB, and Cache Storage for photos); this only serves the files. Network first
// (a new release is picked up at once), the cache when the network fails or hangs; the API and
// the WebSocket are never cached.
"use strict";

const CACHE = "gymgate-desk-shell-v1";
const SHELL = [
  "/desk/", "/desk/desk.js", "/desk/board.js", "/desk/link.js", "/desk/store.js", "/desk/rules.js",
  "/desk/desk.css", "/desk/jsqr.js", "/desk/presence.js", "/desk/kiosk.js", "/qrcode.js",
  "/desk/manifest.webmanifest",
  "/icon-192.png", "/icon-512.png", "/icon-maskable-512.png", "/favicon.ico",
  "/fonts/GymgateKR-Regular.woff2", "/fonts/GymgateKR-Bold.woff2",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    // Older shells go; the photos' cache is the desk's data and stays.
    for (const name of await caches.keys()) {
      if (name.startsWith("gymgate-desk-shell-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

function withTimeout(promise, ms) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), ms))]);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  const key = request.mode === "navigate" ? "/desk/" : url.pathname;
  if (!SHELL.includes(key)) return;
  const fonts = url.pathname.startsWith("/fonts/");
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    if (fonts) {
      const hit = await cache.match(key);
      if (hit) return hit;
    }
    try {
      // A server that hangs must not keep staff waiting: the cached copy after 3 s.
      const response = await withTimeout(fetch(request), 3000);
      if (response.ok) await cache.put(key, response.clone());
      return response;
    } catch (error) {
      const hit = await cache.match(key);
      if (hit) return hit;
      throw error;
    }
  })());
});
