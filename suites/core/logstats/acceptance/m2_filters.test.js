'use strict';
// Hidden acceptance tests, milestone m2: --status, --since and --until.

const test = require('node:test');
const { after } = test;
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const SCRIPT = path.join(__dirname, '..', 'logstats.js');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'logstats-m2-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

const LOG = [
  '198.51.100.1 - - [06/Apr/2024:10:00:00 +0000] "GET /shop HTTP/1.1" 200 100',
  '198.51.100.2 - - [06/Apr/2024:10:15:00 +0000] "GET /shop/item/7 HTTP/1.1" 404 20',
  '198.51.100.2 - - [06/Apr/2024:10:15:30 +0000] "GET /shop/item/8 HTTP/1.1" 404 20',
  '198.51.100.3 - - [06/Apr/2024:10:30:00 +0000] "POST /checkout HTTP/1.1" 500 0',
  '198.51.100.4 - - [06/Apr/2024:11:00:00 +0000] "GET /shop HTTP/1.1" 200 100',
  '198.51.100.4 - - [06/Apr/2024:11:00:01 +0000] "GET /login HTTP/1.1" 401 12',
  '198.51.100.5 - - [06/Apr/2024:11:45:00 +0000] "GET /shop/item/7 HTTP/1.1" 404 20',
  '198.51.100.6 - - [06/Apr/2024:12:00:00 +0000] "GET /checkout HTTP/1.1" 302 0',
  '198.51.100.7 - - [06/Apr/2024:12:30:00 +0000] "GET /shop HTTP/1.1" 503 0',
].join('\n') + '\n';

// The same instants in three different offsets: 04:30Z, 03:00Z and 04:00Z on 6 April.
const ZONED = [
  '203.0.113.1 - - [05/Apr/2024:23:30:00 -0500] "GET /late HTTP/1.1" 200 1',
  '203.0.113.2 - - [06/Apr/2024:05:00:00 +0200] "GET /early HTTP/1.1" 200 1',
  '203.0.113.3 - - [06/Apr/2024:04:00:00 +0000] "GET /mid HTTP/1.1" 200 1',
  '203.0.113.4 - - [05/Apr/2024:22:00:00 +0000] "GET /before HTTP/1.1" 200 1',
].join('\n') + '\n';

const ZERO_SUMMARY = 'requests: 0\n1xx: 0\n2xx: 0\n3xx: 0\n4xx: 0\n5xx: 0\ntop paths:\n';

function logstats(args, { input = '', env = {} } = {}) {
  assert.ok(fs.existsSync(SCRIPT), 'logstats.js is missing at the repository root');
  const result = spawnSync(process.execPath, [SCRIPT, ...args], {
    input,
    encoding: 'utf8',
    cwd: TMP,
    env: { ...process.env, ...env },
    timeout: 30000,
  });
  assert.equal(result.error, undefined, String(result.error));
  return result;
}

function ok(result) {
  assert.equal(result.status, 0, `exit status ${result.status}, stderr: ${result.stderr}`);
  return result.stdout;
}

function requests(stdout) {
  const m = /^requests: (\d+)\n/.exec(stdout);
  assert.ok(m, `no requests line in: ${stdout}`);
  return Number(m[1]);
}

function paths(stdout) {
  return stdout.split('top paths:\n')[1];
}

test('m2 --status 4xx counts only client errors', () => {
  assert.equal(ok(logstats(['--status', '4xx'], { input: LOG })),
    'requests: 4\n1xx: 0\n2xx: 0\n3xx: 0\n4xx: 4\n5xx: 0\n'
    + 'top paths:\n  2 /shop/item/7\n  1 /login\n  1 /shop/item/8\n');
});

test('m2 --status 404 counts only that code', () => {
  assert.equal(ok(logstats(['--status', '404'], { input: LOG })),
    'requests: 3\n1xx: 0\n2xx: 0\n3xx: 0\n4xx: 3\n5xx: 0\n'
    + 'top paths:\n  2 /shop/item/7\n  1 /shop/item/8\n');
});

test('m2 --status takes the class in upper case too', () => {
  const out = ok(logstats(['--status', '5XX'], { input: LOG }));
  assert.equal(requests(out), 2);
  assert.equal(paths(out), '  1 /checkout\n  1 /shop\n');
});

test('m2 --since keeps requests at or after the time', () => {
  const out = ok(logstats(['--since', '2024-04-06T11:00:00Z'], { input: LOG }));
  assert.equal(out, 'requests: 5\n1xx: 0\n2xx: 1\n3xx: 1\n4xx: 2\n5xx: 1\n'
    + 'top paths:\n  2 /shop\n  1 /checkout\n  1 /login\n  1 /shop/item/7\n');
});

test('m2 --until keeps requests strictly before the time', () => {
  const out = ok(logstats(['--until', '2024-04-06T11:00:00Z'], { input: LOG }));
  assert.equal(requests(out), 4);
  assert.equal(paths(out), '  1 /checkout\n  1 /shop\n  1 /shop/item/7\n  1 /shop/item/8\n');
});

test('m2 --since and --until together select a window', () => {
  const out = ok(logstats(['--since', '2024-04-06T10:15:30Z', '--until', '2024-04-06T11:45:00Z'], { input: LOG }));
  assert.equal(out, 'requests: 4\n1xx: 0\n2xx: 1\n3xx: 0\n4xx: 2\n5xx: 1\n'
    + 'top paths:\n  1 /checkout\n  1 /login\n  1 /shop\n  1 /shop/item/8\n');
});

test('m2 times with different offsets are compared as instants', () => {
  const out = ok(logstats(['--since', '2024-04-06T05:30:00+02:00', '--until', '2024-04-06T00:30:00-04:00'],
    { input: ZONED }));
  // 03:30Z <= t < 04:30Z
  assert.equal(requests(out), 1);
  assert.equal(paths(out), '  1 /mid\n');
  const all = ok(logstats(['--since', '2024-04-06T03:00:00Z', '--top', '10'], { input: ZONED }));
  assert.equal(paths(all), '  1 /early\n  1 /late\n  1 /mid\n');
});

test('m2 a date alone means midnight UTC', () => {
  const since = ok(logstats(['--since', '2024-04-06'], { input: ZONED }));
  assert.equal(requests(since), 3);
  const until = ok(logstats(['--until', '2024-04-06'], { input: ZONED }));
  assert.equal(paths(until), '  1 /before\n');
});

test('m2 a time without an offset is UTC whatever the local time zone', () => {
  const out = ok(logstats(['--since', '2024-04-06T03:30:00'],
    { input: ZONED, env: { TZ: 'America/New_York' } }));
  assert.equal(paths(out), '  1 /late\n  1 /mid\n');
  const minutes = ok(logstats(['--until', '2024-04-06T03:30'],
    { input: ZONED, env: { TZ: 'Asia/Kolkata' } }));
  assert.equal(paths(minutes), '  1 /before\n  1 /early\n');
});

test('m2 filters combine with each other and with --top', () => {
  const out = ok(logstats(['--status', '4xx', '--since', '2024-04-06T10:15:30Z', '--top', '1'], { input: LOG }));
  assert.equal(out, 'requests: 3\n1xx: 0\n2xx: 0\n3xx: 0\n4xx: 3\n5xx: 0\ntop paths:\n  1 /login\n');
});

test('m2 a filter that matches nothing prints a summary of zeros', () => {
  assert.equal(ok(logstats(['--since', '2024-04-07'], { input: LOG })), ZERO_SUMMARY);
  assert.equal(ok(logstats(['--status', '1xx'], { input: LOG })), ZERO_SUMMARY);
});

test('m2 malformed lines are still reported when filtering', () => {
  const file = path.join(TMP, 'with-junk.log');
  fs.writeFileSync(file, `${LOG}garbage\n198.51.100.9 - - [06/Apr/2024:13:00\n`);
  const result = logstats(['--status', '404', file]);
  assert.equal(requests(ok(result)), 3);
  assert.ok(result.stderr.includes('logstats: malformed lines skipped: 2'), result.stderr);
});

test('m2 an invalid --status is a usage error (exit 2)', () => {
  for (const value of ['4x', '600', '6xx', 'abc', '0xx', '44']) {
    const result = logstats(['--status', value], { input: LOG });
    assert.equal(result.status, 2, `--status ${value}: exit ${result.status}`);
    assert.equal(result.stdout, '', `--status ${value}`);
    assert.notEqual(result.stderr, '', `--status ${value}`);
  }
});

test('m2 a timestamp that is not ISO 8601 is a usage error (exit 2)', () => {
  for (const [option, value] of [['--since', 'yesterday'], ['--until', '2024-13-01'],
    ['--since', '12:00'], ['--until', '06/Apr/2024:10:00:00 +0000']]) {
    const result = logstats([option, value], { input: LOG });
    assert.equal(result.status, 2, `${option} ${value}: exit ${result.status}`);
    assert.equal(result.stdout, '', `${option} ${value}`);
    assert.notEqual(result.stderr, '', `${option} ${value}`);
  }
});
