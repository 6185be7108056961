// What the proxy changes in the connection phase (MySQL documentation, "Connection Phase"): the capabilities
// it offers the client in the server's greeting, and the ones it passes on in the client's answer. Pure
// functions of the decoded packets.
import type { MysqlContext } from '../classify/index.js';
import * as dec from '../wire/mysql/decode.js';
import { Cap, MariaCap, Status, versionNumber } from '../wire/mysql/packets.js';

/** Capabilities that would hide the protocol from the proxy (compression) or change packets it decodes. */
export const clearedCaps = Cap.Compress | Cap.ZstdCompression | Cap.QueryAttributes | Cap.OptionalResultsetMetadata;
/** MariaDB: metadata caching would leave result sets without the column definitions masking needs. */
export const clearedMariaCaps = MariaCap.CacheMetadata | MariaCap.ComMulti;

/** The greeting as the client sees it: TLS offered when the listener accepts it, never otherwise. */
export function greetingForClient(g: dec.HandshakeV10, tlsOffered: boolean): dec.HandshakeV10 {
  let capabilities = (g.capabilities & ~clearedCaps) >>> 0;
  capabilities = (tlsOffered ? capabilities | Cap.Ssl : capabilities & ~Cap.Ssl) >>> 0;
  const mariaCapabilities = dec.hasMariaCapabilities(g.capabilities) ? (g.mariaCapabilities & ~clearedMariaCaps) >>> 0 : g.mariaCapabilities;
  return { ...g, capabilities, mariaCapabilities };
}

/** The client's HandshakeResponse41 as the server gets it; CLIENT_SSL is the proxy's own choice, set later. */
export function responseForServer(hr: dec.HandshakeResponse41): dec.HandshakeResponse41 {
  return {
    ...hr,
    capabilities: (hr.capabilities & ~clearedCaps & ~Cap.Ssl) >>> 0,
    mariaCapabilities: dec.hasMariaCapabilities(hr.capabilities) ? (hr.mariaCapabilities & ~clearedMariaCaps) >>> 0 : hr.mariaCapabilities,
  };
}

export interface Agreement {
  /** Capabilities both the client and the (proxied) server have. */
  capabilities: number;
  deprecateEof: boolean;
  /** MariaDB extended column metadata (type names such as json, uuid) in column definitions. */
  extendedMetadata: boolean;
}

export function agreement(hr: dec.HandshakeResponse41, offered: dec.HandshakeV10): Agreement {
  const capabilities = (hr.capabilities & offered.capabilities) >>> 0;
  const maria = dec.hasMariaCapabilities(hr.capabilities) && dec.hasMariaCapabilities(offered.capabilities);
  return {
    capabilities,
    deprecateEof: (capabilities & Cap.DeprecateEof) !== 0,
    extendedMetadata: maria && (hr.mariaCapabilities & offered.mariaCapabilities & MariaCap.ExtendedMetadata) !== 0,
  };
}

/** How the server reads SQL, as far as its greeting tells. */
export function contextOfGreeting(g: dec.HandshakeV10): MysqlContext {
  return {
    dialect: 'mysql',
    serverVersion: versionNumber(g.serverVersion),
    mariadb: /mariadb/i.test(g.serverVersion),
    noBackslashEscapes: (g.statusFlags & Status.NoBackslashEscapes) !== 0,
  };
}
