'use strict';
// Hidden acceptance tests, milestone m1: the summary of a Common Log Format access log.

const test = require('node:test');
const { after } = test;
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const SCRIPT = path.join(__dirname, '..', 'logstats.js');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'logstats-m1-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

const LINES = [
  '192.0.2.1 - - [01/Feb/2024:09:00:00 +0000] "GET /home HTTP/1.1" 200 512',
  '192.0.2.1 - - [01/Feb/2024:09:00:05 +0000] "GET /style.css HTTP/1.1" 200 128',
  '192.0.2.2 - carol [01/Feb/2024:09:01:00 +0000] "GET /home HTTP/1.1" 304 -',
  '192.0.2.3 - - [01/Feb/2024:09:02:00 +0000] "GET /cart HTTP/1.1" 200 2048',
  '192.0.2.3 - - [01/Feb/2024:09:02:30 +0000] "POST /cart HTTP/1.1" 201 64',
  '192.0.2.4 - - [01/Feb/2024:09:03:00 +0000] "GET /old-page HTTP/1.1" 301 0',
  '192.0.2.5 - - [01/Feb/2024:09:04:00 +0000] "GET /missing HTTP/1.1" 404 90',
  '192.0.2.5 - - [01/Feb/2024:09:04:01 +0000] "GET /home HTTP/1.1" 200 512',
  '192.0.2.6 - - [01/Feb/2024:09:05:00 +0000] "GET /api/items HTTP/1.1" 500 33',
  '192.0.2.6 - - [01/Feb/2024:09:05:02 +0000] "GET /api/items HTTP/1.1" 502 33',
  '192.0.2.7 - - [01/Feb/2024:09:06:00 +0000] "GET /cart HTTP/1.1" 200 2048',
  '192.0.2.8 - - [01/Feb/2024:09:07:00 +0000] "GET /about HTTP/1.1" 200 700',
  '192.0.2.9 - - [01/Feb/2024:09:08:00 +0000] "GET /zebra HTTP/1.1" 200 10',
  '192.0.2.9 - - [01/Feb/2024:09:08:10 +0000] "GET /home HTTP/1.1" 200 512',
];
const LOG = `${LINES.join('\n')}\n`;

const SUMMARY_HEAD = 'requests: 14\n1xx: 0\n2xx: 9\n3xx: 2\n4xx: 1\n5xx: 2\ntop paths:\n';
const ALL_PATHS = [
  '  4 /home', '  3 /cart', '  2 /api/items', '  1 /about', '  1 /missing', '  1 /old-page',
  '  1 /style.css', '  1 /zebra',
];
const ZERO_SUMMARY = 'requests: 0\n1xx: 0\n2xx: 0\n3xx: 0\n4xx: 0\n5xx: 0\ntop paths:\n';

let counter = 0;
function writeLog(text, name) {
  counter += 1;
  const file = path.join(TMP, name || `log-${counter}.log`);
  fs.writeFileSync(file, text);
  return file;
}

function logstats(args, input = '') {
  assert.ok(fs.existsSync(SCRIPT), 'logstats.js is missing at the repository root');
  const result = spawnSync(process.execPath, [SCRIPT, ...args], {
    input,
    encoding: 'utf8',
    cwd: TMP,
    timeout: 30000,
  });
  assert.equal(result.error, undefined, String(result.error));
  return result;
}

function ok(result) {
  assert.equal(result.status, 0, `exit status ${result.status}, stderr: ${result.stderr}`);
  return result.stdout;
}

test('m1 summary of a log file: total, status classes and the top five paths', () => {
  const result = logstats([writeLog(LOG)]);
  assert.equal(ok(result), SUMMARY_HEAD + ALL_PATHS.slice(0, 5).join('\n') + '\n');
  assert.equal(result.stderr, '');
});

test('m1 --top limits the number of paths', () => {
  assert.equal(ok(logstats(['--top', '2', writeLog(LOG)])),
    SUMMARY_HEAD + '  4 /home\n  3 /cart\n');
});

test('m1 --top=N is accepted too', () => {
  assert.equal(ok(logstats(['--top=1', writeLog(LOG)])), SUMMARY_HEAD + '  4 /home\n');
});

test('m1 --top larger than the number of paths lists every path', () => {
  assert.equal(ok(logstats([writeLog(LOG), '--top', '50'])),
    SUMMARY_HEAD + ALL_PATHS.join('\n') + '\n');
});

test('m1 paths are case-sensitive and ties come in plain string order', () => {
  const log = [
    '10.1.1.1 - - [01/Feb/2024:10:00:00 +0000] "GET /b HTTP/1.1" 200 1',
    '10.1.1.1 - - [01/Feb/2024:10:00:01 +0000] "GET /a HTTP/1.1" 200 1',
    '10.1.1.1 - - [01/Feb/2024:10:00:02 +0000] "GET /B HTTP/1.1" 200 1',
    '10.1.1.1 - - [01/Feb/2024:10:00:03 +0000] "GET /a-z HTTP/1.1" 200 1',
  ].join('\n') + '\n';
  const out = ok(logstats(['--top', '10'], log));
  assert.ok(out.endsWith('top paths:\n  1 /B\n  1 /a\n  1 /a-z\n  1 /b\n'), out);
});

test('m1 the query string is not part of the path', () => {
  const log = [
    '10.1.1.1 - - [01/Feb/2024:10:00:00 +0000] "GET /search?q=shoes HTTP/1.1" 200 1',
    '10.1.1.1 - - [01/Feb/2024:10:00:01 +0000] "GET /search?q=hats&page=2 HTTP/1.1" 200 1',
    '10.1.1.1 - - [01/Feb/2024:10:00:02 +0000] "GET /search HTTP/1.1" 200 1',
    '10.1.1.1 - - [01/Feb/2024:10:00:03 +0000] "GET /?utm=x HTTP/1.1" 200 1',
  ].join('\n') + '\n';
  const out = ok(logstats([], log));
  assert.ok(out.endsWith('top paths:\n  3 /search\n  1 /\n'), out);
});

test('m1 reads standard input when no file is given', () => {
  assert.equal(ok(logstats([], LOG)), SUMMARY_HEAD + ALL_PATHS.slice(0, 5).join('\n') + '\n');
});

test('m1 reads standard input for a dash', () => {
  assert.equal(ok(logstats(['--top', '3', '-'], LOG)), SUMMARY_HEAD + ALL_PATHS.slice(0, 3).join('\n') + '\n');
});

test('m1 several files are counted as one log', () => {
  const first = writeLog(LINES.slice(0, 7).join('\n')); // no newline at the end
  const second = writeLog(`${LINES.slice(7).join('\n')}\n`);
  assert.equal(ok(logstats([first, second])), SUMMARY_HEAD + ALL_PATHS.slice(0, 5).join('\n') + '\n');
});

test('m1 malformed lines are skipped, counted on stderr, and the exit status stays 0', () => {
  const log = [LINES[0], 'this is not a log line', LINES[1], '192.0.2.1 - - [01/Feb/2024:09:0', LINES[2],
    '{"ts": "2024-02-01T09:00:00Z", "path": "/home"}'].join('\n') + '\n';
  const result = logstats([writeLog(log)]);
  assert.equal(ok(result), 'requests: 3\n1xx: 0\n2xx: 2\n3xx: 1\n4xx: 0\n5xx: 0\n'
    + 'top paths:\n  2 /home\n  1 /style.css\n');
  assert.ok(result.stderr.includes('logstats: malformed lines skipped: 3'), result.stderr);
});

test('m1 lines with an impossible status, a bad date or no size are malformed', () => {
  const log = [
    LINES[0],
    '192.0.2.1 - - [01/Feb/2024:09:00:00 +0000] "GET /x HTTP/1.1" 700 5',
    '192.0.2.1 - - [01/Feb/2024:09:00:00 +0000] "GET /x HTTP/1.1" 20 5',
    '192.0.2.1 - - [yesterday] "GET /x HTTP/1.1" 200 5',
    '192.0.2.1 - - [01/Feb/2024:09:00:00 +0000] "GET /x HTTP/1.1" 200',
    '192.0.2.1 - - [01/Feb/2024:09:00:00 +0000] GET /x HTTP/1.1 200 5',
  ].join('\n') + '\n';
  const result = logstats([], log);
  assert.ok(ok(result).startsWith('requests: 1\n'), result.stdout);
  assert.ok(result.stderr.includes('malformed lines skipped: 5'), result.stderr);
});

test('m1 Combined Log Format lines count like Common Log Format lines', () => {
  const log = [
    '192.0.2.1 - - [01/Feb/2024:09:00:00 +0000] "GET /home HTTP/1.1" 200 512 "https://example.com/" "Mozilla/5.0 (X11; Linux x86_64)"',
    '192.0.2.1 - - [01/Feb/2024:09:00:01 +0000] "GET /home HTTP/2.0" 404 - "-" "curl/8.5.0"',
  ].join('\n') + '\n';
  const result = logstats([], log);
  assert.equal(ok(result), 'requests: 2\n1xx: 0\n2xx: 1\n3xx: 0\n4xx: 1\n5xx: 0\ntop paths:\n  2 /home\n');
  assert.equal(result.stderr, '');
});

test('m1 a request without a path is counted but lists no path', () => {
  const log = [
    '192.0.2.1 - - [01/Feb/2024:09:00:00 +0000] "-" 400 0',
    '192.0.2.1 - - [01/Feb/2024:09:00:01 +0000] "GET /home HTTP/1.1" 200 512',
  ].join('\n') + '\n';
  const result = logstats([], log);
  assert.equal(ok(result), 'requests: 2\n1xx: 0\n2xx: 1\n3xx: 0\n4xx: 1\n5xx: 0\ntop paths:\n  1 /home\n');
  assert.equal(result.stderr, '');
});

test('m1 blank lines are ignored and CRLF line endings work', () => {
  const log = `\r\n${LINES.join('\r\n')}\r\n\r\n   \r\n`;
  const result = logstats([writeLog(log)]);
  assert.equal(ok(result), SUMMARY_HEAD + ALL_PATHS.slice(0, 5).join('\n') + '\n');
  assert.equal(result.stderr, '');
});

test('m1 empty input prints a summary of zeros', () => {
  const result = logstats([writeLog('')]);
  assert.equal(ok(result), ZERO_SUMMARY);
  assert.equal(result.stderr, '');
});

test('m1 a file that cannot be read exits 1 naming it and prints nothing', () => {
  const result = logstats([path.join(TMP, 'no-such-access.log')]);
  assert.equal(result.status, 1);
  assert.equal(result.stdout, '');
  assert.ok(result.stderr.includes('no-such-access.log'), result.stderr);
});

test('m1 one missing file among several still exits 1 with nothing on stdout', () => {
  const result = logstats([writeLog(LOG), path.join(TMP, 'gone.log')]);
  assert.equal(result.status, 1);
  assert.equal(result.stdout, '');
  assert.ok(result.stderr.includes('gone.log'), result.stderr);
});

test('m1 --top must be a positive whole number (usage error, exit 2)', () => {
  const file = writeLog(LOG);
  for (const value of ['0', '-3', 'abc', '2.5']) {
    const result = logstats([`--top=${value}`, file]);
    assert.equal(result.status, 2, `--top=${value}: exit ${result.status}`);
    assert.equal(result.stdout, '', `--top=${value}`);
    assert.notEqual(result.stderr, '', `--top=${value}`);
  }
});

test('m1 an unknown option is a usage error (exit 2)', () => {
  const result = logstats(['--frobnicate', writeLog(LOG)]);
  assert.equal(result.status, 2);
  assert.equal(result.stdout, '');
  assert.notEqual(result.stderr, '');
});
