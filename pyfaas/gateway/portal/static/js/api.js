// The gateway's API as the portal calls it: same origin, the admin credentials
// on /system and /ui, none on invocations (a function never sees them).
//
// The credentials come from the sign-in form and are kept for this tab only
// (sessionStorage), sent as the Authorization header with the browser's own
// store left out (credentials: "omit"). Each admin request says it is the
// portal's (X-Requested-With), so a 401 comes without the Basic challenge
// and back here, to the form, instead of as the browser's prompt.

const KEY = "pyfaas.portal.auth";
const USER_KEY = "pyfaas.portal.user";
const listeners = new Set();
const PORTAL = { "X-Requested-With": "pyfaas-portal" };

export class AuthRequired extends Error {}

export class ApiError extends Error {
  constructor(status, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
  }
}

export function onAuthRequired(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function encode(user, password) {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return `Basic ${btoa(binary)}`;
}

export function signedInUser() {
  return sessionStorage.getItem(KEY) ? sessionStorage.getItem(USER_KEY) : null;
}

// Checks the credentials against the gateway and keeps them if they are right.
export async function signIn(user, password) {
  const header = encode(user, password);
  const answer = await fetch(url("/system/info"), {
    headers: { ...PORTAL, Authorization: header },
    credentials: "omit",
    cache: "no-store",
  });
  if (answer.status === 401) return false;
  if (!answer.ok) throw new ApiError(answer.status, (await answer.text()).trim());
  sessionStorage.setItem(KEY, header);
  sessionStorage.setItem(USER_KEY, user);
  return true;
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(USER_KEY);
}

// Absolute on this origin: a page opened as http://user:pw@host/ui/ would
// otherwise make every relative URL carry the credentials, which fetch refuses.
export function url(path) {
  return new URL(path, location.origin).href;
}

function required() {
  for (const listener of listeners) listener();
  throw new AuthRequired("the gateway asks for the admin credentials");
}

// One request. admin: send the admin credentials (the /system API); false for
// invocations. Answers the Response; a 401 on an admin call is AuthRequired.
export async function request(path, { method = "GET", headers = {}, body, signal, admin = true } = {}) {
  const sent = new Headers(headers);
  const init = { method, headers: sent, signal, cache: "no-store" };
  if (body !== undefined && body !== null && method !== "GET" && method !== "HEAD") init.body = body;
  init.credentials = "omit";
  if (admin) {
    const stored = sessionStorage.getItem(KEY);
    if (!stored) return required();
    sent.set("Authorization", stored);
    for (const [name, value] of Object.entries(PORTAL)) sent.set(name, value);
  }
  const answer = await fetch(url(path), init);
  if (admin && answer.status === 401) {
    signOut(); // the gateway no longer takes them (its password changed)
    return required();
  }
  return answer;
}

async function failure(answer) {
  const text = (await answer.text()).trim();
  return new ApiError(answer.status, text || `${answer.status} ${answer.statusText}`);
}

// A JSON answer, or ApiError with the gateway's one-line message.
export async function getJSON(path, options) {
  const answer = await request(path, options);
  if (!answer.ok) throw await failure(answer);
  return answer.json();
}

// A state-changing call; answers the Response if 2xx, else ApiError.
export async function send(path, options) {
  const answer = await request(path, options);
  if (!answer.ok) throw await failure(answer);
  return answer;
}

export function postJSON(path, data, method = "POST") {
  return send(path, { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) });
}
