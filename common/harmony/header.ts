// Parsing a generated message header (the text between <|start|> and <|message|>), after
// openai/harmony's parse_header_from_tokens (src/encoding.rs), but lenient: model output never
// makes it throw. Accepts both recipient placements (`assistant to=functions.f<|channel|>commentary`
// and `assistant<|channel|>commentary to=functions.f`) and a `<|constrain|>` glued to the word
// before it.

export interface MessageHeader {
  role: string;
  /** Tool name for tool-authored messages (`functions.get_weather`), else null. */
  name: string | null;
  /** null when the header names none. */
  channel: string | null;
  recipient: string | null;
  contentType: string | null;
}

const KNOWN_ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);
const CHANNEL_MARKER = '<|channel|>';
const CONSTRAIN_MARKER = '<|constrain|>';

/** The channel word after `<|channel|>` and the header with that part cut out. */
export function extractChannel(header: string): { channel: string | null; rest: string } {
  const at = header.indexOf(CHANNEL_MARKER);
  if (at < 0) return { channel: null, rest: header };
  const after = header.slice(at + CHANNEL_MARKER.length);
  const end = after.search(/[\s<]/u);
  const cut = end < 0 ? after.length : end;
  const channel = after.slice(0, cut);
  return { channel: channel.length > 0 ? channel : null, rest: header.slice(0, at) + after.slice(cut) };
}

/** `presetRole` is the role already given by the prompt (`<|start|>assistant`), else null. */
export function parseHeader(text: string, presetRole: string | null): MessageHeader {
  const { channel, rest } = extractChannel(text);
  let header = rest.trim();
  if (header.includes(CONSTRAIN_MARKER)) header = header.replaceAll(CONSTRAIN_MARKER, ` ${CONSTRAIN_MARKER}`).trim();
  const parts = header.split(/[\t\n\f\r ]+/).filter((part) => part.length > 0);

  let role = presetRole;
  let name: string | null = null;
  if (role === null) {
    const first = parts[0];
    if (first === undefined) role = 'assistant';
    else if (KNOWN_ROLES.has(first)) role = first;
    else {
      // Any other first word is a tool speaking (`functions.get_weather to=assistant`).
      parts.shift();
      role = 'tool';
      name = first;
    }
  }
  if (parts[0] === role) parts.shift();

  let recipient: string | null = null;
  let contentType: string | null = null;
  const count = parts.length;
  const last = parts.pop();
  if (last !== undefined) {
    if (last.startsWith('to=')) recipient = last.slice(3);
    else if (count === 1) recipient = last;
    else {
      contentType = last;
      const raw = parts.pop();
      if (raw !== undefined) recipient = raw.startsWith('to=') ? raw.slice(3) : raw;
    }
  }
  return { role, name, channel, recipient, contentType };
}
