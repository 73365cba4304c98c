// xgrammar 0.1.27's JSON-schema converter writes some string values as text that JSON forbids
// (RFC 8259 section 7: a string holds no raw U+0000-U+001F, and `"` and `\` only escaped):
//   - a string with minLength/maxLength becomes `"\"" [^"\\\r\n]{m,n} "\""`, which admits raw
//     TAB, U+0016 and the other control characters, and no escape at all (upstream issue #800);
//   - a regex pattern or a format becomes the regex's own characters and classes, so `.` is
//     `[\u0000-\U0010FFFF]` and `[^a]` is everything but `a`: raw quotes, backslashes and
//     control characters (an early quote even ends the string where the schema did not);
//   - a literal control character of a pattern is written raw.
// This rewrites the converter's EBNF before it is compiled: a length-bounded string repeats one
// JSON character (an unescaped one or a short escape, so that maxLength still counts characters of
// the decoded value), and inside any other string body every character class loses the characters
// JSON must escape and every literal control character becomes its escape. What the converter may
// still write that is not JSON text (a pattern's literal quote, the email format's `\` followed by
// any printable character) is refused token by token by json-text-automaton.ts.
import { InvalidRequestError } from '../errors.js';

type Piece = { readonly kind: 'name' | 'define' | 'literal' | 'class' | 'other'; readonly text: string };

interface Rule {
  readonly name: string;
  /** The pieces after `::=`, through the whitespace before the next rule. */
  readonly body: Piece[];
}

/**
 * One JSON string character: an unescaped one or a short escape. `\u` escapes are left out: as a
 * repeated group they make xgrammar's masks 4-5x slower (measured 20 against 4.5 ms a token), and
 * every character but the rare C0 controls without a short escape can be written raw.
 */
const JSON_CHAR = '([^\\0-\\x1f"\\\\] | "\\\\" ["\\\\/bfnrt])';

const BOUNDED_CLASS = '[^"\\\\\\r\\n]';
const QUOTE = '"\\""';

/** The converter's EBNF with every string production admitting only JSON string text. */
export function jsonSafeStrings(ebnf: string): string {
  const out: string[] = [];
  for (const rule of splitRules(lex(ebnf))) {
    const significant = rule.body.filter((p) => p.kind !== 'other' || p.text.trim() !== '');
    const isString = significant.length >= 2 && isQuote(significant[0]!) && isQuote(significant.at(-1)!);
    if (!isString) {
      out.push(`${rule.name} ::=${rule.body.map((p) => p.text).join('')}`);
      continue;
    }
    const inner = significant.slice(1, -1);
    let body: string;
    if (inner.length === 2 && inner[0]!.kind === 'class' && inner[0]!.text === BOUNDED_CLASS && /^\{\d+(,\d*)?\}$/.test(inner[1]!.text.trim())) {
      body = `${QUOTE} ${JSON_CHAR}${inner[1]!.text.trim()} ${QUOTE}`;
    } else {
      const first = rule.body.indexOf(significant[0]!);
      const last = rule.body.lastIndexOf(significant.at(-1)!);
      body = rule.body.map((p, i) => (i <= first || i >= last ? p.text : p.kind === 'class' ? safeClass(p.text) : p.kind === 'literal' ? escapeControls(p.text) : p.text)).join('');
    }
    out.push(`${rule.name} ::= ${body.trim()}\n`);
  }
  return out.join('');
}

function isQuote(p: Piece): boolean {
  return p.kind === 'literal' && p.text === QUOTE;
}

// ---- lexing xgrammar's EBNF (`name ::= body` rules; "literals" and [classes] with \ escapes) ----

function lex(ebnf: string): Piece[] {
  const pieces: Piece[] = [];
  let other = '';
  const flush = (): void => {
    if (other !== '') pieces.push({ kind: 'other', text: other });
    other = '';
  };
  let i = 0;
  while (i < ebnf.length) {
    const c = ebnf[i]!;
    if (c === '"' || c === '[') {
      const close = c === '"' ? '"' : ']';
      let j = i + 1;
      while (j < ebnf.length && ebnf[j] !== close) j += ebnf[j] === '\\' ? 2 : 1;
      flush();
      pieces.push({ kind: c === '"' ? 'literal' : 'class', text: ebnf.slice(i, j + 1) });
      i = j + 1;
    } else if (ebnf.startsWith('::=', i)) {
      flush();
      pieces.push({ kind: 'define', text: '::=' });
      i += 3;
    } else if (/[A-Za-z_]/.test(c)) {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(ebnf.slice(i))![0];
      flush();
      pieces.push({ kind: 'name', text: name });
      i += name.length;
    } else {
      other += c;
      i++;
    }
  }
  flush();
  return pieces;
}

/** Rules: a name followed (past whitespace) by `::=` starts one. */
function splitRules(pieces: Piece[]): Rule[] {
  const rules: Rule[] = [];
  const startsRule = (i: number): boolean => {
    if (pieces[i]?.kind !== 'name') return false;
    const next = pieces[i + 1]?.kind === 'other' && pieces[i + 1]!.text.trim() === '' ? pieces[i + 2] : pieces[i + 1];
    return next?.kind === 'define';
  };
  for (let i = 0; i < pieces.length; i++) {
    if (!startsRule(i)) {
      if (rules.length === 0) throw new Error(`unexpected EBNF before the first rule: ${pieces[i]!.text}`);
      rules.at(-1)!.body.push(pieces[i]!);
      continue;
    }
    const name = pieces[i]!.text;
    while (pieces[i]!.kind !== 'define') i++;
    rules.push({ name, body: [] });
  }
  return rules;
}

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = { a: 7, b: 8, e: 27, f: 12, n: 10, r: 13, t: 9, v: 11, '0': 0 };

/** The code points of a literal's or class's inside, `\` escapes decoded (`escaped`: written as one). */
function decode(text: string): Array<{ cp: number; escaped: boolean }> {
  const out: Array<{ cp: number; escaped: boolean }> = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] !== '\\') {
      const cp = text.codePointAt(i)!;
      out.push({ cp, escaped: false });
      i += cp > 0xffff ? 2 : 1;
      continue;
    }
    const e = text[i + 1]!;
    const hexLength = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
    if (hexLength > 0) {
      const hex = /^[0-9A-Fa-f]+/.exec(text.slice(i + 2, i + 2 + hexLength))![0];
      out.push({ cp: parseInt(hex, 16), escaped: true });
      i += 2 + hex.length;
    } else {
      out.push({ cp: SIMPLE_ESCAPES[e] ?? e.codePointAt(0)!, escaped: true });
      i += 2;
    }
  }
  return out;
}

/** A class of a string body without the characters JSON must escape. */
function safeClass(text: string): string {
  const negated = text[1] === '^';
  const inside = text.slice(negated ? 2 : 1, -1);
  if (negated) return `[^${inside}\\0-\\x1f\\"\\\\]`;
  const chars = decode(inside);
  const ranges: Array<[number, number]> = [];
  for (let i = 0; i < chars.length; i++) {
    const lo = chars[i]!.cp;
    if (chars[i + 1]?.cp === 0x2d && !chars[i + 1]!.escaped && i + 2 < chars.length) {
      ranges.push([lo, chars[i + 2]!.cp]);
      i += 2;
    } else ranges.push([lo, lo]);
  }
  const kept = ranges.flatMap(([lo, hi]) => subtractEscaped(lo, hi));
  if (kept.length === 0) {
    // The converter would write them raw; the caller names the parameter.
    throw new InvalidRequestError(`Invalid JSON schema: a pattern allows only characters that a JSON string must escape (${text}); such patterns are not supported.`, null, 'invalid_json_schema');
  }
  return `[${kept.map(([lo, hi]) => (lo === hi ? classChar(lo) : `${classChar(lo)}-${classChar(hi)}`)).join('')}]`;
}

function subtractEscaped(lo: number, hi: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let from = lo;
  for (const cut of [[0, 0x1f], [0x22, 0x22], [0x5c, 0x5c]] as const) {
    if (cut[1] < from || cut[0] > hi) continue;
    if (cut[0] > from) out.push([from, cut[0] - 1]);
    from = Math.max(from, cut[1] + 1);
  }
  if (from <= hi) out.push([from, hi]);
  return out;
}

function classChar(cp: number): string {
  if (cp > 0x20 && cp < 0x7f && !'-[]\\^'.includes(String.fromCharCode(cp))) return String.fromCharCode(cp);
  return cp <= 0xffff ? `\\u${cp.toString(16).padStart(4, '0')}` : `\\U${cp.toString(16).padStart(8, '0')}`;
}

/** A literal of a string body with its control characters written as their JSON escapes. */
function escapeControls(text: string): string {
  const chars = decode(text.slice(1, -1));
  if (!chars.some((c) => c.cp < 0x20)) return text;
  const body = chars
    .map(({ cp }) => {
      const json = cp < 0x20 ? JSON.stringify(String.fromCodePoint(cp)).slice(1, -1) : String.fromCodePoint(cp);
      return json.replace(/[\\"]/g, (c) => `\\${c}`);
    })
    .join('');
  return `"${body}"`;
}
