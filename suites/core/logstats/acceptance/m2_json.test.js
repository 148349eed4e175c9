'use strict';
// Hidden acceptance tests, milestone m2: --json output.

const test = require('node:test');
const { after } = test;
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const SCRIPT = path.join(__dirname, '..', 'logstats.js');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'logstats-m2-json-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

const LOG = [
  '198.51.100.1 - - [06/Apr/2024:10:00:00 +0000] "GET /shop HTTP/1.1" 200 100',
  '198.51.100.2 - - [06/Apr/2024:10:15:00 +0000] "GET /shop/item/7?ref=home HTTP/1.1" 404 20',
  '198.51.100.2 - - [06/Apr/2024:10:15:30 +0000] "GET /shop/item/8 HTTP/1.1" 404 20',
  '198.51.100.3 - - [06/Apr/2024:10:30:00 +0000] "POST /checkout HTTP/1.1" 500 0',
  '198.51.100.4 - - [06/Apr/2024:11:00:00 +0000] "GET /shop HTTP/1.1" 200 100 "-" "Mozilla/5.0"',
  '198.51.100.4 - - [06/Apr/2024:11:00:01 +0000] "-" 400 0',
  '198.51.100.5 - - [06/Apr/2024:11:45:00 +0000] "GET /shop/item/7 HTTP/1.1" 404 20',
  '198.51.100.6 - - [06/Apr/2024:12:00:00 +0000] "GET /checkout HTTP/1.1" 302 0',
  '198.51.100.7 - - [06/Apr/2024:12:30:00 +0000] "GET /shop HTTP/1.1" 101 0',
].join('\n') + '\n';

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

function json(result) {
  assert.equal(result.status, 0, `exit status ${result.status}, stderr: ${result.stderr}`);
  try {
    return JSON.parse(result.stdout);
  } catch (err) {
    assert.fail(`stdout is not JSON (${err.message}): ${result.stdout}`);
  }
}

test('m2 --json prints the summary as one JSON object', () => {
  const result = logstats(['--json'], LOG);
  assert.deepEqual(json(result), {
    requests: 9,
    status: { '1xx': 1, '2xx': 2, '3xx': 1, '4xx': 4, '5xx': 1 },
    top_paths: [
      { path: '/shop', count: 3 },
      { path: '/checkout', count: 2 },
      { path: '/shop/item/7', count: 2 },
      { path: '/shop/item/8', count: 1 },
    ],
    malformed: 0,
  });
  assert.equal(result.stderr, '');
});

test('m2 --json follows --top and the filters', () => {
  const file = path.join(TMP, 'shop.log');
  fs.writeFileSync(file, LOG);
  assert.deepEqual(json(logstats(['--json', '--status', '4xx', '--top', '1', file])), {
    requests: 4,
    status: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 4, '5xx': 0 },
    top_paths: [{ path: '/shop/item/7', count: 2 }],
    malformed: 0,
  });
  const windowed = json(logstats([file, '--since', '2024-04-06T11:00:00Z', '--until', '2024-04-06T12:00:00Z', '--json']));
  assert.equal(windowed.requests, 3);
  assert.deepEqual(windowed.top_paths, [{ path: '/shop', count: 1 }, { path: '/shop/item/7', count: 1 }]);
});

test('m2 --json on empty input', () => {
  assert.deepEqual(json(logstats(['--json'], '')), {
    requests: 0,
    status: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 },
    top_paths: [],
    malformed: 0,
  });
});

test('m2 --json counts malformed lines and still reports them on stderr', () => {
  const result = logstats(['--json'], `${LOG}not a log line\n\n198.51.100.9 - - [06/Apr/2024:13:00\n`);
  const data = json(result);
  assert.equal(data.requests, 9);
  assert.equal(data.malformed, 2);
  assert.ok(result.stderr.includes('logstats: malformed lines skipped: 2'), result.stderr);
});

test('m2 --json with a usage error prints nothing on stdout and exits 2', () => {
  const result = logstats(['--json', '--status', 'teapot'], LOG);
  assert.equal(result.status, 2);
  assert.equal(result.stdout, '');
});
