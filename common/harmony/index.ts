// gpt-oss's o200k_harmony tokenizer and harmony chat format: render prompts, parse completions.
export {
  FIRST_SPECIAL_ID,
  getHarmonyTokenizer,
  harmonyTokenizer,
  HARMONY_VOCAB_SIZE,
  HarmonyTokenizer,
  HarmonyTokens,
  LAST_SPECIAL_ID,
  specialTokenId,
  specialTokenText,
  StreamingDecoder,
  type TokenByteSource,
} from './tokenizer.js';
export {
  buildHarmonyConversation,
  HARMONY_ROLES,
  HarmonyRenderError,
  renderConversation,
  renderHarmonyConversation,
  renderMessage,
  type AssistantChatMessage,
  type ChatMessage,
  type ChatRole,
  type FunctionDefinition,
  type HarmonyConversationOptions,
  type HarmonyMessage,
  type HarmonyRole,
  type InstructionChatMessage,
  type ReasoningEffort,
  type RenderOptions,
  type ToolCall,
  type ToolChatMessage,
  type ToolDefinition,
  type UserChatMessage,
} from './render.js';
export {
  DEFAULT_KNOWLEDGE_CUTOFF,
  DEFAULT_MODEL_IDENTITY,
  DEFAULT_VALID_CHANNELS,
  developerContentText,
  systemContentText,
  type DeveloperContent,
  type ResponseFormatSpec,
  type SystemContent,
} from './content.js';
export { jsonSchemaToTypeScript, toolsSectionText, type FunctionToolSpec, type ToolNamespace } from './tool-schema.js';
export { normalizeToolDefinitions } from './tool-definitions.js';
export type { JsonObject, JsonValue } from './json.js';
export { checkSchemaNesting, jsonNesting, MAX_SCHEMA_NESTING } from './json.js';
export {
  parseCompletion,
  STOP_TOKEN_IDS,
  StreamingHarmonyParser,
  type HarmonyParserEvent,
  type MessageTerminator,
  type ParsedCompletion,
  type ParsedMessage,
  type ParsedMessageInfo,
  type StopReason,
  type StreamingHarmonyParserOptions,
} from './parser.js';
