/**
 * Whether `value` matches `pattern`, where `*` matches any run of characters and nothing else is special — the
 * `github.com/ryanuber/go-glob` rule Vault uses for `allowed_common_names`, Kubernetes role bindings and more.
 */
export function globMatches(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  if (!pattern.includes('*')) return pattern === value;
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`, 's').test(value);
}
