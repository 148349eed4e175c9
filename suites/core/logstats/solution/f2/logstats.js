#!/usr/bin/env node
'use strict';
// logstats: statistics from web-server access logs in Common Log Format.
//
//   node logstats.js [--top N] [--status 4xx|404] [--since TIME] [--until TIME] [FILE ...]
//
// Reads the FILEs as one log (standard input when there is none, or for `-`) and prints the
// number of requests, the count per status class and the most requested paths, counting only
// the requests that pass the filters.

const fs = require('node:fs');
const { parseArgs } = require('node:util');

const USAGE = 'usage: node logstats.js [--top N] [--status 4xx|404] [--since TIME] [--until TIME] [FILE ...]';
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];
const MONTHS = {
  Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5,
  Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11,
};

// host ident authuser [date] "request" status bytes, then optionally anything (the referer and
// user agent of the Combined Log Format).
const LINE_RE = /^(\S+) (\S+) (\S+) \[([^\]]*)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-)(?:\s.*)?$/;
// 2024-03-10, 2024-03-10T12:00, 2024-03-10T12:00:00.250Z, 2024-03-10T12:00:00+01:00
const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
const TIME_RE = /^(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/;

class UsageError extends Error {}

// `10/Oct/2000:13:55:36 -0700` -> milliseconds since the epoch, or null.
function parseClfTime(text) {
  const m = TIME_RE.exec(text);
  if (!m || !(m[2] in MONTHS)) return null;
  const [day, year, hour, min, sec] = [m[1], m[3], m[4], m[5], m[6]].map(Number);
  const month = MONTHS[m[2]];
  if (day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) return null;
  const offset = (m[7] === '-' ? -1 : 1) * (Number(m[8]) * 60 + Number(m[9]));
  return Date.UTC(year, month, day, hour, min, sec) - offset * 60000;
}

function daysInMonth(year, month) {
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

// An ISO 8601 date or date-time -> milliseconds since the epoch, or null. A date alone is
// midnight UTC; a date-time without an offset is UTC.
function parseIsoTime(text) {
  const m = ISO_RE.exec(text);
  if (!m) return null;
  const [year, month, day] = [m[1], m[2], m[3]].map(Number);
  const [hour, min, sec] = [m[4], m[5], m[6]].map((v) => Number(v || 0));
  const ms = m[7] ? Math.floor(Number(m[7]) * 1000) : 0;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month - 1)) return null;
  if (hour > 23 || min > 59 || sec > 59) return null;
  let offset = 0;
  if (m[8] && m[8] !== 'Z') {
    const digits = m[8].replace(':', '');
    const [oh, om] = [Number(digits.slice(1, 3)), Number(digits.slice(3, 5))];
    if (oh > 23 || om > 59) return null;
    offset = (digits[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  return Date.UTC(year, month - 1, day, hour, min, sec, ms) - offset * 60000;
}

// The path of a request line `METHOD TARGET [PROTOCOL]`, query string removed; null when the
// request has no target (`-`, an empty request, garbage).
function requestPath(request) {
  const words = request.split(' ').filter(Boolean);
  if (words.length < 2 || words.length > 3) return null;
  const q = words[1].indexOf('?');
  return q === -1 ? words[1] : words[1].slice(0, q);
}

// One log line -> { time, status, path } or null when it is not a Common Log Format line.
function parseLine(line) {
  const m = LINE_RE.exec(line);
  if (!m) return null;
  const time = parseClfTime(m[4]);
  const status = Number(m[6]);
  if (time === null || status < 100 || status > 599) return null;
  return { time, status, path: requestPath(m[5]) };
}

// Text of a whole log -> { entries, malformed }. Blank lines are ignored; CRLF is fine.
function parseLog(text) {
  const entries = [];
  let malformed = 0;
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    const entry = parseLine(line);
    if (entry) entries.push(entry);
    else malformed += 1;
  }
  return { entries, malformed };
}

function statusClass(status) {
  return `${Math.floor(status / 100)}xx`;
}

// `4xx` (any case) or a code `100`..`599` -> a predicate on status codes.
function parseStatusFilter(value) {
  if (/^[1-5]xx$/i.test(value)) {
    const cls = value.toLowerCase();
    return (status) => statusClass(status) === cls;
  }
  if (/^[1-5]\d\d$/.test(value)) {
    const code = Number(value);
    return (status) => status === code;
  }
  throw new UsageError(`--status must be a class like 4xx or a code like 404, not '${value}'`);
}

// The entries a filter { status, since, until } keeps: since inclusive, until exclusive.
function applyFilters(entries, filters) {
  return entries.filter((e) => (!filters.status || filters.status(e.status))
    && (filters.since === null || e.time >= filters.since)
    && (filters.until === null || e.time < filters.until));
}

// Entries -> { requests, status: {1xx..5xx}, top_paths: [{ path, count }] } with at most `top`
// paths, most requested first, ties by path in plain string order.
function summarize(entries, top = 5) {
  const status = Object.fromEntries(CLASSES.map((c) => [c, 0]));
  const paths = new Map();
  for (const e of entries) {
    status[statusClass(e.status)] += 1;
    if (e.path !== null) paths.set(e.path, (paths.get(e.path) || 0) + 1);
  }
  const ranked = [...paths]
    .map(([path, count]) => ({ path, count }))
    .sort((a, b) => b.count - a.count || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { requests: entries.length, status, top_paths: ranked.slice(0, top) };
}

function formatSummary(summary) {
  const lines = [`requests: ${summary.requests}`];
  for (const c of CLASSES) lines.push(`${c}: ${summary.status[c]}`);
  lines.push('top paths:');
  for (const { path, count } of summary.top_paths) lines.push(`  ${count} ${path}`);
  return lines.join('\n') + '\n';
}

function parseTop(value) {
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new UsageError(`--top must be a positive whole number, not '${value}'`);
  }
  return Number(value);
}

function parseTimeOption(name, value) {
  if (value === undefined) return null;
  const time = parseIsoTime(value);
  if (time === null) {
    throw new UsageError(`--${name} must be an ISO 8601 timestamp like 2024-03-10T12:00:00Z, not '${value}'`);
  }
  return time;
}

function parseOptions(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        top: { type: 'string' },
        status: { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(err.message.split('\n')[0]);
  }
  const { values, positionals } = parsed;
  return {
    top: values.top === undefined ? 5 : parseTop(values.top),
    filters: {
      status: values.status === undefined ? null : parseStatusFilter(values.status),
      since: parseTimeOption('since', values.since),
      until: parseTimeOption('until', values.until),
    },
    files: positionals.length ? positionals : ['-'],
  };
}

const defaultIO = {
  readStdin: () => fs.readFileSync(0, 'utf8'),
  readFile: (file) => fs.readFileSync(file, 'utf8'),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

// Runs the tool; returns the exit status: 0 done, 1 a file could not be read, 2 usage error.
function main(argv, io = defaultIO) {
  let options;
  try {
    options = parseOptions(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr(`logstats: ${err.message}\n${USAGE}\n`);
    return 2;
  }
  const texts = [];
  for (const file of options.files) {
    try {
      texts.push(file === '-' ? io.readStdin() : io.readFile(file));
    } catch (err) {
      io.stderr(`logstats: cannot read '${file}': ${err.code || err.message}\n`);
      return 1;
    }
  }
  const entries = [];
  let malformed = 0;
  for (const text of texts) {
    const log = parseLog(text);
    for (const entry of log.entries) entries.push(entry);
    malformed += log.malformed;
  }
  const kept = applyFilters(entries, options.filters);
  io.stdout(formatSummary(summarize(kept, options.top)));
  if (malformed > 0) io.stderr(`logstats: malformed lines skipped: ${malformed}\n`);
  return 0;
}

module.exports = {
  parseClfTime,
  parseIsoTime,
  requestPath,
  parseLine,
  parseLog,
  parseStatusFilter,
  applyFilters,
  summarize,
  formatSummary,
  main,
};

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
