// Parsing generated ids: streamed events, whole completions, tool calls, malformed output.
import assert from 'node:assert/strict';
import {
  getHarmonyTokenizer,
  parseCompletion,
  renderConversation,
  STOP_TOKEN_IDS,
  StreamingHarmonyParser,
  type ChatMessage,
  type HarmonyParserEvent,
  type HarmonyTokenizer,
} from '../../common/harmony/index.js';

function feed(parser: StreamingHarmonyParser, ids: readonly number[]): HarmonyParserEvent[] {
  const events: HarmonyParserEvent[] = [];
  for (const id of ids) events.push(...parser.push(id));
  events.push(...parser.finish());
  return events;
}

describe('harmony parser', () => {
  let tok: HarmonyTokenizer;
  before(() => {
    tok = getHarmonyTokenizer();
  });

  it('harmony - stop tokens are <|return|> and <|call|>', () => {
    assert.deepEqual([...STOP_TOKEN_IDS], [200002, 200012]);
  });

  it('harmony - analysis then final, streamed (docs/format.md StreamableParser example)', () => {
    // openai/harmony docs/format.md: the tokens the model produced after `<|start|>assistant`.
    const ids = [
      200005, 35644, 200008, 1844, 31064, 25, 392, 4827, 382, 220, 17, 659, 220, 17, 16842, 12295, 81645, 13, 51441, 6052,
      13, 200007, 200006, 173781, 200005, 17196, 200008, 17, 659, 220, 17, 314, 220, 19, 13, 200002,
    ];
    const parser = new StreamingHarmonyParser();
    const events = feed(parser, ids);
    const kinds = events.map((e) => e.type).filter((t, i, all) => t !== 'content-delta' || all[i - 1] !== 'content-delta');
    assert.deepEqual(kinds, ['message-start', 'content-delta', 'message-end', 'message-start', 'content-delta', 'message-end', 'done']);
    const starts = events.filter((e) => e.type === 'message-start');
    assert.deepEqual(
      starts.map((e) => [e.role, e.channel, e.recipient]),
      [
        ['assistant', 'analysis', null],
        ['assistant', 'final', null],
      ],
    );
    const analysis = events
      .filter((e) => e.type === 'content-delta' && e.channel === 'analysis')
      .map((e) => (e.type === 'content-delta' ? e.delta : ''))
      .join('');
    assert.equal(analysis, 'User asks: "What is 2 + 2?" Simple arithmetic. Provide answer.');
    assert.equal(parser.done, true);
    assert.equal(parser.stopReason, 'return');
    assert.deepEqual(parser.push(200006), [], 'ids after a stop token are ignored');

    const parsed = parseCompletion(ids);
    assert.equal(parsed.reasoning, 'User asks: "What is 2 + 2?" Simple arithmetic. Provide answer.');
    assert.equal(parsed.content, '2 + 2 = 4.');
    assert.deepEqual(parsed.toolCalls, []);
    assert.equal(parsed.stopReason, 'return');
  });

  it('harmony - text written without a header streams from its first token', () => {
    const parser = new StreamingHarmonyParser();
    const ids = tok.encode('Hello there, no header here.');
    const first = parser.push(ids[0]!);
    assert.deepEqual(first.map((e) => e.type), ['message-start', 'content-delta']);
    const rest = feed(parser, ids.slice(1));
    const text = [...first, ...rest].map((e) => (e.type === 'content-delta' ? e.delta : '')).join('');
    assert.equal(text, 'Hello there, no header here.');
    // A real header is still held until <|message|>.
    const held = new StreamingHarmonyParser();
    for (const id of [200005, ...tok.encode('final')]) assert.deepEqual(held.push(id), []);
  });

  it('harmony - a function call as the model writes it yields a complete tool call', () => {
    const generated = tok.encodeWithSpecials(
      '<|channel|>analysis<|message|>Need to use function get_weather.<|end|>' +
        '<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"location":"San Francisco"}<|call|>',
    );
    const events = feed(new StreamingHarmonyParser(), generated);
    const call = events.find((e) => e.type === 'tool-call');
    assert.deepEqual(call, { type: 'tool-call', name: 'get_weather', arguments: '{"location":"San Francisco"}' });
    const start = events.filter((e) => e.type === 'message-start')[1];
    assert.deepEqual(start, {
      type: 'message-start',
      role: 'assistant',
      name: null,
      channel: 'commentary',
      recipient: 'functions.get_weather',
      contentType: '<|constrain|>json',
    });
    const argDeltas = events.filter((e) => e.type === 'content-delta' && e.recipient === 'functions.get_weather');
    assert.ok(argDeltas.length > 1, 'arguments stream as deltas');
    assert.deepEqual(events[events.length - 1], { type: 'done', stopReason: 'call' });

    const parsed = parseCompletion(generated);
    assert.equal(parsed.reasoning, 'Need to use function get_weather.');
    assert.equal(parsed.content, null);
    assert.deepEqual(parsed.toolCalls, [{ name: 'get_weather', arguments: '{"location":"San Francisco"}' }]);
    assert.equal(parsed.stopReason, 'call');
  });

  it('harmony - recipient placements and a glued <|constrain|> all parse (harmony parser tests)', () => {
    // openai/harmony tests/test_harmony.py: test_tool_call_with_constrain_marker_adjacent and
    // test_tool_call_with_channel_before_recipient_and_constrain_adjacent
    const variants = [
      '<|start|>assistant to=functions.get_weather<|channel|>commentary<|constrain|>json<|message|>{"location": "Tokyo"}<|call|>',
      '<|start|>assistant<|channel|>commentary to=functions.get_weather<|constrain|>json<|message|>{"location": "Tokyo"}<|call|>',
      '<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{"location": "Tokyo"}<|call|>',
    ];
    for (const text of variants) {
      const parsed = parseCompletion(tok.encodeWithSpecials(text), { role: null });
      assert.equal(parsed.messages.length, 1, text);
      const [message] = parsed.messages;
      assert.equal(message!.channel, 'commentary');
      assert.equal(message!.recipient, 'functions.get_weather');
      assert.equal(message!.contentType, '<|constrain|>json');
      assert.deepEqual(parsed.toolCalls, [{ name: 'get_weather', arguments: '{"location": "Tokyo"}' }]);
    }
  });

  it('harmony - header with recipient and content type inside the channel part (src/tests.rs test_simple_tool_call)', () => {
    // openai/harmony src/tests.rs test_simple_tool_call: analysis, then
    // `<|start|>assistant<|channel|>analysis to=lookup_weather code<|message|>{"location": "Tokyo"}`
    const ids = [
      200005, 35644, 200008, 1844, 31064, 25, 392, 4827, 382, 290, 11122, 306, 40510, 16842, 1416, 1309, 316, 1199, 37342,
      170154, 4584, 13, 200007, 200006, 173781, 200005, 35644, 316, 28, 29712, 170154, 3490, 200008, 10848, 7693, 1243, 392,
      173844, 18583,
    ];
    const parsed = parseCompletion(ids);
    assert.equal(parsed.messages.length, 2);
    assert.equal(parsed.messages[0]!.content, 'User asks: "What is the weather in Tokyo?" We need to use lookup_weather tool.');
    assert.deepEqual(
      [parsed.messages[1]!.channel, parsed.messages[1]!.recipient, parsed.messages[1]!.contentType, parsed.messages[1]!.content],
      ['analysis', 'lookup_weather', 'code', '{"location": "Tokyo"}'],
    );
    assert.equal(parsed.messages[1]!.terminator, 'eos');
    assert.equal(parsed.stopReason, 'incomplete');
    assert.deepEqual(parsed.toolCalls, [], 'only functions.* recipients are function calls');
  });

  it('harmony - a parsed tool call re-renders to exactly the sampled ids', () => {
    const tools = [
      {
        type: 'function' as const,
        function: { name: 'get_weather', description: 'Weather.', parameters: { type: 'object', properties: { location: { type: 'string' } } } },
      },
    ];
    const history: ChatMessage[] = [{ role: 'user', content: 'Weather in SF?' }];
    const options = { currentDate: '2025-06-28', tools };
    const prompt = renderConversation(history, options);
    const generated = tok.encodeWithSpecials(
      '<|channel|>analysis<|message|>Need the weather tool.<|end|>' +
        '<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"location":"SF"}<|call|>',
    );
    const parsed = parseCompletion(generated);
    const next = renderConversation(
      [
        ...history,
        { role: 'assistant', content: parsed.content, reasoning: parsed.reasoning, toolCalls: parsed.toolCalls },
        { role: 'tool', name: 'get_weather', content: '{"temp": 18}' },
      ],
      options,
    );
    assert.deepEqual(next.slice(0, prompt.length + generated.length), [...prompt, ...generated]);
  });

  it('harmony - several messages in one completion, ending in a final answer', () => {
    const text =
      '<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>commentary<|message|>Let me check.<|end|>' +
      '<|start|>assistant<|channel|>analysis<|message|>More thought.<|end|><|start|>assistant<|channel|>final<|message|>Answer 💖 done.<|return|>';
    const ids = tok.encodeWithSpecials(text);
    const parser = new StreamingHarmonyParser();
    const events = feed(parser, ids);
    const finalDeltas = events.flatMap((e) => (e.type === 'content-delta' && e.channel === 'final' ? [e.delta] : []));
    assert.equal(finalDeltas.join(''), 'Answer 💖 done.');
    assert.ok(finalDeltas.every((d) => !d.includes('\uFFFD')));
    const ends = events.flatMap((e) => (e.type === 'message-end' ? [[e.channel, e.terminator]] : []));
    assert.deepEqual(ends, [
      ['analysis', 'end'],
      ['commentary', 'end'],
      ['analysis', 'end'],
      ['final', 'return'],
    ]);
    const parsed = parseCompletion(ids);
    assert.equal(parsed.reasoning, 'Think.\nMore thought.');
    assert.equal(parsed.content, 'Let me check.\nAnswer 💖 done.');
    assert.equal(parsed.stopReason, 'return');
  });

  it('harmony - text with no header is final content, not an error', () => {
    const ids = [...tok.encode('Just an answer.'), 200002];
    const parsed = parseCompletion(ids);
    assert.equal(parsed.content, 'Just an answer.');
    assert.equal(parsed.messages[0]!.channel, 'final');
    assert.equal(parsed.stopReason, 'return');

    // A second message that forgot <|message|>: its role word is not content.
    const second = parseCompletion(tok.encodeWithSpecials('<|channel|>analysis<|message|>Hmm.<|end|><|start|>assistant The answer is 4.<|return|>'));
    assert.deepEqual([second.reasoning, second.content], ['Hmm.', 'The answer is 4.']);

    // openai/harmony src/tests.rs test_missing_message_token_requires_non_strict_mode
    const nonStrict = parseCompletion(tok.encodeWithSpecials('<|channel|>commentary Hello<|end|>'));
    assert.equal(nonStrict.messages.length, 1);
    assert.deepEqual([nonStrict.messages[0]!.channel, nonStrict.messages[0]!.content], ['commentary', 'Hello']);
    assert.equal(nonStrict.stopReason, 'incomplete');
  });

  it('harmony - a long headerless answer streams before it ends', () => {
    const body = 'word '.repeat(300);
    const parser = new StreamingHarmonyParser();
    const early: HarmonyParserEvent[] = [];
    for (const id of tok.encode(body)) early.push(...parser.push(id));
    const streamed = early.flatMap((e) => (e.type === 'content-delta' ? [e.delta] : [])).join('');
    assert.ok(streamed.length > 0 && body.startsWith(streamed), 'text is streamed once the header limit passes');
    const rest = parser.push(200002);
    const all = [...early, ...rest].flatMap((e) => (e.type === 'content-delta' ? [e.delta] : [])).join('');
    assert.equal(all, body);
    assert.deepEqual(rest[rest.length - 1], { type: 'done', stopReason: 'return' });
  });

  it('harmony - partial UTF-8 never leaks into the next message (test_streamable_parser_does_not_leak_bytes_between_messages)', () => {
    const ids = [
      ...tok.encodeWithSpecials('<|start|>assistant<|message|>'),
      9552,
      9552,
      ...tok.encodeWithSpecials('<|end|><|start|>assistant<|message|>Hi<|end|>'),
    ];
    const parsed = parseCompletion(ids, { role: null });
    assert.equal(parsed.messages.length, 2);
    assert.equal(parsed.messages[1]!.content, 'Hi');
    assert.ok(parsed.messages[0]!.content.includes('\uFFFD'));
  });

  it('harmony - a dangling partial character is flushed at end of input (test_streamable_parser_flushes_partial_bytes_on_eos)', () => {
    const ids = [...tok.encodeWithSpecials('<|start|>assistant<|message|>'), 9552, ...tok.encode('Hi')];
    const parsed = parseCompletion(ids, { role: null });
    assert.equal(parsed.messages.length, 1);
    assert.equal(parsed.messages[0]!.content, ' \uFFFDHi');
  });

  it('harmony - a tool-authored message parses with its name (test_tool_response_parsing.txt)', () => {
    // openai/harmony test-data/test_tool_response_parsing.txt
    const text = '<|start|>browser.search to=assistant<|channel|>commentary<|message|>{"result": "https://openai.com/"}';
    const parsed = parseCompletion(tok.encodeWithSpecials(text), { role: null });
    assert.equal(parsed.messages.length, 1);
    const [message] = parsed.messages;
    assert.deepEqual(
      [message!.role, message!.name, message!.recipient, message!.channel, message!.content],
      ['tool', 'browser.search', 'assistant', 'commentary', '{"result": "https://openai.com/"}'],
    );
    assert.equal(parsed.content, null, 'non-assistant messages are not answer text');
  });

  it('harmony - parsing stops at <|call|> (test_streamable_parser.txt)', () => {
    // openai/harmony test-data/test_streamable_parser.txt. harmony's parser reads on past stop
    // tokens and finds 3 messages; a serving parser ends at <|call|>, so the tool's reply after it
    // is ignored.
    const text =
      '<|channel|>analysis<|message|>User asks "Who is the current US president?" It\'s 2025, presumably current president is Joe Biden? Actually as of 2025-07-28, there was a 2024 election. In 2024, President is probably President Biden still? But w\ne need up to date info. Let\'s browse to confirm.<|end|><|start|>assistant<|channel|>commentary to=browser.search code<|message|>{"query": "current US president July 2025", "topn": 10, "source": "news"}<|call|><|start|>browser.search to=assistant<|channel|>commentary<|message|>{"result": "https://openai.com/"}<|end|>';
    const parsed = parseCompletion(tok.encodeWithSpecials(text));
    assert.equal(parsed.messages.length, 2);
    assert.equal(parsed.messages[1]!.recipient, 'browser.search');
    assert.equal(parsed.stopReason, 'call');
    assert.deepEqual(parsed.toolCalls, []);
    assert.ok(parsed.reasoning!.endsWith('{"query": "current US president July 2025", "topn": 10, "source": "news"}'));
  });
});
