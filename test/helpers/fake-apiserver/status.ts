/** Kubernetes `Status` errors, thrown inside handlers and written as the response. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }

  toStatus(): Record<string, unknown> {
    return statusObject(this.code, this.reason, this.message, this.details);
  }
}

export function statusObject(code: number, reason: string, message: string, details?: Record<string, unknown>): Record<string, unknown> {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: code < 400 ? 'Success' : 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

export const badRequest = (message: string): ApiError => new ApiError(400, 'BadRequest', message);

export function notFound(plural: string, group: string, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${plural}${group ? '.' + group : ''} "${name}" not found`, { name, group: group || undefined, kind: plural });
}

export function alreadyExists(plural: string, group: string, name: string): ApiError {
  return new ApiError(409, 'AlreadyExists', `${plural}${group ? '.' + group : ''} "${name}" already exists`, { name, group: group || undefined, kind: plural });
}

export function conflict(plural: string, group: string, name: string, why = 'the object has been modified; please apply your changes to the latest version and try again'): ApiError {
  return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${plural}${group ? '.' + group : ''} "${name}": ${why}`, { name, group: group || undefined, kind: plural });
}

export function invalid(kind: string, name: string, field: string, why: string): ApiError {
  return new ApiError(422, 'Invalid', `${kind} "${name}" is invalid: ${field}: ${why}`, { name, kind, causes: [{ reason: 'FieldValueInvalid', message: why, field }] });
}

export const expired = (message: string): ApiError => new ApiError(410, 'Expired', message);
