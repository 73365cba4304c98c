// From a request's response format, strict tools and sampling settings to the logits processors
// of each of its choices. Grammars are compiled (and cached) once per request, before generating,
// so a schema xgrammar cannot take is a 400 naming the parameter, never a failed stream.
import { InvalidRequestError } from '../../common/errors.js';
import { samplingProcessors, type LogitsProcessor } from '../../common/engine/logits-processors.js';
import { GrammarProcessor } from '../../common/grammar/grammar-processor.js';
import { HarmonyEnvelopeProcessor, type EnvelopeTool } from '../../common/grammar/harmony-envelope.js';
import { JsonGrammars, type JsonGrammarSpec } from '../../common/grammar/json-grammars.js';
import type { FunctionDefinition, HarmonyTokenizer, ReasoningEffort, ResponseFormatSpec, ToolDefinition } from '../../common/harmony/index.js';
import { analysisBudget } from './analysis-budget.js';
import type { ResponseFormat, SamplingRequest } from './protocol.js';
import { toolName, type ToolChoice } from './tool-choice.js';

/** Makes one choice's processors (each choice has its own grammar state). */
export type ProcessorFactory = () => LogitsProcessor[];

/** What a chat or responses request asks of its output. */
export interface HarmonyRequest {
  readonly format: ResponseFormat | null;
  /** The request's name of the format parameter, for errors ('response_format', 'text.format'). */
  readonly formatKey: string;
  readonly tools: readonly ToolDefinition[];
  readonly toolChoice: ToolChoice;
  readonly sampling: SamplingRequest;
  readonly reasoningEffort?: ReasoningEffort;
  readonly thinkingTokenBudget?: number;
  /** The generation's max tokens (after fitting the context). */
  readonly maxTokens: number;
}

export class StructuredOutputs {
  private grammars: Promise<JsonGrammars> | null = null;

  constructor(
    private readonly tokenizer: HarmonyTokenizer,
    private readonly vocabSize: number,
  ) {}

  /** The whole output constrained (/v1/completions); it may end in any of `stopTokenIds`. */
  async forCompletion(format: ResponseFormat | null, sampling: SamplingRequest, stopTokenIds: readonly number[]): Promise<ProcessorFactory> {
    const sampled = this.sampling(sampling);
    if (format === null) return sampled;
    const grammars = await this.load();
    const grammar = await grammars.compile(specOf(format), formatParam(format, 'response_format'));
    return () => [new GrammarProcessor(grammars, grammar, stopTokenIds), ...sampled()];
  }

  /**
   * Harmony output (chat, responses) kept in the harmony envelope: the final answer constrained to
   * the format, strict tools' arguments (and a forced call's, strict or not) to their parameters,
   * the analysis bounded by its budget (analysis-budget.ts). Plain sampling when none applies.
   */
  async forHarmony(req: HarmonyRequest): Promise<ProcessorFactory> {
    const sampled = this.sampling(req.sampling);
    const { format, toolChoice } = req;
    const forced = toolChoice === 'required' || typeof toolChoice === 'object';
    const callable = typeof toolChoice === 'object' ? req.tools.filter((t) => toolName(t) === toolChoice.name) : req.tools;
    const constrained = format !== null || forced || req.tools.some((t) => functionOf(t).strict === true);
    const budget = analysisBudget({ ...req, constrained });
    if (!constrained && budget === null) return sampled;
    const grammars = await this.load();
    const final = format === null ? null : await grammars.compile(specOf(format), formatParam(format, req.formatKey));
    const envelopeTools: EnvelopeTool[] = [];
    for (const tool of callable) {
      const fn = functionOf(tool);
      const i = req.tools.indexOf(tool);
      const param = 'function' in tool ? `tools[${i}].function.parameters` : `tools[${i}].parameters`;
      const schema = fn.parameters ?? { type: 'object', properties: {} };
      const constrain = fn.strict === true || forced;
      envelopeTools.push({ name: fn.name, grammar: constrain ? await grammars.compile({ kind: 'json_schema', schema }, param) : null });
    }
    const options = { final, tools: envelopeTools, requireToolCall: forced, ...(budget !== null ? { analysisBudget: budget } : {}) };
    return () => [new HarmonyEnvelopeProcessor(grammars, this.tokenizer, options), ...sampled()];
  }

  private sampling(s: SamplingRequest): ProcessorFactory {
    for (const id of s.logitBias.keys()) {
      if (id >= this.vocabSize) throw new InvalidRequestError(`token id ${id} is outside the vocabulary of ${this.vocabSize} tokens.`, `logit_bias.${id}`);
    }
    return () =>
      samplingProcessors({
        temperature: s.temperature,
        presencePenalty: s.presencePenalty,
        frequencyPenalty: s.frequencyPenalty,
        repetitionPenalty: s.repetitionPenalty,
        logitBias: s.logitBias,
        topK: s.topK,
        minP: s.minP,
      });
  }

  private async load(): Promise<JsonGrammars> {
    const current = this.grammars ? await this.grammars : null;
    // A trapped instance is replaced by a new one; generations still using the old one finish on it.
    if (current && !current.broken) return current;
    this.grammars = JsonGrammars.create(this.tokenizer, this.vocabSize, current !== null);
    return this.grammars;
  }
}

/** What the developer message tells the model about the format (json_schema only, as harmony). */
export function formatForModel(format: ResponseFormat | null): ResponseFormatSpec | null {
  return format?.type === 'json_schema' ? { name: format.name, schema: format.schema } : null;
}

function functionOf(tool: ToolDefinition): FunctionDefinition {
  return 'function' in tool ? tool.function : tool;
}

function specOf(format: ResponseFormat): JsonGrammarSpec {
  return format.type === 'json_object' ? { kind: 'json_object' } : { kind: 'json_schema', schema: format.schema };
}

function formatParam(format: ResponseFormat, key: string): string {
  return format.type === 'json_object' ? `${key}.type` : key === 'response_format' ? 'response_format.json_schema.schema' : `${key}.schema`;
}
