// The desk's presence codes (docs/settlement.md, "Proof of presence"): a QR code signed by this
// desk's own Ed25519 key, renewed every few seconds, that members' phones scan at the entrance
// and send with their tap. The key is made once per pairing, kept in IndexedDB where its
// private half cannot be read out, and registered with the server in every hello (the server
// keeps the first). Format: `GGP1.<center>.<desk>.<t>.<base64url signature>`, the signature
// over `gymgate-presence-v1\n<center>\n<desk>\n<t>` (gymgate_shared::presence).

const PREFIX = "GGP1.";
const CONTEXT = "gymgate-presence-v1";

function base64url(bytes) {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** This pairing's key, made on first use; null where the browser has no Ed25519. */
export async function loadKey(store, pairing) {
  if (!pairing || !window.crypto || !crypto.subtle) return null;
  const kept = await store.meta("presence_key");
  if (kept && kept.desk_id === pairing.desk_id && kept.private_key) return kept;
  try {
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const key = { desk_id: pairing.desk_id, private_key: pair.privateKey, public_key: base64url(raw) };
    await store.setMeta("presence_key", key);
    return key;
  } catch (_) {
    return null;
  }
}

/** The code to show at `ms` (the server-corrected clock). */
export async function code(key, pairing, ms) {
  const t = Math.floor(ms / 1000);
  const message = `${CONTEXT}\n${pairing.center_id}\n${pairing.desk_id}\n${t}`;
  const signature = new Uint8Array(
    await crypto.subtle.sign({ name: "Ed25519" }, key.private_key, new TextEncoder().encode(message)),
  );
  return `${PREFIX}${pairing.center_id}.${pairing.desk_id}.${t}.${base64url(signature)}`;
}
