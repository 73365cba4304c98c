// tool_choice as OpenAI defines it: "none" (the tools are not offered), "auto" (the model decides),
// "required" (it must call one of them) or one named function (it must call that one). Chat
// nests the name (`{"type": "function", "function": {"name"}}`); the Responses API does not
// (`{"type": "function", "name"}`). A forced call is enforced by the harmony envelope, which then
// offers no final channel, only calls, with the arguments constrained by the tool's parameters.
import type { ToolDefinition } from '../../common/harmony/index.js';
import { at, get, invalid, optArray, requireObject, reqString, type Fields } from './fields.js';
import { normalizeToolDefinitions } from '../../common/harmony/index.js';

export type ToolChoice = 'none' | 'auto' | 'required' | { readonly type: 'function'; readonly name: string };

export type ToolChoiceShape = 'chat' | 'responses';

/** The tools a request offers (none when tool_choice is "none") and what it asks of them. */
export interface ToolUse {
  readonly tools: readonly ToolDefinition[];
  readonly toolChoice: ToolChoice;
}

export function toolName(tool: ToolDefinition): string {
  return 'function' in tool ? tool.function.name : tool.name;
}

/** `tools` (validated by the harmony renderer's rules) and `tool_choice`. */
export function parseToolUse(body: Fields, shape: ToolChoiceShape): ToolUse {
  const tools = optArray(body, 'tools') ?? [];
  normalizeToolDefinitions(tools, 'tools');
  const toolChoice = parseToolChoice(get(body, 'tool_choice'), tools as ToolDefinition[], shape);
  return { tools: toolChoice === 'none' ? [] : (tools as ToolDefinition[]), toolChoice };
}

function parseToolChoice(raw: unknown, tools: readonly ToolDefinition[], shape: ToolChoiceShape): ToolChoice {
  if (raw === undefined || raw === 'auto' || raw === 'none') return raw ?? 'auto';
  if (raw === 'required') {
    if (tools.length === 0) throw invalid('tool_choice', '"required" needs at least one tool in tools.');
    return 'required';
  }
  if (typeof raw === 'string') throw invalid('tool_choice', `expected 'none', 'auto', 'required' or a function, got ${JSON.stringify(raw)}.`);
  const choice = requireObject(raw, 'tool_choice');
  const type = get(choice, 'type');
  if (type !== 'function') throw invalid('tool_choice.type', `only function tools can be chosen, got ${JSON.stringify(type)}.`, 'unsupported_parameter');
  const [holder, parent] = shape === 'chat' ? [requireObject(get(choice, 'function'), 'tool_choice.function'), 'tool_choice.function'] : [choice, 'tool_choice'];
  const name = reqString(holder, 'name', parent);
  if (!tools.some((t) => toolName(t) === name)) {
    const known = tools.map((t) => `'${toolName(t)}'`).join(', ') || 'none';
    throw invalid(at(parent, 'name'), `no function named '${name}' among tools (given: ${known}).`);
  }
  return { type: 'function', name };
}
