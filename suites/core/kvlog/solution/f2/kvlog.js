'use strict';
/**
 * kvlog: a persistent key-value store backed by an append-only log file.
 *
 * Every change is appended to the log as one line of JSON, and `open` replays the log to rebuild
 * the store. Records:
 *   {"op":"set","key":K,"value":V}                 (plus "expires":MS when the key has a ttl)
 *   {"op":"delete","key":K}
 *   {"op":"batch","ops":[<set or delete record>, ...]}
 * A crash can only tear the last line, so a last line that is not a valid record is dropped on
 * open; any other bad line means the file was damaged, and `open` refuses it.
 */

const fs = require('fs');

/** Raised by `open` when a line other than the last one is not a valid record. */
class CorruptLogError extends Error {
  constructor(file, line, reason) {
    super(`${file}: line ${line}: ${reason}`);
    this.name = 'CorruptLogError';
    this.file = file;
    this.line = line;
  }
}

function checkKey(key) {
  if (typeof key !== 'string' || key === '') {
    throw new TypeError('key must be a non-empty string');
  }
}

/** The JSON text of `value`; TypeError when JSON cannot represent it. */
function encodeValue(value) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new TypeError(`value cannot be stored as JSON: ${err.message}`);
  }
  if (text === undefined) {
    throw new TypeError(`value cannot be stored as JSON: ${typeof value}`);
  }
  return text;
}

/** The expiry time of a set made at `now()` with `options`, or undefined for a permanent key. */
function expiryFrom(options, now) {
  if (options === undefined || options === null) return undefined;
  if (typeof options !== 'object') throw new TypeError('options must be an object');
  const ttlMs = options.ttlMs;
  if (ttlMs === undefined) return undefined;
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new RangeError(`ttlMs must be a positive finite number of milliseconds, got ${String(ttlMs)}`);
  }
  return now() + ttlMs;
}

function setRecordText(key, json, expires) {
  const expiry = expires === undefined ? '' : `,"expires":${JSON.stringify(expires)}`;
  return `{"op":"set","key":${JSON.stringify(key)},"value":${json}${expiry}}`;
}

function deleteRecordText(key) {
  return `{"op":"delete","key":${JSON.stringify(key)}}`;
}

/** A log line that is not a record; `open` decides whether that is a torn write or damage. */
class BadRecord extends Error {}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The operations of one set or delete record; BadRecord when it is not one. */
function simpleOperation(record) {
  if (!isObject(record)) throw new BadRecord('not a record object');
  if (typeof record.key !== 'string' || record.key === '') throw new BadRecord('key is not a non-empty string');
  if (record.op === 'set') {
    if (!Object.prototype.hasOwnProperty.call(record, 'value')) throw new BadRecord('set record has no value');
    if (record.expires !== undefined && (typeof record.expires !== 'number' || !Number.isFinite(record.expires))) {
      throw new BadRecord('expires is not a number');
    }
    return { op: 'set', key: record.key, json: JSON.stringify(record.value), expires: record.expires };
  }
  if (record.op === 'delete') return { op: 'delete', key: record.key };
  throw new BadRecord(`unknown op ${JSON.stringify(record.op)}`);
}

/** The operations one log line stands for; BadRecord when it is not a record. */
function parseLine(text) {
  let record;
  try {
    record = JSON.parse(text);
  } catch {
    throw new BadRecord('not valid JSON');
  }
  if (isObject(record) && record.op === 'batch') {
    if (!Array.isArray(record.ops)) throw new BadRecord('batch record has no ops list');
    return record.ops.map((op, index) => {
      try {
        return simpleOperation(op);
      } catch (err) {
        throw new BadRecord(`batch operation ${index}: ${err.message}`);
      }
    });
  }
  return [simpleOperation(record)];
}

class Store {
  constructor(file, now) {
    this._file = file;
    this._now = now;
    // key -> { json, expires }; expired entries stay in memory, reads skip them.
    this._entries = new Map();
  }

  _load() {
    let buffer;
    try {
      buffer = fs.readFileSync(this._file);
    } catch (err) {
      if (err.code === 'ENOENT') return;
      throw err;
    }
    const lines = [];
    let start = 0;
    while (start < buffer.length) {
      const newline = buffer.indexOf(0x0a, start);
      const end = newline === -1 ? buffer.length : newline;
      lines.push({ start, end, terminated: newline !== -1, text: buffer.toString('utf8', start, end) });
      start = end + 1;
    }
    let lastRecord = -1;
    lines.forEach((line, index) => {
      if (line.text.trim() !== '') lastRecord = index;
    });
    const operations = [];
    for (let index = 0; index <= lastRecord; index += 1) {
      const line = lines[index];
      if (line.text.trim() === '') continue;
      try {
        operations.push(...parseLine(line.text));
      } catch (err) {
        if (!(err instanceof BadRecord)) throw err;
        if (index === lastRecord) {
          // A write torn by a crash: drop it so later appends start on a clean line.
          fs.truncateSync(this._file, line.start);
          break;
        }
        throw new CorruptLogError(this._file, index + 1, err.message);
      }
      if (index === lastRecord && !line.terminated) {
        fs.appendFileSync(this._file, '\n');
      }
    }
    for (const operation of operations) this._apply(operation);
  }

  _apply(operation) {
    if (operation.op === 'set') {
      this._entries.set(operation.key, { json: operation.json, expires: operation.expires });
    } else {
      this._entries.delete(operation.key);
    }
  }

  _live(key, now) {
    const entry = this._entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires !== undefined && now >= entry.expires) return undefined;
    return entry;
  }

  _liveKeys() {
    const now = this._now();
    return [...this._entries.keys()].filter((key) => this._live(key, now) !== undefined).sort();
  }

  _append(text) {
    fs.appendFileSync(this._file, `${text}\n`);
  }

  get(key) {
    checkKey(key);
    const entry = this._live(key, this._now());
    return entry === undefined ? undefined : JSON.parse(entry.json);
  }

  has(key) {
    checkKey(key);
    return this._live(key, this._now()) !== undefined;
  }

  keys() {
    return this._liveKeys();
  }

  set(key, value, options) {
    checkKey(key);
    const json = encodeValue(value);
    const expires = expiryFrom(options, this._now);
    this._append(setRecordText(key, json, expires));
    this._apply({ op: 'set', key, json, expires });
  }

  delete(key) {
    checkKey(key);
    if (this._live(key, this._now()) === undefined) return false;
    this._append(deleteRecordText(key));
    this._apply({ op: 'delete', key });
    return true;
  }

  batch(ops) {
    if (!Array.isArray(ops)) throw new TypeError('batch expects an array of operations');
    // Everything is checked before anything is written: a bad operation leaves no trace.
    const operations = ops.map((op, index) => {
      if (!isObject(op)) throw new TypeError(`batch operation ${index} must be an object`);
      checkKey(op.key);
      if (op.op === 'set') {
        return { op: 'set', key: op.key, json: encodeValue(op.value), expires: expiryFrom(op, this._now) };
      }
      if (op.op === 'delete') return { op: 'delete', key: op.key };
      throw new TypeError(`batch operation ${index}: op must be "set" or "delete"`);
    });
    if (operations.length === 0) return;
    const records = operations.map((operation) =>
      operation.op === 'set'
        ? setRecordText(operation.key, operation.json, operation.expires)
        : deleteRecordText(operation.key),
    );
    this._append(`{"op":"batch","ops":[${records.join(',')}]}`);
    for (const operation of operations) this._apply(operation);
  }
}

/**
 * Open the store kept in the log file at `file` (created by the first write).
 * `options.now` is the clock, in milliseconds (default `Date.now`).
 */
function open(file, options = {}) {
  if (typeof file !== 'string' || file === '') throw new TypeError('path must be a non-empty string');
  const now = options.now === undefined ? Date.now : options.now;
  if (typeof now !== 'function') throw new TypeError('options.now must be a function');
  const store = new Store(file, now);
  store._load();
  return store;
}

module.exports = { open, CorruptLogError };
