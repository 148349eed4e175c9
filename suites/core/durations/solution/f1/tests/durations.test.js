'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { parse, format } = require('../durations.js');

test('parse reads single parts', () => {
  assert.equal(parse('45s'), 45);
  assert.equal(parse('90m'), 5400);
  assert.equal(parse('2h'), 7200);
  assert.equal(parse('1d'), 86400);
});

test('parse adds compound parts, with or without whitespace', () => {
  assert.equal(parse('1h30m'), 5400);
  assert.equal(parse('2d 4h'), 187200);
  assert.equal(parse('1d2h3m4s'), 93784);
  assert.equal(parse(' 1h \t 30m\n'), 5400);
  assert.equal(parse('1d30s'), 86430);
});

test('parse accepts zero parts and leading zeros', () => {
  assert.equal(parse('0s'), 0);
  assert.equal(parse('1h0m'), 3600);
  assert.equal(parse('05m'), 300);
});

test('parse rejects empty and malformed strings with RangeError', () => {
  for (const bad of ['', '   ', '90', '1h30', 'h', '1 h', '1h, 30m', '1.5h', '-5m', '+5m']) {
    assert.throws(() => parse(bad), RangeError, JSON.stringify(bad));
  }
});

test('parse rejects unknown units', () => {
  for (const bad of ['5x', '1H', '2w', '10sec']) {
    assert.throws(() => parse(bad), RangeError, JSON.stringify(bad));
  }
});

test('parse rejects repeated and out-of-order units', () => {
  for (const bad of ['1h2h', '1m 1m', '30m1h', '4h 2d', '1s1m']) {
    assert.throws(() => parse(bad), RangeError, JSON.stringify(bad));
  }
});

test('parse rejects durations beyond the safe integers', () => {
  assert.throws(() => parse('99999999999999999999d'), RangeError);
});

test('parse rejects non-strings with TypeError', () => {
  for (const bad of [5, null, undefined, {}]) {
    assert.throws(() => parse(bad), TypeError);
  }
});

test('format writes the canonical form', () => {
  assert.equal(format(5400), '1h30m');
  assert.equal(format(45), '45s');
  assert.equal(format(93784), '1d2h3m4s');
  assert.equal(format(86400), '1d');
  assert.equal(format(3605), '1h5s');
  assert.equal(format(1000000), '11d13h46m40s');
});

test('format writes zero as 0s', () => {
  assert.equal(format(0), '0s');
});

test('format rejects negative, fractional and unsafe numbers with RangeError', () => {
  for (const bad of [-1, 1.5, NaN, Infinity, -Infinity, 2 ** 60]) {
    assert.throws(() => format(bad), RangeError, String(bad));
  }
});

test('format rejects non-numbers with TypeError', () => {
  for (const bad of ['90', null, undefined, 10n]) {
    assert.throws(() => format(bad), TypeError);
  }
});

test('parse and format round-trip', () => {
  for (const n of [0, 1, 59, 60, 61, 3599, 3600, 86399, 86400, 90061, 1000000]) {
    assert.equal(parse(format(n)), n);
  }
  assert.equal(format(parse('90m')), '1h30m');
  assert.equal(format(parse('1h 0m 0s')), '1h');
});
