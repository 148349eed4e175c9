'use strict';
// Hidden acceptance tests, milestone m1: parse and format duration strings.
// Every test is a top-level `m1 ...` test: Node's JUnit reporter names them `test::m1 ...`.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const MODULE = path.join(__dirname, '..', 'durations.js');

function durations() {
  assert.ok(fs.existsSync(MODULE), 'durations.js is missing at the repository root');
  const mod = require('../durations.js');
  assert.equal(typeof mod.parse, 'function', 'durations.js does not export parse');
  assert.equal(typeof mod.format, 'function', 'durations.js does not export format');
  return mod;
}

function shown(value) {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function rejects(fn, input, errorClass) {
  assert.throws(() => fn(input), errorClass, `expected ${errorClass.name} for ${shown(input)}`);
}

test('m1 parse reads a single part', () => {
  const { parse } = durations();
  assert.equal(parse('45s'), 45);
  assert.equal(parse('2h'), 7200);
  assert.equal(parse('1d'), 86400);
  assert.equal(parse('7m'), 420);
});

test('m1 parse adds the parts of a compound duration', () => {
  const { parse } = durations();
  assert.equal(parse('1h30m'), 5400);
  assert.equal(parse('1d2h3m4s'), 93784);
  assert.equal(parse('1d30s'), 86430);
  assert.equal(parse('3h15s'), 10815);
});

test('m1 parse allows whitespace between parts', () => {
  const { parse } = durations();
  assert.equal(parse('2d 4h'), 187200);
  assert.equal(parse('1h   30m\t15s'), 5415);
  assert.equal(parse('1d\n1s'), 86401);
});

test('m1 parse ignores whitespace around the duration', () => {
  const { parse } = durations();
  assert.equal(parse(' 45s '), 45);
  assert.equal(parse('\t1h 30m\n'), 5400);
});

test('m1 parse accepts values larger than the next unit', () => {
  const { parse } = durations();
  assert.equal(parse('90m'), 5400);
  assert.equal(parse('36h'), 129600);
  assert.equal(parse('120s'), 120);
  assert.equal(parse('1h90m'), 9000);
});

test('m1 parse accepts zero parts and leading zeros', () => {
  const { parse } = durations();
  assert.equal(parse('0s'), 0);
  assert.equal(parse('0d'), 0);
  assert.equal(parse('1h0m'), 3600);
  assert.equal(parse('05m'), 300);
});

test('m1 parse rejects empty and blank strings with RangeError', () => {
  const { parse } = durations();
  for (const bad of ['', '   ', '\t\n']) {
    rejects(parse, bad, RangeError);
  }
});

test('m1 parse rejects unknown and upper-case units with RangeError', () => {
  const { parse } = durations();
  for (const bad of ['5x', '2w', '3y', '1H', '10sec', '1hr']) {
    rejects(parse, bad, RangeError);
  }
});

test('m1 parse rejects a repeated unit with RangeError', () => {
  const { parse } = durations();
  for (const bad of ['1h2h', '1m 1m', '1d2h3d']) {
    rejects(parse, bad, RangeError);
  }
});

test('m1 parse rejects units out of order with RangeError', () => {
  const { parse } = durations();
  for (const bad of ['30m1h', '1s1m', '4h 2d', '1d1s1h']) {
    rejects(parse, bad, RangeError);
  }
});

test('m1 parse rejects numbers without a unit and units without a number', () => {
  const { parse } = durations();
  for (const bad of ['90', '1h30', 'h', '1h m', 'm30']) {
    rejects(parse, bad, RangeError);
  }
});

test('m1 parse rejects signs and fractions with RangeError', () => {
  const { parse } = durations();
  for (const bad of ['-5m', '+5m', '1.5h', '1h -30m', '1e3s']) {
    rejects(parse, bad, RangeError);
  }
});

test('m1 parse rejects separators other than whitespace', () => {
  const { parse } = durations();
  for (const bad of ['1h, 30m', '1h,30m', '1 h', '1h_30m']) {
    rejects(parse, bad, RangeError);
  }
});

test('m1 parse throws TypeError for a non-string', () => {
  const { parse } = durations();
  for (const bad of [5400, null, undefined]) {
    rejects(parse, bad, TypeError);
  }
});

test('m1 format writes the canonical form', () => {
  const { format } = durations();
  assert.equal(format(5400), '1h30m');
  assert.equal(format(45), '45s');
  assert.equal(format(60), '1m');
  assert.equal(format(93784), '1d2h3m4s');
  assert.equal(format(86400), '1d');
  assert.equal(format(3605), '1h5s');
  assert.equal(format(187200), '2d4h');
  assert.equal(format(1000000), '11d13h46m40s');
});

test('m1 format writes zero seconds as 0s', () => {
  const { format } = durations();
  assert.equal(format(0), '0s');
});

test('m1 format rejects negative and non-integer seconds with RangeError', () => {
  const { format } = durations();
  for (const bad of [-1, -3600, 1.5, 0.1, NaN, Infinity]) {
    rejects(format, bad, RangeError);
  }
});

test('m1 format throws TypeError for a non-number', () => {
  const { format } = durations();
  for (const bad of ['90', null, undefined]) {
    rejects(format, bad, TypeError);
  }
});

test('m1 parse and format round-trip', () => {
  const { parse, format } = durations();
  for (const n of [0, 1, 59, 60, 61, 3599, 3600, 3601, 86399, 86400, 90061, 1000000, 31536000]) {
    assert.equal(parse(format(n)), n, `parse(format(${n}))`);
  }
  assert.equal(format(parse('90m')), '1h30m');
  assert.equal(format(parse(' 1h 0m 0s ')), '1h');
  assert.equal(format(parse('36h')), '1d12h');
});
