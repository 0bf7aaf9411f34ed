// Runs asim-rules rule components from Node.js, transpiled by jco:
//
//   npx jco transpile ti-map-ip.wasm --instantiation async -o rules/ti-map-ip
//   node host.mjs AT INDICATORS.jsonl SESSIONS.jsonl rules/ti-map-ip/ti-map-ip.js...
//
// Instantiates each transpiled rule, feeds it the indicator and session rows its
// windows at AT want (ASIM / Sentinel JSON lines), evaluates it once at AT and
// prints the alerts as JSON lines, the records `asim-rules run` prints.
// docs/CONTRACT.md is the recipe this follows, step by step.

import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const BATCH_ROWS = 65_536;
const NOT_AN_ADDRESS = 255;

// Column kinds (guest-rules/core/src/schema.rs); every other column is text.
// An address column refuses a text that is not an address; a network column
// also takes CIDR networks.
const IP_ADDRESS = new Set(['SrcIpAddr', 'DstIpAddr', 'DvcIpAddr', 'SrcNatIpAddr', 'DstNatIpAddr']);
const IP_NETWORK = new Set(['NetworkIP', 'NetworkDestinationIP', 'NetworkSourceIP',
  'EmailSourceIpAddress', 'NetworkCidrBlock']);
const KINDS = new Map([
  ...['SrcPortNumber', 'DstPortNumber', 'SrcNatPortNumber', 'DstNatPortNumber', 'EventCount',
    'NetworkBytes', 'SrcBytes', 'DstBytes', 'NetworkPackets', 'SrcPackets', 'DstPackets',
    'NetworkDuration', 'NetworkIcmpCode', 'NetworkRuleNumber', 'ThreatSeverity'].map((n) => [n, 'integer']),
  ['ConfidenceScore', 'real'],
  ['Active', 'boolean'],
  ...['EventStartTime', 'EventEndTime', 'ExpirationDateTime'].map((n) => [n, 'time']),
]);
const kindOf = (name) =>
  IP_ADDRESS.has(name) || IP_NETWORK.has(name) ? 'ip' : KINDS.get(name) ?? 'text';

class RowError extends Error {}

const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** Microseconds since the epoch (a BigInt) of an RFC 3339 / ISO 8601 time (no offset: UTC). */
function parseTime(text) {
  const m = ISO_TIME.exec(text.trim());
  if (!m) throw new RowError(`not a time: ${JSON.stringify(text)}`);
  const [, y, mo, d, h = '0', mi = '0', s = '0', fraction = '', offset = 'Z'] = m;
  const millis = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s);
  const check = new Date(millis);
  if (check.getUTCDate() !== +d || check.getUTCMonth() !== +mo - 1 || +h > 23 || +mi > 59 || +s > 59) {
    throw new RowError(`not a time: ${JSON.stringify(text)}`);
  }
  let shift = 0;
  if (offset !== 'Z') {
    const digits = offset.replace(':', '');
    shift = (offset[0] === '-' ? -1 : 1) * (+digits.slice(1, 3) * 60 + +digits.slice(3, 5));
  }
  const micros = BigInt(fraction.slice(0, 6).padEnd(6, '0'));
  return (BigInt(millis) - BigInt(shift) * 60_000n) * 1000n + micros;
}

/** RFC 3339 UTC with Z, with fractional seconds only when there are any. */
function formatTime(micros) {
  const seconds = micros / 1_000_000n;
  const rest = micros % 1_000_000n;
  const text = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  if (rest === 0n) return `${text}Z`;
  if (rest % 1000n === 0n) return `${text}.${String(rest / 1000n).padStart(3, '0')}Z`;
  return `${text}.${String(rest).padStart(6, '0')}Z`;
}

const IPV4_MAPPED = 0xffffn << 32n;

function ipv4Bits(text) {
  return text.split('.').reduce((bits, part) => (bits << 8n) | BigInt(part), 0n);
}

function ipv6Bits(text) {
  let groups = text.split(':');
  const last = groups[groups.length - 1];
  if (last.includes('.')) {
    const v4 = ipv4Bits(last);
    groups.splice(-1, 1, (v4 >> 16n).toString(16), (v4 & 0xffffn).toString(16));
  }
  const gap = groups.indexOf('');
  if (gap >= 0) {
    const head = text.startsWith('::') ? [] : groups.slice(0, gap);
    const tail = groups.slice(groups.lastIndexOf('') + 1);
    groups = [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail];
  }
  return groups.reduce((bits, group) => (bits << 16n) | BigInt(`0x${group}`), 0n);
}

/** [128-bit address, prefix length] of an address or, for a network column, a
 * CIDR network; IPv4 mapped into IPv6, host bits cleared. */
function parseIp(text, network) {
  const trimmed = text.trim();
  const [address, length, extra] = network ? trimmed.split('/') : [trimmed];
  const bits = /^\d+$/.test(length ?? '0') ? Number(length ?? 128) : NaN;
  let parsed;
  if (extra === undefined && isIPv4(address) && (length === undefined || bits <= 32)) {
    parsed = [IPV4_MAPPED | ipv4Bits(address), length === undefined ? 128 : bits + 96];
  } else if (extra === undefined && isIPv6(address) && !address.includes('%') && bits <= 128) {
    parsed = [ipv6Bits(address), length === undefined ? 128 : bits];
  } else {
    const kind = network ? 'an IP address or network' : 'an IP address';
    throw new RowError(`not ${kind}: ${JSON.stringify(text)}`);
  }
  const [addr, prefix] = parsed;
  const mask = prefix === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - prefix)) - 1n);
  return [addr & mask, prefix];
}

/** A JSON value as the text `asim-rules` reads it from; undefined when absent. */
function asText(value) {
  if (value === null || value === undefined) return undefined;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The typed cell of column `name` holding `value`. A text that does not parse
 * for its column is passed as unparsable (an IP that matches nothing, undefined
 * otherwise) and counted in the Map `unparsable` by column. */
function cell(name, value, unparsable) {
  const text = asText(value);
  const kind = kindOf(name);
  if (text === undefined || text.trim() === '') {
    return kind === 'ip' ? ['', 0n, NOT_AN_ADDRESS] : kind === 'text' ? '' : undefined;
  }
  try {
    return typed(name, kind, text);
  } catch (error) {
    if (!(error instanceof RowError)) throw error;
    unparsable.set(name, (unparsable.get(name) ?? 0) + 1);
    return kind === 'ip' ? [text, 0n, NOT_AN_ADDRESS] : undefined;
  }
}

/** The cell of a non-empty `text` in column `name` of `kind`; RowError when it does not parse. */
function typed(name, kind, text) {
  switch (kind) {
    case 'ip':
      return [text, ...parseIp(text, IP_NETWORK.has(name))];
    case 'integer': {
      const number = Number(text);
      if (/^\s*[+-]?\d+\s*$/.test(text)) return BigInt(text.trim());
      if (Number.isInteger(number) && Math.abs(number) < 9e15) return BigInt(number);
      throw new RowError(`not a whole number: ${JSON.stringify(text)}`);
    }
    case 'real': {
      const number = Number(text);
      if (Number.isNaN(number)) throw new RowError(`not a number: ${JSON.stringify(text)}`);
      return number;
    }
    case 'boolean': {
      const flag = text.trim().toLowerCase();
      if (!['true', '1', 'false', '0'].includes(flag)) {
        throw new RowError(`not true or false: ${JSON.stringify(text)}`);
      }
      return flag === 'true' || flag === '1';
    }
    case 'time':
      return parseTime(text);
    default:
      return text;
  }
}

/** Distinct texts in order of first appearance, concatenated, their ends, row codes. */
function dictionary(texts) {
  const codeOf = new Map();
  const codes = Uint32Array.from(texts, (text) => {
    if (!codeOf.has(text)) codeOf.set(text, codeOf.size);
    return codeOf.get(text);
  });
  const encoder = new TextEncoder();
  let end = 0;
  const ends = Uint32Array.from(codeOf.keys(), (text) => (end += encoder.encode(text).length));
  return { strings: [...codeOf.keys()].join(''), ends, codes, distinct: [...codeOf.keys()] };
}

function columnValues(name, cells) {
  const kind = kindOf(name);
  if (kind === 'ip') {
    const parsed = new Map(cells.map(([text, addr, prefix]) => [text, [addr, prefix]]));
    const { strings, ends, codes, distinct } = dictionary(cells.map(([text]) => text));
    return {
      tag: 'ip',
      val: {
        strings, ends, codes,
        addrHi: BigUint64Array.from(distinct, (text) => parsed.get(text)[0] >> 64n),
        addrLo: BigUint64Array.from(distinct, (text) => parsed.get(text)[0] & ((1n << 64n) - 1n)),
        prefixLen: Uint8Array.from(distinct, (text) => parsed.get(text)[1]),
      },
    };
  }
  if (kind === 'text') {
    const { strings, ends, codes } = dictionary(cells);
    return { tag: 'text', val: { strings, ends, codes } };
  }
  return { tag: kind, val: cells };
}

/** A WIT batch of `rows` ([time, {column: cell}]) with `columns`, in that order. */
function batch(columns, rows) {
  return {
    timeGenerated: rows.map(([time]) => time),
    columns: columns.map((name) => ({ name, values: columnValues(name, rows.map(([, cells]) => cells[name])) })),
  };
}

/** [TimeGenerated, {column: cell}] of every readable row of a JSON lines file; a
 * row that is no JSON object or has no time is reported on stderr with its file
 * and line, and skipped; cells that do not parse are counted by column. */
async function readRows(path, columns) {
  const rows = [];
  const unparsable = new Map();
  let number = 0;
  for await (const line of createInterface({ input: createReadStream(path), crlfDelay: Infinity })) {
    number += 1;
    if (line.trim() === '') continue;
    try {
      const row = JSON.parse(line);
      if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new RowError('not a JSON object');
      const time = asText(row.TimeGenerated);
      if (time === undefined) throw new RowError('TimeGenerated: missing');
      rows.push([parseTime(time), Object.fromEntries(columns.map((name) => [name, cell(name, row[name], unparsable)]))]);
    } catch (error) {
      if (!(error instanceof RowError || error instanceof SyntaxError)) throw error;
      console.error(`${path}:${number}: row skipped: ${error.message}`);
    }
  }
  if (unparsable.size > 0) {
    const counts = [...unparsable].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, count]) => `${name} ${count}`);
    console.error(`${path}: cells that do not parse, passed to the rules as unparsable: ${counts.join(', ')}`);
  }
  return rows;
}

/** One deployment of a transpiled rule: its own instance of the core modules. */
async function instantiate(modulePath) {
  const module = await import(pathToFileURL(resolve(modulePath)).href);
  const folder = dirname(resolve(modulePath));
  const compile = async (file) => WebAssembly.compile(await readFile(join(folder, file)));
  // A rule component imports nothing: the import object is empty.
  const { rule } = await module.instantiate(compile, {});
  return rule;
}

/** [call, columns, first time in, whether `at` itself is in] of each table it reads. */
function windows(metadata, at) {
  const tables = [['ingestSessions', metadata.sessionColumns, at - metadata.sessionLookback, false]];
  if (metadata.indicatorLookback !== undefined) {
    tables.push(['ingestIndicators', metadata.indicatorColumns, at - metadata.indicatorLookback, true]);
  }
  return tables;
}

// i64 values as JSON numbers: exact up to 2^53, which ports, counts and scores stay under.
function detail({ tag, val }) {
  if (tag === 'time') return formatTime(val);
  if (tag === 'integer') return Number(val);
  return tag === 'none' ? null : val;
}

function alertRecord(metadata, at, alert) {
  return {
    RuleId: metadata.id, RuleName: metadata.name, RuleVersion: metadata.version,
    AlertName: alert.name, Description: alert.description,
    Severity: metadata.severity[0].toUpperCase() + metadata.severity.slice(1),
    Tactics: metadata.tactics, Techniques: metadata.techniques,
    StartTime: formatTime(alert.startTime), EndTime: formatTime(alert.endTime),
    EvaluatedAt: formatTime(at),
    Entities: alert.entities.map(({ kind, properties }) => ({ Type: kind, ...Object.fromEntries(properties) })),
    CustomDetails: Object.fromEntries(alert.customDetails.map(([name, value]) => [name, detail(value)])),
    Tenant: 'default',
  };
}

async function main([atText, indicators, sessions, ...modules]) {
  if (modules.length === 0) {
    throw new RowError('usage: node host.mjs AT INDICATORS.jsonl SESSIONS.jsonl RULE.js...');
  }
  const at = parseTime(atText);
  const rules = [];
  for (const path of modules) {
    const rule = await instantiate(path);
    rule.configure([]);
    // Read after configure: a lookback may depend on a parameter.
    rules.push([rule, rule.metadata()]);
  }
  const files = { ingestSessions: sessions, ingestIndicators: indicators };
  for (const call of ['ingestIndicators', 'ingestSessions']) {
    const wanted = rules.flatMap(([rule, metadata]) =>
      windows(metadata, at).filter(([c]) => c === call).map((window) => [rule, window]));
    if (wanted.length === 0) continue;
    const columns = [...new Set(wanted.flatMap(([, [, cols]]) => cols))];
    const rows = await readRows(files[call], columns);
    for (const [rule, [, cols, first, atIncluded]] of wanted) {
      const inWindow = rows.filter(([time]) => time >= first && (time < at || (atIncluded && time === at)));
      for (let start = 0; start < inWindow.length; start += BATCH_ROWS) {
        rule[call](batch(cols, inWindow.slice(start, start + BATCH_ROWS)));
      }
    }
  }
  for (const [rule, metadata] of rules) {
    for (const alert of rule.evaluate(at)) {
      process.stdout.write(`${JSON.stringify(alertRecord(metadata, at, alert))}\n`);
    }
  }
}

main(process.argv.slice(2)).catch((error) => {
  // A rule's err(message) arrives as jco's ComponentError, the message in `payload`.
  console.error(`host.mjs: ${error.payload ?? error.message}`);
  process.exit(1);
});
