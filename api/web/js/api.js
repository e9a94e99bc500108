// The one way pages talk to /api/v1: bearer token of the session (session.js), JSON in and out. A 401 is
// never the end of the user's work: the token is renewed, or the password asked for in place, and the
// request sent again.

import { reauthenticate, renew, signIn, signInWithCertificate, signOut, token } from "./session.js";

export const API = "/api/v1";

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

export { token, signIn, signInWithCertificate, signOut };

/**
 * Call the API. `options`: method, json (a body to send as JSON), headers, raw (return the Response).
 * Answers the parsed JSON (null for 204), or throws ApiError.
 */
export async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const current = token.get();
  if (current) headers.Authorization = `Bearer ${current}`;
  const init = { method: options.method || "GET", headers };
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.json);
  }
  const url = path.startsWith("/") ? path : `${API}/${path}`;
  let response = await fetch(url, init);
  if (response.status === 401 && current) {
    // The token lapsed (renew it) or the session ended (ask for the password over the page): then again.
    if (!(await renew())) await reauthenticate();
    headers.Authorization = `Bearer ${token.get()}`;
    response = await fetch(url, init);
  }
  if (response.status === 401) {
    signOut();
    throw new ApiError(401, "unauthenticated", "sign in again");
  }
  if (options.raw) {
    if (!response.ok) throw await errorOf(response);
    return response;
  }
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return null;
  const body = await response.json();
  const etag = response.headers.get("ETag");
  if (etag && body && typeof body === "object") Object.defineProperty(body, "etag", { value: etag });
  return body;
}

async function errorOf(response) {
  const body = await response.json().catch(() => ({}));
  return new ApiError(response.status, body.code, body.detail);
}

/**
 * An image the API serves behind the bearer token, as a data: URL: img elements cannot send the header, and
 * the CSP (img-src 'self' data:) refuses blob: URLs.
 */
export async function imageDataUrl(path) {
  const response = await api(path, { raw: true, headers: { Accept: "image/*" } });
  const blob = await response.blob();
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}
