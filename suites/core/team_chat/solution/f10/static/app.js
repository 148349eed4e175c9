// Team chat page: plain JavaScript over the JSON API. The session lives in an HttpOnly cookie.
"use strict";

const POLL_MS = 1000;
const state = {
  user: null,
  // Bumped at every sign-in and sign-out: answers to requests of an earlier session are dropped.
  epoch: 0,
  timer: null,
  channels: [],
  channelsShown: null,
  current: null,
  thread: null,
  rendered: {},
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
  route();
  startPolling();
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
    await loadChannels();
    if (state.current && isMember(state.current)) await loadMessages();
    if (state.thread) await loadThread();
  } catch (err) {
    if (epoch !== state.epoch) return;
    if (err.status === 401) signedOut();
    else showError(err.message);
  }
}

// -- channels --------------------------------------------------------------------------------

function channelNamed(name) {
  return state.channels.find((c) => c.name === name) || null;
}

function isMember(name) {
  const channel = channelNamed(name);
  return Boolean(channel && channel.member);
}

async function loadChannels() {
  const epoch = state.epoch;
  const data = await api("GET", "/api/channels");
  if (epoch !== state.epoch) return;
  state.channels = data.channels;
  renderChannels();
}

function renderChannels() {
  const snapshot = JSON.stringify([state.current, state.channels]);
  if (snapshot === state.channelsShown) return;
  state.channelsShown = snapshot;
  const list = $("channel-list");
  list.replaceChildren();
  for (const channel of state.channels) {
    const item = element("li");
    item.dataset.channel = channel.name;
    const link = element("a", channel.member ? "member" : "not-member", "#" + channel.name);
    link.href = "#/channels/" + encodeURIComponent(channel.name);
    if (channel.name === state.current) {
      link.classList.add("current");
      link.setAttribute("aria-current", "page");
    }
    item.append(link);
    if (channel.unread > 0) {
      const badge = element("span", "badge", String(channel.unread));
      badge.title = channel.unread + " unread";
      item.append(" ", badge);
    }
    list.append(item);
  }
  renderChannelHeader();
}

function renderChannelHeader() {
  const channel = state.current ? channelNamed(state.current) : null;
  $("channel-title").textContent = channel ? "#" + channel.name : "Pick a channel";
  $("channel-topic").textContent = channel ? channel.topic : "";
  $("join-panel").hidden = !channel || channel.member;
  $("composer").hidden = !channel || !channel.member;
  if (!channel || !channel.member) {
    $("message-list").replaceChildren();
    state.rendered.messages = null;
  }
}

async function createChannel(event) {
  event.preventDefault();
  const name = $("new-channel").value.trim().replace(/^#/, "");
  if (!name) return;
  try {
    const data = await api("POST", "/api/channels", { name });
    $("new-channel").value = "";
    showError("");
    await loadChannels();
    location.hash = "#/channels/" + encodeURIComponent(data.channel.name);
  } catch (err) {
    showError(err.message);
  }
}

async function joinChannel() {
  if (!state.current) return;
  try {
    await api("POST", "/api/channels/" + encodeURIComponent(state.current) + "/join");
    showError("");
    await poll();
  } catch (err) {
    showError(err.message);
  }
}

function route() {
  const match = location.hash.match(/^#\/channels\/([^/]+)/);
  const name = match ? decodeURIComponent(match[1]) : null;
  if (name !== state.current) {
    state.current = name;
    state.rendered.messages = null;
    closeThread();
    renderChannels();
    if (state.user) poll();
  }
}

// -- messages and threads --------------------------------------------------------------------

function appendText(container, text) {
  // Mentions (@name) are highlighted.
  const pattern = /(^|[^A-Za-z0-9_@])(@[A-Za-z0-9_]{3,20})/g;
  let last = 0;
  let match;
  while ((match = pattern.exec(text)) !== null) {
    const start = match.index + match[1].length;
    container.append(text.slice(last, start));
    container.append(element("span", "mention", match[2]));
    last = start + match[2].length;
  }
  container.append(text.slice(last));
}

function renderMessage(message, options) {
  const item = element("li", "message");
  item.dataset.id = message.id;
  const meta = element("div", "meta");
  meta.append(element("span", "author", message.author));
  if (options && options.showChannel) meta.append(element("span", "channel", "#" + message.channel + " "));
  const time = element("time", "", message.created_at.slice(11, 16));
  time.dateTime = message.created_at;
  meta.append(time);
  item.append(meta);
  const text = element("div", "text");
  appendText(text, message.text);
  item.append(text);
  const actions = element("div", "actions");
  actions.append(renderReactions(message));
  if (message.parent_id === null && !(options && options.inThread)) {
    const reply = element("button", "reply", "Reply");
    reply.type = "button";
    reply.addEventListener("click", () => openThread(message.id));
    actions.append(reply);
    if (message.reply_count > 0) {
      actions.append(" ", element("span", "reply-count",
        message.reply_count === 1 ? "1 reply" : message.reply_count + " replies"));
    }
  }
  item.append(actions);
  return item;
}

function renderList(list, key, messages, options) {
  const snapshot = JSON.stringify(messages);
  if (state.rendered[key] === snapshot) return false;
  state.rendered[key] = snapshot;
  list.replaceChildren(...messages.map((m) => renderMessage(m, options)));
  return true;
}

async function loadMessages() {
  const name = state.current;
  const epoch = state.epoch;
  const data = await api("GET", "/api/channels/" + encodeURIComponent(name) + "/messages");
  if (name !== state.current || epoch !== state.epoch) return;
  const list = $("message-list");
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 20;
  if (renderList(list, "messages", data.messages) && atBottom) {
    list.scrollTop = list.scrollHeight;
  }
}

async function sendMessage(event) {
  event.preventDefault();
  const input = $("message");
  const text = input.value.trim();
  if (!text || !state.current) return;
  try {
    await api("POST", "/api/channels/" + encodeURIComponent(state.current) + "/messages", { text });
    input.value = "";
    showError("");
    await loadMessages();
  } catch (err) {
    showError(err.message);
  }
}

function openThread(id) {
  closeMentions();
  closeSearch();
  state.thread = id;
  state.rendered.parent = null;
  state.rendered.replies = null;
  $("thread").hidden = false;
  loadThread().catch((err) => showError(err.message));
}

function closeThread() {
  state.thread = null;
  $("thread").hidden = true;
}

async function loadThread() {
  const id = state.thread;
  const epoch = state.epoch;
  const data = await api("GET", "/api/messages/" + id + "/replies");
  if (id !== state.thread || epoch !== state.epoch) return;
  renderList($("thread-parent"), "parent", [data.message], { inThread: true });
  renderList($("reply-list"), "replies", data.replies, { inThread: true });
}

async function sendReply(event) {
  event.preventDefault();
  const input = $("reply");
  const text = input.value.trim();
  if (!text || !state.thread) return;
  try {
    await api("POST", "/api/messages/" + state.thread + "/replies", { text });
    input.value = "";
    showError("");
    await loadThread();
    if (state.current) await loadMessages();
  } catch (err) {
    showError(err.message);
  }
}

// -- reactions -------------------------------------------------------------------------------

const PALETTE = ["👍", "❤️", "😂", "🎉"];

function renderReactions(message) {
  const box = element("span", "reactions");
  const emojis = PALETTE.slice();
  for (const reaction of message.reactions) {
    if (!emojis.includes(reaction.emoji)) emojis.push(reaction.emoji);
  }
  for (const emoji of emojis) {
    const reaction = message.reactions.find((r) => r.emoji === emoji);
    const count = reaction ? reaction.count : 0;
    const button = element("button", "", count ? emoji + " " + count : emoji);
    button.type = "button";
    button.title = reaction ? reaction.users.join(", ") : "React with " + emoji;
    button.setAttribute("aria-pressed", String(Boolean(reaction && reaction.users.includes(state.user.username))));
    button.addEventListener("click", () => toggleReaction(message.id, emoji));
    box.append(button, " ");
  }
  return box;
}

async function toggleReaction(id, emoji) {
  try {
    await api("POST", "/api/messages/" + id + "/reactions", { emoji });
    showError("");
    await poll();
  } catch (err) {
    showError(err.message);
  }
}

// -- mentions --------------------------------------------------------------------------------

async function openMentions() {
  closeThread();
  closeSearch();
  $("mentions").hidden = false;
  try {
    const data = await api("GET", "/api/mentions");
    state.rendered.mentions = null;
    renderList($("mention-list"), "mentions", data.messages, { inThread: true, showChannel: true });
    if (!data.messages.length) $("mention-list").replaceChildren(element("li", "", "Nobody has mentioned you yet."));
  } catch (err) {
    showError(err.message);
  }
}

function closeMentions() {
  $("mentions").hidden = true;
}

// -- search ----------------------------------------------------------------------------------

async function search(event) {
  event.preventDefault();
  const q = $("search").value.trim();
  if (!q) return;
  closeThread();
  closeMentions();
  try {
    const data = await api("GET", "/api/search?q=" + encodeURIComponent(q));
    $("search-results").hidden = false;
    $("search-summary").textContent =
      data.total === 1 ? "1 message found" : data.total + " messages found";
    state.rendered.results = null;
    renderList($("result-list"), "results", data.messages, { inThread: true, showChannel: true });
    showError("");
  } catch (err) {
    showError(err.message);
  }
}

function closeSearch() {
  $("search-results").hidden = true;
}

// -- start -----------------------------------------------------------------------------------

async function start() {
  $("auth-form").addEventListener("submit", (event) => {
    event.preventDefault();
    authenticate("signin");
  });
  $("signup-button").addEventListener("click", () => authenticate("signup"));
  $("signout-button").addEventListener("click", signOut);
  $("new-channel-form").addEventListener("submit", createChannel);
  $("join-button").addEventListener("click", joinChannel);
  window.addEventListener("hashchange", route);
  $("composer").addEventListener("submit", sendMessage);
  $("reply-form").addEventListener("submit", sendReply);
  $("close-thread").addEventListener("click", closeThread);
  $("mentions-button").addEventListener("click", openMentions);
  $("close-mentions").addEventListener("click", closeMentions);
  $("search-form").addEventListener("submit", search);
  $("close-search").addEventListener("click", closeSearch);
  try {
    const data = await api("GET", "/api/me");
    signedIn(data.user);
  } catch (err) {
    signedOut();
  }
}

start();
