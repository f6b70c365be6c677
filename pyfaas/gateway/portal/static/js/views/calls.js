// The asynchronous calls: the queue's counts per function, the calls this
// browser knows of (submitted or opened here) with the dead letters, filtered
// by function and state; one call's record, attempts and result; cancelling a
// call that has not started.

import { getJSON, request, send, ApiError } from "../api.js";
import { h, card, table, badge, replace, options, every, toast } from "../dom.js";
import * as tracked from "../tracked.js";
import { when, duration, pretty } from "../format.js";

const filters = { function: "", state: "" };

async function fetchRecord(id) {
  try {
    const record = await getJSON(`/system/calls/${encodeURIComponent(id)}`);
    tracked.remember(record);
    return record;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      const gone = { callId: id, function: "?", state: "unknown", attempts: 0 };
      tracked.remember(gone);
      return gone;
    }
    throw error;
  }
}

async function cancel(id) {
  try {
    const answer = await send(`/system/calls/${encodeURIComponent(id)}`, { method: "DELETE" });
    tracked.remember(await answer.json());
    toast(`Cancelled ${id}`, "ok");
  } catch (error) {
    toast(error.message, "bad");
  }
}

function cancelButton(record, after) {
  if (!tracked.CANCELLABLE.has(record.state)) return null;
  return h("button", { class: "small danger", type: "button", onclick: async () => { await cancel(record.callId); after(); } }, "Cancel");
}

function queueTable(stats) {
  const rows = (stats.functions || []).map((f) =>
    h("tr", {}, h("td", {}, f.function), ...["queued", "delayed", "running", "retrying", "dead"].map((k) => h("td", { class: "num" }, f[k])), h("td", { class: "num" }, duration(f.oldestAge))),
  );
  rows.push(h("tr", { class: "total" }, h("td", {}, "all"), ...["queued", "delayed", "running", "retrying", "dead"].map((k) => h("td", { class: "num" }, stats[k] ?? 0)), h("td", {}, "")));
  return table(["Function", "Queued", "Delayed", "Running", "Retrying", "Dead", "Oldest waiting"], rows, { class: "queue" });
}

function list(root) {
  const queueHolder = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const fnFilter = h("select", { name: "function", "aria-label": "function" });
  const stateFilter = options(h("select", { name: "state", "aria-label": "state" }), [["", "any state"], ...tracked.STATES.map((s) => [s, s]), ["unknown", "unknown"]], filters.state);
  const openInput = h("input", { placeholder: "call id", name: "open" });
  const rowsHolder = h("div", {});
  let dead = [];
  let shownNames = null;
  const render = () => {
    const records = new Map();
    for (const record of dead) records.set(record.callId, record);
    for (const id of tracked.ids()) records.set(id, tracked.known(id) || { callId: id, function: "…", state: "…", attempts: 0 });
    const all = [...records.values()];
    const names = [...new Set(all.map((r) => r.function).filter((n) => n && n !== "?" && n !== "…"))].sort();
    // Only when the names change: rebuilding the select closes it under the pointer.
    if (names.join("\n") !== shownNames) {
      shownNames = names.join("\n");
      options(fnFilter, [["", "any function"], ...names.map((n) => [n, n])], filters.function);
    }
    const shown = all
      .filter((r) => !filters.function || r.function === filters.function)
      .filter((r) => !filters.state || r.state === filters.state)
      .sort((a, b) => (b.submittedAt || 0) - (a.submittedAt || 0));
    if (shown.length === 0) {
      replace(rowsHolder, h("p", { class: "empty" }, all.length ? "No call matches the filters." : "No calls yet: submit one from Invoke (Asynchronous), or open one by its id."));
      return;
    }
    replace(
      rowsHolder,
      table(
        ["Call", "Function", "State", "Attempts", "Submitted", "Started", "Finished", "Status", ""],
        shown.map((r) =>
          h(
            "tr",
            { dataset: { call: r.callId, state: r.state } },
            h("td", { class: "mono" }, h("a", { href: `#/calls/${encodeURIComponent(r.callId)}` }, r.callId)),
            h("td", {}, r.function),
            h("td", {}, badge(r.state)),
            h("td", { class: "num" }, r.attempts ?? 0),
            h("td", {}, when(r.submittedAt)),
            h("td", {}, when(r.startedAt)),
            h("td", {}, when(r.finishedAt)),
            h("td", { class: "num" }, r.statusCode ?? "—"),
            h("td", { class: "actions" }, cancelButton(r, refresh)),
          ),
        ),
        { class: "calls" },
      ),
    );
  };
  const refresh = async () => {
    const [stats, letters] = await Promise.all([getJSON("/system/queue").catch((e) => e), getJSON("/system/dead-letters?limit=100").catch(() => [])]);
    replace(queueHolder, stats instanceof Error ? h("p", { class: "error" }, stats.message) : queueTable(stats));
    dead = letters;
    for (const record of letters) tracked.remember(record);
    await Promise.all(
      tracked.ids().filter((id) => !tracked.FINAL.has(tracked.known(id)?.state) && tracked.known(id)?.state !== "unknown").slice(0, 50).map((id) => fetchRecord(id).catch(() => null)),
    );
    render();
  };
  fnFilter.addEventListener("change", () => { filters.function = fnFilter.value; render(); });
  stateFilter.addEventListener("change", () => { filters.state = stateFilter.value; render(); });
  const open = h("form", { class: "row", onsubmit: (event) => { event.preventDefault(); const id = openInput.value.trim(); if (id) location.hash = `#/calls/${encodeURIComponent(id)}`; } }, openInput, h("button", { type: "submit" }, "Open"));
  const forget = h("button", { type: "button", class: "ghost small", onclick: () => { tracked.forget((id, record) => record && (tracked.FINAL.has(record.state) || record.state === "unknown")); render(); } }, "Forget finished calls");
  replace(
    root,
    card("Queue", queueHolder),
    card(
      "Calls",
      h("p", { class: "muted small" }, "The calls submitted or opened in this browser, and the dead letters (the gateway lists no other calls)."),
      h("div", { class: "toolbar" }, fnFilter, stateFilter, open, forget),
      rowsHolder,
    ),
  );
  return every(2000, refresh);
}

function detail(root, id) {
  tracked.track(id);
  const head = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const history = h("div", {});
  const result = h("div", {});
  let shownResult = false;
  replace(root, h("p", {}, h("a", { href: "#/calls" }, "← all calls")), card(`Call ${id}`, head, h("h3", {}, "Attempts"), history), card("Result", result));
  const refresh = async () => {
    const r = await fetchRecord(id);
    if (r.state === "unknown") {
      replace(head, h("p", { class: "error" }, `The gateway has no call ${id} (never submitted, or pruned after its retention).`));
      return;
    }
    const fields = [
      ["State", badge(r.state)],
      ["Function", `${r.function}.${r.namespace}`],
      ["Attempts", r.attempts],
      ["Submitted", when(r.submittedAt)],
      ["Not before", r.notBefore ? when(r.notBefore) : null],
      ["Expires", r.expireAt ? when(r.expireAt) : null],
      ["Started", when(r.startedAt)],
      ["Finished", when(r.finishedAt)],
      ["Took", r.startedAt && r.finishedAt ? duration(r.finishedAt - r.startedAt) : null],
      ["Status code", r.statusCode ?? "—"],
      ["Error", r.error],
      ["Reason", r.reason],
      ["Callback", r.callbackUrl ? `${r.callbackUrl} → ${r.callbackStatus ?? "pending"} (${r.callbackAttempts} attempts)` : null],
    ].filter(([, v]) => v !== null && v !== undefined);
    replace(
      head,
      h("dl", { class: "record" }, fields.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      h("div", { class: "row" }, cancelButton(r, refresh)),
      h("details", {}, h("summary", {}, "Record (JSON)"), h("pre", { class: "body" }, JSON.stringify(r, null, 2))),
    );
    const attempts = r.history || [];
    replace(
      history,
      attempts.length
        ? table(["#", "Started", "Finished", "Status", "Error"], attempts.map((a) => h("tr", {}, h("td", {}, a.attempt), h("td", {}, when(a.startedAt)), h("td", {}, when(a.finishedAt)), h("td", {}, a.statusCode ?? "—"), h("td", {}, a.error || ""))))
        : h("p", { class: "muted" }, "No attempt yet."),
    );
    if (shownResult) return;
    if (!r.hasResult) {
      replace(result, h("p", { class: "muted" }, tracked.FINAL.has(r.state) ? `No result: the call is ${r.state}.` : `No result yet: the call is ${r.state}.`));
      return;
    }
    const got = await request(`/system/calls/${encodeURIComponent(id)}/result`);
    const text = await got.text();
    shownResult = true;
    replace(
      result,
      h("div", { class: "answer-head" }, badge(String(got.status), got.status < 400 ? "ok" : "bad"), got.headers.get("X-Result-Truncated") ? h("span", { class: "warn" }, `cut; the whole body was ${got.headers.get("X-Result-Truncated")} bytes`) : null),
      table(["Name", "Value"], [...got.headers.entries()].map(([k, v]) => h("tr", {}, h("td", { class: "mono" }, k), h("td", { class: "mono" }, v))), { class: "headers" }),
      h("pre", { class: "body result-body" }, pretty(text, got.headers.get("content-type") || "") || "(empty)"),
    );
  };
  return every(2000, async () => {
    await refresh();
  });
}

export default function mount(root, { arg }) {
  return arg ? detail(root, arg) : list(root);
}
