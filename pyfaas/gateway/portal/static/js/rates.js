// The function list, polled from /system/functions every few seconds while the
// page is open, and the invocation rates computed from it: the difference of
// each function's invocationCount between two polls over the time between
// them. The samples of the last WINDOW seconds are kept for the chart.

import { getJSON, AuthRequired } from "./api.js";

export const WINDOW = 300; // seconds the chart shows
const INTERVAL = 2000;
const samples = []; // {t: seconds, counts: Map(name -> invocationCount)}
const subscribers = new Set();
let functions = null;
let timer = 0;
let running = false;

export function latestFunctions() {
  return functions;
}

// Calls listener(functions) after each poll; answers the unsubscribe.
export function subscribe(listener) {
  subscribers.add(listener);
  if (functions) listener(functions);
  return () => subscribers.delete(listener);
}

export async function poll() {
  clearTimeout(timer);
  try {
    // A tab left in the background asks nothing; on its return the chart draws
    // the average rate over the time it was away.
    if (document.hidden && functions) return;
    const listed = await getJSON("/system/functions");
    listed.sort((a, b) => a.name.localeCompare(b.name));
    functions = listed;
    const now = performance.now() / 1000;
    samples.push({ t: now, counts: new Map(listed.map((f) => [f.name, Number(f.invocationCount || 0)])) });
    while (samples.length > 2 && now - samples[1].t > WINDOW) samples.shift();
    for (const listener of subscribers) listener(listed);
  } catch (error) {
    if (!(error instanceof AuthRequired)) console.warn("polling functions:", error);
  } finally {
    if (running) timer = setTimeout(poll, INTERVAL);
  }
}

export function start() {
  if (running) return;
  running = true;
  poll();
}

// Per function: [{t: seconds before now (negative), v: calls per second}].
export function series() {
  const now = performance.now() / 1000;
  const out = new Map();
  for (let i = 1; i < samples.length; i++) {
    const before = samples[i - 1];
    const after = samples[i];
    const dt = after.t - before.t;
    if (dt <= 0) continue;
    for (const [name, value] of after.counts) {
      const previous = before.counts.get(name);
      // A function new since the last poll, or redeployed (its count restarts), has no rate yet.
      const v = previous === undefined || value < previous ? 0 : (value - previous) / dt;
      if (!out.has(name)) out.set(name, []);
      out.get(name).push({ t: after.t - now, v });
    }
  }
  return out;
}

// Calls per second over about the last ten seconds.
export function currentRate(name) {
  const now = performance.now() / 1000;
  const recent = samples.filter((s) => now - s.t <= 11 && s.counts.has(name));
  if (recent.length < 2) return null;
  const first = recent[0];
  const last = recent[recent.length - 1];
  const delta = last.counts.get(name) - first.counts.get(name);
  return delta < 0 ? 0 : delta / (last.t - first.t);
}
