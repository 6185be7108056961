// Talking to the console's JSON API from tests, as a reviewer.
import type { RequestView } from '../../src/approval/broker.js';
import type { StartedProxy } from './proxy.js';

export async function consoleApi(p: StartedProxy, method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${p.app.consoleUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: await res.json() };
}

/** Waits (up to 4 s) for a pending request whose SQL contains `marker`. */
export async function pendingRequest(p: StartedProxy, marker: string, token: string): Promise<RequestView> {
  for (let i = 0; i < 200; i++) {
    const { json } = await consoleApi(p, 'GET', '/api/requests?status=pending', token);
    const found = (json as RequestView[]).find((r) => r.sql.includes(marker));
    if (found) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no pending request for ${marker}`);
}
