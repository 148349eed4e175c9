'use strict';
// Hidden acceptance tests, milestone m2: keys that expire on an injectable clock, atomic batches.
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
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvlog-m2-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'store.log');
}

function lineCount(file) {
  if (!fs.existsSync(file)) return 0;
  return fs.readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() !== '').length;
}

/** A clock the test moves by hand. */
function manualClock(start) {
  const clock = { ms: start, now: () => clock.ms };
  return clock;
}

test('m2 a key with ttlMs is visible until the clock reaches set time plus ttlMs', (t) => {
  const clock = manualClock(10_000);
  const store = kvlog().open(tempLog(t), { now: clock.now });
  store.set('token', 'abc', { ttlMs: 250 });
  clock.ms = 10_249;
  assert.equal(store.get('token'), 'abc');
  assert.equal(store.has('token'), true);
  clock.ms = 10_250;
  assert.equal(store.get('token'), undefined);
  assert.equal(store.has('token'), false);
});

test('m2 expired keys are left out of keys', (t) => {
  const clock = manualClock(0);
  const store = kvlog().open(tempLog(t), { now: clock.now });
  store.set('short', 1, { ttlMs: 10 });
  store.set('medium', 2, { ttlMs: 20 });
  store.set('forever', 3);
  assert.deepEqual(store.keys(), ['forever', 'medium', 'short']);
  clock.ms = 15;
  assert.deepEqual(store.keys(), ['forever', 'medium']);
  clock.ms = 1e12;
  assert.deepEqual(store.keys(), ['forever']);
});

test('m2 expiry is a point in time that survives reopening', (t) => {
  const file = tempLog(t);
  kvlog().open(file, { now: () => 5_000 }).set('k', 'v', { ttlMs: 1_000 });
  assert.equal(kvlog().open(file, { now: () => 5_999 }).get('k'), 'v');
  assert.equal(kvlog().open(file, { now: () => 6_000 }).get('k'), undefined);
  assert.deepEqual(kvlog().open(file, { now: () => 7_000 }).keys(), []);
});

test('m2 the default clock is the real time', (t) => {
  const file = tempLog(t);
  kvlog().open(file, { now: () => 1_000 }).set('old', 'stale', { ttlMs: 60_000 });
  const store = kvlog().open(file);
  assert.equal(store.has('old'), false);
  store.set('fresh', 'new', { ttlMs: 3_600_000 });
  assert.equal(store.get('fresh'), 'new');
  assert.equal(kvlog().open(file).get('fresh'), 'new');
});

test('m2 a plain set makes an expiring key permanent', (t) => {
  const clock = manualClock(0);
  const file = tempLog(t);
  const store = kvlog().open(file, { now: clock.now });
  store.set('a', 1, { ttlMs: 100 });
  store.set('a', 2);
  clock.ms = 500;
  assert.equal(store.get('a'), 2);
  assert.equal(kvlog().open(file, { now: clock.now }).get('a'), 2);
});

test('m2 a new ttlMs replaces the old expiry', (t) => {
  const clock = manualClock(0);
  const store = kvlog().open(tempLog(t), { now: clock.now });
  store.set('a', 1, { ttlMs: 100 });
  clock.ms = 50;
  store.set('a', 2, { ttlMs: 100 });
  clock.ms = 120;
  assert.equal(store.get('a'), 2);
  clock.ms = 150;
  assert.equal(store.has('a'), false);
});

test('m2 deleting an expired key returns false and an expired key can be set again', (t) => {
  const clock = manualClock(0);
  const store = kvlog().open(tempLog(t), { now: clock.now });
  store.set('a', 1, { ttlMs: 10 });
  clock.ms = 10;
  assert.equal(store.delete('a'), false);
  store.set('a', 'again');
  assert.equal(store.get('a'), 'again');
});

test('m2 a ttlMs that is not a positive finite number throws RangeError and writes nothing', (t) => {
  const file = tempLog(t);
  const store = kvlog().open(file);
  store.set('a', 1);
  for (const ttlMs of [0, -100, NaN, Infinity, '1000', true]) {
    assert.throws(() => store.set('a', 2, { ttlMs }), RangeError, String(ttlMs));
  }
  assert.equal(lineCount(file), 1);
  assert.equal(store.get('a'), 1);
});

test('m2 a batch applies its operations in order', (t) => {
  const store = kvlog().open(tempLog(t));
  store.set('x', 'old');
  store.batch([
    { op: 'set', key: 'a', value: 1 },
    { op: 'delete', key: 'a' },
    { op: 'delete', key: 'b' },
    { op: 'set', key: 'b', value: 2 },
    { op: 'set', key: 'x', value: 'new' },
    { op: 'delete', key: 'missing' },
  ]);
  assert.deepEqual(store.keys(), ['b', 'x']);
  assert.equal(store.get('x'), 'new');
  assert.equal(store.has('a'), false);
});

test('m2 a batch is written as one log line and survives reopening', (t) => {
  const file = tempLog(t);
  const store = kvlog().open(file);
  store.set('keep', true);
  store.set('drop', true);
  store.batch([
    { op: 'set', key: 'one', value: { n: 1 } },
    { op: 'set', key: 'two', value: [2] },
    { op: 'delete', key: 'drop' },
  ]);
  assert.equal(lineCount(file), 3);
  const reopened = kvlog().open(file);
  assert.deepEqual(reopened.keys(), ['keep', 'one', 'two']);
  assert.deepEqual(reopened.get('two'), [2]);
});

test('m2 a torn batch is ignored as a whole on open', (t) => {
  const file = tempLog(t);
  const store = kvlog().open(file);
  store.set('a', 1);
  store.batch([
    { op: 'set', key: 'b', value: 'bee' },
    { op: 'delete', key: 'a' },
    { op: 'set', key: 'c', value: 'sea' },
  ]);
  const text = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, text.slice(0, text.length - 8));
  const reopened = kvlog().open(file);
  assert.deepEqual(reopened.keys(), ['a']);
  reopened.set('d', 4);
  assert.deepEqual(kvlog().open(file).keys(), ['a', 'd']);
});

test('m2 a batch with an invalid operation throws and changes nothing', (t) => {
  const file = tempLog(t);
  const store = kvlog().open(file);
  store.set('a', 1);
  const before = fs.readFileSync(file);
  const bad = [
    [{ op: 'delete', key: 'a' }, { op: 'rename', key: 'a' }],
    [{ op: 'delete', key: 'a' }, { op: 'set', key: '', value: 1 }],
    [{ op: 'delete', key: 'a' }, { op: 'set', key: 'b', value: undefined }],
    [{ op: 'delete', key: 'a' }, null],
  ];
  for (const ops of bad) assert.throws(() => store.batch(ops), TypeError);
  assert.throws(() => store.batch([{ op: 'delete', key: 'a' }, { op: 'set', key: 'b', value: 1, ttlMs: -5 }]), RangeError);
  assert.deepEqual(fs.readFileSync(file), before);
  assert.equal(store.get('a'), 1);
  assert.equal(store.has('b'), false);
});

test('m2 batch sets take ttlMs and an empty batch writes nothing', (t) => {
  const clock = manualClock(100);
  const file = tempLog(t);
  const store = kvlog().open(file, { now: clock.now });
  store.batch([
    { op: 'set', key: 'brief', value: 1, ttlMs: 5 },
    { op: 'set', key: 'lasting', value: 2 },
  ]);
  store.batch([]);
  assert.equal(lineCount(file), 1);
  clock.ms = 105;
  assert.deepEqual(store.keys(), ['lasting']);
  assert.deepEqual(kvlog().open(file, { now: () => 104 }).keys(), ['brief', 'lasting']);
});

test('m2 a damaged line is named by its line number when batches come before it', (t) => {
  const file = tempLog(t);
  const store = kvlog().open(file);
  store.batch([
    { op: 'set', key: 'a', value: 1 },
    { op: 'set', key: 'b', value: 2 },
    { op: 'set', key: 'c', value: 3 },
  ]);
  store.set('d', 4);
  fs.appendFileSync(file, 'not a record\n');
  store.set('e', 5);
  assert.throws(
    () => kvlog().open(file),
    (err) => err instanceof Error && /\bline 3\b/.test(err.message),
  );
});
