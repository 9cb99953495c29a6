/**
 * One `kubectl exec` on a lab node: the command's process wired to an open
 * WebSocket of the remote command protocol (exec-protocol.ts). Its stdout and
 * stderr go out on their channels as they come; stdin comes in on channel 0
 * and ends at the client's half-close (v5) or when the socket closes; once
 * the process has exited and its output is drained, the exit status goes out
 * on the error channel and the socket is closed. A client that goes away
 * takes the process with it (SIGKILL to its process group).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { WebSocket } from 'ws';
import { CHANNEL, decodeFrame, encodeFrame, exitCodeOf, exitStatus, internalErrorStatus, protocolTraits, statusPayload, type ExecRequest } from './exec-protocol.ts';

export function runExecSession(ws: WebSocket, req: ExecRequest, argv: string[], log: (line: string) => void): void {
  const traits = protocolTraits(ws.protocol);
  const send = (channel: number, data: Uint8Array) => {
    if (ws.readyState === ws.OPEN) ws.send(encodeFrame(channel, data, traits.base64));
  };
  // A first empty message on the lowest writable channel tells the client the streams are up (as the kubelet does).
  send(req.stdout ? CHANNEL.stdout : req.stderr ? CHANNEL.stderr : CHANNEL.error, new Uint8Array());

  let finished = false;
  const finish = (status: Record<string, unknown>) => {
    if (finished) return;
    finished = true;
    const payload = statusPayload(status, traits);
    if (payload) send(CHANNEL.error, payload);
    if (ws.readyState === ws.OPEN) ws.close(1000);
  };

  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: [req.stdin ? 'pipe' : 'ignore', req.stdout ? 'pipe' : 'ignore', req.stderr || (req.tty && req.stdout) ? 'pipe' : 'ignore'],
    // Its own process group, so a departed client's command is killed with everything it started.
    detached: true,
  });
  let exited = false;
  child.stdout?.on('data', (d: Buffer) => send(CHANNEL.stdout, d));
  // Without a terminal there is no separate stderr for a tty session: it joins stdout, as on a terminal.
  child.stderr?.on('data', (d: Buffer) => send(req.stderr && !req.tty ? CHANNEL.stderr : CHANNEL.stdout, d));
  child.stdin?.on('error', () => undefined); // the command may exit without reading its input
  child.on('error', (e) => {
    exited = true;
    log(`exec ${req.namespace}/${req.pod}/${req.container}: ${e.message}`);
    finish(internalErrorStatus(e.message));
  });
  // 'close': exited and its stdout/stderr drained, so the status is the last thing sent.
  child.on('close', (code, signal) => {
    exited = true;
    finish(exitStatus(exitCodeOf(code, signal, constants.signals as Record<string, number>)));
  });

  ws.on('message', (message: Buffer, isBinary: boolean) => {
    const frame = decodeFrame(isBinary ? message : message.toString('utf8'), traits);
    if (frame.kind === 'close' && frame.channel === CHANNEL.stdin) child.stdin?.end();
    else if (frame.kind === 'data' && frame.channel === CHANNEL.stdin) child.stdin?.write(frame.data);
    // Resize (channel 4) has no terminal to apply to; anything else is ignored as the kubelet does.
  });
  ws.on('close', () => {
    child.stdin?.end();
    if (!exited && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
  ws.on('error', (e) => log(`exec ${req.namespace}/${req.pod}/${req.container}: socket: ${e.message}`));
}
