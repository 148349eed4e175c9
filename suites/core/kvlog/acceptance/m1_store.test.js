'use strict';
// Hidden acceptance tests, milestone m1: a log-backed store that survives reopening and crashes.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

// Required inside each test, so a missing or broken module fails every test on its own.
function kvlog() {
  return require('../kvlog.js');
}

function tempLog(t, name = 'store.log') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvlog-m1-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, name);
}

function logLines(file) {
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(text.endsWith('\n'), 'every record ends with a newline');
  return text.slice(0, -1).split('\n');
}

test('m1 set then get returns the value, missing keys are undefined', (t) => {
  const store = kvlog().open(tempLog(t));
  store.set('greeting', 'hello');
  store.set('count', 42);
  assert.equal(store.get('greeting'), 'hello');
  assert.equal(store.get('count'), 42);
  assert.equal(store.get('nothing'), undefined);
});

test('m1 every JSON type round-trips and null is a value', (t) => {
  const file = tempLog(t);
  const values = { s: 'text', n: -3.25, z: 0, yes: true, no: false, nul: null, list: [1, 'a', [null]], obj: { a: { b: [true] } }, empty: '' };
  const store = kvlog().open(file);
  for (const [key, value] of Object.entries(values)) store.set(key, value);
  for (const reader of [store, kvlog().open(file)]) {
    for (const [key, value] of Object.entries(values)) assert.deepEqual(reader.get(key), value, key);
    assert.equal(reader.has('nul'), true);
  }
});

test('m1 data survives reopening', (t) => {
  const file = tempLog(t);
  const store = kvlog().open(file);
  store.set('user:1', { name: 'Ada' });
  store.set('user:2', { name: 'Grace' });
  const reopened = kvlog().open(file);
  assert.deepEqual(reopened.get('user:1'), { name: 'Ada' });
  assert.deepEqual(reopened.get('user:2'), { name: 'Grace' });
  assert.deepEqual(reopened.keys(), ['user:1', 'user:2']);
});

test('m1 overwrites and deletes survive reopening', (t) => {
  const file = tempLog(t);
  const store = kvlog().open(file);
  store.set('a', 1);
  store.set('b', 2);
  store.set('a', 'one');
  store.delete('b');
  store.set('c', 3);
  const reopened = kvlog().open(file);
  assert.equal(reopened.get('a'), 'one');
  assert.equal(reopened.has('b'), false);
  assert.equal(reopened.get('b'), undefined);
  assert.deepEqual(reopened.keys(), ['a', 'c']);
});

test('m1 delete returns whether the key was there, and deleting a missing key writes nothing', (t) => {
  const file = tempLog(t);
  const store = kvlog().open(file);
  store.set('a', 1);
  assert.equal(store.delete('a'), true);
  const size = fs.statSync(file).size;
  assert.equal(store.delete('a'), false);
  assert.equal(store.delete('never'), false);
  assert.equal(fs.statSync(file).size, size);
});

test('m1 has and keys list the live keys in sorted order', (t) => {
  const store = kvlog().open(tempLog(t));
  for (const key of ['pear', 'Apple', 'fig', 'banana']) store.set(key, key.length);
  store.delete('fig');
  assert.deepEqual(store.keys(), ['Apple', 'banana', 'pear']);
  assert.equal(store.has('pear'), true);
  assert.equal(store.has('fig'), false);
  const keys = store.keys();
  keys.push('mutated');
  assert.deepEqual(store.keys(), ['Apple', 'banana', 'pear']);
});

test('m1 keys with special characters and unicode values persist', (t) => {
  const file = tempLog(t);
  const keys = ['__proto__', 'constructor', 'hasOwnProperty', 'two\nlines', 'tab\there', 'quote"back\\slash', 'ключ', '🔑'];
  const store = kvlog().open(file);
  keys.forEach((key, index) => store.set(key, `value ${index} — ünïcode ✓`));
  const reopened = kvlog().open(file);
  assert.deepEqual(reopened.keys(), [...keys].sort());
  keys.forEach((key, index) => assert.equal(reopened.get(key), `value ${index} — ünïcode ✓`, JSON.stringify(key)));
});

test('m1 the store keeps its own copy of values', (t) => {
  const store = kvlog().open(tempLog(t));
  const value = { tags: ['a'], meta: { n: 1 } };
  store.set('doc', value);
  value.tags.push('b');
  value.meta.n = 2;
  const read = store.get('doc');
  read.tags.push('c');
  assert.deepEqual(store.get('doc'), { tags: ['a'], meta: { n: 1 } });
});

test('m1 bad keys and unstorable values throw TypeError and write nothing', (t) => {
  const file = tempLog(t);
  const store = kvlog().open(file);
  store.set('ok', 1);
  const before = fs.readFileSync(file);
  const circular = { name: 'loop' };
  circular.self = circular;
  for (const key of ['', 1, null, undefined, {}, ['a']]) {
    assert.throws(() => store.set(key, 'x'), TypeError, `key ${String(key)}`);
  }
  for (const value of [undefined, () => 1, 5n, circular, Symbol('s')]) {
    assert.throws(() => store.set('bad', value), TypeError, typeof value);
  }
  assert.deepEqual(fs.readFileSync(file), before);
  assert.deepEqual(store.keys(), ['ok']);
});

test('m1 opening a missing file gives an empty store and creates the file on the first write', (t) => {
  const file = tempLog(t, 'later.log');
  const store = kvlog().open(file);
  assert.deepEqual(store.keys(), []);
  assert.equal(store.get('x'), undefined);
  assert.equal(fs.existsSync(file), false);
  store.set('x', 1);
  assert.equal(fs.existsSync(file), true);
  assert.equal(kvlog().open(file).get('x'), 1);
});

test('m1 each write appends exactly one line and never rewrites earlier bytes', (t) => {
  const file = tempLog(t);
  const store = kvlog().open(file);
  store.set('a', { big: 'x'.repeat(100) });
  let before = fs.readFileSync(file, 'utf8');
  assert.equal(logLines(file).length, 1);
  const steps = [() => store.set('a', 2), () => store.set('b', 'line\nbreak'), () => store.delete('a')];
  steps.forEach((step, index) => {
    step();
    const after = fs.readFileSync(file, 'utf8');
    assert.ok(after.startsWith(before), 'earlier bytes unchanged');
    assert.equal(logLines(file).length, index + 2);
    before = after;
  });
});

test('m1 a torn last line is ignored on open', (t) => {
  const file = tempLog(t);
  const store = kvlog().open(file);
  store.set('a', 1);
  store.set('b', { nested: 'value that gets cut' });
  const text = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, text.slice(0, text.length - 12));
  const reopened = kvlog().open(file);
  assert.deepEqual(reopened.keys(), ['a']);
  assert.equal(reopened.get('a'), 1);
});

test('m1 after a torn last line, new writes reopen cleanly', (t) => {
  const file = tempLog(t);
  const store = kvlog().open(file);
  store.set('a', 1);
  fs.appendFileSync(file, '{"half a rec');
  const reopened = kvlog().open(file);
  assert.deepEqual(reopened.keys(), ['a']);
  reopened.set('b', 2);
  reopened.set('c', 3);
  const again = kvlog().open(file);
  assert.deepEqual(again.keys(), ['a', 'b', 'c']);
  assert.equal(again.get('b'), 2);
});

test('m1 a complete last record without its newline is kept', (t) => {
  const file = tempLog(t);
  const store = kvlog().open(file);
  store.set('a', 1);
  store.set('b', 2);
  const text = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, text.slice(0, -1));
  const reopened = kvlog().open(file);
  assert.deepEqual(reopened.keys(), ['a', 'b']);
  reopened.set('c', 3);
  const again = kvlog().open(file);
  assert.deepEqual(again.keys(), ['a', 'b', 'c']);
  assert.equal(again.get('b'), 2);
});

test('m1 a damaged line before the last throws an Error naming the line and leaves the file alone', (t) => {
  const file = tempLog(t);
  const store = kvlog().open(file);
  for (const key of ['a', 'b', 'c', 'd']) store.set(key, key);
  const lines = logLines(file);
  lines[2] = lines[2].slice(0, Math.floor(lines[2].length / 2));
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  const before = fs.readFileSync(file);
  assert.throws(
    () => kvlog().open(file),
    (err) => err instanceof Error && /\bline 3\b/.test(err.message),
  );
  assert.deepEqual(fs.readFileSync(file), before);
});

test('m1 a line of garbage in the middle is reported with its line number', (t) => {
  const file = tempLog(t);
  const store = kvlog().open(file);
  store.set('a', 1);
  store.set('b', 2);
  const lines = logLines(file);
  fs.writeFileSync(file, `${lines[0]}\nthis is not json\n${lines[1]}\n`);
  assert.throws(
    () => kvlog().open(file),
    (err) => err instanceof Error && /\bline 2\b/.test(err.message),
  );
});
