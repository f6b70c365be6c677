// What the portal knows of the asynchronous calls' states: which are final,
// which a cancel acts on, every state in the order a call goes through them.

export const FINAL = new Set(["succeeded", "failed", "dead", "cancelled", "expired"]);
export const CANCELLABLE = new Set(["queued", "delayed", "retrying"]);
export const STATES = ["queued", "delayed", "running", "retrying", "succeeded", "failed", "dead", "cancelled", "expired"];
