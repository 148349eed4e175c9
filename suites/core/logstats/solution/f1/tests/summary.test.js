'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const logstats = require('../logstats.js');

const SCRIPT = path.join(__dirname, '..', 'logstats.js');
const SAMPLE = path.join(__dirname, '..', 'samples', 'access.log');

const LOG = [
  '10.0.0.1 - - [10/Mar/2024:08:00:00 +0000] "GET /b HTTP/1.1" 200 10',
  '10.0.0.1 - - [10/Mar/2024:08:00:01 +0000] "GET /a?x=1 HTTP/1.1" 200 10',
  '10.0.0.2 - bob [10/Mar/2024:08:00:02 +0000] "POST /a HTTP/1.1" 302 -',
  '10.0.0.3 - - [10/Mar/2024:08:00:03 +0000] "GET /b HTTP/1.1" 404 5 "-" "curl/8.0"',
  '10.0.0.3 - - [10/Mar/2024:08:00:04 +0000] "-" 400 0',
  '10.0.0.4 - - [10/Mar/2024:08:00:05 +0000] "GET /c HTTP/1.1" 503 0',
  '10.0.0.5 - - [10/Mar/2024:08:00:06 +0000] "GET /d HTTP/1.1" 101 0',
].join('\n') + '\n';

// Runs main() in-process with fake files and standard input.
function run(argv, { stdin = '', files = {} } = {}) {
  const out = [];
  const err = [];
  const io = {
    readStdin: () => stdin,
    readFile: (file) => {
      if (!(file in files)) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
      return files[file];
    },
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
  };
  const code = logstats.main(argv, io);
  return { code, stdout: out.join(''), stderr: err.join('') };
}

test('parseLine reads a Common Log Format line', () => {
  const entry = logstats.parseLine(
    '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326');
  assert.deepEqual(entry, {
    time: Date.UTC(2000, 9, 10, 20, 55, 36),
    status: 200,
    path: '/apache_pb.gif',
  });
});

test('parseLine accepts Combined Log Format lines and a dash for the size', () => {
  const entry = logstats.parseLine(
    '1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET /x?y=2 HTTP/2.0" 304 - "http://r/" "UA 1.0"');
  assert.equal(entry.status, 304);
  assert.equal(entry.path, '/x');
});

test('parseLine gives no path for a request without a target', () => {
  assert.equal(logstats.parseLine('1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "-" 400 0').path, null);
  assert.equal(logstats.requestPath('GET'), null);
  assert.equal(logstats.requestPath('GET /p HTTP/1.1'), '/p');
  assert.equal(logstats.requestPath('GET /p'), '/p');
});

test('parseLine rejects lines that are not Common Log Format', () => {
  for (const line of [
    'garbage',
    '1.2.3.4 - - [10/Mar/2024:16:40:0',
    '1.2.3.4 - - [10/Mar/2024:08:00:00 +0000] "GET / HTTP/1.1" 200',
    '1.2.3.4 - - [10/Mar/2024:08:00:00 +0000] "GET / HTTP/1.1" 700 5',
    '1.2.3.4 - - [10/Mar/2024:08:00:00 +0000] "GET / HTTP/1.1" 099 5',
    '1.2.3.4 - - [10/Foo/2024:08:00:00 +0000] "GET / HTTP/1.1" 200 5',
    '1.2.3.4 - - [2024-03-10T08:00:00Z] "GET / HTTP/1.1" 200 5',
  ]) {
    assert.equal(logstats.parseLine(line), null, line);
  }
});

test('parseLog skips blank lines, strips CR and counts malformed lines', () => {
  const text = `${LOG.split('\n')[0]}\r\n\r\n   \nnot a log line\n${LOG.split('\n')[1]}`;
  const { entries, malformed } = logstats.parseLog(text);
  assert.equal(entries.length, 2);
  assert.equal(malformed, 1);
});

test('summarize counts classes and ranks paths, ties alphabetically', () => {
  const { entries } = logstats.parseLog(LOG);
  const summary = logstats.summarize(entries);
  assert.equal(summary.requests, 7);
  assert.deepEqual(summary.status, { '1xx': 1, '2xx': 2, '3xx': 1, '4xx': 2, '5xx': 1 });
  assert.deepEqual(summary.top_paths, [
    { path: '/a', count: 2 },
    { path: '/b', count: 2 },
    { path: '/c', count: 1 },
    { path: '/d', count: 1 },
  ]);
  assert.deepEqual(logstats.summarize(entries, 1).top_paths, [{ path: '/a', count: 2 }]);
});

test('main prints the summary of a file', () => {
  const result = run(['access.log'], { files: { 'access.log': LOG } });
  assert.equal(result.code, 0);
  assert.equal(result.stdout, [
    'requests: 7', '1xx: 1', '2xx: 2', '3xx: 1', '4xx: 2', '5xx: 1',
    'top paths:', '  2 /a', '  2 /b', '  1 /c', '  1 /d', '',
  ].join('\n'));
  assert.equal(result.stderr, '');
});

test('main reads standard input without a file or for -', () => {
  assert.match(run([], { stdin: LOG }).stdout, /^requests: 7\n/);
  assert.match(run(['-'], { stdin: LOG }).stdout, /^requests: 7\n/);
});

test('main combines several files', () => {
  const result = run(['a.log', 'b.log'], { files: { 'a.log': LOG, 'b.log': LOG.split('\n')[0] } });
  assert.match(result.stdout, /^requests: 8\n/);
  assert.match(result.stdout, /\n {2}3 \/b\n/);
});

test('main --top limits the paths', () => {
  const result = run(['--top', '1'], { stdin: LOG });
  assert.match(result.stdout, /top paths:\n {2}2 \/a\n$/);
  assert.match(run(['--top=3'], { stdin: LOG }).stdout, /\n {2}1 \/c\n$/);
});

test('main reports malformed lines on stderr and still exits 0', () => {
  const result = run([], { stdin: `${LOG}oops\n\nnope\n` });
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^requests: 7\n/);
  assert.equal(result.stderr, 'logstats: malformed lines skipped: 2\n');
});

test('main prints an empty summary for empty input', () => {
  const result = run([], { stdin: '' });
  assert.equal(result.code, 0);
  assert.equal(result.stdout,
    'requests: 0\n1xx: 0\n2xx: 0\n3xx: 0\n4xx: 0\n5xx: 0\ntop paths:\n');
});

test('main exits 1 naming a file it cannot read, printing nothing', () => {
  const result = run(['a.log', 'missing.log'], { files: { 'a.log': LOG } });
  assert.equal(result.code, 1);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /missing\.log/);
});

test('main exits 2 on usage errors', () => {
  for (const argv of [['--top', '0'], ['--top', 'x'], ['--top=-2'], ['--top', '1.5'], ['--nope'], ['--top']]) {
    const result = run(argv, { stdin: LOG });
    assert.equal(result.code, 2, argv.join(' '));
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /usage:/);
  }
});

test('the command summarises the sample log', () => {
  const result = spawnSync(process.execPath, [SCRIPT, SAMPLE], { encoding: 'utf8' });
  assert.equal(result.status, 0);
  assert.match(result.stdout, /^requests: 21\n1xx: 0\n2xx: 13\n3xx: 2\n4xx: 4\n5xx: 2\n/);
  assert.match(result.stdout, /top paths:\n {2}4 \/\n {2}3 \/search\n/);
  assert.equal(result.stderr, 'logstats: malformed lines skipped: 1\n');
});

test('the command reads standard input and exits 1 for a missing file', () => {
  const piped = spawnSync(process.execPath, [SCRIPT, '--top', '1'], { input: LOG, encoding: 'utf8' });
  assert.equal(piped.status, 0);
  assert.match(piped.stdout, /top paths:\n {2}2 \/a\n$/);
  const missing = spawnSync(process.execPath, [SCRIPT, 'no-such.log'], { encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.equal(missing.stdout, '');
  assert.match(missing.stderr, /no-such\.log/);
});
