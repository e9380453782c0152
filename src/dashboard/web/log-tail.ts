/** Lines of log the page keeps: a run printing 100,000 lines keeps a small DOM and a cheap re-layout. */
export const KEEP_LINES = 2000;
/** Characters kept at most, for runs whose lines are very long (or never end). */
export const KEEP_CHARS = 200_000;

const newlines = (s: string) => {
  let n = 0;
  for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) n++;
  return n;
};

/**
 * The end of `text` within KEEP_LINES lines and KEEP_CHARS characters, cut at a line start where
 * it can be, and how many lines were let go (a line cut in its middle counts as let go).
 */
export function keepTail(text: string, keepLines = KEEP_LINES, keepChars = KEEP_CHARS): { kept: string; droppedLines: number } {
  // Walk back over the last keepLines line ends (a final newline ends the last line, it starts none).
  let cut = text.length - (text.endsWith('\n') ? 1 : 0);
  for (let n = 0; n < keepLines && cut >= 0; n++) cut = cut === 0 ? -1 : text.lastIndexOf('\n', cut - 1);
  let start = cut + 1;
  if (text.length - start > keepChars) {
    const at = text.length - keepChars;
    const next = text.indexOf('\n', at - 1);
    start = next >= 0 && next < text.length - 1 ? next + 1 : at;
  }
  if (start === 0) return { kept: text, droppedLines: 0 };
  const dropped = text.slice(0, start);
  return { kept: text.slice(start), droppedLines: newlines(dropped) + (dropped.endsWith('\n') ? 0 : 1) };
}
