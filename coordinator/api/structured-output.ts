// From a request's response format, strict tools and sampling settings to the logits processors
// of each of its choices. Grammars are compiled (and cached) once per request, before generating,
// so a schema xgrammar cannot take is a 400 naming the parameter, never a failed stream.
import { InvalidRequestError } from '../../common/errors.js';
import { samplingProcessors, type LogitsProcessor } from '../../common/engine/logits-processors.js';
import { GrammarProcessor } from '../../common/grammar/grammar-processor.js';
import { HarmonyEnvelopeProcessor, type EnvelopeTool } from '../../common/grammar/harmony-envelope.js';
import { JsonGrammars, type JsonGrammarSpec } from '../../common/grammar/json-grammars.js';
import type { HarmonyTokenizer, ResponseFormatSpec, ToolDefinition } from '../../common/harmony/index.js';
import type { ResponseFormat, SamplingRequest } from './protocol.js';

/** Makes one choice's processors (each choice has its own grammar state). */
export type ProcessorFactory = () => LogitsProcessor[];

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
   * Harmony output with the final answer constrained to `format` and strict tools' arguments to
   * their parameters (chat, responses); plain sampling when neither applies. `formatKey` names
   * the request's format parameter in errors.
   */
  async forHarmony(format: ResponseFormat | null, tools: readonly ToolDefinition[], sampling: SamplingRequest, formatKey: string): Promise<ProcessorFactory> {
    const sampled = this.sampling(sampling);
    const strictTools = tools.map((t, i) => ({ fn: 'function' in t ? t.function : t, param: 'function' in t ? `tools[${i}].function.parameters` : `tools[${i}].parameters` }));
    if (format === null && !strictTools.some((t) => t.fn.strict === true)) return sampled;
    const grammars = await this.load();
    const final = format === null ? null : await grammars.compile(specOf(format), formatParam(format, formatKey));
    const envelopeTools: EnvelopeTool[] = [];
    for (const { fn, param } of strictTools) {
      const schema = fn.parameters ?? { type: 'object', properties: {} };
      envelopeTools.push({ name: fn.name, grammar: fn.strict === true ? await grammars.compile({ kind: 'json_schema', schema }, param) : null });
    }
    return () => [new HarmonyEnvelopeProcessor(grammars, this.tokenizer, { final, tools: envelopeTools }), ...sampled()];
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

function specOf(format: ResponseFormat): JsonGrammarSpec {
  return format.type === 'json_object' ? { kind: 'json_object' } : { kind: 'json_schema', schema: format.schema };
}

function formatParam(format: ResponseFormat, key: string): string {
  return format.type === 'json_object' ? `${key}.type` : key === 'response_format' ? 'response_format.json_schema.schema' : `${key}.schema`;
}
