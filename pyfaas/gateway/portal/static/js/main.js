// The portal's shell: sign-in, the navigation and the view for the address's
// hash (#/functions, #/calls/ID, #/logs?name=gateway, ...). Each view's mount
// answers a function that stops what it started (polls, log streams).

import { onAuthRequired, signIn, signOut, signedInUser } from "./api.js";
import * as rates from "./rates.js";
import { h, replace } from "./dom.js";
import functions from "./views/functions.js";
import store from "./views/store.js";
import invoke from "./views/invoke.js";
import calls from "./views/calls.js";
import dead from "./views/dead.js";
import logs from "./views/logs.js";
import bin from "./views/bin.js";

const VIEWS = { functions, store, invoke, calls, dead, logs, bin };
let stopView = () => {};

function route() {
  const raw = location.hash.replace(/^#\/?/, "") || "functions";
  const [path, query = ""] = raw.split("?");
  const [name, ...rest] = path.split("/");
  return { name: VIEWS[name] ? name : "functions", arg: rest.map(decodeURIComponent).join("/"), params: new URLSearchParams(query) };
}

function show() {
  stopView();
  const { name, arg, params } = route();
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.view === name);
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const root = document.getElementById("view");
  root.dataset.view = name;
  replace(root);
  document.title = `pyfaas · ${document.querySelector(`#nav a[data-view="${name}"]`).textContent}`;
  try {
    stopView = VIEWS[name](root, { arg, params }) || (() => {});
  } catch (error) {
    replace(root, h("p", { class: "error" }, String(error)));
    stopView = () => {};
  }
}

function whoAmI() {
  const user = signedInUser();
  document.getElementById("who").textContent = user ? `Signed in as ${user}` : "";
  document.getElementById("signout").hidden = !user;
}

// Without credentials the page shows the form alone: no view runs, nothing polls.
function openLogin(message = "") {
  stopView();
  stopView = () => {};
  replace(document.getElementById("view"));
  whoAmI();
  const overlay = document.getElementById("login");
  document.getElementById("login-error").textContent = message;
  overlay.hidden = false;
  overlay.querySelector("input[name=password]").focus();
}

function signedIn() {
  document.getElementById("login").hidden = true;
  whoAmI();
  rates.start();
  rates.poll();
  show();
}

function setUpLogin() {
  const form = document.getElementById("login-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const error = document.getElementById("login-error");
    error.textContent = "";
    try {
      if (await signIn(String(data.get("user")), String(data.get("password")))) {
        form.reset();
        signedIn();
      } else {
        error.textContent = "Wrong user or password.";
      }
    } catch (failure) {
      error.textContent = `The gateway did not answer: ${failure.message}`;
    }
  });
  document.getElementById("signout").addEventListener("click", () => {
    signOut();
    openLogin();
  });
  onAuthRequired(() => {
    if (document.getElementById("login").hidden) openLogin("The gateway asks for the admin credentials again.");
  });
}

setUpLogin();
window.addEventListener("hashchange", () => {
  if (signedInUser()) show();
});
if (signedInUser()) signedIn();
else openLogin();
