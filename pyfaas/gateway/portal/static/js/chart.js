// A small line chart in SVG, drawn by hand: one line per series, a y axis
// rounded to a readable maximum, the x axis in seconds before now.

const NS = "http://www.w3.org/2000/svg";
export const COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

// lines: [{name, colour, points: [{t: seconds (<= 0), v}]}]; window: seconds shown.
export function lineChart(lines, { window = 300, width = 880, height = 240, unit = "/s" } = {}) {
  const pad = { left: 48, right: 12, top: 12, bottom: 26 };
  const w = width - pad.left - pad.right;
  const hgt = height - pad.top - pad.bottom;
  const peak = Math.max(0, ...lines.flatMap((l) => l.points.map((p) => p.v)));
  const top = niceMax(peak);
  const x = (t) => pad.left + w * (1 + t / window);
  const y = (v) => pad.top + hgt * (1 - v / top);
  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "chart",
    role: "img",
    "aria-label": "invocations per second per function",
  });
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    root.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: "grid" }));
    const label = Number.isInteger(v) ? String(v) : v.toFixed(2);
    root.append(svg("text", { x: pad.left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, label));
  }
  const step = window >= 240 ? 60 : 30;
  for (let t = -window; t <= 0; t += step) {
    const label = t === 0 ? "now" : `${Math.round(t / 60) === t / 60 ? `${t / 60}m` : `${t}s`}`;
    root.append(svg("text", { x: x(t), y: height - 6, class: "axis", "text-anchor": "middle" }, label));
  }
  root.append(svg("text", { x: pad.left + 4, y: pad.top + 10, class: "axis unit" }, unit));
  for (const line of lines) {
    const points = line.points.filter((p) => p.t >= -window);
    if (points.length === 0) continue;
    const d = points.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
    root.append(svg("path", { d, fill: "none", stroke: line.colour, "stroke-width": 2, class: "series" }));
    const last = points[points.length - 1];
    root.append(svg("circle", { cx: x(last.t), cy: y(last.v), r: 3, fill: line.colour }));
  }
  return root;
}
