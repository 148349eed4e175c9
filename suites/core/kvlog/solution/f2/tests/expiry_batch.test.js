'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const kvlog = require('../kvlog.js');

function tempLog(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvlog-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'data.log');
}

function lineCount(file) {
  return fs.readFileSync(file, 'utf8').split('\n').length - 1;
}

test('a key with ttlMs disappears once the clock reaches its expiry', (t) => {
  let now = 1000;
  const store = kvlog.open(tempLog(t), { now: () => now });
  store.set('session', 'abc', { ttlMs: 500 });
  store.set('forever', 1);
  now = 1499;
  assert.equal(store.get('session'), 'abc');
  now = 1500;
  assert.equal(store.get('session'), undefined);
  assert.equal(store.has('session'), false);
  assert.deepEqual(store.keys(), ['forever']);
  assert.equal(store.delete('session'), false);
});

test('expiry is kept in the log as a point in time', (t) => {
  const file = tempLog(t);
  kvlog.open(file, { now: () => 1000 }).set('k', 'v', { ttlMs: 500 });
  assert.equal(kvlog.open(file, { now: () => 1400 }).get('k'), 'v');
  assert.equal(kvlog.open(file, { now: () => 1500 }).has('k'), false);
  assert.equal(kvlog.open(file).has('k'), false);
});

test('a plain set makes an expiring key permanent, a new ttl replaces the old', (t) => {
  let now = 0;
  const store = kvlog.open(tempLog(t), { now: () => now });
  store.set('a', 1, { ttlMs: 10 });
  store.set('a', 2);
  store.set('b', 1, { ttlMs: 10 });
  store.set('b', 2, { ttlMs: 100 });
  now = 50;
  assert.equal(store.get('a'), 2);
  assert.equal(store.get('b'), 2);
  now = 100;
  assert.deepEqual(store.keys(), ['a']);
});

test('a bad ttlMs throws RangeError and writes nothing', (t) => {
  const file = tempLog(t);
  const store = kvlog.open(file);
  store.set('a', 1);
  for (const ttlMs of [0, -1, NaN, Infinity, '100', null]) {
    assert.throws(() => store.set('a', 2, { ttlMs }), RangeError);
  }
  assert.equal(lineCount(file), 1);
  assert.equal(store.get('a'), 1);
});

test('a batch applies its operations in order as one log line', (t) => {
  const file = tempLog(t);
  const store = kvlog.open(file);
  store.set('old', 0);
  store.batch([
    { op: 'set', key: 'a', value: 1 },
    { op: 'set', key: 'b', value: 2 },
    { op: 'delete', key: 'a' },
    { op: 'delete', key: 'old' },
    { op: 'delete', key: 'never' },
    { op: 'set', key: 'a', value: 3 },
  ]);
  assert.equal(lineCount(file), 2);
  assert.deepEqual(store.keys(), ['a', 'b']);
  const reopened = kvlog.open(file);
  assert.deepEqual(reopened.keys(), ['a', 'b']);
  assert.equal(reopened.get('a'), 3);
});

test('batch sets accept ttlMs', (t) => {
  let now = 0;
  const store = kvlog.open(tempLog(t), { now: () => now });
  store.batch([{ op: 'set', key: 'short', value: 1, ttlMs: 5 }, { op: 'set', key: 'long', value: 2 }]);
  now = 5;
  assert.deepEqual(store.keys(), ['long']);
});

test('an invalid batch throws and leaves no trace', (t) => {
  const file = tempLog(t);
  const store = kvlog.open(file);
  store.set('a', 1);
  assert.throws(() => store.batch([{ op: 'delete', key: 'a' }, { op: 'rename', key: 'a' }]), TypeError);
  assert.throws(() => store.batch([{ op: 'set', key: 'b', value: undefined }]), TypeError);
  assert.throws(() => store.batch([{ op: 'set', key: '', value: 1 }]), TypeError);
  assert.throws(() => store.batch([{ op: 'set', key: 'b', value: 1, ttlMs: -1 }]), RangeError);
  assert.throws(() => store.batch('nope'), TypeError);
  store.batch([]);
  assert.equal(lineCount(file), 1);
  assert.deepEqual(kvlog.open(file).keys(), ['a']);
  assert.deepEqual(store.keys(), ['a']);
});

test('a torn batch is ignored as a whole', (t) => {
  const file = tempLog(t);
  const store = kvlog.open(file);
  store.set('a', 1);
  store.batch([{ op: 'set', key: 'b', value: 2 }, { op: 'delete', key: 'a' }]);
  const text = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, text.slice(0, text.length - 10));
  const reopened = kvlog.open(file);
  assert.deepEqual(reopened.keys(), ['a']);
});

test('a damaged line after a batch is reported by its line number', (t) => {
  const file = tempLog(t);
  const store = kvlog.open(file);
  store.set('a', 1);
  store.batch([{ op: 'set', key: 'b', value: 2 }, { op: 'set', key: 'c', value: 3 }]);
  fs.appendFileSync(file, 'garbage\n');
  store.set('d', 4);
  assert.throws(() => kvlog.open(file), (err) => err.line === 3 && /line 3\b/.test(err.message));
});

test('open rejects a clock that is not a function', (t) => {
  assert.throws(() => kvlog.open(tempLog(t), { now: 5 }), TypeError);
});
