import { describe, expect, it } from 'vitest';
import { hostAllowed } from '../../../src/dashboard/server.js';

describe('the dashboard Host check (DNS-rebinding defence)', () => {
  it('answers IP literals, localhost and the names it was given', () => {
    for (const host of ['127.0.0.1:8484', 'localhost:8484', 'LOCALHOST', '[::1]:8484', '10.0.0.5', 'lab-box:8484']) {
      expect(hostAllowed(host, ['lab-box']), host).toBe(true);
    }
  });

  it('refuses any other name, a missing Host and garbage', () => {
    for (const host of ['attacker.example:8484', 'localhost.attacker.example', '127.0.0.1.nip.io', undefined, '', 'a b', 'lab-box.evil']) {
      expect(hostAllowed(host, ['lab-box']), String(host)).toBe(false);
    }
  });
});
