/**
 * Azure login (`auth.azure()`), https://developer.hashicorp.com/vault/docs/auth/azure: a managed identity's access
 * token from the Azure Instance Metadata Service (IMDS,
 * https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token), with
 * the instance's subscription, resource group and VM (or scale set) name read from IMDS too, fetched fresh for
 * every login. The IMDS address follows `AZURE_POD_IDENTITY_AUTHORITY_HOST` (as Azure's identity SDK reads it) and
 * can be given as an option.
 */
import { z } from 'zod';
import { VaultError, VaultErrorCode } from '../errors.js';
import { mountPath, parseOptions, positiveInt } from '../validation.js';
import { platformRequest, readJsonString } from './gcp.js';
import { loginRequest } from './methods.js';
import type { AuthMethod } from './types.js';

/** Options of {@link AuthMethods.azure | auth.azure()}. */
export interface AzureAuthOptions {
  /** Vault role. */
  role: string;
  /** Audience of the token; must equal the mount's `resource` (default `https://management.azure.com/`). */
  resource?: string;
  /** Mount path (default `azure`). */
  mount?: string;
  /** Client id of a user-assigned managed identity (default: the system-assigned identity). */
  clientId?: string;
  /** IMDS base URL (default `AZURE_POD_IDENTITY_AUTHORITY_HOST`, then `http://169.254.169.254`). */
  metadataEndpoint?: string;
  /** Bound of each IMDS request in ms (default 10000). */
  timeoutMs?: number;
}

const azureSchema = z.strictObject({
  role: z.string().min(1, 'must name the Vault role'),
  resource: z.string().min(1, 'must not be empty').optional(),
  mount: mountPath.default('azure'),
  clientId: z.string().min(1, 'must not be empty').optional(),
  metadataEndpoint: z
    .string()
    .refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), 'must be an http(s) URL')
    .optional(),
  timeoutMs: positiveInt.optional(),
});

const instanceSchema = z.object({
  compute: z.object({
    subscriptionId: z.string().min(1),
    resourceGroupName: z.string().min(1),
    name: z.string().optional(),
    vmScaleSetName: z.string().optional(),
    resourceId: z.string().optional(),
  }),
});

/** Azure managed-identity login (`POST auth/<mount>/login { role, jwt, subscription_id, resource_group_name, vm_name | vmss_name }`). */
export function azure(options: AzureAuthOptions): AuthMethod {
  const o = parseOptions(azureSchema, options, 'auth.azure');
  const path = `auth/${o.mount}/login`;
  const timeoutMs = o.timeoutMs ?? 10_000;
  const label = 'azure login';
  return {
    type: 'azure',
    mount: o.mount,
    async login(context) {
      const envHost = process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST;
      if (o.metadataEndpoint === undefined && envHost && !/^https?:\/\/[^/]/.test(envHost))
        throw new VaultError(
          VaultErrorCode.CONFIG,
          'AZURE_POD_IDENTITY_AUTHORITY_HOST must be an http(s) URL of the instance metadata service, or pass auth.azure({ metadataEndpoint })',
          { retryable: false },
        );
      const base = (o.metadataEndpoint ?? (envHost || 'http://169.254.169.254')).replace(/\/+$/, '');
      const headers = { Metadata: 'true' };
      const query = new URLSearchParams({
        'api-version': '2018-02-01',
        resource: o.resource ?? 'https://management.azure.com/',
      });
      if (o.clientId) query.set('client_id', o.clientId);
      const tokenText = await platformRequest(
        context,
        `${label}: the instance metadata service's token endpoint`,
        `${base}/metadata/identity/oauth2/token?${query}`,
        { headers },
        timeoutMs,
      );
      const jwt = readJsonString(tokenText, 'access_token', label, 'the IMDS token endpoint');
      const instanceText = await platformRequest(
        context,
        `${label}: the instance metadata service's instance endpoint`,
        `${base}/metadata/instance?api-version=2021-02-01`,
        { headers },
        timeoutMs,
      );
      let parsed: unknown;
      try {
        parsed = JSON.parse(instanceText);
      } catch {
        parsed = undefined;
      }
      const instance = instanceSchema.safeParse(parsed);
      if (!instance.success)
        throw new VaultError(
          VaultErrorCode.UNAVAILABLE,
          `${label}: the IMDS instance endpoint answered without compute.subscriptionId / compute.resourceGroupName`,
          { retryable: true },
        );
      const compute = instance.data.compute;
      const body: Record<string, unknown> = {
        role: o.role,
        jwt,
        subscription_id: compute.subscriptionId,
        resource_group_name: compute.resourceGroupName,
      };
      if (compute.vmScaleSetName) body.vmss_name = compute.vmScaleSetName;
      else if (compute.name) body.vm_name = compute.name;
      return loginRequest(context, 'azure', path, body);
    },
  };
}
