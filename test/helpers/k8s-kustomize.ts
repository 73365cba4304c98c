// A small kustomize renderer for the tests of deploy/: enough of kustomize v5 for what deploy/
// uses, and a loud error for anything else, so a manifest can never silently render differently
// here than under `kubectl apply -k`. (When kubectl is on the PATH, a test compares the two.)
//
// Supported kustomization.yaml fields: apiVersion, kind (Kustomization or Component), resources
// (files and folders), components, patches (file or inline; strategic merge or JSON 6902; target
// by group/version/kind/name/namespace), namespace, images, replicas. Nothing else (no
// generators, labels, name prefixes). Order, as kustomize: resources, then components (each
// applied to what was accumulated), then this file's patches, namespace, images, replicas.
//
// Strategic merge covers what Kubernetes' pod and service types need here: maps merge, lists of
// objects merge on their key (containers, initContainers, volumes, env, imagePullSecrets by
// name; volumeMounts by mountPath; container ports by containerPort; service ports by port),
// other lists replace, `null` deletes a key, `$patch: delete` deletes a list element or (at the
// top) the whole object, `$patch: replace` replaces a map. Merged lists are ordered as kustomize
// orders them: the patch's elements first, then the base's others.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export type K8sObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
};

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

export class KustomizeError extends Error {}

const KUSTOMIZATION_KEYS = new Set(['apiVersion', 'kind', 'resources', 'components', 'patches', 'namespace', 'images', 'replicas']);
const CLUSTER_SCOPED = new Set(['Namespace', 'PersistentVolume', 'StorageClass', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PriorityClass']);

export function kustomizationFile(dir: string): string {
  for (const name of ['kustomization.yaml', 'kustomization.yml', 'Kustomization']) {
    const p = path.join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new KustomizeError(`no kustomization.yaml in ${dir}`);
}

/** Every object the kustomization in `dir` renders, in resource order. */
export function renderKustomization(dir: string): K8sObject[] {
  return build(path.resolve(dir), 'Kustomization', []);
}

/** Parses a multi-document YAML string into objects (empty documents dropped). */
export function parseYamlDocuments(text: string, where: string): Json[] {
  const out: Json[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new KustomizeError(`${where}: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as Json;
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

function readYaml(file: string): Json[] {
  return parseYamlDocuments(readFileSync(file, 'utf8'), file);
}

function build(dir: string, expectKind: 'Kustomization' | 'Component', stack: string[], accumulated: K8sObject[] = []): K8sObject[] {
  if (stack.includes(dir)) throw new KustomizeError(`cycle: ${[...stack, dir].join(' -> ')}`);
  const file = kustomizationFile(dir);
  const docs = readYaml(file);
  if (docs.length !== 1 || !isObject(docs[0])) throw new KustomizeError(`${file}: expected one mapping`);
  const k = docs[0];
  for (const key of Object.keys(k)) {
    if (!KUSTOMIZATION_KEYS.has(key)) throw new KustomizeError(`${file}: field "${key}" is not supported by this renderer`);
  }
  const kind = k['kind'] ?? 'Kustomization';
  if (kind !== expectKind) throw new KustomizeError(`${file}: kind ${String(kind)}, expected ${expectKind}`);
  const next = [...stack, dir];

  // A component's resources join what its parent accumulated, and its patches see all of it.
  let objects: K8sObject[] = [...accumulated];
  for (const entry of stringList(k['resources'], file, 'resources')) {
    const p = path.resolve(dir, entry);
    if (!existsSync(p)) throw new KustomizeError(`${file}: resource ${entry} not found`);
    const added = statSync(p).isDirectory() ? build(p, 'Kustomization', next) : readYaml(p).map((d) => asObject(d, p));
    for (const o of added) {
      if (objects.some((x) => sameId(x, o))) throw new KustomizeError(`${file}: ${idOf(o)} is defined twice`);
      objects.push(o);
    }
  }
  for (const entry of stringList(k['components'], file, 'components')) {
    objects = build(path.resolve(dir, entry), 'Component', next, objects);
  }
  return applyTransformers(dir, file, k, objects);
}

function applyTransformers(dir: string, file: string, k: JsonObject, input: K8sObject[]): K8sObject[] {
  let objects = input;
  const patches = k['patches'];
  if (patches !== undefined) {
    if (!Array.isArray(patches)) throw new KustomizeError(`${file}: patches must be a list`);
    for (const [i, p] of patches.entries()) objects = applyPatchEntry(dir, `${file} patches[${i}]`, p, objects);
  }
  const ns = k['namespace'];
  if (ns !== undefined) {
    if (typeof ns !== 'string' || ns === '') throw new KustomizeError(`${file}: namespace must be a string`);
    objects = objects.map((o) => {
      const c = clone(o) as K8sObject;
      if (CLUSTER_SCOPED.has(c.kind)) return c;
      c.metadata.namespace = ns;
      return c;
    });
  }
  const images = k['images'];
  if (images !== undefined) {
    if (!Array.isArray(images)) throw new KustomizeError(`${file}: images must be a list`);
    for (const img of images) {
      if (!isObject(img) || typeof img['name'] !== 'string') throw new KustomizeError(`${file}: an images entry needs a name`);
      for (const key of Object.keys(img)) {
        if (!['name', 'newName', 'newTag', 'digest'].includes(key)) throw new KustomizeError(`${file}: images field ${key} is not supported`);
      }
      objects = objects.map((o) => setImages(o, img));
    }
  }
  const replicas = k['replicas'];
  if (replicas !== undefined) {
    if (!Array.isArray(replicas)) throw new KustomizeError(`${file}: replicas must be a list`);
    for (const r of replicas) {
      if (!isObject(r) || typeof r['name'] !== 'string' || typeof r['count'] !== 'number') throw new KustomizeError(`${file}: replicas entries need name and count`);
      let hit = false;
      objects = objects.map((o) => {
        if (o.metadata.name !== r['name'] || !['Deployment', 'StatefulSet', 'ReplicaSet', 'ReplicationController'].includes(o.kind)) return o;
        hit = true;
        const c = clone(o) as K8sObject;
        (c['spec'] as JsonObject)['replicas'] = r['count'];
        return c;
      });
      if (!hit) throw new KustomizeError(`${file}: replicas: no workload named ${String(r['name'])}`);
    }
  }
  return objects;
}

// ---------------------------------------------------------------------------------------------
// patches

interface Target {
  group?: string;
  version?: string;
  kind?: string;
  name?: string;
  namespace?: string;
}

function applyPatchEntry(dir: string, where: string, entry: Json, objects: K8sObject[]): K8sObject[] {
  if (!isObject(entry)) throw new KustomizeError(`${where}: must be a mapping`);
  for (const key of Object.keys(entry)) {
    if (!['path', 'patch', 'target', 'options'].includes(key)) throw new KustomizeError(`${where}: field ${key} is not supported`);
  }
  if (entry['options'] !== undefined) throw new KustomizeError(`${where}: options are not supported`);
  let text: string;
  if (typeof entry['path'] === 'string') text = readFileSync(path.resolve(dir, entry['path']), 'utf8');
  else if (typeof entry['patch'] === 'string') text = entry['patch'];
  else throw new KustomizeError(`${where}: needs path or patch`);
  const docs = parseYamlDocuments(text, where);
  let target: Target | undefined;
  if (entry['target'] !== undefined) {
    const t = entry['target'];
    if (!isObject(t)) throw new KustomizeError(`${where}: target must be a mapping`);
    for (const key of Object.keys(t)) {
      if (!['group', 'version', 'kind', 'name', 'namespace'].includes(key)) throw new KustomizeError(`${where}: target field ${key} is not supported`);
    }
    target = t as Target;
  }
  if (docs.length === 1 && Array.isArray(docs[0])) {
    if (!target) throw new KustomizeError(`${where}: a JSON 6902 patch needs a target`);
    const ops = docs[0];
    const matched = objects.filter((o) => matchesTarget(o, target!));
    if (matched.length === 0) throw new KustomizeError(`${where}: target matches nothing`);
    return objects.map((o) => (matchesTarget(o, target!) ? (applyJson6902(clone(o) as unknown as Json, ops, where) as unknown as K8sObject) : o));
  }
  let out = objects;
  for (const doc of docs) {
    if (!isObject(doc)) throw new KustomizeError(`${where}: a strategic merge patch must be a mapping`);
    const t: Target = target ?? {
      kind: str(doc['kind'], `${where}: kind`),
      name: str(isObject(doc['metadata']) ? doc['metadata']['name'] : undefined, `${where}: metadata.name`),
      ...apiGroupVersion(str(doc['apiVersion'], `${where}: apiVersion`)),
    };
    const matched = out.filter((o) => matchesTarget(o, t));
    if (matched.length === 0) throw new KustomizeError(`${where}: no object matches ${JSON.stringify(t)}`);
    if (doc['$patch'] === 'delete') {
      out = out.filter((o) => !matchesTarget(o, t));
      continue;
    }
    out = out.map((o) => {
      if (!matchesTarget(o, t)) return o;
      const body = clone(doc);
      // With a target, the patch's own name/kind do not rename the object.
      if (target && isObject(body['metadata'])) delete body['metadata']['name'];
      delete body['apiVersion'];
      delete body['kind'];
      return strategicMerge(o as unknown as JsonObject, body, '') as unknown as K8sObject;
    });
  }
  return out;
}

function apiGroupVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.indexOf('/');
  return i < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

function matchesTarget(o: K8sObject, t: Target): boolean {
  const gv = apiGroupVersion(o.apiVersion);
  if (t.group !== undefined && t.group !== gv.group) return false;
  if (t.version !== undefined && t.version !== gv.version) return false;
  if (t.kind !== undefined && t.kind !== o.kind) return false;
  if (t.name !== undefined && t.name !== o.metadata.name) return false;
  if (t.namespace !== undefined && t.namespace !== (o.metadata.namespace ?? '')) return false;
  return true;
}

/** Strategic-merge list keys, by the list's field name. */
function mergeKey(field: string, items: Json[]): string | null {
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'volumes':
    case 'env':
    case 'imagePullSecrets':
      return 'name';
    case 'volumeMounts':
      return 'mountPath';
    case 'ports':
      return items.some((x) => isObject(x) && 'containerPort' in x) ? 'containerPort' : 'port';
    default:
      return null;
  }
}

export function strategicMerge(base: JsonObject, patch: JsonObject, at: string): JsonObject {
  if (patch['$patch'] === 'replace') {
    const p = clone(patch);
    delete p['$patch'];
    return p;
  }
  const out: JsonObject = clone(base);
  for (const [key, pv] of Object.entries(patch)) {
    if (key === '$patch') throw new KustomizeError(`${at}: unsupported $patch: ${String(pv)}`);
    if (key.startsWith('$')) throw new KustomizeError(`${at}/${key}: directive not supported`);
    const bv = out[key];
    if (pv === null) {
      delete out[key];
    } else if (isObject(pv) && isObject(bv)) {
      out[key] = strategicMerge(bv, pv, `${at}/${key}`);
    } else if (Array.isArray(pv) && Array.isArray(bv)) {
      out[key] = mergeList(key, bv, pv, `${at}/${key}`);
    } else if (Array.isArray(pv)) {
      out[key] = pv.filter((x) => !(isObject(x) && x['$patch'] === 'delete')).map((x) => clone(x));
    } else {
      out[key] = clone(pv);
    }
  }
  return out;
}

function mergeList(field: string, base: Json[], patch: Json[], at: string): Json[] {
  const key = mergeKey(field, [...base, ...patch]);
  if (key === null || !patch.every(isObject) || !base.every(isObject)) return patch.filter((x) => !(isObject(x) && x['$patch'] === 'delete')).map((x) => clone(x));
  // As kustomize's kyaml: the patch's elements first, in the patch's order (merged with the
  // element of the same key), then the base's elements the patch does not name, in their order.
  const rest = (base as JsonObject[]).map((x) => clone(x));
  const out: JsonObject[] = [];
  for (const item of patch as JsonObject[]) {
    const id = item[key];
    if (id === undefined) throw new KustomizeError(`${at}: list element without merge key ${key}`);
    const i = rest.findIndex((x) => x[key] === id);
    const existing = i >= 0 ? rest.splice(i, 1)[0]! : undefined;
    if (item['$patch'] === 'delete') continue;
    out.push(strategicMerge(existing ?? {}, item, `${at}[${key}=${String(id)}]`));
  }
  return [...out, ...rest];
}

// ---------------------------------------------------------------------------------------------
// JSON 6902

function decodePointer(pointer: string, where: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new KustomizeError(`${where}: bad JSON pointer ${pointer}`);
  return pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function applyJson6902(doc: Json, ops: Json[], where: string): Json {
  let root = doc;
  for (const [n, op] of ops.entries()) {
    const w = `${where} op ${n}`;
    if (!isObject(op) || typeof op['op'] !== 'string' || typeof op['path'] !== 'string') throw new KustomizeError(`${w}: needs op and path`);
    const parts = decodePointer(op['path'], w);
    if (parts.length === 0) throw new KustomizeError(`${w}: the root cannot be patched`);
    const last = parts[parts.length - 1]!;
    let parent: Json = root;
    for (const p of parts.slice(0, -1)) {
      parent = child(parent, p, w);
    }
    switch (op['op']) {
      case 'add':
      case 'replace': {
        if (!('value' in op)) throw new KustomizeError(`${w}: needs a value`);
        const value = clone(op['value']!);
        if (Array.isArray(parent)) {
          if (last === '-') {
            if (op['op'] === 'replace') throw new KustomizeError(`${w}: replace at -`);
            parent.push(value);
          } else {
            const i = index(last, parent.length + (op['op'] === 'add' ? 1 : 0), w);
            if (op['op'] === 'add') parent.splice(i, 0, value);
            else parent[i] = value;
          }
        } else if (isObject(parent)) {
          if (op['op'] === 'replace' && !(last in parent)) throw new KustomizeError(`${w}: ${op['path']} does not exist`);
          parent[last] = value;
        } else {
          throw new KustomizeError(`${w}: parent of ${op['path']} is not a container`);
        }
        break;
      }
      case 'remove': {
        if (Array.isArray(parent)) parent.splice(index(last, parent.length, w), 1);
        else if (isObject(parent) && last in parent) delete parent[last];
        else throw new KustomizeError(`${w}: ${op['path']} does not exist`);
        break;
      }
      case 'test': {
        const actual = child(parent, last, w);
        if (JSON.stringify(actual) !== JSON.stringify(op['value'])) throw new KustomizeError(`${w}: test failed at ${op['path']}`);
        break;
      }
      default:
        throw new KustomizeError(`${w}: op ${op['op']} is not supported`);
    }
    root = doc;
  }
  return root;
}

function child(parent: Json, p: string, where: string): Json {
  if (Array.isArray(parent)) return parent[index(p, parent.length, where)]!;
  if (isObject(parent) && p in parent) return parent[p]!;
  throw new KustomizeError(`${where}: path segment ${p} does not exist`);
}

function index(s: string, length: number, where: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(s)) throw new KustomizeError(`${where}: bad array index ${s}`);
  const i = Number(s);
  if (i >= length) throw new KustomizeError(`${where}: index ${i} out of range`);
  return i;
}

// ---------------------------------------------------------------------------------------------
// images

function setImages(o: K8sObject, img: JsonObject): K8sObject {
  const c = clone(o) as K8sObject;
  const visit = (node: Json): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    if (!isObject(node)) return;
    for (const field of ['containers', 'initContainers']) {
      const list = node[field];
      if (Array.isArray(list)) {
        for (const ct of list) {
          if (isObject(ct) && typeof ct['image'] === 'string') ct['image'] = rewriteImage(ct['image'], img);
        }
      }
    }
    for (const v of Object.values(node)) visit(v);
  };
  visit(c as unknown as Json);
  return c;
}

function splitImage(image: string): { name: string; tag?: string; digest?: string } {
  const at = image.indexOf('@');
  if (at >= 0) return { name: image.slice(0, at), digest: image.slice(at + 1) };
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  if (colon > slash) return { name: image.slice(0, colon), tag: image.slice(colon + 1) };
  return { name: image };
}

export function rewriteImage(image: string, img: JsonObject): string {
  const parts = splitImage(image);
  if (parts.name !== img['name']) return image;
  const name = typeof img['newName'] === 'string' ? img['newName'] : parts.name;
  if (typeof img['digest'] === 'string') return `${name}@${img['digest']}`;
  if (typeof img['newTag'] === 'string') return `${name}:${img['newTag']}`;
  if (parts.digest) return `${name}@${parts.digest}`;
  return parts.tag ? `${name}:${parts.tag}` : name;
}

// ---------------------------------------------------------------------------------------------
// utilities

function isObject(x: unknown): x is JsonObject {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function clone<T>(x: T): T {
  return structuredClone(x);
}

function str(x: Json | undefined, what: string): string {
  if (typeof x !== 'string' || x === '') throw new KustomizeError(`${what} must be a non-empty string`);
  return x;
}

function stringList(x: Json | undefined, file: string, field: string): string[] {
  if (x === undefined || x === null) return [];
  if (!Array.isArray(x) || !x.every((e) => typeof e === 'string')) throw new KustomizeError(`${file}: ${field} must be a list of strings`);
  return x as string[];
}

function asObject(d: Json, file: string): K8sObject {
  if (!isObject(d) || typeof d['apiVersion'] !== 'string' || typeof d['kind'] !== 'string' || !isObject(d['metadata']) || typeof d['metadata']['name'] !== 'string') {
    throw new KustomizeError(`${file}: every document needs apiVersion, kind and metadata.name`);
  }
  return d as unknown as K8sObject;
}

export function idOf(o: K8sObject): string {
  return `${o.apiVersion}/${o.kind} ${o.metadata.namespace ? o.metadata.namespace + '/' : ''}${o.metadata.name}`;
}

function sameId(a: K8sObject, b: K8sObject): boolean {
  return apiGroupVersion(a.apiVersion).group === apiGroupVersion(b.apiVersion).group && a.kind === b.kind && a.metadata.name === b.metadata.name && (a.metadata.namespace ?? '') === (b.metadata.namespace ?? '');
}
