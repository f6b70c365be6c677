// The dead letters: why each failed for good, the request it was, replaying
// one or all that the filter shows, and purging them (asked twice, in the page).

import { getJSON, send, postJSON } from "../api.js";
import { h, card, table, badge, replace, options, toast } from "../dom.js";
import * as rates from "../rates.js";
import { when, base64Text, pretty, bytes } from "../format.js";

const filters = { function: "", reason: "" };

function query(extra = {}) {
  const q = new URLSearchParams();
  if (filters.function) q.set("function", filters.function);
  if (filters.reason) q.set("reason", filters.reason);
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return q.toString();
}

async function showRequest(id, holder) {
  const { call, request } = await getJSON(`/system/dead-letters/${encodeURIComponent(id)}`);
  const headers = (request?.headers || []).map(([k, v]) => h("tr", {}, h("td", { class: "mono" }, k), h("td", { class: "mono" }, v)));
  replace(
    holder,
    request
      ? [
          h("p", { class: "mono request-line" }, `${request.method} /function/${call.function}${request.path || ""}${request.query ? `?${request.query}` : ""} · ${bytes(request.size)}`),
          headers.length ? table(["Header", "Value"], headers, { class: "headers" }) : null,
          h("pre", { class: "body" }, pretty(base64Text(request.body)) || "(empty body)"),
        ]
      : h("p", { class: "muted" }, "The request is not kept (an undecodable message)."),
    (call.history || []).length
      ? table(["#", "Started", "Finished", "Status", "Error"], call.history.map((a) => h("tr", {}, h("td", {}, a.attempt), h("td", {}, when(a.startedAt)), h("td", {}, when(a.finishedAt)), h("td", {}, a.statusCode ?? "—"), h("td", {}, a.error || ""))))
      : null,
  );
}

export default function mount(root) {
  const fnFilter = h("select", { name: "function", "aria-label": "function" });
  const reason = h("input", { name: "reason", placeholder: "reason, e.g. expired", value: filters.reason });
  const listHolder = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const bulk = h("div", { class: "row" });
  let letters = [];

  const renderBulk = (confirming = false) => {
    const scope = filters.function || filters.reason ? "shown" : "all";
    if (confirming) {
      replace(
        bulk,
        h("span", { class: "warn" }, `Delete ${letters.length} dead letter(s) for good?`),
        h("button", { class: "danger", type: "button", id: "purge-confirm", onclick: purge }, `Purge ${scope}`),
        h("button", { class: "ghost", type: "button", onclick: () => renderBulk(false) }, "Keep them"),
      );
      return;
    }
    replace(
      bulk,
      h("button", { type: "button", id: "replay-all", disabled: letters.length === 0, onclick: replayAll }, `Replay ${scope}`),
      h("button", { class: "danger", type: "button", id: "purge", disabled: letters.length === 0, onclick: () => renderBulk(true) }, `Purge ${scope}…`),
    );
  };

  const scoped = () => (filters.function || filters.reason ? query() : query({ all: "true" }));
  async function replayAll() {
    try {
      const answer = await send(`/system/dead-letters/replay?${scoped()}`, { method: "POST" });
      const { replayed } = await answer.json();
      toast(`Replayed ${replayed} call(s)`, "ok");
    } catch (error) {
      toast(error.message, "bad");
    }
    load();
  }
  async function purge() {
    try {
      const answer = await send(`/system/dead-letters?${scoped()}`, { method: "DELETE" });
      const { purged } = await answer.json();
      toast(`Purged ${purged} dead letter(s)`, "ok");
    } catch (error) {
      toast(error.message, "bad");
    }
    load();
  }
  async function replayOne(id) {
    try {
      await postJSON(`/system/dead-letters/${encodeURIComponent(id)}/replay`, {});
      toast(`Replayed ${id}: queued again`, "ok");
    } catch (error) {
      toast(error.message, "bad");
    }
    load();
  }

  const render = () => {
    renderBulk(false);
    if (letters.length === 0) {
      replace(listHolder, h("p", { class: "empty" }, "No dead letters."));
      return;
    }
    const rows = [];
    for (const r of letters) {
      const more = h("tr", { class: "more", hidden: true }, h("td", { colspan: 7 }, h("p", { class: "muted" }, "Loading…")));
      rows.push(
        h(
          "tr",
          { dataset: { call: r.callId } },
          h("td", { class: "mono" }, h("a", { href: `#/calls/${encodeURIComponent(r.callId)}` }, r.callId)),
          h("td", {}, r.function),
          h("td", {}, badge(r.reason || r.state, "dead")),
          h("td", { class: "num" }, r.attempts),
          h("td", { class: "num" }, r.statusCode ?? "—"),
          h("td", {}, when(r.finishedAt)),
          h(
            "td",
            { class: "actions" },
            h("button", { class: "small ghost", type: "button", onclick: () => { more.hidden = !more.hidden; if (!more.hidden) showRequest(r.callId, more.firstChild).catch((e) => replace(more.firstChild, h("p", { class: "error" }, e.message))); } }, "Show"),
            h("button", { class: "small", type: "button", onclick: () => replayOne(r.callId) }, "Replay"),
          ),
        ),
        more,
      );
    }
    replace(listHolder, table(["Call", "Function", "Reason", "Attempts", "Last status", "Finished", ""], rows, { class: "dead" }));
  };

  async function load() {
    try {
      letters = await getJSON(`/system/dead-letters?${query({ limit: "1000" })}`);
      render();
    } catch (error) {
      replace(listHolder, h("p", { class: "error" }, error.message));
    }
  }

  const unsubscribe = rates.subscribe((functions) => {
    const names = functions.map((f) => f.name);
    if (filters.function && !names.includes(filters.function)) names.push(filters.function);
    if (fnFilter.options.length !== names.length + 1) options(fnFilter, [["", "any function"], ...names.map((n) => [n, n])], filters.function);
  });
  fnFilter.addEventListener("change", () => { filters.function = fnFilter.value; load(); });
  reason.addEventListener("change", () => { filters.reason = reason.value.trim(); load(); });
  replace(root, card("Dead letters", h("p", { class: "muted small" }, "Calls that failed for good: retries exhausted, a status that is not retried, expired, or a function removed."), h("div", { class: "toolbar" }, fnFilter, reason, h("button", { type: "button", class: "ghost", onclick: load }, "Refresh")), bulk, listHolder));
  load();
  return unsubscribe;
}
