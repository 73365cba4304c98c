// Validation of rendered Kubernetes objects, offline, in two passes:
// 1. schema: the object is built with the kubernetes-models class for its apiVersion/kind
//    (@kubernetes-models/prometheus-operator for monitoring.coreos.com) and .validate()d: types,
//    formats (quantities, ...), enums and required fields of the Kubernetes OpenAPI schemas;
// 2. fields: the schemas allow unknown fields (a misspelt `tolerations` would pass), so every
//    object is also type-checked by the TypeScript compiler as a literal of the package's
//    interface for its kind, where an unknown field anywhere is an excess-property error.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { REPO_ROOT } from './paths.js';
import { idOf, type K8sObject } from './k8s-kustomize.js';

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: unknown) => Validatable;

/** The module holding the models of an apiVersion, as an import specifier. */
function modelModule(apiVersion: string): string {
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${apiVersion}`;
  return `kubernetes-models/${apiVersion}`;
}

export async function modelClass(apiVersion: string, kind: string): Promise<ModelClass> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(`${modelModule(apiVersion)}/${kind}`)) as Record<string, unknown>;
  } catch {
    throw new Error(`no schema for ${apiVersion} ${kind}`);
  }
  const cls = mod[kind];
  if (typeof cls !== 'function') throw new Error(`no schema for ${apiVersion} ${kind}`);
  return cls as ModelClass;
}

/** Schema errors of one object ([] when valid). */
export async function schemaErrors(o: K8sObject): Promise<string[]> {
  let cls: ModelClass;
  try {
    cls = await modelClass(o.apiVersion, o.kind);
  } catch (err) {
    return [`${idOf(o)}: ${(err as Error).message}`];
  }
  try {
    new cls(structuredClone(o)).validate();
    return [];
  } catch (err) {
    return [`${idOf(o)}: ${(err as Error).message}`];
  }
}

let previous: ts.Program | undefined;

/**
 * Unknown or mistyped fields, found by compiling every object as a literal of its interface.
 * Returns one message per TypeScript diagnostic, prefixed with the object it is in.
 */
export function fieldErrors(objects: readonly K8sObject[]): string[] {
  const file = path.join(REPO_ROOT, 'test', '__k8s_fields__.ts');
  const imports: string[] = [];
  const body: string[] = [];
  const starts: { line: number; id: string }[] = [];
  let line = 0;
  const seen = new Map<string, string>();
  const errors: string[] = [];
  objects.forEach((o, i) => {
    const key = `${o.apiVersion} ${o.kind}`;
    let alias = seen.get(key);
    if (!alias) {
      const spec = `${modelModule(o.apiVersion)}/${o.kind}`;
      const pkgDir = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
      const dts = path.join(REPO_ROOT, 'node_modules', pkgDir, spec.slice(pkgDir.length + 1) + '.d.ts');
      if (!existsSync(dts)) {
        errors.push(`${idOf(o)}: no type for ${key}`);
        return;
      }
      alias = `T${seen.size}`;
      seen.set(key, alias);
      imports.push(`import type { I${o.kind} as ${alias} } from '${spec}';`);
    }
    const text = `export const o${i}: ${alias} = ${JSON.stringify(o, null, 2)};`;
    starts.push({ line, id: idOf(o) });
    body.push(text);
    line += text.split('\n').length;
  });
  const header = imports.join('\n') + '\n';
  const headerLines = imports.length;
  const source = header + body.join('\n') + '\n';
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    lib: ['lib.es2022.d.ts'],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, onError, create) =>
    path.resolve(name) === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, onError, create);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => path.resolve(name) === file || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (path.resolve(name) === file ? source : readFile(name));
  const program = ts.createProgram({ rootNames: [file], options, host, oldProgram: previous });
  previous = program;
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!d.file || path.resolve(d.file.fileName) !== file || d.start === undefined) {
      errors.push(`typescript: ${message}`);
      continue;
    }
    const at = d.file.getLineAndCharacterOfPosition(d.start).line - headerLines;
    let id = '(imports)';
    for (const s of starts) if (s.line <= at) id = s.id;
    const lineText = source.split('\n')[at + headerLines]?.trim() ?? '';
    errors.push(`${id}: ${message} (at ${lineText})`);
  }
  return errors;
}

/** The Dockerfile's final stage, its instructions with continuation lines joined. */
export function dockerInstructions(file: string): { instruction: string; args: string; stage: string }[] {
  const text = readFileSync(file, 'utf8').replace(/\\\r?\n/g, ' ');
  const out: { instruction: string; args: string; stage: string }[] = [];
  let stage = '';
  for (const raw of text.split(/\r?\n/)) {
    const lineText = raw.trim();
    if (lineText === '' || lineText.startsWith('#')) continue;
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(lineText);
    if (!m) throw new Error(`${file}: cannot read "${lineText}"`);
    const instruction = m[1]!.toUpperCase();
    const args = m[2]!.replace(/\s+/g, ' ').trim();
    if (instruction === 'FROM') {
      const as = /\s+AS\s+(\S+)$/i.exec(args);
      stage = as ? as[1]! : `#${out.filter((x) => x.instruction === 'FROM').length}`;
    }
    out.push({ instruction, args, stage });
  }
  return out;
}
