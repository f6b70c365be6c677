// How times, durations and numbers are written on the page.

export function when(unixSeconds) {
  if (!unixSeconds) return "—";
  const date = new Date(unixSeconds * 1000);
  return date.toLocaleTimeString([], { hour12: false }) + (isToday(date) ? "" : ` ${date.toLocaleDateString()}`);
}

function isToday(date) {
  return date.toDateString() === new Date().toDateString();
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export function rate(perSecond) {
  if (perSecond === null || perSecond === undefined) return "—";
  if (perSecond === 0) return "0";
  if (perSecond < 0.1) return perSecond.toFixed(3);
  if (perSecond < 10) return perSecond.toFixed(2);
  return perSecond.toFixed(0);
}

export function count(n) {
  return Number(n || 0).toLocaleString();
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

// A body for reading: JSON pretty-printed, anything else as it came.
export function pretty(text, contentType = "") {
  if (/json/i.test(contentType) || /^\s*[[{]/.test(text)) {
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      return text;
    }
  }
  return text;
}

export function base64Text(encoded) {
  const binary = atob(encoded || "");
  const raw = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder("utf-8", { fatal: false }).decode(raw);
}
