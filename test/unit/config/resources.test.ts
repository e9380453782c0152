import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, parseMemory } from '../../../src/config/resources.js';

describe('resource parsing', () => {
  it.each([
    ['512M', 512 * 2 ** 20],
    ['4G', 4 * 2 ** 30],
    ['1.5g', 1.5 * 2 ** 30],
    ['2Gi', 2 * 2 ** 30],
    ['8388608', 8388608],
  ])('memory %s', (text, bytes) => expect(parseMemory(text)).toBe(bytes));

  it.each(['', 'lots', '4X', '-1G', '1K'])('rejects memory %j', (text) => expect(() => parseMemory(text)).toThrow(/invalid memory/));

  it.each([
    ['90s', 90],
    ['30m', 1800],
    ['1h30m', 5400],
    ['2d', 172800],
    ['1:00:00', 3600],
    ['05:00', 300],
  ])('time %s', (text, seconds) => expect(parseDuration(text)).toBe(seconds));

  it.each(['', 'soon', '1x', '0s', '1:2'])('rejects time %j', (text) => expect(() => parseDuration(text)).toThrow(/invalid time/));

  it('formats durations as H:MM:SS', () => expect(formatDuration(3725)).toBe('1:02:05'));
});
