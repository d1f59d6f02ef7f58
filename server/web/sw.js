// gymgate member app: the service worker keeps the app itself on the phone, so it opens and
// shows the offline pass with no network and with the server down. The pass certificate and
// the phone's key are the page's (localStorage, IndexedDB); this only serves the files.
// Files come from the network first (a new release is picked up at once) and from the cache
// when the network fails; the API is never cached.
"use strict";

const CACHE = "gymgate-app-v1";
const SHELL = [
  "/", "/app.js", "/app.css", "/qrcode.js", "/manifest.webmanifest",
  "/icon-192.png", "/icon-512.png", "/favicon.ico",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

// A network that hangs (captive Wi-Fi, a dead server behind a proxy) must not keep the
// member waiting at the door: after a few seconds the cached copy is served.
function withTimeout(promise, ms) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), ms))]);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || url.pathname.startsWith("/api/")) return;
  // The desk (its own worker, scope /desk/) and the console are other apps on this origin.
  if (url.pathname.startsWith("/desk") || url.pathname.startsWith("/console")) return;
  const fonts = url.pathname.startsWith("/fonts/");
  // Every page (/, /c/<center>) is the same app.
  const key = request.mode === "navigate" ? "/" : url.pathname;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    if (fonts) {
      const hit = await cache.match(key);
      if (hit) return hit;
    }
    try {
      const response = await withTimeout(fetch(request), 4000);
      if (response.ok && (fonts || SHELL.includes(key))) await cache.put(key, response.clone());
      return response;
    } catch (error) {
      const hit = await cache.match(key);
      if (hit) return hit;
      throw error;
    }
  })());
});
