// The `# Tools` section: JSON-schema function parameters rendered as the TypeScript-like types
// gpt-oss was trained on. A line-for-line port of openai/harmony's json_schema_to_typescript and
// template_tools_section (src/encoding.rs), quirks included (one-space ` | ` before oneOf
// variants, property defaults unquoted for enums, `anyOf`/`$ref` rendered as `any`), because any
// difference changes the prompt tokens.
import { isJsonObject, jsonGet, type JsonValue } from './json.js';

export interface FunctionToolSpec {
  name: string;
  /** '' renders no comment line. */
  description: string;
  /** JSON schema of the single argument; undefined renders `() => any`. */
  parameters?: JsonValue;
}

export interface ToolNamespace {
  name: string;
  description?: string;
  tools: readonly FunctionToolSpec[];
}

/** Rust's str::lines(): split on \n, drop one trailing empty line, strip a trailing \r. */
function rustLines(text: string): string[] {
  if (text.length === 0) return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
}

function isEnum(schema: JsonValue | undefined): boolean {
  const values = jsonGet(schema, 'enum');
  return Array.isArray(values) && values.length > 0;
}

function isNullable(schema: JsonValue | undefined): boolean {
  return jsonGet(schema, 'nullable') === true;
}

// serde_json's Display of a value is compact JSON, like JSON.stringify.
function defaultText(value: JsonValue, owner: JsonValue | undefined): string {
  if (typeof value === 'string') return isEnum(owner) ? value : `"${value}"`;
  return JSON.stringify(value);
}

export function jsonSchemaToTypeScript(schema: JsonValue, indent: string): string {
  const oneOf = jsonGet(schema, 'oneOf');
  if (Array.isArray(oneOf)) {
    let out = '';
    for (const variant of oneOf) {
      out += `\n${indent} | `;
      let type = jsonSchemaToTypeScript(variant, `${indent}   `);
      if (isNullable(variant) && !type.includes('null')) type += ' | null';
      out += type;
      const comments: string[] = [];
      const description = jsonGet(variant, 'description');
      if (typeof description === 'string') comments.push(description);
      const dflt = jsonGet(variant, 'default');
      if (dflt !== undefined) {
        // Unlike property defaults, an enum's string default keeps its JSON quotes here.
        comments.push(typeof dflt === 'string' && !isEnum(variant) ? `default: "${dflt}"` : `default: ${JSON.stringify(dflt)}`);
      }
      if (comments.length > 0) out += ` // ${comments.join(' ')}`;
    }
    return out;
  }

  const type = jsonGet(schema, 'type');
  if (Array.isArray(type)) {
    const names = type.filter((t): t is string => typeof t === 'string').map((t) => (t === 'integer' ? 'number' : t));
    if (names.length > 0) return names.join(' | ');
  }
  if (typeof type !== 'string') return 'any';
  switch (type) {
    case 'object':
      return objectToTypeScript(schema, indent);
    case 'string': {
      const values = jsonGet(schema, 'enum');
      const literals = Array.isArray(values) ? values.filter((v): v is string => typeof v === 'string').map((v) => `"${v}"`) : [];
      return literals.length > 0 ? literals.join(' | ') : 'string';
    }
    case 'number':
    case 'integer':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'array': {
      const items = jsonGet(schema, 'items');
      return items === undefined ? 'Array<any>' : `${jsonSchemaToTypeScript(items, indent)}[]`;
    }
    default:
      return 'any';
  }
}

function objectToTypeScript(schema: JsonValue, indent: string): string {
  let out = '';
  const description = jsonGet(schema, 'description');
  if (typeof description === 'string') out += `${indent}// ${description}\n`;
  out += '{\n';
  const properties = jsonGet(schema, 'properties');
  if (isJsonObject(properties)) {
    const requiredList = jsonGet(schema, 'required');
    const required = new Set(Array.isArray(requiredList) ? requiredList.filter((r): r is string => typeof r === 'string') : []);
    for (const [key, value] of Object.entries(properties)) {
      const optional = required.has(key) ? '' : '?';
      const title = jsonGet(value, 'title');
      if (typeof title === 'string') out += `${indent}// ${title}\n${indent}//\n`;
      const oneOf = jsonGet(value, 'oneOf');
      const propertyDescription = jsonGet(value, 'description');
      if (oneOf === undefined && typeof propertyDescription === 'string') out += `${indent}// ${propertyDescription}\n`;
      const examples = jsonGet(value, 'examples');
      if (Array.isArray(examples) && examples.length > 0) {
        out += `${indent}// Examples:\n`;
        for (const example of examples) if (typeof example === 'string') out += `${indent}// - "${example}"\n`;
      }
      const dflt = jsonGet(value, 'default');

      if (Array.isArray(oneOf)) {
        const described = typeof propertyDescription === 'string' ? propertyDescription : null;
        const firstDescription = oneOf.length > 0 ? jsonGet(oneOf[0], 'description') : undefined;
        const describedAbove = described !== null && firstDescription !== described;
        if (describedAbove) out += `${indent}// ${described}\n`;
        if (dflt !== undefined) out += `${indent}// default: ${defaultText(dflt, value)}\n`;
        out += `${indent}${key}${optional}:\n`;
        oneOf.forEach((variant, i) => {
          out += `${indent} | `;
          let variantType = jsonSchemaToTypeScript(variant, `${indent}   `);
          if (isNullable(variant) && !variantType.includes('null')) variantType += ' | null';
          out += variantType;
          const comments: string[] = [];
          const variantDescription = jsonGet(variant, 'description');
          if (!(i === 0 && describedAbove) && typeof variantDescription === 'string' && variantDescription !== described) {
            comments.push(variantDescription);
          }
          const variantDefault = jsonGet(variant, 'default');
          if (variantDefault !== undefined) comments.push(`default: ${defaultText(variantDefault, variant)}`);
          if (comments.length > 0) out += ` // ${comments.join(' ')}`;
          out += '\n';
        });
        out += `${indent},\n`;
        continue;
      }

      let valueType = jsonSchemaToTypeScript(value, `${indent}    `);
      if (isNullable(value) && !valueType.includes('null')) valueType += ' | null';
      out += `${indent}${key}${optional}: ${valueType},`;
      if (oneOf === undefined && dflt !== undefined) out += ` // default: ${defaultText(dflt, value)}`;
      out += '\n';
    }
  }
  out += `${indent}}`;
  return out;
}

function namespaceText(namespace: ToolNamespace): string {
  const lines = [`## ${namespace.name}\n`];
  const hasTools = namespace.tools.length > 0;
  for (const line of rustLines(namespace.description ?? '')) lines.push(hasTools ? `// ${line}` : line);
  if (hasTools) {
    lines.push(`namespace ${namespace.name} {\n`);
    for (const tool of namespace.tools) {
      for (const line of rustLines(tool.description)) lines.push(`// ${line}`);
      lines.push(
        tool.parameters === undefined
          ? `type ${tool.name} = () => any;\n`
          : `type ${tool.name} = (_: ${jsonSchemaToTypeScript(tool.parameters, '')}) => any;\n`,
      );
    }
    lines.push(`} // namespace ${namespace.name}`);
  }
  return lines.join('\n');
}

/** `# Tools` followed by one `## name` block per namespace, in name order (harmony keeps them in a
 *  BTreeMap). */
export function toolsSectionText(namespaces: readonly ToolNamespace[]): string {
  const sorted = [...namespaces].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return ['# Tools', ...sorted.map(namespaceText)].join('\n\n');
}
