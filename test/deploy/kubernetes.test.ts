/**
 * deploy/kubernetes: every manifest checked against the published Kubernetes (and
 * prometheus-operator) OpenAPI schemas, as compiled to ajv validators by kubernetes-models, and
 * against the same package's types for misspelt fields (which the schemas let through); the
 * pieces fit each other; the config loads; and the DaemonSet holds no capability that
 * deploy/kubernetes/README.md does not justify.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { hostEnv, parseConfig } from '../../src/config/load.js';
import { impossibleAction } from '../../src/doctor/needs.js';
import { ROOT } from '../helpers/cli.js';

const DIR = path.join(ROOT, 'deploy/kubernetes');

/** apiVersion/kind -> the model (its validate() is the schema's) and its type for the field check. */
const KINDS: Record<string, { model: new (data: never) => { validate(): void }; module: string; type: string }> = {
  'v1/Namespace': { model: Namespace, module: 'kubernetes-models/v1/Namespace', type: 'INamespace' },
  'v1/ServiceAccount': { model: ServiceAccount, module: 'kubernetes-models/v1/ServiceAccount', type: 'IServiceAccount' },
  'v1/ConfigMap': { model: ConfigMap, module: 'kubernetes-models/v1/ConfigMap', type: 'IConfigMap' },
  'v1/Service': { model: Service, module: 'kubernetes-models/v1/Service', type: 'IService' },
  'apps/v1/DaemonSet': { model: DaemonSet, module: 'kubernetes-models/apps/v1/DaemonSet', type: 'IDaemonSet' },
  'rbac.authorization.k8s.io/v1/ClusterRole': {
    model: ClusterRole,
    module: 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole',
    type: 'IClusterRole',
  },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': {
    model: ClusterRoleBinding,
    module: 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding',
    type: 'IClusterRoleBinding',
  },
  'monitoring.coreos.com/v1/PodMonitor': {
    model: PodMonitor,
    module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor',
    type: 'IPodMonitor',
  },
};

interface Doc {
  file: string;
  obj: {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
    [k: string]: unknown;
  };
}

const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
const docs: Doc[] = files.flatMap((file) =>
  YAML.parseAllDocuments(fs.readFileSync(path.join(DIR, file), 'utf8')).map((d) => {
    if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
    return { file, obj: d.toJS() as Doc['obj'] };
  }),
);
const one = <T = Doc['obj']>(kind: string) => docs.find((d) => d.obj.kind === kind)!.obj as T;

/* eslint-disable @typescript-eslint/no-explicit-any */
const ds = one<any>('DaemonSet');
const pod = ds.spec.template.spec;
const container = pod.containers[0];

describe('deploy/kubernetes manifests', () => {
  it('has the objects a DaemonSet install needs', () => {
    expect(docs.map((d) => `${d.obj.apiVersion}/${d.obj.kind}`).sort()).toEqual(Object.keys(KINDS).sort());
  });

  it.each(docs.map((d) => [`${d.file}: ${d.obj.kind} ${d.obj.metadata.name}`, d] as const))('%s is valid against its schema', (_name, d) => {
    const k = KINDS[`${d.obj.apiVersion}/${d.obj.kind}`];
    expect(k, `no schema for ${d.obj.apiVersion} ${d.obj.kind}`).toBeDefined();
    expect(() => new k.model(d.obj as never).validate()).not.toThrow();
  });

  it('a schema check does catch a broken manifest (the validators are not vacuous)', () => {
    const broken = structuredClone(ds);
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'metrics';
    expect(() => new DaemonSet(broken).validate()).toThrow(/containerPort/);
  });

  it('names no field its API does not have (TypeScript excess-property check against the same types)', () => {
    const diagnostics = typeCheck(docs);
    expect(diagnostics).toEqual([]);
    // And the check bites:
    const typo = structuredClone(ds);
    typo.spec.template.spec.containers[0].securityContext.capabilites = typo.spec.template.spec.containers[0].securityContext.capabilities;
    expect(typeCheck([{ file: 'typo.yaml', obj: typo }]).join('\n')).toMatch(/'"?capabilites"?' does not exist/);
  }, 60_000);

  it('kustomization.yaml lists every manifest but the PodMonitor (whose CRD may be missing)', () => {
    const k = YAML.parse(fs.readFileSync(path.join(DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect([...k.resources].sort()).toEqual(files.filter((f) => f !== 'podmonitor.yaml').sort());
  });

  it('fits together: namespace, selectors, ports, probes, service account', () => {
    const labels = ds.spec.template.metadata.labels;
    for (const d of docs) if (d.obj.kind !== 'Namespace' && !d.obj.kind.startsWith('Cluster')) expect(d.obj.metadata.namespace, d.file).toBe('forkwatch');
    expect(ds.spec.selector.matchLabels).toEqual(labels);
    const svc = one<any>('Service');
    const pm = one<any>('PodMonitor');
    for (const sel of [svc.spec.selector, pm.spec.selector.matchLabels]) for (const [k, v] of Object.entries(sel)) expect(labels[k]).toBe(v);
    const port = container.ports.find((p: { name: string }) => p.name === 'metrics');
    expect(svc.metadata.annotations['prometheus.io/port']).toBe(String(port.containerPort));
    expect(svc.spec.ports[0].targetPort).toBe('metrics');
    expect(pm.spec.podMetricsEndpoints[0].port).toBe('metrics');
    for (const probe of [container.readinessProbe, container.livenessProbe]) expect(probe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(pod.serviceAccountName).toBe(one<any>('ServiceAccount').metadata.name);
    const binding = one<any>('ClusterRoleBinding');
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'forkwatch', namespace: 'forkwatch' }]);
    // Least privilege: list and watch this node's pods; get the ReplicaSets and Jobs that own them.
    expect(one<any>('ClusterRole').rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
      { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get'] },
      { apiGroups: ['batch'], resources: ['jobs'], verbs: ['get'] },
    ]);
  });

  it('sees the host: its pids, BTF read-only, the cgroup tree, a socket directory on the node; the node name from spec.nodeName', () => {
    expect(pod.hostPID).toBe(true);
    expect(pod.hostNetwork).toBeUndefined();
    const mounts = Object.fromEntries(container.volumeMounts.map((m: { mountPath: string }) => [m.mountPath, m]));
    const volumes = Object.fromEntries(pod.volumes.map((v: { name: string }) => [v.name, v]));
    const host = (mountPath: string) => volumes[mounts[mountPath].name].hostPath;
    expect(host('/sys/kernel/btf')).toEqual({ path: '/sys/kernel/btf', type: 'Directory' });
    expect(mounts['/sys/kernel/btf'].readOnly).toBe(true);
    expect(host('/sys/fs/cgroup')).toEqual({ path: '/sys/fs/cgroup', type: 'Directory' });
    expect(host('/run/forkwatch')).toEqual({ path: '/run/forkwatch', type: 'DirectoryOrCreate' });
    expect(container.env).toContainEqual({ name: 'FORKWATCH_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
    expect(container.resources.limits).toMatchObject({ memory: expect.any(String), cpu: expect.any(String) });
    expect(container.resources.requests).toMatchObject({ memory: expect.any(String), cpu: expect.any(String) });
  });

  it("the ConfigMap's config loads, listens on the pod IP at the probed port, and puts the socket on the mounted directory", () => {
    const cm = one<any>('ConfigMap');
    const config = parseConfig(cm.data['forkwatch.yaml'], 'configmap.yaml', hostEnv({ FORKWATCH_NODE_NAME: 'node-a' }));
    expect(config.node_name).toBe('node-a');
    expect(config.listen).toEqual({ host: '0.0.0.0', port: container.ports[0].containerPort });
    expect(path.dirname(config.api.socket)).toBe('/run/forkwatch');
    expect(config.api.token_file).toBeUndefined(); // /events stays off TCP unless a token is added
    expect(config.kubernetes?.pods_url).toContain('fieldSelector=spec.nodeName={node}');
    const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
    expect(config.kubernetes).toMatchObject({ token_file: `${sa}/token`, ca_file: `${sa}/ca.crt` });
    expect(container.args).toEqual([
      'run',
      '--config',
      `${container.volumeMounts.find((m: { name: string }) => m.name === 'config').mountPath}/forkwatch.yaml`,
    ]);
  });

  it("asks for no action the pod's capabilities and read-only mounts cannot carry out (the agent would refuse to start)", () => {
    const cm = one<any>('ConfigMap');
    const config = parseConfig(cm.data['forkwatch.yaml'], 'configmap.yaml', hostEnv({ FORKWATCH_NODE_NAME: 'node-a' }));
    const bits: Record<string, bigint> = { BPF: 39n, PERFMON: 38n, KILL: 5n, SETGID: 6n, SETUID: 7n, DAC_OVERRIDE: 1n, SYS_PTRACE: 19n };
    const caps = (container.securityContext.capabilities.add as string[]).reduce((c, name) => c | (1n << bits[name]), 0n);
    const mount = (name: string) => container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === name);
    const ro = (p: string) => `${p} is on a read-only file system (EROFS)`;
    const host = {
      caps,
      cgroupUnwritable: mount('/sys/fs/cgroup')?.readOnly ? ro('/sys/fs/cgroup') : null,
      programsUnwritable: mount('/sys/fs/cgroup')?.readOnly ? ro('/sys/fs/cgroup') : null,
      limitsUnwritable: () => (mount('/sys/fs/cgroup')?.readOnly ? ro('/sys/fs/cgroup') : null),
      // readOnlyRootFilesystem: only the volumes mounted read-write can be written.
      unwritable: (dir: string) =>
        container.volumeMounts.some((m: { mountPath: string; readOnly?: boolean }) => !m.readOnly && dir.startsWith(m.mountPath)) ? null : ro(dir),
    };
    expect(caps).toBe((1n << 39n) | (1n << 38n));
    expect(impossibleAction(config, host)).toBeUndefined();
    // And the check bites here: the example config's kill would be refused in this pod.
    const example = parseConfig(fs.readFileSync(path.join(ROOT, 'deploy/forkwatch.example.yaml'), 'utf8'), 'forkwatch.example.yaml', hostEnv());
    expect(impossibleAction(example, host)).toMatch(/kill cannot work where the agent runs: it lacks CAP_KILL/);
  });

  it('holds only the capabilities deploy/kubernetes/README.md justifies, and no privilege besides', () => {
    const sc = container.securityContext;
    expect(sc.privileged).toBe(false);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.capabilities.drop).toEqual(['ALL']);
    expect(pod.securityContext?.sysctls).toBeUndefined();
    const justified = capabilityTable();
    const inManifest = [...sc.capabilities.add].sort();
    // Every capability in the manifest is in the table as "yes", and every "yes" is in the manifest.
    expect(inManifest).toEqual(
      justified
        .filter((c) => c.granted)
        .map((c) => c.name)
        .sort(),
    );
    for (const c of justified) expect(c.why.length, `why ${c.name}`).toBeGreaterThan(20);
    // The usual suspects are discussed, so their absence is a decision.
    for (const name of ['SYS_ADMIN', 'SYS_RESOURCE', 'SYS_PTRACE', 'KILL', 'DAC_OVERRIDE']) expect(justified.map((c) => c.name)).toContain(name);
  });
});

/** The README's capability table: | `NAME` | yes/no … | why |. */
function capabilityTable(): { name: string; granted: boolean; why: string }[] {
  const text = fs.readFileSync(path.join(DIR, 'README.md'), 'utf8');
  const section = /## Capabilities\n([\s\S]*?)(?=\n## )/.exec(text)?.[1] ?? '';
  const rows: { name: string; granted: boolean; why: string }[] = [];
  for (const [, names, granted, why] of section.matchAll(/^\| ((?:`[A-Z_]+`(?:, )?)+) \| (yes|no)[^|]* \| (.+) \|$/gm)) {
    for (const [, name] of names.matchAll(/`([A-Z_]+)`/g)) rows.push({ name, granted: granted === 'yes', why });
  }
  expect(rows.length, 'the Capabilities table in deploy/kubernetes/README.md').toBeGreaterThan(2);
  return rows;
}

/** Type-checks each manifest as an object literal of its kubernetes-models type; returns the errors. */
function typeCheck(list: Doc[]): string[] {
  const file = path.join(ROOT, 'test/deploy/__manifests__.ts');
  const lines: string[] = [];
  list.forEach((d, i) => {
    const k = KINDS[`${d.obj.apiVersion}/${d.obj.kind}`];
    lines.push(`import type { ${k.type} as T${i} } from '${k.module}';`);
  });
  list.forEach((d, i) => lines.push(`// ${d.file}\nexport const m${i}: T${i} = ${JSON.stringify(d.obj)};`));
  const source = lines.join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (name === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (name === file ? source : readFile(name));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) => {
    const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    const manifest = where >= 0 ? (source.split('\n')[where - 1] ?? '') : '';
    return `${manifest} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}
