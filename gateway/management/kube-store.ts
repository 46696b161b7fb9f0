import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../api/schema.js';
import type { AliasResource, FunctionResource, LayerVersionResource } from '../../api/types.js';
import { ValidationError } from '../../lib/index.js';
import {
  AlreadyExistsError,
  ConflictError,
  type FunctionObjectStore,
  type ManagementStore,
} from './store.js';

const FIELD_MANAGER = 'sluice-gateway';

const codeOf = (err: unknown): unknown => (err as { code?: unknown }).code;

/** The API server refused the object (CRD validation, an admission policy): its message, as a 400. */
function refused(err: unknown): Error | undefined {
  if (codeOf(err) !== 422 && codeOf(err) !== 400 && codeOf(err) !== 403) return undefined;
  // A 403 here is an admission policy (the gateway's own RBAC allows the write).
  let message = 'the API server refused the object';
  try {
    message = String((JSON.parse(String((err as { body?: unknown }).body)) as { message?: string }).message);
  } catch {
    // keep the generic message
  }
  return new ValidationError(message, { cause: err });
}

/** Functions, LayerVersions and Aliases on the API server, read fresh (not from the gateway's caches). */
export class KubeManagementStore implements ManagementStore, FunctionObjectStore {
  private readonly api: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  private ref(
    namespace: string,
    plural: string,
  ): { group: string; version: string; namespace: string; plural: string } {
    return { group: GROUP, version: VERSION, namespace, plural };
  }

  async getFunction(namespace: string, name: string): Promise<FunctionResource | undefined> {
    try {
      return (await this.api.getNamespacedCustomObject({
        ...this.ref(namespace, 'functions'),
        name,
      })) as FunctionResource;
    } catch (err) {
      if (codeOf(err) === 404) return undefined;
      throw err;
    }
  }

  async createFunction(fn: FunctionResource): Promise<FunctionResource> {
    return this.create(fn, 'functions') as Promise<FunctionResource>;
  }

  async replaceFunction(fn: FunctionResource): Promise<FunctionResource> {
    return this.replace(fn, 'functions') as Promise<FunctionResource>;
  }

  async listFunctions(namespace: string): Promise<FunctionResource[]> {
    const list = (await this.api.listNamespacedCustomObject(this.ref(namespace, 'functions'))) as {
      items: FunctionResource[];
    };
    return list.items;
  }

  async listAliases(namespace: string, fn: string): Promise<AliasResource[]> {
    const list = (await this.api.listNamespacedCustomObject(this.ref(namespace, 'aliases'))) as {
      items: AliasResource[];
    };
    return list.items.filter((a) => a.spec.function === fn);
  }

  async createAlias(alias: AliasResource): Promise<AliasResource> {
    return this.create(alias, 'aliases') as Promise<AliasResource>;
  }

  async replaceAlias(alias: AliasResource): Promise<AliasResource> {
    return this.replace(alias, 'aliases') as Promise<AliasResource>;
  }

  async deleteAlias(namespace: string, name: string): Promise<boolean> {
    return this.delete(namespace, 'aliases', name);
  }

  private async replace(o: FunctionResource | AliasResource, plural: string): Promise<unknown> {
    try {
      return await this.api.replaceNamespacedCustomObject({
        ...this.ref(o.metadata.namespace ?? 'default', plural),
        name: o.metadata.name ?? '',
        body: o,
        fieldManager: FIELD_MANAGER,
      });
    } catch (err) {
      if (codeOf(err) === 409)
        throw new ConflictError(`${o.metadata.name ?? ''} changed meanwhile`, { cause: err });
      throw refused(err) ?? err;
    }
  }

  async deleteFunction(namespace: string, name: string): Promise<boolean> {
    return this.delete(namespace, 'functions', name);
  }

  async listLayerVersions(namespace: string, layerName?: string): Promise<LayerVersionResource[]> {
    const list = (await this.api.listNamespacedCustomObject(this.ref(namespace, 'layerversions'))) as {
      items: LayerVersionResource[];
    };
    return list.items.filter((l) => layerName === undefined || l.spec.layerName === layerName);
  }

  async createLayerVersion(lv: LayerVersionResource): Promise<LayerVersionResource> {
    return this.create(lv, 'layerversions') as Promise<LayerVersionResource>;
  }

  async deleteLayerVersion(namespace: string, name: string): Promise<boolean> {
    return this.delete(namespace, 'layerversions', name);
  }

  private async create(
    o: FunctionResource | LayerVersionResource | AliasResource,
    plural: string,
  ): Promise<unknown> {
    try {
      return await this.api.createNamespacedCustomObject({
        ...this.ref(o.metadata.namespace ?? 'default', plural),
        body: o,
        fieldManager: FIELD_MANAGER,
      });
    } catch (err) {
      if (codeOf(err) === 409)
        throw new AlreadyExistsError(`${o.metadata.name ?? ''} exists`, { cause: err });
      throw refused(err) ?? err;
    }
  }

  private async delete(namespace: string, plural: string, name: string): Promise<boolean> {
    try {
      await this.api.deleteNamespacedCustomObject({ ...this.ref(namespace, plural), name });
      return true;
    } catch (err) {
      if (codeOf(err) === 404) return false;
      throw err;
    }
  }
}
