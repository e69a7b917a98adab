/**
 * A real OTLP/HTTP logs receiver on loopback for tests: each request body (gunzipped when sent so)
 * is decoded with the official OTLP protobuf schema, the protobufjs root the OpenTelemetry JS
 * project generated from opentelemetry-proto (otlp-transformer 0.214's, the last release whose root has logs
 * in it), not with the exporter's own serializer. The test decides each answer.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';

/** An AnyValue as protobufjs decodes it (oneofs: `value` names the member that is set). */
export interface AnyValue {
  value?: 'stringValue' | 'boolValue' | 'intValue' | 'doubleValue' | 'arrayValue' | 'kvlistValue' | 'bytesValue';
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number;
  doubleValue?: number;
  bytesValue?: Uint8Array;
  arrayValue?: { values?: AnyValue[] };
  kvlistValue?: { values?: KeyValue[] };
}
export interface KeyValue {
  key: string;
  value: AnyValue;
}
export interface DecodedRecord {
  timeUnixNano: number;
  severityNumber?: number;
  severityText?: string;
  body?: AnyValue;
  eventName?: string;
  attributes?: KeyValue[];
}
export interface DecodedRequest {
  resourceLogs?: { resource?: { attributes?: KeyValue[] }; scopeLogs?: { scope?: { name?: string }; logRecords?: DecodedRecord[] }[] }[];
}

interface Root {
  opentelemetry: {
    proto: { collector: { logs: { v1: { ExportLogsServiceRequest: { decode(b: Uint8Array): unknown; toObject(m: unknown, o: object): DecodedRequest } } } } };
  };
}
const root = createRequire(import.meta.url)('otlp-transformer-protobufjs/build/src/generated/root.js') as Root;
const ExportLogsServiceRequest = root.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;

/** Decodes one ExportLogsServiceRequest body. */
export function decodeLogsRequest(body: Uint8Array): DecodedRequest {
  return ExportLogsServiceRequest.toObject(ExportLogsServiceRequest.decode(body), { longs: Number, oneofs: true });
}

/** A plain JS value of an AnyValue: lists as arrays, kvlists as objects. */
export function plain(v: AnyValue | undefined): unknown {
  if (v?.value === undefined) return undefined;
  switch (v.value) {
    case 'arrayValue':
      return (v.arrayValue?.values ?? []).map(plain);
    case 'kvlistValue':
      return attrs(v.kvlistValue?.values);
    default:
      return v[v.value];
  }
}

/** Attributes as an object. */
export function attrs(kvs: KeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((kvs ?? []).map((kv) => [kv.key, plain(kv.value)]));
}

/** One received record with its resource's attributes beside it. */
export interface ReceivedRecord {
  resource: Record<string, unknown>;
  scope: string;
  record: DecodedRecord;
  attributes: Record<string, unknown>;
}

/** What the receiver does with request n (0-based): answer with a status, or never answer. */
export type Answer = number | 'hang';

export interface OtlpReceiver {
  url: string;
  /** Requests seen, answered or not. */
  requests: number;
  /** The records of requests answered 2xx, in arrival order. */
  accepted: ReceivedRecord[];
  /** Paths and content types of the requests, for checks. */
  seen: { path: string; contentType: string | undefined; encoding: string | undefined }[];
  /** Resolves once `n` records were accepted. */
  waitAccepted(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts a receiver on 127.0.0.1; `answer(n)` decides request n's fate (200 unless told). */
export async function startOtlpReceiver(answer: (n: number) => Answer = () => 200): Promise<OtlpReceiver> {
  const hanging: http.ServerResponse[] = [];
  let waiters: (() => void)[] = [];
  const r: OtlpReceiver = {
    url: '',
    requests: 0,
    accepted: [],
    seen: [],
    waitAccepted(n, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`receiver: ${r.accepted.length} records accepted, waited for ${n}`)), timeoutMs);
        const check = () => {
          if (r.accepted.length >= n) {
            clearTimeout(t);
            resolve();
            return true;
          }
          return false;
        };
        if (!check()) waiters.push(() => void check());
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((req, res) => {
    const n = r.requests++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      r.seen.push({ path: req.url ?? '', contentType: req.headers['content-type'], encoding: req.headers['content-encoding'] });
      const a = answer(n);
      if (a === 'hang') {
        hanging.push(res);
        return;
      }
      if (a >= 200 && a < 300) {
        const raw = Buffer.concat(chunks);
        const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
        for (const rl of decodeLogsRequest(body).resourceLogs ?? []) {
          const resource = attrs(rl.resource?.attributes);
          for (const sl of rl.scopeLogs ?? [])
            for (const record of sl.logRecords ?? []) r.accepted.push({ resource, scope: sl.scope?.name ?? '', record, attributes: attrs(record.attributes) });
        }
      }
      res.writeHead(a, { 'content-type': 'application/x-protobuf' }).end();
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/logs`;
  return r;
}
