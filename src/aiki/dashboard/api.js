// The JSON API, as the client uses it: GET/POST under /api/v1 with the API key (if any) as a Bearer token.
// The key lives in sessionStorage: it is forgotten when the tab closes, or at sign-out.

const PREFIX = "/api/v1";
const KEY = "aiki.apiKey";

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY);
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

let onUnauthorized = () => {};
export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

export async function api(path, { method = "GET", body, query } = {}) {
  const url = new URL(PREFIX + path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "") continue;
    url.searchParams.set(name, Array.isArray(value) ? value.join(",") : String(value));
  }
  const headers = { Accept: "application/json" };
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiError(0, "ServerUnreachable", `The server cannot be reached (${error.message}).`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    const failure = new ApiError(
      response.status,
      error.type || "HttpError",
      error.message || `${method} ${path} answered ${response.status} ${response.statusText}.`,
    );
    if (response.status === 401) onUnauthorized(failure);
    throw failure;
  }
  return data;
}

export const post = (path, body) => api(path, { method: "POST", body: body === undefined ? {} : body });

// A run's endpoints, with the id escaped.
export const runPath = (id, rest = "") => `/runs/${encodeURIComponent(id)}${rest}`;
