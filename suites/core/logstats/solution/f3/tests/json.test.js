'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const logstats = require('../logstats.js');

const SCRIPT = path.join(__dirname, '..', 'logstats.js');
const SAMPLE = path.join(__dirname, '..', 'samples', 'access.log');

const LOG = [
  '10.0.0.1 - - [10/Mar/2024:08:00:00 +0000] "GET /a HTTP/1.1" 200 10',
  '10.0.0.1 - - [10/Mar/2024:09:00:00 +0000] "GET /b?page=2 HTTP/1.1" 404 10',
  '10.0.0.2 - - [10/Mar/2024:10:00:00 +0000] "GET /b HTTP/1.1" 301 10',
  '10.0.0.3 - - [10/Mar/2024:11:00:00 +0000] "-" 400 0',
  'half a line [10/Mar',
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

test('toJson adds the malformed count to the summary', () => {
  const summary = { requests: 0, status: { '1xx': 0 }, top_paths: [] };
  assert.deepEqual(JSON.parse(logstats.toJson(summary, 3)),
    { requests: 0, status: { '1xx': 0 }, top_paths: [], malformed: 3 });
  assert.ok(logstats.toJson(summary, 0).endsWith('}\n'));
});

test('--json prints the summary as one object', () => {
  const result = run(['--json']);
  assert.equal(result.code, 0);
  assert.deepEqual(JSON.parse(result.stdout), {
    requests: 4,
    status: { '1xx': 0, '2xx': 1, '3xx': 1, '4xx': 2, '5xx': 0 },
    top_paths: [{ path: '/b', count: 2 }, { path: '/a', count: 1 }],
    malformed: 1,
  });
  assert.equal(result.stderr, 'logstats: malformed lines skipped: 1\n');
});

test('--json follows --top and the filters', () => {
  const result = run(['--json', '--top', '1', '--status', '4xx']);
  const data = JSON.parse(result.stdout);
  assert.equal(data.requests, 2);
  assert.deepEqual(data.top_paths, [{ path: '/b', count: 1 }]);
  assert.equal(data.malformed, 1);
});

test('--json on empty input', () => {
  assert.deepEqual(JSON.parse(run(['--json'], '').stdout), {
    requests: 0,
    status: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 },
    top_paths: [],
    malformed: 0,
  });
});

test('the command prints JSON for the sample log', () => {
  const result = spawnSync(process.execPath, [SCRIPT, '--json', '--top', '2', SAMPLE], { encoding: 'utf8' });
  assert.equal(result.status, 0);
  const data = JSON.parse(result.stdout);
  assert.equal(data.requests, 21);
  assert.deepEqual(data.top_paths, [{ path: '/', count: 4 }, { path: '/search', count: 3 }]);
  assert.equal(data.malformed, 1);
});
