// The asynchronous calls this browser knows of. The gateway answers any call by
// its id but lists only the dead letters, so the portal remembers the ids of
// the calls submitted or opened here (in localStorage, newest first) and the
// records it last read of them.

const KEY = "pyfaas.portal.calls";
const LIMIT = 200;
export const FINAL = new Set(["succeeded", "failed", "dead", "cancelled", "expired"]);
export const CANCELLABLE = new Set(["queued", "delayed", "retrying"]);
export const STATES = ["queued", "delayed", "running", "retrying", "succeeded", "failed", "dead", "cancelled", "expired"];
const records = new Map(); // id -> record, or {callId, state: "unknown"} once the gateway forgot it

export function ids() {
  try {
    const stored = JSON.parse(localStorage.getItem(KEY) || "[]");
    return Array.isArray(stored) ? stored.filter((id) => typeof id === "string") : [];
  } catch {
    return [];
  }
}

export function track(id) {
  const kept = [id, ...ids().filter((known) => known !== id)].slice(0, LIMIT);
  localStorage.setItem(KEY, JSON.stringify(kept));
}

export function forget(predicate) {
  const kept = ids().filter((id) => !predicate(id, records.get(id)));
  localStorage.setItem(KEY, JSON.stringify(kept));
}

export function remember(record) {
  records.set(record.callId, record);
}

export function known(id) {
  return records.get(id);
}
