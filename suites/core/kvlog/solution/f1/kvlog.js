'use strict';
/**
 * kvlog: a persistent key-value store backed by an append-only log file.
 *
 * Every change is appended to the log as one line of JSON, and `open` replays the log to rebuild
 * the store. Records:
 *   {"op":"set","key":K,"value":V}
 *   {"op":"delete","key":K}
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

function setRecordText(key, json) {
  return `{"op":"set","key":${JSON.stringify(key)},"value":${json}}`;
}

function deleteRecordText(key) {
  return `{"op":"delete","key":${JSON.stringify(key)}}`;
}

/** A log line that is not a record; `open` decides whether that is a torn write or damage. */
class BadRecord extends Error {}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The operation one log line stands for; BadRecord when it is not a record. */
function parseLine(text) {
  let record;
  try {
    record = JSON.parse(text);
  } catch {
    throw new BadRecord('not valid JSON');
  }
  if (!isObject(record)) throw new BadRecord('not a record object');
  if (typeof record.key !== 'string' || record.key === '') throw new BadRecord('key is not a non-empty string');
  if (record.op === 'set') {
    if (!Object.prototype.hasOwnProperty.call(record, 'value')) throw new BadRecord('set record has no value');
    return { op: 'set', key: record.key, json: JSON.stringify(record.value) };
  }
  if (record.op === 'delete') return { op: 'delete', key: record.key };
  throw new BadRecord(`unknown op ${JSON.stringify(record.op)}`);
}

class Store {
  constructor(file) {
    this._file = file;
    // key -> JSON text of the value, so callers never share objects with the store.
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
        operations.push(parseLine(line.text));
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
      this._entries.set(operation.key, operation.json);
    } else {
      this._entries.delete(operation.key);
    }
  }

  _append(text) {
    fs.appendFileSync(this._file, `${text}\n`);
  }

  get(key) {
    checkKey(key);
    const json = this._entries.get(key);
    return json === undefined ? undefined : JSON.parse(json);
  }

  has(key) {
    checkKey(key);
    return this._entries.has(key);
  }

  keys() {
    return [...this._entries.keys()].sort();
  }

  set(key, value) {
    checkKey(key);
    const json = encodeValue(value);
    this._append(setRecordText(key, json));
    this._apply({ op: 'set', key, json });
  }

  delete(key) {
    checkKey(key);
    if (!this._entries.has(key)) return false;
    this._append(deleteRecordText(key));
    this._apply({ op: 'delete', key });
    return true;
  }
}

/** Open the store kept in the log file at `file` (created by the first write). */
function open(file) {
  if (typeof file !== 'string' || file === '') throw new TypeError('path must be a non-empty string');
  const store = new Store(file);
  store._load();
  return store;
}

module.exports = { open, CorruptLogError };
