// Team chat page: plain JavaScript over the JSON API. The session lives in an HttpOnly cookie.
"use strict";

const POLL_MS = 1000;
const state = {
  user: null,
  // Bumped at every sign-in and sign-out: answers to requests of an earlier session are dropped.
  epoch: 0,
  timer: null,
};

function $(id) {
  return document.getElementById(id);
}

async function api(method, path, body) {
  const options = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
  }
  if (!response.ok) {
    const error = new Error((data && data.error) || "request failed with status " + response.status);
    error.status = response.status;
    throw error;
  }
  return data;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function showError(message) {
  $("app-error").textContent = message || "";
}

// -- accounts --------------------------------------------------------------------------------

async function authenticate(kind) {
  $("auth-error").textContent = "";
  const username = $("username").value;
  const password = $("password").value;
  try {
    const data = await api("POST", "/api/" + kind, { username, password });
    $("password").value = "";
    signedIn(data.user);
  } catch (err) {
    $("auth-error").textContent = err.message;
  }
}

function signedIn(user) {
  state.user = user;
  state.epoch += 1;
  $("auth").hidden = true;
  $("app").hidden = false;
  $("whoami").textContent = "Signed in as " + user.username;
  if (!location.hash.startsWith("#/channels")) {
    location.hash = "#/channels";
  }
}

function signedOut() {
  state.user = null;
  state.epoch += 1;
  stopPolling();
  $("app").hidden = true;
  $("auth").hidden = false;
  $("whoami").textContent = "";
  if (location.hash) {
    history.replaceState(null, "", location.pathname);
  }
}

async function signOut() {
  try {
    await api("POST", "/api/signout");
  } catch (err) {
    // Signed out either way.
  }
  signedOut();
}

function startPolling() {
  stopPolling();
  state.timer = setInterval(poll, POLL_MS);
  poll();
}

function stopPolling() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
}

async function poll() {
  if (!state.user) return;
  const epoch = state.epoch;
  try {
    await api("GET", "/api/me");
  } catch (err) {
    if (epoch !== state.epoch) return;
    if (err.status === 401) signedOut();
    else showError(err.message);
  }
}

// -- start -----------------------------------------------------------------------------------

async function start() {
  $("auth-form").addEventListener("submit", (event) => {
    event.preventDefault();
    authenticate("signin");
  });
  $("signup-button").addEventListener("click", () => authenticate("signup"));
  $("signout-button").addEventListener("click", signOut);
  try {
    const data = await api("GET", "/api/me");
    signedIn(data.user);
  } catch (err) {
    signedOut();
  }
}

start();
