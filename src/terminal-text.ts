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
