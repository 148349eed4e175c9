'use strict';

/**
 * Durations written as `1h30m`, `45s` or `2d 4h`.
 *
 * A duration is one or more parts, each a whole number followed by a unit: `d` (86400 s),
 * `h` (3600 s), `m` (60 s) or `s`. Units go from the largest to the smallest, each at most once;
 * whitespace may separate parts and surround the whole string.
 *
 * Values of the right type that are not valid throw RangeError; arguments of the wrong type
 * throw TypeError.
 */

const UNITS = [
  ['d', 86400],
  ['h', 3600],
  ['m', 60],
  ['s', 1],
];

function isDigit(ch) {
  return ch >= '0' && ch <= '9';
}

function isSpace(ch) {
  return /\s/.test(ch);
}

/** Returns the number of seconds in the duration `text`, e.g. `parse("1h30m") === 5400`. */
function parse(text) {
  if (typeof text !== 'string') {
    throw new TypeError(`parse expects a string, got ${text === null ? 'null' : typeof text}`);
  }
  const src = text.trim();
  const quoted = JSON.stringify(text);
  if (src === '') {
    throw new RangeError('empty duration');
  }
  let total = 0;
  let lastRank = -1;
  let i = 0;
  while (i < src.length) {
    const start = i;
    while (i < src.length && isDigit(src[i])) {
      i += 1;
    }
    if (i === start) {
      throw new RangeError(`invalid duration ${quoted}: expected a number, found ${JSON.stringify(src[i])}`);
    }
    const digits = src.slice(start, i);
    if (i === src.length || isSpace(src[i])) {
      throw new RangeError(`invalid duration ${quoted}: ${digits} has no unit (d, h, m or s)`);
    }
    const unit = src[i];
    const rank = UNITS.findIndex(([name]) => name === unit);
    if (rank === -1) {
      throw new RangeError(`invalid duration ${quoted}: unknown unit ${JSON.stringify(unit)}`);
    }
    if (rank === lastRank) {
      throw new RangeError(`invalid duration ${quoted}: unit ${unit} appears twice`);
    }
    if (rank < lastRank) {
      throw new RangeError(
        `invalid duration ${quoted}: unit ${unit} comes after ${UNITS[lastRank][0]} (largest unit first)`,
      );
    }
    total += Number(digits) * UNITS[rank][1];
    lastRank = rank;
    i += 1;
    while (i < src.length && isSpace(src[i])) {
      i += 1;
    }
  }
  if (!Number.isSafeInteger(total)) {
    throw new RangeError(`invalid duration ${quoted}: too large`);
  }
  return total;
}

/** Returns the canonical form of `seconds`, e.g. `format(5400) === "1h30m"`, `format(0) === "0s"`. */
function format(seconds) {
  if (typeof seconds !== 'number') {
    throw new TypeError(`format expects a number, got ${seconds === null ? 'null' : typeof seconds}`);
  }
  if (!Number.isInteger(seconds)) {
    throw new RangeError(`format expects a whole number of seconds, got ${seconds}`);
  }
  if (seconds < 0) {
    throw new RangeError(`format expects seconds >= 0, got ${seconds}`);
  }
  if (!Number.isSafeInteger(seconds)) {
    throw new RangeError(`format: ${seconds} seconds is too large`);
  }
  if (seconds === 0) {
    return '0s';
  }
  let rest = seconds;
  let out = '';
  for (const [unit, size] of UNITS) {
    const count = Math.floor(rest / size);
    if (count > 0) {
      out += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return out;
}

module.exports = { parse, format };
