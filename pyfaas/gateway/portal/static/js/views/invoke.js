// The invoke form: a function, a method, a path and query, headers and a
// body, sent synchronously to /function/NAME or asynchronously to
// /async-function/NAME (with X-Callback-Url if given). It shows the answer's
// status, headers, body and how long it took. No admin credentials are sent.

import { request } from "../api.js";
import { h, card, table, badge, replace, options } from "../dom.js";
import * as rates from "../rates.js";
import { duration, pretty, bytes } from "../format.js";

const METHODS = ["POST", "GET", "PUT", "PATCH", "DELETE"];
const saved = { fn: "", method: "POST", path: "", headers: "", body: "", mode: "sync", callback: "" };

export function parseHeaders(text) {
  const out = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const at = line.search(/[:=]/);
    if (at <= 0) throw new Error(`header line "${line}" is not Name: value`);
    out.push([line.slice(0, at).trim(), line.slice(at + 1).trim()]);
  }
  return out;
}

function statusKind(status) {
  if (status < 300) return "ok";
  if (status < 400) return "info";
  if (status < 500) return "warn";
  return "bad";
}

function showAnswer(holder, answer, text, seconds, callId) {
  const headers = [...answer.headers.entries()];
  replace(
    holder,
    h(
      "div",
      { class: "answer-head" },
      badge(`${answer.status} ${answer.statusText}`, statusKind(answer.status)),
      h("span", { class: "duration" }, duration(seconds)),
      h("span", { class: "muted small" }, bytes(new TextEncoder().encode(text).length)),
      callId ? h("a", { href: `#/calls/${encodeURIComponent(callId)}`, class: "button small" }, `Follow call ${callId}`) : null,
    ),
    h("h3", {}, "Headers"),
    table(["Name", "Value"], headers.map(([k, v]) => h("tr", {}, h("td", { class: "mono" }, k), h("td", { class: "mono" }, v))), { class: "headers" }),
    h("h3", {}, "Body"),
    h("pre", { class: "body" }, pretty(text, answer.headers.get("content-type") || "") || h("span", { class: "muted" }, "(empty)")),
  );
}

export default function mount(root, { params }) {
  if (params.get("fn")) saved.fn = params.get("fn");
  const fnSelect = h("select", { name: "function", required: true });
  const method = options(h("select", { name: "method" }), METHODS.map((m) => [m, m]), saved.method);
  const path = h("input", { name: "path", value: saved.path, placeholder: "/optional/path?and=query" });
  const headers = h("textarea", { name: "headers", rows: 3, placeholder: "X-Delay-Seconds: 600\nContent-Type: text/plain" }, saved.headers);
  const body = h("textarea", { name: "body", rows: 5, placeholder: "request body" }, saved.body);
  const callback = h("input", { name: "callback", value: saved.callback, placeholder: `optional, e.g. ${location.origin}/function/request-bin`, type: "url" });
  const sync = h("input", { type: "radio", name: "mode", value: "sync", checked: saved.mode === "sync" });
  const async_ = h("input", { type: "radio", name: "mode", value: "async", checked: saved.mode === "async" });
  const callbackRow = h("label", { class: "callback" }, "Callback URL ", callback);
  const answer = h("div", { class: "answer" }, h("p", { class: "muted" }, "The answer appears here."));
  const send = h("button", { type: "submit", class: "primary" }, "Send");
  const toggle = () => (callbackRow.hidden = !async_.checked);
  sync.addEventListener("change", toggle);
  async_.addEventListener("change", toggle);
  toggle();

  const form = h(
    "form",
    {
      class: "invoke",
      onsubmit: async (event) => {
        event.preventDefault();
        Object.assign(saved, { fn: fnSelect.value, method: method.value, path: path.value, headers: headers.value, body: body.value, mode: async_.checked ? "async" : "sync", callback: callback.value });
        let sent;
        try {
          sent = parseHeaders(headers.value);
        } catch (error) {
          replace(answer, h("p", { class: "error" }, error.message));
          return;
        }
        if (async_.checked && callback.value.trim()) sent.push(["X-Callback-Url", callback.value.trim()]);
        const suffix = path.value.trim();
        const target = `/${async_.checked ? "async-function" : "function"}/${encodeURIComponent(fnSelect.value)}${suffix && !/^[/?]/.test(suffix) ? "/" : ""}${suffix}`;
        send.disabled = true;
        replace(answer, h("p", { class: "muted" }, `${method.value} ${target} …`));
        const started = performance.now();
        try {
          const got = await request(target, { method: method.value, headers: sent, body: body.value, admin: false });
          const text = await got.text();
          const seconds = (performance.now() - started) / 1000;
          const callId = async_.checked && got.status === 202 ? got.headers.get("X-Call-Id") : null;
          showAnswer(answer, got, text, seconds, callId);
        } catch (error) {
          replace(answer, h("p", { class: "error" }, `The request failed: ${error.message}`));
        } finally {
          send.disabled = false;
        }
      },
    },
    h("div", { class: "grid2" }, h("label", {}, "Function ", fnSelect), h("label", {}, "Method ", method)),
    h("label", {}, "Path and query ", path),
    h("label", {}, "Headers (one per line, Name: value) ", headers),
    h("label", {}, "Body ", body, h("span", { class: "muted small" }, "A GET sends no body.")),
    h("fieldset", { class: "mode" }, h("legend", {}, "Mode"), h("label", { class: "inline" }, sync, " Synchronous"), h("label", { class: "inline" }, async_, " Asynchronous (queued)"), callbackRow),
    h("div", { class: "row" }, send),
  );
  replace(root, h("div", { class: "split" }, card("Invoke a function", form), card("Answer", answer)));

  const fill = (functions) => {
    const names = functions.map((fn) => fn.name);
    const chosen = fnSelect.value || saved.fn;
    if (fnSelect.options.length === names.length && names.every((n, i) => fnSelect.options[i].value === n)) return;
    options(fnSelect, names.length ? names.map((n) => [n, n]) : [["", "no functions deployed"]], chosen);
  };
  return rates.subscribe(fill);
}
