"""A small Chrome DevTools Protocol client over `--remote-debugging-pipe` (standard library only).

Chromium reads commands from its fd 3 and writes replies and events to its fd 4, each message JSON
followed by a NUL byte. Pages are found and driven the way a person would: fields by their label's
text (or aria-label, or placeholder), buttons and links by their visible text (or aria-label).
"""

import json
import os
import select
import shutil
import signal
import subprocess
import time

PROGRAMS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = [
    "--headless=new",
    # Chromium's own sandbox needs namespaces the mission's sandbox refuses.
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
    "--disable-default-apps", "--disable-extensions", "--disable-sync",
    # No crash handler process: it cannot run inside the mission's sandbox.
    "--disable-breakpad", "--metrics-recording-only", "--mute-audio", "--password-store=basic",
    "--window-size=1280,900", "--remote-debugging-pipe",
]
DEFAULT_TIMEOUT_S = 10

# Helpers defined in every page before an action (idempotent).
PAGE_HELPERS = r"""
(() => {
  if (window.__tc) return;
  const visible = (el) => {
    if (!el || !el.isConnected) return false;
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || style.display === "none") return false;
    return el.getClientRects().length > 0;
  };
  const norm = (s) => (s || "").replace(/\s+/g, " ").trim();
  const bySelector = (key) => {
    try { return Array.from(document.querySelectorAll(key)).filter(visible); } catch (e) { return []; }
  };
  const field = (key) => {
    const fields = "input, textarea, select, [contenteditable=''], [contenteditable='true']";
    for (const exact of [true, false]) {
      const match = (text) => exact ? norm(text) === key : norm(text).startsWith(key);
      for (const label of document.querySelectorAll("label")) {
        if (!match(label.textContent)) continue;
        const control = label.control || label.querySelector(fields);
        if (visible(control)) return control;
      }
      for (const el of document.querySelectorAll(fields)) {
        if (!visible(el)) continue;
        const labelledBy = (el.getAttribute("aria-labelledby") || "").split(/\s+/)
          .map((id) => document.getElementById(id)).filter(Boolean).map((n) => n.textContent).join(" ");
        if (match(el.getAttribute("aria-label")) || match(labelledBy) || match(el.getAttribute("placeholder"))) return el;
      }
    }
    return bySelector(key)[0] || null;
  };
  const clickable = (key) => {
    const kinds = "button, a, [role=button], [role=link], [role=tab], [role=menuitem], input[type=submit], input[type=button], summary";
    const all = Array.from(document.querySelectorAll(kinds)).filter(visible);
    const text = (el) => norm(el.tagName === "INPUT" ? el.value : el.innerText);
    for (const test of [
      (el) => text(el) === key || norm(el.getAttribute("aria-label")) === key,
      (el) => text(el).startsWith(key),
    ]) {
      const found = all.find(test);
      if (found) return found;
    }
    return bySelector(key)[0] || null;
  };
  window.__tc = {
    fill(key, value) {
      const el = field(key);
      if (!el) return false;
      el.focus();
      if (el.isContentEditable) {
        el.textContent = value;
      } else {
        const proto = el.tagName === "TEXTAREA" ? HTMLTextAreaElement.prototype
          : el.tagName === "SELECT" ? HTMLSelectElement.prototype : HTMLInputElement.prototype;
        Object.getOwnPropertyDescriptor(proto, "value").set.call(el, value);
      }
      el.dispatchEvent(new Event("input", { bubbles: true }));
      el.dispatchEvent(new Event("change", { bubbles: true }));
      return true;
    },
    click(key) {
      const el = clickable(key);
      if (!el) return false;
      el.scrollIntoView({ block: "center" });
      el.click();
      return true;
    },
    press(key, which) {
      const el = field(key);
      if (!el) return false;
      el.focus();
      const init = { key: which, code: which, bubbles: true, cancelable: true };
      const go = el.dispatchEvent(new KeyboardEvent("keydown", init));
      el.dispatchEvent(new KeyboardEvent("keypress", init));
      el.dispatchEvent(new KeyboardEvent("keyup", init));
      if (go && which === "Enter" && el.form) el.form.requestSubmit();
      return true;
    },
    text() { return document.body ? document.body.innerText : ""; },
    near(key) {
      // The text around the smallest visible element whose own text starts with `key`.
      const candidates = Array.from(document.querySelectorAll("body *")).filter(
        (el) => visible(el) && norm(el.innerText).startsWith(key));
      if (!candidates.length) return null;
      candidates.sort((a, b) => norm(a.innerText).length - norm(b.innerText).length);
      let el = candidates[0];
      const row = el.closest("li, tr, [role=listitem], [role=option], [role=row]");
      if (row) return norm(row.innerText);
      return norm((el.parentElement || el).innerText);
    },
  };
})()
"""


class BrowserError(Exception):
    pass


def find_chromium():
    for name in PROGRAMS:
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One Chromium process; `new_page()` opens a tab, `new_page(isolated=True)` a tab with its own
    cookie jar (a new browser context)."""

    def __init__(self, program, profile_dir):
        self.next_id = 0
        self.buffer = b""
        cmd_read, cmd_write = os.pipe()    # we write commands, Chromium reads them on fd 3
        out_read, out_write = os.pipe()    # Chromium writes replies on fd 4, we read them

        def child_fds():
            # Runs in the child before exec: put the pipe ends at 3 and 4 (through fresh copies, so
            # an end already sitting at 3 or 4 is not overwritten first).
            a, b = os.dup(cmd_read), os.dup(out_write)
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.log_path = os.path.join(str(profile_dir), "chromium.log")
        log = open(self.log_path, "wb")
        # Chromium binds a socket beneath $TMPDIR, and a socket path may not exceed 107 bytes: in
        # a deep folder it stops at start. It runs in its profile folder with TMPDIR=. instead.
        env = dict(os.environ, TMPDIR=".")
        try:
            self.proc = subprocess.Popen(
                [program, *FLAGS, f"--user-data-dir={os.path.abspath(str(profile_dir))}", "about:blank"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=str(profile_dir), env=env,
                # Not `pass_fds`: the child closes every fd outside that list after `preexec_fn`
                # ran, which would close 3 and 4 again. Our other fds are not inheritable (PEP 446).
                close_fds=False, preexec_fn=child_fds, start_new_session=True,
            )
        finally:
            log.close()
            os.close(cmd_read)
            os.close(out_write)
        self.cmd = cmd_write
        self.out = out_read
        self.send("Target.setDiscoverTargets", {"discover": False}, timeout=30)

    def send(self, method, params=None, session=None, timeout=DEFAULT_TIMEOUT_S):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode("utf-8") + b"\0"
        try:
            while data:
                data = data[os.write(self.cmd, data):]
        except OSError as exc:
            raise BrowserError(f"Chromium is gone ({exc}): {self.log_tail()}") from None
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline, method)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})

    def _read(self, deadline, method):
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"no reply to {method} in time")
            ready, _, _ = select.select([self.out], [], [], left)
            if ready:
                chunk = os.read(self.out, 1 << 16)
                if not chunk:
                    raise BrowserError(f"Chromium closed its pipe: {self.log_tail()}")
                self.buffer += chunk
        raw, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(raw)

    def new_page(self, url="about:blank", isolated=False):
        params = {"url": "about:blank"}
        if isolated:
            params["browserContextId"] = self.send("Target.createBrowserContext", {"disposeOnDetach": True})["browserContextId"]
        target = self.send("Target.createTarget", params)["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, params.get("browserContextId"))
        page.send("Page.enable")
        page.send("Runtime.enable")
        if url != "about:blank":
            page.goto(url)
        return page

    def log_tail(self, limit=2000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-limit:]
        except OSError:
            return ""

    def close(self):
        for fd in (self.cmd, self.out):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except OSError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait()
        else:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # helpers left in the group
            except OSError:
                pass


class Page:
    def __init__(self, browser, session, context=None):
        self.browser = browser
        self.session = session
        self.context = context

    def send(self, method, params=None, timeout=DEFAULT_TIMEOUT_S):
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"script failed: {text}")
        return result.get("result", {}).get("value")

    def _helper(self, call):
        return self.evaluate(PAGE_HELPERS + ";" + call)

    def goto(self, url, timeout=DEFAULT_TIMEOUT_S):
        self.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.evaluate("document.readyState") == "complete" and self.evaluate("location.href").startswith(url.split("#")[0]):
                    return
            except BrowserError:
                pass
            time.sleep(0.05)
        raise BrowserError(f"{url} did not load within {timeout}s")

    def reload(self, timeout=DEFAULT_TIMEOUT_S):
        self.goto(self.url(), timeout)

    def url(self):
        return self.evaluate("location.href")

    def text(self):
        return self._helper("window.__tc.text()") or ""

    def _until(self, what, attempt, timeout):
        deadline = time.monotonic() + timeout
        while True:
            value = attempt()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} within {timeout}s; the page shows:\n{self.text()[:3000]}")
            time.sleep(0.1)

    def fill(self, key, value, timeout=DEFAULT_TIMEOUT_S):
        """Type `value` into the field labelled `key` (waits for it to appear)."""
        self._until(f"no field labelled {key!r}",
                    lambda: self._helper(f"window.__tc.fill({json.dumps(key)}, {json.dumps(value)})"), timeout)

    def click(self, key, timeout=DEFAULT_TIMEOUT_S):
        """Click the button or link showing `key` (waits for it to appear)."""
        self._until(f"no button or link {key!r}", lambda: self._helper(f"window.__tc.click({json.dumps(key)})"), timeout)

    def press_enter(self, key, timeout=DEFAULT_TIMEOUT_S):
        self._until(f"no field labelled {key!r}", lambda: self._helper(f"window.__tc.press({json.dumps(key)}, 'Enter')"), timeout)

    def wait_for_text(self, text, timeout=DEFAULT_TIMEOUT_S):
        self._until(f"the text {text!r} did not appear", lambda: text in self.text(), timeout)

    def wait_for_no_text(self, text, timeout=DEFAULT_TIMEOUT_S):
        self._until(f"the text {text!r} did not go away", lambda: text not in self.text(), timeout)

    def near(self, key):
        """The visible text of the row (list item) holding the element whose text starts with `key`."""
        return self._helper(f"window.__tc.near({json.dumps(key)})")

    def wait_near(self, key, predicate, what, timeout=DEFAULT_TIMEOUT_S):
        return self._until(what, lambda: (lambda t: t if t is not None and predicate(t) else None)(self.near(key)), timeout)

    def cookies(self):
        params = {"browserContextId": self.context} if self.context else {}
        return self.browser.send("Storage.getCookies", params)["cookies"]
