// The authentication exchange of a MySQL/MariaDB session: after the HandshakeResponse41 and after
// COM_CHANGE_USER, until the server's OK or ERR (MySQL documentation, "Authentication Phase").
//
// Packets are relayed, with one exception: caching_sha2_password's full authentication depends on whether
// the connection is secure, and the client's connection (to the proxy) and the server's (from the proxy)
// may differ. Client on TLS, server not: the client sends its password in clear text, which must never cross
// the plain hop, so the proxy does the RSA public-key exchange with the server itself. Client not on TLS,
// server on TLS: the server wants the password in clear text over TLS, the client will only send it
// RSA-encrypted, so the proxy gives the client a public key of its own and decrypts.
//
// Turns are strict: a client packet is read only when the server has asked for one, so a packet the server
// would take as a command after its OK is never relayed as authentication data.
import crypto from 'node:crypto';
import { WireError } from '../wire/bytes.js';
import { decodeAuthSwitchRequest } from '../wire/mysql/decode.js';
import { encodeAuthMoreData } from '../wire/mysql/encode.js';
import { Header, Sha2 } from '../wire/mysql/packets.js';

export const cachingSha2 = 'caching_sha2_password';

export interface AuthLinks {
  /** A payload for the client, framed with the client link's next sequence id. */
  toClient(payload: Buffer): void;
  /** A payload for the server, framed with the server link's next sequence id. */
  toServer(payload: Buffer): void;
  /** The server asked for the client's next packet: read one. */
  clientTurn(): void;
  /** The server answered OK (authenticated) or ERR. */
  finished(ok: boolean): void;
}

type Bridge =
  | 'none'
  /** The server said "perform full authentication"; the client's next packet decides. */
  | 'full'
  /** We asked the server for its public key and hold the client's clear-text password meanwhile. */
  | 'awaitServerKey'
  /** We gave the client our own public key; its next packet is the password encrypted with it. */
  | 'awaitClientRsa';

export class AuthExchange {
  private bridge: Bridge = 'none';
  private password: Buffer | null = null;

  constructor(
    private readonly links: AuthLinks,
    private plugin: string,
    private scramble: Buffer,
    private readonly clientTls: boolean,
    private readonly serverTls: boolean,
  ) {}

  /** A whole packet from the server (its payload). */
  fromServer(p: Buffer): void {
    const header = p.length > 0 ? p[0] : -1;
    if (header === Header.Ok || header === Header.Err) {
      this.password?.fill(0);
      this.links.toClient(p);
      return this.links.finished(header === Header.Ok);
    }
    if (header === Header.Eof) {
      const sw = decodeAuthSwitchRequest(p, 0, p.length);
      this.plugin = sw.pluginName;
      this.scramble = stripNul(sw.pluginData);
      this.bridge = 'none';
    } else if (header === Header.MoreData && this.plugin === cachingSha2) {
      if (this.bridge === 'awaitServerKey') {
        // The server's public key, asked for on the client's behalf: answer with the encrypted password.
        const key = p.subarray(1);
        const encrypted = rsaEncrypt(key, xorRotating(this.password!, this.scramble));
        this.password!.fill(0);
        this.password = null;
        this.bridge = 'none';
        return this.links.toServer(encrypted);
      }
      if (p.length === 2 && p[1] === Sha2.fastAuthSuccess) {
        // The server's OK follows without a word from the client.
        return this.links.toClient(p);
      }
      if (p.length === 2 && p[1] === Sha2.performFullAuthentication && this.clientTls !== this.serverTls) this.bridge = 'full';
    }
    this.links.toClient(p);
    this.links.clientTurn();
  }

  /** A whole packet from the client (its payload); may wait for the proxy's RSA key. */
  async fromClient(p: Buffer): Promise<void> {
    const wantsKey = p.length === 1 && p[0] === Sha2.requestPublicKey;
    if (this.bridge === 'full') {
      this.bridge = 'none';
      if (this.clientTls && !wantsKey) {
        // Clear text from a TLS client, for a server on a plain connection: do the RSA exchange ourselves.
        this.password = Buffer.from(p);
        p.fill(0);
        this.bridge = 'awaitServerKey';
        return this.links.toServer(Buffer.from([Sha2.requestPublicKey]));
      }
      if (!this.clientTls && wantsKey) {
        const key = await proxyRsaKey();
        this.bridge = 'awaitClientRsa';
        this.links.toClient(encodeAuthMoreData(Buffer.from(key.publicPem)));
        return this.links.clientTurn();
      }
    } else if (this.bridge === 'awaitClientRsa') {
      this.bridge = 'none';
      const key = await proxyRsaKey();
      let clear: Buffer;
      try {
        clear = crypto.privateDecrypt({ key: key.privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, p);
      } catch {
        throw new WireError('caching_sha2_password: the client did not encrypt its password with the public key the proxy sent');
      }
      const password = xorRotating(clear, this.scramble);
      clear.fill(0);
      this.links.toServer(password);
      password.fill(0);
      return;
    }
    this.links.toServer(p);
  }
}

function stripNul(data: Buffer): Buffer {
  return data.length > 0 && data[data.length - 1] === 0 ? data.subarray(0, data.length - 1) : data;
}

/** What caching_sha2_password encrypts: the password (with its NUL) XOR the scramble, repeated. */
export function xorRotating(data: Buffer, seed: Buffer): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! ^ (seed.length ? seed[i % seed.length]! : 0);
  return out;
}

function rsaEncrypt(publicPem: Buffer, data: Buffer): Buffer {
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey(publicPem);
  } catch {
    throw new WireError('caching_sha2_password: the server sent a public key that is not a PEM RSA key');
  }
  const out = crypto.publicEncrypt({ key, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, data);
  data.fill(0);
  return out;
}

interface ProxyKey {
  publicPem: string;
  privateKey: crypto.KeyObject;
}

let keyPromise: Promise<ProxyKey> | undefined;

/** The proxy's own RSA key pair, made once per process on first need (it takes a moment: off the event loop). */
export function proxyRsaKey(): Promise<ProxyKey> {
  keyPromise ??= new Promise((resolve, reject) => {
    crypto.generateKeyPair('rsa', { modulusLength: 2048 }, (err, publicKey, privateKey) => {
      if (err) return reject(err);
      resolve({ publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), privateKey });
    });
  });
  return keyPromise;
}
