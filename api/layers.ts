import { createHash } from 'node:crypto';
import { dnsLabel } from './naming.js';
import { LAYER_VERSION_ARN_PATTERN } from './schema.js';

/**
 * Layer ARNs and LayerVersion object names, shared by the gateway (which publishes and serves
 * layers) and the controller (which unpacks them into /opt). As for functions, the account field
 * of an ARN is the namespace.
 */

/** A layer version named by its ARN. */
export interface LayerVersionRef {
  region: string;
  namespace: string;
  layerName: string;
  version: number;
}

const ARN = new RegExp(LAYER_VERSION_ARN_PATTERN);

/** Parses `arn:aws:lambda:REGION:NAMESPACE:layer:NAME:VERSION`; undefined when it is not one. */
export function parseLayerVersionArn(arn: string): LayerVersionRef | undefined {
  const m = ARN.exec(arn);
  if (!m) return undefined;
  return {
    region: m[1] as string,
    namespace: m[2] as string,
    layerName: m[4] as string,
    version: Number(m[5]),
  };
}

/** The ARN of a layer (all versions): `arn:aws:lambda:REGION:NAMESPACE:layer:NAME`. */
export function layerArn(region: string, namespace: string, layerName: string): string {
  return `arn:aws:lambda:${region}:${namespace}:layer:${layerName}`;
}

/** The ARN of one layer version. */
export function layerVersionArn(
  region: string,
  namespace: string,
  layerName: string,
  version: number,
): string {
  return `${layerArn(region, namespace, layerName)}:${version}`;
}

/**
 * Name of the LayerVersion object for version N of a layer: the layer name lower-cased, `_` as
 * `-`, then `-vN`. Layer names are case-sensitive and may hold `_`, object names may not: a name
 * that had to change gets a short hash of the real one, so `My_Layer` and `my-layer` never meet.
 * The real name is spec.layerName.
 */
export function layerVersionName(layerName: string, version: number): string {
  const plain =
    layerName
      .toLowerCase()
      .replace(/_/g, '-')
      .replace(/^-+|-+$/g, '') || 'layer';
  const base =
    plain === layerName
      ? plain
      : `${plain}-${createHash('sha256').update(layerName).digest('hex').slice(0, 8)}`;
  return `${dnsLabel(base)}-v${version}`;
}
