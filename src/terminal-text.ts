import { StringDecoder } from 'node:string_decoder';

/**
 * Job output is data, never instructions to the user's terminal: escape sequences in it could
 * retitle, recolour, hide or rewrite what is shown (or make some terminals answer back).
 * Tabs, newlines and carriage returns stay (progress bars); every other control goes.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const TERMINAL_CONTROLS = /\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|[ -~])?|[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f]/g;

export const stripTerminalControls = (text: string): string => text.replace(TERMINAL_CONTROLS, '');

/** What to write to `stream`: stripped on a terminal, as it is when redirected (a file keeps the true log). */
export function forTerminal(text: string, stream?: { isTTY?: boolean }): string;
export function forTerminal(text: string | Buffer, stream?: { isTTY?: boolean }): string | Buffer;
export function forTerminal(text: string | Buffer, stream: { isTTY?: boolean } = process.stdout): string | Buffer {
  return stream.isTTY ? stripTerminalControls(typeof text === 'string' ? text : text.toString('utf8')) : text;
}

/**
 * A writer for job output that arrives in pieces (a followed run's live output): on a terminal
 * each piece is decoded (a UTF-8 character split between pieces is kept whole) and stripped; an
 * escape sequence split between pieces cannot survive either, since every ESC is removed on its
 * own. Redirected, the bytes pass as they are.
 */
export function terminalWriter(stream: { isTTY?: boolean; write(chunk: string | Buffer): unknown }): (chunk: string | Buffer) => void {
  if (!stream.isTTY) return (chunk) => void stream.write(chunk);
  const decoder = new StringDecoder('utf8');
  return (chunk) => {
    const text = stripTerminalControls(typeof chunk === 'string' ? chunk : decoder.write(chunk));
    if (text) stream.write(text);
  };
}
