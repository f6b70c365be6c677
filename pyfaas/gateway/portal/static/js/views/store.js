// The function store: the entries pyfaas ships (GET /ui/api/store), each
// deployed as `pyfaas store deploy` does it, by posting its spec to
// /system/functions (an update when a function of that name exists).

import { getJSON, postJSON, ApiError } from "../api.js";
import { h, card, replace, toast } from "../dom.js";

function spec(item, name) {
  const out = { service: name, image: item.image, readOnlyRootFilesystem: Boolean(item.readOnlyRootFilesystem) };
  if (item.fprocess) out.envProcess = item.fprocess;
  if (item.environment && Object.keys(item.environment).length) out.envVars = item.environment;
  out.labels = item.labels || {};
  out.annotations = item.annotations || {};
  return out;
}

async function waitReady(name, status, alive) {
  for (let i = 0; i < 300 && alive(); i++) {
    try {
      const fn = await getJSON(`/system/function/${encodeURIComponent(name)}`);
      if (fn.availableReplicas > 0) {
        replace(status, h("span", { class: "ok" }, "Ready. "), h("a", { href: `#/invoke?fn=${encodeURIComponent(name)}` }, "Invoke it"));
        return;
      }
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function entry(item, alive) {
  const nameInput = h("input", { value: item.name, "aria-label": `name for ${item.name}`, class: "name" });
  const status = h("p", { class: "status small" });
  const button = h("button", { class: "primary", type: "submit" }, "Deploy");
  const form = h(
    "form",
    {
      class: "store-item card",
      dataset: { store: item.name },
      onsubmit: async (event) => {
        event.preventDefault();
        const name = nameInput.value.trim();
        button.disabled = true;
        replace(status, "Deploying… (an image the store builds may take a while the first time)");
        try {
          let verb = "Deployed";
          try {
            await postJSON("/system/functions", spec(item, name));
          } catch (error) {
            if (!(error instanceof ApiError && error.status === 409)) throw error;
            await postJSON("/system/functions", spec(item, name), "PUT");
            verb = "Updated";
          }
          replace(status, `${verb} ${name}; waiting for a replica…`);
          toast(`${verb} ${name}`, "ok");
          await waitReady(name, status, alive);
        } catch (error) {
          replace(status, h("span", { class: "error" }, error.message));
        } finally {
          button.disabled = false;
        }
      },
    },
    h("h3", {}, item.title || item.name),
    h("p", {}, item.description),
    h("p", { class: "mono small muted" }, item.image, item.fprocess ? ` · fprocess: ${item.fprocess}` : ""),
    h("div", { class: "row" }, h("label", { class: "inline" }, "Name ", nameInput), button),
    status,
  );
  return form;
}

export default function mount(root) {
  let alive = true;
  const list = h("div", { class: "store-grid" }, h("p", { class: "muted" }, "Loading the store…"));
  replace(root, card("Deploy from the store", h("p", { class: "muted small" }, "Ready-made functions shipped with pyfaas; nothing is downloaded but what a function's own build needs."), list));
  getJSON("/ui/api/store").then(
    (items) => replace(list, items.map((item) => entry(item, () => alive))),
    (error) => replace(list, h("p", { class: "error" }, error.message)),
  );
  return () => (alive = false);
}
