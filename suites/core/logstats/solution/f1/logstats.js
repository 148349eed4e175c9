#!/usr/bin/env node
'use strict';
// logstats: statistics from web-server access logs in Common Log Format.
//
//   node logstats.js [--top N] [FILE ...]
//
// Reads the FILEs as one log (standard input when there is none, or for `-`) and prints the
// number of requests, the count per status class and the most requested paths.

const fs = require('node:fs');
const { parseArgs } = require('node:util');

const USAGE = 'usage: node logstats.js [--top N] [FILE ...]';
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];
const MONTHS = {
  Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5,
  Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11,
};

// host ident authuser [date] "request" status bytes, then optionally anything (the referer and
// user agent of the Combined Log Format).
const LINE_RE = /^(\S+) (\S+) (\S+) \[([^\]]*)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-)(?:\s.*)?$/;
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

function parseOptions(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { top: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(err.message.split('\n')[0]);
  }
  const { values, positionals } = parsed;
  return {
    top: values.top === undefined ? 5 : parseTop(values.top),
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
  io.stdout(formatSummary(summarize(entries, options.top)));
  if (malformed > 0) io.stderr(`logstats: malformed lines skipped: ${malformed}\n`);
  return 0;
}

module.exports = {
  parseClfTime, requestPath, parseLine, parseLog, summarize, formatSummary, main,
};

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
