import { describe, expect, it } from 'vitest';
import { fitsAllocatable, quantity } from '../../../../src/backends/kubernetes/quantity.js';

describe('Kubernetes quantities', () => {
  it('parses the forms nodes and our manifests use', () => {
    expect(quantity('500m')).toBe(0.5);
    expect(quantity('2')).toBe(2);
    expect(quantity('8Gi')).toBe(8 * 2 ** 30);
    expect(quantity('8023312Ki')).toBe(8023312 * 1024);
    expect(quantity('1e3')).toBe(1000);
    expect(quantity('1G')).toBe(1e9);
    expect(() => quantity('lots')).toThrow(/not a Kubernetes quantity/);
  });

  it('a pod fits a node only if every requested resource is there in that amount', () => {
    const node = { cpu: '2', memory: '8023312Ki', pods: '110' };
    expect(fitsAllocatable({ cpu: '1500m', memory: String(2 ** 30) }, node)).toBe(true);
    expect(fitsAllocatable({ cpu: '64000m' }, node)).toBe(false);
    expect(fitsAllocatable({ memory: String(500 * 2 ** 30) }, node)).toBe(false);
    expect(fitsAllocatable({ 'nvidia.com/gpu': '1' }, node)).toBe(false);
    expect(fitsAllocatable({ 'nvidia.com/gpu': '1' }, { ...node, 'nvidia.com/gpu': '4' })).toBe(true);
  });
});
