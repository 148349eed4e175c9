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

function snapshot(store) {
  return store.keys().map((key) => [key, store.get(key), store.has(key)]);
}

function busyStore(file, clock) {
  const store = kvlog.open(file, { now: clock });
  for (let i = 0; i < 20; i += 1) store.set(`k${i % 4}`, { round: i });
  store.set('temp', 'short-lived', { ttlMs: 50 });
  store.set('later', 'long-lived', { ttlMs: 1000 });
  store.batch([{ op: 'set', key: 'x', value: [1, 2] }, { op: 'delete', key: 'k3' }]);
  store.delete('k2');
  return store;
}

test('stats of a store that was never written', (t) => {
  assert.deepEqual(kvlog.open(tempLog(t)).stats(), { keys: 0, logBytes: 0, liveBytes: 0 });
});

test('compaction keeps every read and shrinks the log to liveBytes', (t) => {
  let now = 0;
  const file = tempLog(t);
  const store = busyStore(file, () => now);
  now = 60;
  const before = snapshot(store);
  const statsBefore = store.stats();
  assert.equal(statsBefore.logBytes, fs.statSync(file).size);
  assert.equal(statsBefore.keys, 4);
  assert.ok(statsBefore.liveBytes < statsBefore.logBytes);
  store.compact();
  assert.deepEqual(snapshot(store), before);
  assert.deepEqual(snapshot(kvlog.open(file, { now: () => now })), before);
  assert.deepEqual(store.stats(), { keys: 4, logBytes: statsBefore.liveBytes, liveBytes: statsBefore.liveBytes });
  assert.equal(fs.statSync(file).size, statsBefore.liveBytes);
});

test('compaction keeps the expiry of live keys', (t) => {
  let now = 0;
  const file = tempLog(t);
  busyStore(file, () => now).compact();
  assert.equal(kvlog.open(file, { now: () => 999 }).get('later'), 'long-lived');
  assert.equal(kvlog.open(file, { now: () => 1000 }).has('later'), false);
});

test('compaction renames a new file over the log and leaves nothing else', (t) => {
  const file = tempLog(t);
  const store = busyStore(file, () => 0);
  const inode = fs.statSync(file).ino;
  store.compact();
  assert.notEqual(fs.statSync(file).ino, inode);
  assert.deepEqual(fs.readdirSync(path.dirname(file)), ['data.log']);
});

test('writes after compaction go to the new log', (t) => {
  const file = tempLog(t);
  const store = busyStore(file, () => 0);
  store.compact();
  store.set('after', true);
  store.delete('x');
  const reopened = kvlog.open(file, { now: () => 0 });
  assert.equal(reopened.get('after'), true);
  assert.equal(reopened.has('x'), false);
});

test('compacting an empty store leaves an empty log', (t) => {
  const file = tempLog(t);
  const store = kvlog.open(file);
  store.set('a', 1);
  store.delete('a');
  store.compact();
  assert.deepEqual(store.stats(), { keys: 0, logBytes: 0, liveBytes: 0 });
  assert.deepEqual(kvlog.open(file).keys(), []);
});

test('liveBytes ignores rewrites of the same value', (t) => {
  const store = kvlog.open(tempLog(t));
  store.set('a', 'same');
  const first = store.stats();
  store.set('a', 'same');
  const second = store.stats();
  assert.equal(second.liveBytes, first.liveBytes);
  assert.ok(second.logBytes > first.logBytes);
});

test('compacting twice gives the same bytes', (t) => {
  const file = tempLog(t);
  const store = busyStore(file, () => 0);
  store.compact();
  const once = fs.readFileSync(file);
  store.compact();
  assert.deepEqual(fs.readFileSync(file), once);
});
