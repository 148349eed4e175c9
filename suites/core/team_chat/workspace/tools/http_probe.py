#!/usr/bin/env python3
"""Start an HTTP server command on a free port, send it some requests, print the responses, stop it.

Usage:
    python tools/http_probe.py --server 'python chat_server.py --port {port} --db {tmp}/chat.db' \\
        '@alice POST /api/signup {"username": "alice", "password": "s3cret-pass"}' \\
        '@alice GET /api/me' \\
        RESTART \\
        '@alice GET /api/me'

Placeholders in the --server command:
    {port}  a free TCP port on 127.0.0.1 (a new one after every RESTART)
    {tmp}   a temporary directory that lives as long as the probe (deleted at the end)

Each request is `[@USER] METHOD PATH [BODY]`; the body (everything after the path) is sent verbatim
with `Content-Type: application/json`, so invalid JSON can be sent on purpose. `@USER` names a
cookie jar: cookies a response sets (`Set-Cookie`) are kept in the jar of the request that got them
and sent with that jar's later requests, so `@alice` and `@bob` are two browsers. Requests without
`@USER` use a jar of their own. `RESTART` stops the server and starts it again (same {tmp} and jars,
so the data and the sessions survive if the server stores them).

For every request one line is printed:
    [@USER ]METHOD PATH -> STATUS BODY
where BODY is the JSON response re-encoded compactly with sorted keys, e.g.
    @alice GET /api/me -> 200 {"user":{"created_at":"...","id":1,"username":"alice"}}
A response that is not JSON is printed as `(not json) <text>`; an empty body prints nothing after
the status. With --headers, each response line is followed by its headers, indented.

The server is always stopped (SIGTERM, then SIGKILL) before the probe exits, also when the probe
itself gets SIGTERM.

Exit status: 0 when every request got a response; 1 when the server did not start, died or a
request failed at the connection level; 2 for usage errors.
"""

import argparse
import http.client
import json
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, template, tmp, wait_s):
        self.template = template
        self.tmp = tmp
        self.wait_s = wait_s
        self.proc = None
        self.port = None
        self.log = None

    def start(self):
        self.port = free_port()
        command = self.template.replace("{port}", str(self.port)).replace("{tmp}", self.tmp)
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            shlex.split(command),
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.wait_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with status {self.proc.returncode} before accepting connections")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not accept connections on port {self.port} within {self.wait_s}s")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def output_tail(self, limit=2000):
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-limit:]


def render(data):
    if not data:
        return ""
    try:
        value = json.loads(data)
    except ValueError:
        text = data.decode("utf-8", "replace").replace("\n", "\\n")
        return "(not json) " + text[:500]
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def update_jar(jar, header_values):
    """Keep the cookies of `Set-Cookie` headers; a cookie with `Max-Age=0` is dropped."""
    for value in header_values:
        first, _, attributes = value.partition(";")
        name, sep, cookie = first.strip().partition("=")
        if not sep or not name:
            continue
        expired = any(a.strip().lower() in ("max-age=0", "max-age=-1") for a in attributes.split(";"))
        if expired:
            jar.pop(name, None)
        else:
            jar[name] = cookie


def send(port, spec, jars, show_headers, timeout):
    spec = spec.strip()
    who = ""
    if spec.startswith("@"):
        who, _, spec = spec.partition(" ")
    parts = spec.strip().split(None, 2)
    if len(parts) < 2:
        raise ValueError(f"a request is `[@USER] METHOD PATH [BODY]`, got {spec!r}")
    method, path = parts[0].upper(), parts[1]
    body = parts[2].encode("utf-8") if len(parts) == 3 else None
    headers = {"Content-Type": "application/json"} if body is not None else {}
    jar = jars.setdefault(who, {})
    if jar:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in jar.items())
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    update_jar(jar, response.headers.get_all("Set-Cookie") or [])
    line = f"{who + ' ' if who else ''}{method} {path} -> {response.status}"
    rendered = render(data)
    print(f"{line} {rendered}" if rendered else line, flush=True)
    if show_headers:
        for name, value in response.getheaders():
            print(f"    {name}: {value}", flush=True)


def _terminate(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through `finally`, which stops the server


def main(argv=None):
    signal.signal(signal.SIGTERM, _terminate)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, help="server command; may use {port} and {tmp}")
    parser.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the server (default 10)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    parser.add_argument("--headers", action="store_true", help="also print response headers")
    parser.add_argument("requests", nargs="*", help="`[@USER] METHOD PATH [BODY]` or RESTART")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="http-probe-") as tmp:
        server = Server(args.server, tmp, args.wait)
        jars = {}
        try:
            server.start()
            for spec in args.requests:
                if spec.strip().upper() == "RESTART":
                    server.stop()
                    server.start()
                    print("RESTART", flush=True)
                    continue
                send(server.port, spec, jars, args.headers, args.timeout)
                if server.proc.poll() is not None:
                    raise RuntimeError(f"server exited with status {server.proc.returncode}")
        except (RuntimeError, OSError, ValueError, http.client.HTTPException) as exc:
            print(f"http_probe: {exc}", file=sys.stderr)
            tail = server.output_tail()
            if tail:
                print("--- server output ---\n" + tail, file=sys.stderr)
            return 1
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
