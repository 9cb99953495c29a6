/**
 * The kubelet API's exec endpoint as pure functions: the request (path and
 * query the API server forwards), the WebSocket subprotocols of Kubernetes'
 * remote command streaming (`*.channel.k8s.io`), their framing, and the
 * status a command's end is reported with.
 *
 * Framing (k8s.io/streaming wsstream): every WebSocket message is one
 * channel byte followed by the data; channels 0 stdin, 1 stdout, 2 stderr,
 * 3 error (the final status), 4 resize. `base64.` protocols send text
 * messages: the channel as an ASCII digit, then the data in base64. In
 * `v5.channel.k8s.io` the client may half-close a channel with the two bytes
 * [255, channel] (stdin end-of-file). From v4 on, the status is a JSON
 * metav1.Status (exit code as the cause `ExitCode`); before, only a failure's
 * message.
 */

export const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4 } as const;
const STREAM_CLOSE = 255;

/** What the kubelet offers, most preferred first (current kubectl asks for v5 only). */
export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'channel.k8s.io', 'base64.channel.k8s.io'] as const;

export interface ProtocolTraits {
  base64: boolean;
  /** Status as JSON metav1.Status (v4, v5) rather than a bare error message. */
  jsonStatus: boolean;
  /** [255, channel] half-closes a channel (v5). */
  streamClose: boolean;
}

/** Traits of a negotiated protocol ('' = no Sec-WebSocket-Protocol, served as `channel.k8s.io`). */
export function protocolTraits(protocol: string): ProtocolTraits {
  return {
    base64: protocol.includes('base64.'),
    jsonStatus: protocol.startsWith('v4.') || protocol.startsWith('v5.'),
    streamClose: protocol === 'v5.channel.k8s.io',
  };
}

/** The protocol to answer with: ours most preferred among those offered; undefined when none fits. */
export function chooseProtocol(offered: Iterable<string>): string | undefined {
  const set = new Set([...offered].map((p) => p.trim()));
  return EXEC_PROTOCOLS.find((p) => set.has(p));
}

export interface ExecRequest {
  namespace: string;
  pod: string;
  /** Set when the path carries the pod's UID (`/exec/NS/POD/UID/CONTAINER`). */
  uid?: string;
  container: string;
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** True for the query values Kubernetes' boolean parameters accept as true. */
const truthy = (v: string | null) => v !== null && ['1', 'true', 't', 'yes', 'y'].includes(v.toLowerCase());

/**
 * `/exec/NS/POD[/UID]/CONTAINER?command=..&command=..&input=1&output=1&error=1&tty=1`
 * (the API server's names: input, output, error; stdin, stdout, stderr are
 * accepted too). A string is the reason it is not an exec request.
 */
export function parseExecRequest(rawUrl: string): ExecRequest | string {
  const url = new URL(rawUrl, 'https://kubelet');
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] !== 'exec') return `not an exec path: ${url.pathname}`;
  if (parts.length !== 4 && parts.length !== 5) return `exec path must be /exec/NAMESPACE/POD[/UID]/CONTAINER: ${url.pathname}`;
  const q = url.searchParams;
  const command = q.getAll('command');
  if (command.length === 0) return 'no command given';
  const flag = (a: string, b: string) => truthy(q.get(a)) || truthy(q.get(b));
  const req: ExecRequest = {
    namespace: parts[1]!,
    pod: parts[2]!,
    container: parts[parts.length - 1]!,
    command,
    stdin: flag('input', 'stdin'),
    stdout: flag('output', 'stdout'),
    stderr: flag('error', 'stderr'),
    tty: flag('tty', 'tty'),
  };
  if (parts.length === 5) req.uid = parts[3];
  if (!req.stdin && !req.stdout && !req.stderr) return 'you must specify at least one of stdin, stdout, stderr';
  return req;
}

/** One message on the WebSocket carrying `data` on `channel`. */
export function encodeFrame(channel: number, data: Uint8Array, base64: boolean): Buffer | string {
  if (base64) return String.fromCharCode(48 + channel) + Buffer.from(data).toString('base64');
  const frame = Buffer.allocUnsafe(data.length + 1);
  frame[0] = channel;
  frame.set(data, 1);
  return frame;
}

export type Frame = { kind: 'data'; channel: number; data: Buffer } | { kind: 'close'; channel: number } | { kind: 'empty' } | { kind: 'invalid'; why: string };

/** A message from the client. */
export function decodeFrame(message: Buffer | string, traits: ProtocolTraits): Frame {
  const buf = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
  if (buf.length === 0) return { kind: 'empty' };
  if (traits.streamClose && buf[0] === STREAM_CLOSE) {
    return buf.length === 2 ? { kind: 'close', channel: buf[1]! } : { kind: 'invalid', why: 'a stream close signal carries exactly one channel byte' };
  }
  if (traits.base64) {
    const channel = buf[0]! - 48;
    return { kind: 'data', channel, data: Buffer.from(buf.subarray(1).toString('ascii'), 'base64') };
  }
  return { kind: 'data', channel: buf[0]!, data: buf.subarray(1) };
}

/** The final status of a command: exit code 0 is Success; otherwise NonZeroExitCode with the code as its cause. */
export function exitStatus(code: number): Record<string, unknown> {
  if (code === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: exit status ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

/** A failure to run the command at all (not found, not permitted). */
export function internalErrorStatus(message: string): Record<string, unknown> {
  return { metadata: {}, status: 'Failure', message: `Internal error occurred: ${message}`, reason: 'InternalError', code: 500 };
}

/**
 * The error channel's payload for `status`: JSON for v4/v5; before v4 only
 * a failure's message (success is an empty error channel).
 */
export function statusPayload(status: Record<string, unknown>, traits: ProtocolTraits): Buffer | undefined {
  if (traits.jsonStatus) return Buffer.from(JSON.stringify(status));
  return status.status === 'Success' ? undefined : Buffer.from(String(status.message ?? 'error'));
}

/** The exit code a process's end means to the client: its code, or 128 + signal number as a shell reports it. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null, signals: Record<string, number>): number {
  if (code !== null) return code;
  return 128 + (signal ? (signals[signal] ?? 0) : 0);
}
