/**
 * A service token: a global symbol that carries the service's type.
 *
 * Tokens are `Symbol.for('krouter/<name>@<major>')` so that a plugin built
 * separately (with its own copy of this SDK) resolves the same service as the
 * host: global symbols are shared across module copies, classes are not.
 */
export type ServiceToken<T> = symbol & { readonly __service?: T };

export function serviceToken<T>(name: string, major: number): ServiceToken<T> {
  return Symbol.for(`krouter/${name}@${major}`) as ServiceToken<T>;
}

/** The type behind a token. */
export type ServiceOf<K> = K extends ServiceToken<infer T> ? T : never;
