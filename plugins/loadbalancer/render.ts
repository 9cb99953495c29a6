import type { V1Service } from '@krouter/sdk';
import type { StatusWrite } from './model.ts';

/**
 * The Service object a status write sends: the Service as decided on (its
 * resourceVersion makes the write fail if it changed since), with
 * status.loadBalancer.ingress replaced. Pure.
 */
export function renderStatus(write: StatusWrite): V1Service {
  const svc = write.service;
  // Field ownership stays the API server's business: no managedFields sent back.
  const { managedFields: _managed, ...metadata } = svc.metadata ?? {};
  return {
    ...svc,
    metadata,
    apiVersion: 'v1',
    kind: 'Service',
    status: {
      ...svc.status,
      loadBalancer: write.ingress.length ? { ingress: write.ingress.map((ip) => ({ ip, ipMode: 'VIP' })) } : {},
    },
  };
}
