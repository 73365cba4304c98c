// Consistency checks over one rendered overlay that a schema cannot express: resources and
// probes on every container, non-root pods, selectors that select something, references that
// resolve, flags the gptoss command knows. Each returns a list of problems ([] when fine), so a
// test can also assert that a deliberately broken copy is caught.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './paths.js';
import { idOf, type K8sObject } from './k8s-kustomize.js';

// Rendered objects are plain JSON; these checks walk them loosely typed.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

export const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job']);
export const GPTOSS_IMAGE = /(^|\/)gptoss-cluster(-cuda)?(:|@|$)/;

export function workloads(objects: readonly K8sObject[]): K8sObject[] {
  return objects.filter((o) => WORKLOAD_KINDS.has(o.kind));
}

export function podSpec(o: K8sObject): Any {
  return (o as Any).spec?.template?.spec;
}

export function podLabels(o: K8sObject): Record<string, string> {
  return (o as Any).spec?.template?.metadata?.labels ?? {};
}

export function find(objects: readonly K8sObject[], kind: string, name: string): K8sObject | undefined {
  return objects.find((o) => o.kind === kind && o.metadata.name === name);
}

export function container(o: K8sObject, name: string): Any {
  return podSpec(o)?.containers?.find((c: Any) => c.name === name);
}

/** matchLabels only (all this deployment uses); a selector with matchExpressions is reported. */
export function selects(selector: Any, labels: Record<string, string>): boolean {
  if (!selector || typeof selector !== 'object') return false;
  const match: Record<string, string> = selector.matchLabels ?? (selector.matchExpressions ? {} : selector);
  if (selector.matchExpressions) return false;
  const entries = Object.entries(match);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

function selectedWorkloads(objects: readonly K8sObject[], selector: Any): K8sObject[] {
  return workloads(objects).filter((w) => selects(selector, podLabels(w)));
}

/** Every container (init containers included) has requests and a memory limit; main containers have all three probes. */
export function checkContainers(objects: readonly K8sObject[]): string[] {
  const errors: string[] = [];
  for (const w of workloads(objects)) {
    const spec = podSpec(w);
    const all: [Any, boolean][] = [...(spec?.initContainers ?? []).map((c: Any) => [c, false]), ...(spec?.containers ?? []).map((c: Any) => [c, true])];
    if ((spec?.containers ?? []).length === 0) errors.push(`${idOf(w)}: no containers`);
    for (const [c, main] of all) {
      const at = `${idOf(w)} container ${c.name}`;
      const r = c.resources ?? {};
      if (!r.requests?.cpu) errors.push(`${at}: no cpu request`);
      if (!r.requests?.memory) errors.push(`${at}: no memory request`);
      if (!r.limits?.memory) errors.push(`${at}: no memory limit`);
      if (main) {
        for (const p of ['startupProbe', 'readinessProbe', 'livenessProbe']) if (!c[p]) errors.push(`${at}: no ${p}`);
      }
      const image: string = c.image ?? '';
      if (!/[:@]/.test(image.slice(image.lastIndexOf('/') + 1)) || image.endsWith(':latest')) errors.push(`${at}: image "${image}" has no pinned tag`);
      // The "restricted" Pod Security Standard, which the namespace enforces.
      if (c.securityContext?.allowPrivilegeEscalation !== false) errors.push(`${at}: allowPrivilegeEscalation is not false`);
      if (c.securityContext?.privileged) errors.push(`${at}: privileged`);
      if (!(c.securityContext?.capabilities?.drop ?? []).includes('ALL')) errors.push(`${at}: capabilities are not dropped`);
      const seccomp = c.securityContext?.seccompProfile?.type ?? spec?.securityContext?.seccompProfile?.type;
      if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') errors.push(`${at}: no RuntimeDefault seccomp profile`);
    }
  }
  return errors;
}

/** Pods run as a non-root user: runAsNonRoot and a non-zero runAsUser, at pod or container level. */
export function checkNonRoot(objects: readonly K8sObject[], gptossUid: number): string[] {
  const errors: string[] = [];
  for (const w of workloads(objects)) {
    const spec = podSpec(w);
    for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
      const at = `${idOf(w)} container ${c.name}`;
      const nonRoot = c.securityContext?.runAsNonRoot ?? spec?.securityContext?.runAsNonRoot;
      const uid = c.securityContext?.runAsUser ?? spec?.securityContext?.runAsUser;
      if (nonRoot !== true) errors.push(`${at}: runAsNonRoot is not true`);
      if (typeof uid !== 'number' || uid === 0) errors.push(`${at}: runAsUser is not a non-zero uid`);
      if (GPTOSS_IMAGE.test(c.image ?? '') && uid !== gptossUid) errors.push(`${at}: runs as ${uid}, the image's user is ${gptossUid}`);
    }
  }
  return errors;
}

/** Services, PodDisruptionBudgets, NetworkPolicies and ServiceMonitors select something; ports resolve. */
export function checkSelectors(objects: readonly K8sObject[]): string[] {
  const errors: string[] = [];
  for (const o of objects as Any[]) {
    const at = idOf(o);
    if (o.kind === 'Service') {
      const ws = selectedWorkloads(objects, { matchLabels: o.spec?.selector });
      if (ws.length === 0) errors.push(`${at}: selector ${JSON.stringify(o.spec?.selector)} matches no workload`);
      for (const p of o.spec?.ports ?? []) {
        const target = p.targetPort ?? p.port;
        const ok = ws.some((w) =>
          (podSpec(w)?.containers ?? []).some((c: Any) => (c.ports ?? []).some((cp: Any) => (typeof target === 'string' ? cp.name === target : cp.containerPort === target))),
        );
        if (ws.length > 0 && !ok) errors.push(`${at}: port ${p.name ?? p.port} targets ${target}, which no selected container exposes`);
      }
    }
    if (o.kind === 'PodDisruptionBudget' && selectedWorkloads(objects, o.spec?.selector).length === 0) errors.push(`${at}: selector matches no workload`);
    if (o.kind === 'NetworkPolicy') {
      if (selectedWorkloads(objects, o.spec?.podSelector).length === 0) errors.push(`${at}: podSelector matches no workload`);
      for (const rule of [...(o.spec?.ingress ?? []), ...(o.spec?.egress ?? [])]) {
        for (const peer of [...(rule.from ?? []), ...(rule.to ?? [])]) {
          if (peer.podSelector && !peer.namespaceSelector && selectedWorkloads(objects, peer.podSelector).length === 0) {
            errors.push(`${at}: peer podSelector ${JSON.stringify(peer.podSelector)} matches no workload`);
          }
        }
      }
    }
    if (o.kind === 'ServiceMonitor') {
      const svcs = (objects as Any[]).filter((s) => s.kind === 'Service' && selects(o.spec?.selector, s.metadata.labels ?? {}));
      if (svcs.length === 0) errors.push(`${at}: selector matches no Service`);
      for (const e of o.spec?.endpoints ?? []) {
        if (!svcs.some((s) => (s.spec?.ports ?? []).some((p: Any) => p.name === e.port))) errors.push(`${at}: endpoint port ${e.port} is on no selected Service`);
      }
    }
    if (o.kind === 'HorizontalPodAutoscaler') {
      const ref = o.spec?.scaleTargetRef;
      if (!find(objects, ref?.kind, ref?.name)) errors.push(`${at}: scaleTargetRef ${ref?.kind}/${ref?.name} does not exist`);
    }
    if (o.kind === 'StatefulSet') {
      const svc: Any = find(objects, 'Service', o.spec?.serviceName);
      if (!svc) errors.push(`${at}: serviceName ${o.spec?.serviceName} does not exist`);
      else if (svc.spec?.clusterIP !== 'None') errors.push(`${at}: serviceName ${svc.metadata.name} is not headless`);
      else if (!selects({ matchLabels: svc.spec.selector }, podLabels(o))) errors.push(`${at}: headless Service ${svc.metadata.name} does not select its pods`);
    }
    if (WORKLOAD_KINDS.has(o.kind) && !selects(o.spec?.selector, podLabels(o))) errors.push(`${at}: spec.selector does not match its own pod template`);
  }
  return errors;
}

/** ConfigMaps, Secrets, their keys and PVCs that pods reference exist. */
export function checkReferences(objects: readonly K8sObject[]): string[] {
  const errors: string[] = [];
  const keysOf = (kind: string, name: string): Set<string> | undefined => {
    const o: Any = find(objects, kind, name);
    return o ? new Set([...Object.keys(o.data ?? {}), ...Object.keys(o.stringData ?? {})]) : undefined;
  };
  for (const w of workloads(objects)) {
    const spec = podSpec(w);
    for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
      const at = `${idOf(w)} container ${c.name}`;
      for (const src of c.envFrom ?? []) {
        if (src.configMapRef && !keysOf('ConfigMap', src.configMapRef.name) && !src.configMapRef.optional) errors.push(`${at}: ConfigMap ${src.configMapRef.name} does not exist`);
        if (src.secretRef && !keysOf('Secret', src.secretRef.name) && !src.secretRef.optional) errors.push(`${at}: Secret ${src.secretRef.name} does not exist`);
      }
      for (const e of c.env ?? []) {
        for (const [kind, ref] of [['ConfigMap', e.valueFrom?.configMapKeyRef], ['Secret', e.valueFrom?.secretKeyRef]] as const) {
          if (!ref) continue;
          const keys = keysOf(kind, ref.name);
          if (!keys) errors.push(`${at}: env ${e.name}: ${kind} ${ref.name} does not exist`);
          else if (!keys.has(ref.key) && !ref.optional) errors.push(`${at}: env ${e.name}: ${kind} ${ref.name} has no key ${ref.key}`);
        }
      }
      const volumes = new Set((spec?.volumes ?? []).map((v: Any) => v.name));
      const claims = new Set(((w as Any).spec?.volumeClaimTemplates ?? []).map((v: Any) => v.metadata?.name));
      for (const m of c.volumeMounts ?? []) {
        if (!volumes.has(m.name) && !claims.has(m.name)) errors.push(`${at}: volumeMount ${m.name} has no volume`);
      }
    }
    for (const v of spec?.volumes ?? []) {
      if (v.persistentVolumeClaim && !find(objects, 'PersistentVolumeClaim', v.persistentVolumeClaim.claimName)) errors.push(`${idOf(w)}: volume ${v.name}: PVC ${v.persistentVolumeClaim.claimName} does not exist`);
      if (v.configMap && !find(objects, 'ConfigMap', v.configMap.name)) errors.push(`${idOf(w)}: volume ${v.name}: ConfigMap ${v.configMap.name} does not exist`);
      if (v.secret && !find(objects, 'Secret', v.secret.secretName)) errors.push(`${idOf(w)}: volume ${v.name}: Secret ${v.secret.secretName} does not exist`);
    }
  }
  return errors;
}

/** The environment a container sees, as far as the manifests say (fieldRefs as placeholders). */
export function containerEnv(objects: readonly K8sObject[], c: Any): Map<string, string> {
  const env = new Map<string, string>();
  for (const src of c.envFrom ?? []) {
    const o: Any = src.configMapRef ? find(objects, 'ConfigMap', src.configMapRef.name) : src.secretRef ? find(objects, 'Secret', src.secretRef.name) : undefined;
    for (const [k, v] of Object.entries({ ...(o?.data ?? {}), ...(o?.stringData ?? {}) })) env.set((src.prefix ?? '') + k, String(v));
  }
  for (const e of c.env ?? []) {
    if (typeof e.value === 'string') env.set(e.name, e.value);
    else if (e.valueFrom?.fieldRef) env.set(e.name, `<${e.valueFrom.fieldRef.fieldPath}>`);
    else if (e.valueFrom?.configMapKeyRef || e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.configMapKeyRef ?? e.valueFrom.secretKeyRef;
      const o: Any = find(objects, e.valueFrom.configMapKeyRef ? 'ConfigMap' : 'Secret', ref.name);
      const v = o?.data?.[ref.key] ?? o?.stringData?.[ref.key];
      if (v !== undefined) env.set(e.name, String(v));
    }
  }
  return env;
}

/** Kubernetes' $(VAR) expansion of args; unresolved references are reported. */
export function expandArgs(args: readonly string[], env: Map<string, string>, problems: string[], at: string): string[] {
  return args.map((a) =>
    a.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string | undefined) => {
      if (m === '$$') return '$';
      const v = env.get(name!);
      if (v === undefined) {
        problems.push(`${at}: $(${name}) is not defined in the container's environment`);
        return m;
      }
      return v;
    }),
  );
}

/** Flag names a `gptoss <command>` accepts, read from cli/commands/<command>.ts. */
export function cliFlags(command: string): Map<string, string> {
  const src = readFileSync(path.join(REPO_ROOT, 'cli', 'commands', `${command}.ts`), 'utf8');
  const block = /const FLAGS = \{([\s\S]*?)\n\} as const;/.exec(src);
  if (!block) throw new Error(`cli/commands/${command}.ts: no FLAGS block`);
  const flags = new Map<string, string>();
  for (const m of block[1]!.matchAll(/^\s*(?:'([a-z0-9-]+)'|([a-z0-9]+)):\s*\{\s*type:\s*'([a-z]+)'/gm)) flags.set(m[1] ?? m[2]!, m[3]!);
  return flags;
}

/** The gptoss containers' args: a known command, known flags, every $(VAR) resolved, ints that parse. */
export function checkGptossArgs(objects: readonly K8sObject[]): { errors: string[]; resolved: Map<string, { command: string; flags: Map<string, string> }> } {
  const errors: string[] = [];
  const resolved = new Map<string, { command: string; flags: Map<string, string> }>();
  for (const w of workloads(objects)) {
    const spec = podSpec(w);
    for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
      if (!GPTOSS_IMAGE.test(c.image ?? '')) continue;
      const at = `${idOf(w)} container ${c.name}`;
      if (c.command) errors.push(`${at}: overrides the image's ENTRYPOINT`);
      const args = expandArgs(c.args ?? [], containerEnv(objects, c), errors, at);
      const [command, ...rest] = args;
      let known: Map<string, string>;
      try {
        known = cliFlags(command ?? '');
      } catch {
        errors.push(`${at}: "${command}" is not a gptoss command`);
        continue;
      }
      const flags = new Map<string, string>();
      for (let i = 0; i < rest.length; i++) {
        const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(rest[i]!);
        if (!m) {
          errors.push(`${at}: unexpected argument ${rest[i]}`);
          continue;
        }
        const type = known.get(m[1]!);
        if (!type) {
          errors.push(`${at}: gptoss ${command} has no flag --${m[1]}`);
          continue;
        }
        const value = m[2] ?? (type === 'bool' ? 'true' : rest[++i]);
        if (value === undefined || value === '') errors.push(`${at}: --${m[1]} has no value`);
        else if (type === 'int' && !/^[0-9]+$/.test(value)) errors.push(`${at}: --${m[1]}=${value} is not an integer`);
        flags.set(m[1]!, value ?? '');
      }
      resolved.set(`${w.kind}/${w.metadata.name}/${c.name}`, { command: command!, flags });
    }
  }
  return { errors, resolved };
}

export function isGptossWorkload(w: K8sObject): boolean {
  return (podSpec(w)?.containers ?? []).some((c: Any) => GPTOSS_IMAGE.test(c.image ?? ''));
}

/** Ingress sources and ports a NetworkPolicy allows to the pods it selects, as component labels. */
export function allowedIngress(objects: readonly K8sObject[], np: Any): { from: string[]; ports: number[] }[] {
  return (np.spec?.ingress ?? []).map((rule: Any) => ({
    from: rule.from === undefined ? ['*'] : rule.from.map((peer: Any) => (peer.podSelector && !peer.namespaceSelector ? (selectedWorkloads(objects, peer.podSelector).map((w) => w.metadata.name).join('+') || '?') : '*')),
    ports: (rule.ports ?? []).map((p: Any) => p.port),
  }));
}

/** A Kubernetes quantity in bytes or cores: 16Gi, 512Mi, 1536M, 250m, "4". */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q);
  if (!m) throw new Error(`bad quantity ${q}`);
  const unit: Record<string, number> = { '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
  return Number(m[1]) * unit[m[2] ?? '']!;
}
