// Live logs: GET /system/logs?name=..&follow=true read as a stream of NDJSON
// lines, for a function or for the gateway and the queue-worker.

import { request } from "../api.js";
import { h, card, replace, options } from "../dom.js";
import * as rates from "../rates.js";

const MAX_LINES = 2000;
const SYSTEM = ["gateway", "queue-worker"];
const saved = { name: "gateway", tail: "100", follow: true, filter: "" };

export default function mount(root, { params }) {
  if (params.get("name")) saved.name = params.get("name");
  const source = h("select", { name: "source", "aria-label": "log source" });
  const tail = h("input", { name: "tail", type: "number", min: 0, value: saved.tail, class: "short", "aria-label": "lines to show first" });
  const follow = h("input", { name: "follow", type: "checkbox", checked: saved.follow });
  const filter = h("input", { name: "filter", placeholder: "filter lines", value: saved.filter });
  const button = h("button", { type: "button", class: "primary" }, "Start");
  const state = h("span", { class: "muted small stream-state" });
  const out = h("pre", { class: "log", tabindex: 0 });
  let controller = null;

  const line = (message) => {
    let entry;
    try {
      entry = JSON.parse(message);
    } catch {
      entry = { text: message };
    }
    const el = h(
      "div",
      { class: "log-line" },
      h("span", { class: "ts" }, (entry.timestamp || "").replace("T", " ").replace(/\.\d+Z$/, "Z")),
      " ",
      h("span", { class: "instance" }, entry.instance || ""),
      " ",
      entry.text ?? "",
    );
    el.hidden = Boolean(saved.filter) && !el.textContent.includes(saved.filter);
    const atBottom = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
    out.append(el);
    while (out.childElementCount > MAX_LINES) out.firstElementChild.remove();
    if (atBottom) out.scrollTop = out.scrollHeight;
  };

  const stop = () => {
    if (controller) controller.abort();
    controller = null;
    button.textContent = "Start";
  };

  const start = async () => {
    stop();
    Object.assign(saved, { name: source.value, tail: tail.value, follow: follow.checked });
    replace(out);
    controller = new AbortController();
    const mine = controller;
    button.textContent = "Stop";
    state.textContent = saved.follow ? "following…" : "reading…";
    const q = new URLSearchParams({ name: saved.name, tail: saved.tail || "100", follow: String(saved.follow) });
    try {
      const answer = await request(`/system/logs?${q}`, { signal: mine.signal });
      if (!answer.ok) {
        state.textContent = `${answer.status}: ${(await answer.text()).trim()}`;
        return;
      }
      const reader = answer.body.getReader();
      const decoder = new TextDecoder();
      let pending = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done || controller !== mine) break;
        pending += decoder.decode(value, { stream: true });
        const lines = pending.split("\n");
        pending = lines.pop();
        for (const l of lines) if (l.trim()) line(l);
      }
      if (controller !== mine) return;
      if (pending.trim()) line(pending);
      state.textContent = `${out.childElementCount} line(s); the stream ended`;
    } catch (error) {
      // A stream stopped for the next one says nothing over it.
      if (controller === mine || !controller) {
        state.textContent = error.name === "AbortError" ? "stopped" : `stopped: ${error.message}`;
      }
    } finally {
      if (controller === mine) {
        controller = null;
        button.textContent = "Start";
      }
    }
  };

  button.addEventListener("click", () => (controller ? stop() : start()));
  source.addEventListener("change", start);
  filter.addEventListener("input", () => {
    saved.filter = filter.value;
    for (const el of out.children) el.hidden = Boolean(saved.filter) && !el.textContent.includes(saved.filter);
  });
  replace(
    root,
    card(
      "Logs",
      h("div", { class: "toolbar" }, source, h("label", { class: "inline" }, "last ", tail, " lines"), h("label", { class: "inline" }, follow, " follow"), filter, button, state),
      out,
    ),
  );
  let started = false;
  const unsubscribe = rates.subscribe((functions) => {
    const names = [...SYSTEM, ...functions.map((f) => f.name)];
    if (!names.includes(saved.name)) names.push(saved.name);
    if (source.options.length !== names.length) {
      options(source, names.map((n) => [n, SYSTEM.includes(n) ? `${n} (system)` : n]), source.value || saved.name);
    }
    if (!started) {
      started = true;
      start();
    }
  });
  if (!rates.latestFunctions()) {
    options(source, [...new Set([...SYSTEM, saved.name])].map((n) => [n, n]), saved.name);
  }
  return () => {
    unsubscribe();
    stop();
  };
}
