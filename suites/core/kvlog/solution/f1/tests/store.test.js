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

test('set, get, has and keys on a fresh store', (t) => {
  const store = kvlog.open(tempLog(t));
  store.set('b', 2);
  store.set('a', { nested: [1, 'two', null] });
  assert.equal(store.get('b'), 2);
  assert.deepEqual(store.get('a'), { nested: [1, 'two', null] });
  assert.equal(store.get('missing'), undefined);
  assert.equal(store.has('a'), true);
  assert.equal(store.has('missing'), false);
  assert.deepEqual(store.keys(), ['a', 'b']);
});

test('null is a stored value, distinct from a missing key', (t) => {
  const store = kvlog.open(tempLog(t));
  store.set('n', null);
  assert.equal(store.get('n'), null);
  assert.equal(store.has('n'), true);
});

test('data survives reopening, overwrites and deletes included', (t) => {
  const file = tempLog(t);
  const first = kvlog.open(file);
  first.set('keep', 'x');
  first.set('change', 1);
  first.set('change', 2);
  first.set('gone', true);
  assert.equal(first.delete('gone'), true);
  const second = kvlog.open(file);
  assert.deepEqual(second.keys(), ['change', 'keep']);
  assert.equal(second.get('change'), 2);
  assert.equal(second.get('keep'), 'x');
});

test('delete of a missing key returns false and writes nothing', (t) => {
  const file = tempLog(t);
  const store = kvlog.open(file);
  store.set('a', 1);
  const before = fs.readFileSync(file, 'utf8');
  assert.equal(store.delete('nope'), false);
  assert.equal(fs.readFileSync(file, 'utf8'), before);
});

test('every write appends one line and leaves earlier bytes alone', (t) => {
  const file = tempLog(t);
  const store = kvlog.open(file);
  store.set('a', 'first');
  const before = fs.readFileSync(file, 'utf8');
  store.set('a', 'second');
  store.delete('a');
  const after = fs.readFileSync(file, 'utf8');
  assert.ok(after.startsWith(before));
  assert.equal(after.split('\n').length - 1, 3);
  assert.ok(after.endsWith('\n'));
});

test('opening a missing file does not create it', (t) => {
  const file = tempLog(t);
  const store = kvlog.open(file);
  assert.deepEqual(store.keys(), []);
  assert.equal(fs.existsSync(file), false);
  store.set('a', 1);
  assert.equal(fs.existsSync(file), true);
});

test('odd keys and unicode values round-trip through the file', (t) => {
  const file = tempLog(t);
  const store = kvlog.open(file);
  const keys = ['__proto__', 'constructor', 'line\nbreak', 'quote"and\\slash', 'clé 🔑'];
  keys.forEach((key, index) => store.set(key, `välue ${index} ✓`));
  const reopened = kvlog.open(file);
  assert.deepEqual(reopened.keys(), [...keys].sort());
  keys.forEach((key, index) => assert.equal(reopened.get(key), `välue ${index} ✓`));
});

test('the store keeps its own copy of values', (t) => {
  const store = kvlog.open(tempLog(t));
  const value = { list: [1] };
  store.set('v', value);
  value.list.push(2);
  store.get('v').list.push(3);
  assert.deepEqual(store.get('v'), { list: [1] });
});

test('bad keys and unstorable values throw TypeError and write nothing', (t) => {
  const file = tempLog(t);
  const store = kvlog.open(file);
  store.set('ok', 1);
  const before = fs.readFileSync(file, 'utf8');
  const circular = {};
  circular.self = circular;
  for (const key of ['', 7, null, undefined]) {
    assert.throws(() => store.set(key, 1), TypeError);
  }
  for (const value of [undefined, () => 1, 10n, circular]) {
    assert.throws(() => store.set('x', value), TypeError);
  }
  assert.throws(() => store.get(3), TypeError);
  assert.throws(() => store.delete(''), TypeError);
  assert.equal(fs.readFileSync(file, 'utf8'), before);
  assert.deepEqual(store.keys(), ['ok']);
});

test('a torn last line is dropped and later writes reopen cleanly', (t) => {
  const file = tempLog(t);
  const store = kvlog.open(file);
  store.set('a', 1);
  store.set('b', 2);
  const text = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, text.slice(0, text.length - 6));
  const reopened = kvlog.open(file);
  assert.deepEqual(reopened.keys(), ['a']);
  reopened.set('c', 3);
  assert.deepEqual(kvlog.open(file).keys(), ['a', 'c']);
});

test('a complete last record without its newline is kept', (t) => {
  const file = tempLog(t);
  const store = kvlog.open(file);
  store.set('a', 1);
  store.set('b', 2);
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').trimEnd());
  const reopened = kvlog.open(file);
  assert.equal(reopened.get('b'), 2);
  reopened.set('c', 3);
  assert.deepEqual(kvlog.open(file).keys(), ['a', 'b', 'c']);
});

test('a bad line before the last one is an error naming the line', (t) => {
  const file = tempLog(t);
  const store = kvlog.open(file);
  store.set('a', 1);
  store.set('b', 2);
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines.splice(1, 0, '{"op":"set","key":');
  fs.writeFileSync(file, lines.join('\n'));
  const before = fs.readFileSync(file);
  assert.throws(
    () => kvlog.open(file),
    (err) => err instanceof kvlog.CorruptLogError && err.line === 2 && /line 2\b/.test(err.message),
  );
  assert.deepEqual(fs.readFileSync(file), before);
});

test('a valid JSON line that is not a record is corruption too', (t) => {
  const file = tempLog(t);
  fs.writeFileSync(file, '{"op":"set","key":"a","value":1}\n[1,2]\n{"op":"delete","key":"a"}\n');
  assert.throws(() => kvlog.open(file), /line 2\b/);
});
