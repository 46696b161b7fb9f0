import type { Readable } from 'node:stream';
import { TAIL_BYTES } from './format.js';

/** Where function log lines go: the pod log (the runtime's stdout) in production. */
export interface LineOutput {
  write(chunk: string): unknown;
}

/** A bounded recording of the log lines of one invocation (or of one init), for `Tail`. */
export class Capture {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number = TAIL_BYTES * 2) {}

  add(line: string): void {
    const b = Buffer.from(line + '\n', 'utf8');
    this.chunks.push(b);
    this.size += b.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.limit && this.chunks.length > 1) {
      this.size -= this.chunks.shift()?.length ?? 0;
    }
  }

  append(other: Capture): void {
    for (const c of other.chunks) this.add(c.toString('utf8').replace(/\n$/, ''));
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/**
 * The log of one execution environment: the function process's stdout and stderr split into lines
 * and the platform's own lines (START, END, REPORT), all written whole to the pod log and copied
 * into whichever captures are open.
 */
export class FunctionLog {
  private captures = new Set<Capture>();

  constructor(private readonly out: LineOutput) {}

  line(text: string): void {
    this.out.write(text + '\n');
    for (const c of this.captures) c.add(text);
  }

  open(capture: Capture = new Capture()): Capture {
    this.captures.add(capture);
    return capture;
  }

  close(capture: Capture): void {
    this.captures.delete(capture);
  }

  /** Splits a process stream into lines; a partial last line is written when the stream ends. */
  attach(stream: Readable): void {
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        this.line(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        nl = pending.indexOf('\n');
      }
    });
    stream.on('end', () => {
      if (pending) this.line(pending);
      pending = '';
    });
  }
}
