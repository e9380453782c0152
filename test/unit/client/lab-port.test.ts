import { expect, it } from 'vitest';
import { labRemotePort, newLabId } from '../../../src/client/labs.js';

it("a lab's port is fixed by its id and below Linux's ephemeral ports (32768 on), where a node's own connections could hold it", () => {
  const ports = Array.from({ length: 2000 }, () => labRemotePort(newLabId()));
  expect(Math.min(...ports)).toBeGreaterThanOrEqual(20000);
  expect(Math.max(...ports)).toBeLessThan(32768);
  expect(new Set(ports).size).toBeGreaterThan(1800);
  const id = newLabId();
  expect(labRemotePort(id)).toBe(labRemotePort(id));
});
