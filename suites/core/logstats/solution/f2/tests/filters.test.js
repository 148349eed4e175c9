'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const logstats = require('../logstats.js');

const SCRIPT = path.join(__dirname, '..', 'logstats.js');

const LOG = [
  '10.0.0.1 - - [10/Mar/2024:08:00:00 +0000] "GET /a HTTP/1.1" 200 10',
  '10.0.0.1 - - [10/Mar/2024:09:00:00 +0000] "GET /b HTTP/1.1" 404 10',
  '10.0.0.2 - - [10/Mar/2024:10:00:00 +0000] "GET /c HTTP/1.1" 410 10',
  '10.0.0.3 - - [10/Mar/2024:06:00:00 -0500] "GET /d HTTP/1.1" 500 5',
  'broken line',
  '10.0.0.4 - - [10/Mar/2024:12:00:00 +0000] "GET /b HTTP/1.1" 404 0',
].join('\n') + '\n';

function run(argv, stdin = LOG) {
  const out = [];
  const err = [];
  const io = {
    readStdin: () => stdin,
    readFile: () => { throw Object.assign(new Error('no such file'), { code: 'ENOENT' }); },
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
  };
  const code = logstats.main(argv, io);
  return { code, stdout: out.join(''), stderr: err.join('') };
}

test('parseIsoTime reads dates, date-times and offsets', () => {
  assert.equal(logstats.parseIsoTime('2024-03-10'), Date.UTC(2024, 2, 10));
  assert.equal(logstats.parseIsoTime('2024-03-10T12:30'), Date.UTC(2024, 2, 10, 12, 30));
  assert.equal(logstats.parseIsoTime('2024-03-10T12:30:15Z'), Date.UTC(2024, 2, 10, 12, 30, 15));
  assert.equal(logstats.parseIsoTime('2024-03-10T12:30:15.250Z'), Date.UTC(2024, 2, 10, 12, 30, 15, 250));
  assert.equal(logstats.parseIsoTime('2024-03-10T12:30:00+02:00'), Date.UTC(2024, 2, 10, 10, 30));
  assert.equal(logstats.parseIsoTime('2024-03-10T12:30:00-0130'), Date.UTC(2024, 2, 10, 14, 0));
});

test('parseIsoTime rejects anything else', () => {
  for (const text of ['', 'yesterday', '2024-13-01', '2024-02-30', '2024-03-10T24:00',
    '10/Mar/2024:12:00:00 +0000', '2024-03-10 12:00', '1710072000']) {
    assert.equal(logstats.parseIsoTime(text), null, text);
  }
});

test('parseStatusFilter matches a class or an exact code', () => {
  const cls = logstats.parseStatusFilter('4xx');
  assert.equal(cls(404), true);
  assert.equal(cls(500), false);
  assert.equal(logstats.parseStatusFilter('5XX')(503), true);
  const code = logstats.parseStatusFilter('404');
  assert.equal(code(404), true);
  assert.equal(code(410), false);
});

test('--status keeps a class or a code', () => {
  assert.match(run(['--status', '4xx']).stdout,
    /^requests: 3\n1xx: 0\n2xx: 0\n3xx: 0\n4xx: 3\n5xx: 0\ntop paths:\n {2}2 \/b\n {2}1 \/c\n$/);
  assert.match(run(['--status', '404']).stdout, /^requests: 2\n[^]*top paths:\n {2}2 \/b\n$/);
  assert.match(run(['--status', '201']).stdout, /^requests: 0\n/);
});

test('--since is inclusive and --until exclusive', () => {
  assert.match(run(['--since', '2024-03-10T09:00:00Z']).stdout, /^requests: 4\n/);
  assert.match(run(['--until', '2024-03-10T09:00:00Z']).stdout, /^requests: 1\n/);
  assert.match(run(['--since', '2024-03-10T09:00:00Z', '--until', '2024-03-10T11:00:00Z']).stdout,
    /^requests: 2\n/);
});

test('times compare as instants whatever their offsets', () => {
  // 06:00 -0500 is 11:00 UTC, 12:00 +01:00.
  assert.match(run(['--since', '2024-03-10T12:00+01:00', '--until', '2024-03-10T12:00Z']).stdout,
    /^requests: 1\n[^]*top paths:\n {2}1 \/d\n$/);
});

test('filters combine and leave the malformed count alone', () => {
  const result = run(['--status', '4xx', '--since', '2024-03-10T09:30:00Z']);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^requests: 2\n/);
  assert.equal(result.stderr, 'logstats: malformed lines skipped: 1\n');
});

test('bad filter values are usage errors', () => {
  for (const argv of [['--status', '4x'], ['--status', '600'], ['--status', '6xx'],
    ['--since', 'yesterday'], ['--until', '2024-13-01'], ['--since']]) {
    const result = run(argv);
    assert.equal(result.code, 2, argv.join(' '));
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /usage:/);
  }
});

test('a time without an offset is UTC whatever the local time zone', () => {
  const result = spawnSync(process.execPath, [SCRIPT, '--since', '2024-03-10T11:00:00'], {
    input: LOG,
    encoding: 'utf8',
    env: { ...process.env, TZ: 'Asia/Tokyo' },
  });
  assert.equal(result.status, 0);
  assert.match(result.stdout, /^requests: 2\n/);
});
