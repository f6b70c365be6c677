// The functions: replicas, image, labels, invocations and their rate, with
// links to invoke and to the logs; above them the chart of invocations per
// second per function over the last minutes.

import { h, card, table, badge, replace } from "../dom.js";
import * as rates from "../rates.js";
import { lineChart, COLOURS } from "../chart.js";
import { count, rate } from "../format.js";

function labels(fn) {
  const shown = Object.entries(fn.labels || {}).filter(([k]) => k !== "faas_function");
  if (shown.length === 0) return h("span", { class: "muted" }, "—");
  return shown.map(([k, v]) => h("span", { class: "chip", title: `${k}=${v}` }, `${k}=${v}`));
}

function replicas(fn) {
  const ready = fn.availableReplicas > 0 || fn.replicas === 0;
  return h(
    "span",
    { class: "replicas" },
    badge(`${fn.availableReplicas ?? 0}/${fn.replicas ?? 0}`, ready ? "ready" : "starting"),
    fn.replicas === 0 ? h("span", { class: "muted small" }, " scaled to zero") : null,
  );
}

function row(fn, colour) {
  const name = encodeURIComponent(fn.name);
  return h(
    "tr",
    { dataset: { function: fn.name } },
    h("td", {}, h("span", { class: "swatch", style: `background:${colour}` }), h("strong", {}, fn.name)),
    h("td", { class: "replicas-cell" }, replicas(fn)),
    h("td", { class: "mono small" }, fn.image),
    h("td", { class: "labels" }, labels(fn)),
    h("td", { class: "num invocations" }, count(fn.invocationCount)),
    h("td", { class: "num rate" }, rate(rates.currentRate(fn.name))),
    h(
      "td",
      { class: "actions" },
      h("a", { href: `#/invoke?fn=${name}`, class: "button small" }, "Invoke"),
      h("a", { href: `#/logs?name=${name}`, class: "button small ghost" }, "Logs"),
    ),
  );
}

export default function mount(root) {
  const chartHolder = h("div", { class: "chart-holder" });
  const legend = h("div", { class: "legend" });
  const listHolder = h("div", {}, h("p", { class: "muted" }, "Loading functions…"));
  replace(
    root,
    card("Invocations per second", h("p", { class: "muted small" }, `Last ${rates.WINDOW / 60} minutes, from the gateway's invocation counts, polled every 2 s.`), chartHolder, legend),
    card("Functions", listHolder),
  );
  const draw = (functions) => {
    const colours = new Map(functions.map((fn, i) => [fn.name, COLOURS[i % COLOURS.length]]));
    const series = rates.series();
    replace(
      chartHolder,
      lineChart(functions.map((fn) => ({ name: fn.name, colour: colours.get(fn.name), points: series.get(fn.name) || [] })), { window: rates.WINDOW, width: Math.max(480, chartHolder.clientWidth || 880) }),
    );
    replace(
      legend,
      functions.map((fn) => h("span", { class: "legend-item" }, h("span", { class: "swatch", style: `background:${colours.get(fn.name)}` }), `${fn.name} ${rate(rates.currentRate(fn.name))}/s`)),
    );
    if (functions.length === 0) {
      replace(listHolder, h("p", { class: "empty" }, "No functions are deployed. ", h("a", { href: "#/store" }, "Deploy one from the store"), "."));
      return;
    }
    replace(
      listHolder,
      table(["Name", "Replicas", "Image", "Labels", "Invocations", "Rate /s", ""], functions.map((fn) => row(fn, colours.get(fn.name))), { class: "functions" }),
    );
  };
  const unsubscribe = rates.subscribe(draw);
  rates.poll();
  return unsubscribe;
}
