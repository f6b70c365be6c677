// The request bin: what the store function `request-bin` recorded, read from
// GET /function/request-bin/_bin/requests (a JSON list of
// {method, path, query, headers, body, time}); "no request bin deployed"
// while that answers 404.

import { request } from "../api.js";
import { h, card, table, replace, every } from "../dom.js";
import { pretty } from "../format.js";

const PATH = "/function/request-bin/_bin/requests";

function headerRows(headers) {
  const pairs = Array.isArray(headers) ? headers : Object.entries(headers || {});
  return pairs.map(([k, v]) => h("div", { class: "mono small" }, `${k}: ${Array.isArray(v) ? v.join(", ") : v}`));
}

function time(value) {
  if (value === undefined || value === null || value === "") return "—";
  const date = typeof value === "number" ? new Date(value < 1e12 ? value * 1000 : value) : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString([], { hour12: false });
}

function text(body) {
  if (body === undefined || body === null) return "";
  return typeof body === "string" ? body : JSON.stringify(body);
}

export default function mount(root) {
  const holder = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const note = h("span", { class: "muted small" });
  replace(root, card("Request bin", h("p", { class: "muted small" }, "Point a webhook or a callback (X-Callback-Url) at ", h("code", {}, `${location.origin}/function/request-bin`), " to see what it receives. ", note), holder));
  return every(3000, async () => {
    let answer;
    try {
      answer = await request(PATH, { admin: false });
    } catch (error) {
      replace(holder, h("p", { class: "error" }, `The gateway did not answer: ${error.message}`));
      return;
    }
    if (answer.status === 404) {
      replace(holder, h("p", { class: "empty", id: "no-bin" }, "No request bin deployed. ", h("a", { href: "#/store" }, "Deploy request-bin from the store"), " to record requests."));
      return;
    }
    const body = await answer.text();
    if (!answer.ok) {
      replace(holder, h("p", { class: "error" }, `${answer.status}: ${body.trim()}`));
      return;
    }
    let records;
    try {
      records = JSON.parse(body);
      if (!Array.isArray(records)) throw new Error("not a list");
    } catch (error) {
      replace(holder, h("p", { class: "error" }, `The request bin answered something that is not a JSON list: ${error.message}`));
      return;
    }
    note.textContent = `${records.length} request(s) recorded.`;
    if (records.length === 0) {
      replace(holder, h("p", { class: "empty" }, "The request bin has recorded nothing yet."));
      return;
    }
    const rows = [...records].reverse().map((r) =>
      h(
        "tr",
        { class: "bin-request" },
        h("td", {}, time(r.time)),
        h("td", {}, h("strong", {}, r.method || "")),
        h("td", { class: "mono" }, `${r.path || "/"}${r.query ? `?${String(r.query).replace(/^\?/, "")}` : ""}`),
        h("td", {}, h("details", {}, h("summary", {}, `${(Array.isArray(r.headers) ? r.headers : Object.keys(r.headers || {})).length} headers`), headerRows(r.headers))),
        h("td", {}, h("pre", { class: "body small" }, pretty(text(r.body)) || "(empty)")),
      ),
    );
    replace(holder, table(["Time", "Method", "Path", "Headers", "Body"], rows, { class: "bin" }));
  });
}
