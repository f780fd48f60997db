// REST calls (/api/...): JSON in and out, errors in the contract's error shape.
import { noteInstance } from "./instance.js";
import { endLogin, login } from "./login.js";

export const LOGIN_ENDED = "Your session has ended. Please log in again.";

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || (status ? "The server answered " + status + "." :
      "The server could not be reached."));
    this.status = status;
    this.code = error.code || (status ? "http_" + status : "network_error");
    this.fields = error.fields || null;
  }
}

export async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (login.token) headers["Authorization"] = "Bearer " + login.token;
  let res;
  try {
    res = await fetch(path, {
      method, headers, cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, null);
  }
  noteInstance(res.headers.get("X-Instance"));
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (res.ok) return data;
  if (res.status === 401 && login.token && !path.startsWith("/api/auth/")) {
    endLogin(LOGIN_ENDED);
  }
  throw new ApiError(res.status, data);
}

export const roomPath = (name) => "/api/rooms/" + encodeURIComponent(name);
