// The asynchronous calls: the queue's counts per function; the calls the
// gateway lists (GET /system/calls, newest first), filtered by function and
// state and refreshed while the view is open, a page at a time; one call's
// record, attempts and result; cancelling a call that has not started.

import { getJSON, request, send, ApiError } from "../api.js";
import { h, card, table, badge, replace, options, every, toast } from "../dom.js";
import * as states from "../states.js";
import * as rates from "../rates.js";
import { when, duration, pretty } from "../format.js";

const PAGE = 50;
const filters = { function: "", state: "" };

async function fetchRecord(id) {
  try {
    return await getJSON(`/system/calls/${encodeURIComponent(id)}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return { callId: id, function: "?", state: "unknown", attempts: 0 };
    throw error;
  }
}

async function cancel(id) {
  try {
    await send(`/system/calls/${encodeURIComponent(id)}`, { method: "DELETE" });
    toast(`Cancelled ${id}`, "ok");
  } catch (error) {
    toast(error.message, "bad");
  }
}

function cancelButton(record, after) {
  if (!states.CANCELLABLE.has(record.state)) return null;
  return h("button", { class: "small danger", type: "button", onclick: async () => { await cancel(record.callId); after(); } }, "Cancel");
}

function queueTable(stats) {
  const kinds = ["queued", "delayed", "running", "retrying", "dead"];
  const rows = (stats.functions || []).map((f) => h("tr", {}, h("td", {}, f.function), ...kinds.map((k) => h("td", { class: "num" }, f[k])), h("td", { class: "num" }, duration(f.oldestAge))));
  rows.push(h("tr", { class: "total" }, h("td", {}, "all"), ...kinds.map((k) => h("td", { class: "num" }, stats[k] ?? 0)), h("td", {}, "")));
  return table(["Function", "Queued", "Delayed", "Running", "Retrying", "Dead", "Oldest waiting"], rows, { class: "queue" });
}

function query(cursor) {
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (filters.function) q.set("function", filters.function);
  if (filters.state) q.set("state", filters.state);
  if (cursor) q.set("before", cursor);
  return q.toString();
}

// One page of the list, and the cursor of the next (null on the last).
async function listPage(cursor) {
  const answer = await request(`/system/calls?${query(cursor)}`);
  if (!answer.ok) throw new ApiError(answer.status, (await answer.text()).trim());
  return { records: await answer.json(), next: answer.headers.get("X-Next-Cursor") };
}

function callRow(r, after) {
  return h(
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
    h("td", { class: "actions" }, cancelButton(r, after)),
  );
}

function list(root) {
  const queueHolder = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const fnFilter = h("select", { name: "function", "aria-label": "function" });
  const stateFilter = options(h("select", { name: "state", "aria-label": "state" }), [["", "any state"], ...states.STATES.map((s) => [s, s])], filters.state);
  const openInput = h("input", { placeholder: "call id", name: "open" });
  const rowsHolder = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const pager = h("div", { class: "row pager" });
  // The cursors of the pages before the one shown: [] on the newest page.
  const cursors = [];
  let shownNames = null;
  const names = (records) => {
    const known = new Set((rates.latestFunctions() || []).map((f) => f.name));
    for (const r of records) if (r.function) known.add(r.function);
    if (filters.function) known.add(filters.function);
    const sorted = [...known].sort();
    // Only when the names change: rebuilding the select closes it under the pointer.
    if (sorted.join("\n") !== shownNames) {
      shownNames = sorted.join("\n");
      options(fnFilter, [["", "any function"], ...sorted.map((n) => [n, n])], filters.function);
    }
  };
  const render = ({ records, next }) => {
    names(records);
    const newer = cursors.length > 0;
    replace(
      pager,
      h("button", { type: "button", class: "small", id: "calls-newer", disabled: !newer, onclick: () => { cursors.pop(); refresh(); } }, "← Newer"),
      h("button", { type: "button", class: "small", id: "calls-older", disabled: !next, onclick: () => { cursors.push(next); refresh(); } }, "Older →"),
    );
    if (records.length === 0) {
      const filtered = filters.function || filters.state;
      replace(rowsHolder, h("p", { class: "empty" }, filtered ? "No call matches the filters." : "No calls yet: submit one from Invoke (Asynchronous)."));
      return;
    }
    replace(rowsHolder, table(["Call", "Function", "State", "Attempts", "Submitted", "Started", "Finished", "Status", ""], records.map((r) => callRow(r, refresh)), { class: "calls" }));
  };
  let asked = 0;
  const refresh = async () => {
    const mine = ++asked;
    const [stats, page] = await Promise.all([getJSON("/system/queue").catch((e) => e), listPage(cursors.at(-1)).catch((e) => e)]);
    if (mine !== asked) return; // a newer refresh (a filter changed) answers instead
    replace(queueHolder, stats instanceof Error ? h("p", { class: "error" }, stats.message) : queueTable(stats));
    if (page instanceof Error) replace(rowsHolder, h("p", { class: "error" }, page.message));
    else render(page);
  };
  const refilter = () => {
    filters.function = fnFilter.value;
    filters.state = stateFilter.value;
    cursors.length = 0;
    refresh();
  };
  fnFilter.addEventListener("change", refilter);
  stateFilter.addEventListener("change", refilter);
  names([]);
  const open = h("form", { class: "row", onsubmit: (event) => { event.preventDefault(); const id = openInput.value.trim(); if (id) location.hash = `#/calls/${encodeURIComponent(id)}`; } }, openInput, h("button", { type: "submit" }, "Open"));
  replace(
    root,
    card("Queue", queueHolder),
    card("Calls", h("p", { class: "muted small" }, `Newest first, ${PAGE} a page, refreshed every 2 s.`), h("div", { class: "toolbar" }, fnFilter, stateFilter, open), rowsHolder, pager),
  );
  return every(2000, refresh);
}

function detail(root, id) {
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
      replace(result, h("p", { class: "muted" }, states.FINAL.has(r.state) ? `No result: the call is ${r.state}.` : `No result yet: the call is ${r.state}.`));
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
