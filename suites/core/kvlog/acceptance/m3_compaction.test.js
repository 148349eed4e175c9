'use strict';
// Hidden acceptance tests, milestone m3: compaction and stats.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

// Required inside each test, so a missing or broken module fails every test on its own.
function kvlog() {
  return require('../kvlog.js');
}

function tempLog(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvlog-m3-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'store.log');
}

/** Everything a reader can see: the keys, and for each key its value and `has`. */
function reads(store, probes = []) {
  const keys = store.keys();
  const seen = keys.map((key) => [key, store.get(key), store.has(key)]);
  const missing = probes.map((key) => [key, store.get(key), store.has(key)]);
  return { keys, seen, missing };
}

const PROBES = ['deleted', 'expired', 'k3', 'never'];

/** A store with overwrites, deletes, a batch and keys that expire at 100 and at 10 000. */
function historyStore(file, clock) {
  const store = kvlog().open(file, { now: clock.now });
  for (let round = 0; round < 25; round += 1) {
    store.set(`k${round % 5}`, { round, text: 'x'.repeat(round) });
  }
  store.set('deleted', 'soon gone');
  store.delete('deleted');
  store.set('expired', 'brief', { ttlMs: 100 });
  store.set('expiring', 'lasting', { ttlMs: 10_000 });
  store.batch([
    { op: 'set', key: 'batched', value: [1, { two: 2 }] },
    { op: 'delete', key: 'k3' },
    { op: 'set', key: 'weird "key"\n', value: 'ünïcode ✓' },
  ]);
  store.set('nul', null);
  return store;
}

function manualClock(start) {
  const clock = { ms: start, now: () => clock.ms };
  return clock;
}

test('m3 compaction keeps every read the same', (t) => {
  const clock = manualClock(0);
  const file = tempLog(t);
  const store = historyStore(file, clock);
  clock.ms = 500;
  const before = reads(store, PROBES);
  store.compact();
  assert.deepEqual(reads(store, PROBES), before);
  assert.deepEqual(reads(kvlog().open(file, { now: clock.now }), PROBES), before);
});

test('m3 compaction keeps the expiry of keys that are still live', (t) => {
  const clock = manualClock(0);
  const file = tempLog(t);
  const store = historyStore(file, clock);
  clock.ms = 500;
  store.compact();
  assert.equal(kvlog().open(file, { now: () => 9_999 }).get('expiring'), 'lasting');
  assert.equal(kvlog().open(file, { now: () => 10_000 }).has('expiring'), false);
  clock.ms = 10_000;
  assert.equal(store.has('expiring'), false);
});

test('m3 compaction drops deleted and expired entries from the file', (t) => {
  const clock = manualClock(0);
  const file = tempLog(t);
  const store = historyStore(file, clock);
  clock.ms = 500;
  store.compact();
  const text = fs.readFileSync(file, 'utf8');
  assert.equal(text.includes('soon gone'), false);
  assert.equal(text.includes('brief'), false);
  assert.equal(text.includes('"round":0,'), false, 'overwritten values are gone');
  assert.equal(kvlog().open(file, { now: () => 0 }).has('expired'), false);
});

test('m3 stats counts live keys and reports the log size', (t) => {
  const clock = manualClock(0);
  const file = tempLog(t);
  const store = historyStore(file, clock);
  const early = store.stats();
  assert.equal(early.keys, 9);
  assert.equal(early.logBytes, fs.statSync(file).size);
  assert.ok(early.liveBytes > 0 && early.liveBytes < early.logBytes);
  clock.ms = 100;
  const later = store.stats();
  assert.equal(later.keys, 8);
  assert.equal(later.logBytes, early.logBytes);
  assert.ok(later.liveBytes < early.liveBytes);
});

test('m3 after compaction logBytes equals the liveBytes reported before it', (t) => {
  const clock = manualClock(0);
  const file = tempLog(t);
  const store = historyStore(file, clock);
  clock.ms = 500;
  const before = store.stats();
  store.compact();
  const after = store.stats();
  assert.deepEqual(after, { keys: before.keys, logBytes: before.liveBytes, liveBytes: before.liveBytes });
  assert.equal(fs.statSync(file).size, before.liveBytes);
});

test('m3 stats of a store that was never written are all zero', (t) => {
  assert.deepEqual(kvlog().open(tempLog(t)).stats(), { keys: 0, logBytes: 0, liveBytes: 0 });
});

test('m3 liveBytes does not grow when a value is rewritten unchanged', (t) => {
  const store = kvlog().open(tempLog(t));
  store.set('a', 'same value');
  store.set('b', 'other');
  const first = store.stats();
  store.set('a', 'same value');
  const second = store.stats();
  assert.equal(second.liveBytes, first.liveBytes);
  assert.ok(second.logBytes > first.logBytes);
  assert.equal(second.keys, 2);
});

test('m3 compaction writes a new file and renames it over the log', (t) => {
  const clock = manualClock(0);
  const file = tempLog(t);
  const store = historyStore(file, clock);
  const inode = fs.statSync(file).ino;
  store.compact();
  assert.notEqual(fs.statSync(file).ino, inode, 'the log was rewritten in place');
  assert.deepEqual(fs.readdirSync(path.dirname(file)), ['store.log']);
});

test('m3 writes after compaction are kept', (t) => {
  const clock = manualClock(0);
  const file = tempLog(t);
  const store = historyStore(file, clock);
  store.compact();
  store.set('after', { ok: true });
  store.delete('k0');
  store.batch([{ op: 'set', key: 'k1', value: 'replaced' }]);
  const reopened = kvlog().open(file, { now: clock.now });
  assert.deepEqual(reopened.get('after'), { ok: true });
  assert.equal(reopened.has('k0'), false);
  assert.equal(reopened.get('k1'), 'replaced');
  assert.deepEqual(reads(reopened, PROBES), reads(store, PROBES));
});

test('m3 compacting a store with nothing live leaves an empty log', (t) => {
  const clock = manualClock(0);
  const file = tempLog(t);
  const store = kvlog().open(file, { now: clock.now });
  store.set('a', 1);
  store.set('b', 2, { ttlMs: 10 });
  store.delete('a');
  clock.ms = 10;
  store.compact();
  assert.equal(fs.statSync(file).size, 0);
  assert.deepEqual(store.stats(), { keys: 0, logBytes: 0, liveBytes: 0 });
  assert.deepEqual(kvlog().open(file, { now: () => 0 }).keys(), []);
});

test('m3 a compacted log still tolerates a torn last write', (t) => {
  const clock = manualClock(0);
  const file = tempLog(t);
  const store = historyStore(file, clock);
  store.compact();
  const expected = reads(store, PROBES);
  fs.appendFileSync(file, '{"op":"se');
  assert.deepEqual(reads(kvlog().open(file, { now: clock.now }), PROBES), expected);
});
