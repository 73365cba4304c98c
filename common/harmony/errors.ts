import { InvalidRequestError } from '../errors.js';

/**
 * Input that cannot be rendered as harmony (unknown role, tool message without a name, bad tool
 * schema). An InvalidRequestError, so the API layer answers 400 with OpenAI's `param`; `param`
 * is the path of the offending value, e.g. `messages[2].role` or `tools[0].function.parameters`.
 * (Its `name` stays 'InvalidRequestError': the base class fixes that literal.)
 */
export class HarmonyRenderError extends InvalidRequestError {
  declare readonly param: string;

  constructor(param: string, message: string) {
    super(`${param}: ${message}`, param, 'invalid_harmony_input');
  }
}
