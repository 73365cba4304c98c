// Text of the harmony system and developer messages (openai/harmony src/encoding.rs,
// Render<SystemContent> / Render<DeveloperContent>): sections joined by a blank line.
import { toolsSectionText, type FunctionToolSpec } from './tool-schema.js';

export type ReasoningEffort = 'low' | 'medium' | 'high';

export const DEFAULT_MODEL_IDENTITY = 'You are ChatGPT, a large language model trained by OpenAI.';
export const DEFAULT_KNOWLEDGE_CUTOFF = '2024-06';
export const DEFAULT_VALID_CHANNELS: readonly string[] = ['analysis', 'commentary', 'final'];

export interface SystemContent {
  /** null leaves the line out. */
  modelIdentity: string | null;
  knowledgeCutoff: string | null;
  currentDate: string | null;
  reasoningEffort: ReasoningEffort | null;
  validChannels: readonly string[];
  channelRequired: boolean;
  /** Adds the line sending function calls to the commentary channel (harmony adds it exactly when
   *  the conversation's developer message declares at least one function). */
  hasFunctionTools: boolean;
}

export function systemContentText(content: SystemContent): string {
  const sections: string[] = [];
  const top: string[] = [];
  if (content.modelIdentity !== null) top.push(content.modelIdentity);
  if (content.knowledgeCutoff !== null) top.push(`Knowledge cutoff: ${content.knowledgeCutoff}`);
  if (content.currentDate !== null) top.push(`Current date: ${content.currentDate}`);
  if (top.length > 0) sections.push(top.join('\n'));
  if (content.reasoningEffort !== null) sections.push(`Reasoning: ${content.reasoningEffort}`);
  if (content.validChannels.length > 0) {
    let channels = `# Valid channels: ${content.validChannels.join(', ')}.`;
    if (content.channelRequired) channels += ' Channel must be included for every message.';
    if (content.hasFunctionTools) channels += "\nCalls to these tools must go to the commentary channel: 'functions'.";
    sections.push(channels);
  }
  return sections.join('\n\n');
}

export interface DeveloperContent {
  instructions: string | null;
  /** Function tools, declared in the `functions` namespace. */
  tools: readonly FunctionToolSpec[];
  responseFormat?: ResponseFormatSpec | null;
}

/** A structured-output schema, declared to the model as harmony's `# Response Formats`. */
export interface ResponseFormatSpec {
  name: string;
  description?: string;
  schema: unknown;
}

export function developerContentText(content: DeveloperContent): string {
  const sections: string[] = [];
  if (content.instructions !== null) sections.push('# Instructions', content.instructions);
  if (content.tools.length > 0) sections.push(toolsSectionText([{ name: 'functions', tools: content.tools }]));
  const format = content.responseFormat;
  if (format) {
    const description = format.description ? `// ${format.description}\n` : '';
    sections.push(`# Response Formats\n\n## ${format.name}\n\n${description}${JSON.stringify(format.schema)}`);
  }
  return sections.join('\n\n');
}
