// The console's only way to the server: the public HTTP API, with the signed-in key as a bearer token.
// Errors arrive in the API's error shape ({"error", "status", "code", "request_id"}) and become ApiError,
// which pages show as a message, never a blank screen.

export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

export function createApi(key) {
  const base = `${location.origin}/api/v1`;

  async function request(method, path, { query, body, headers, raw } = {}) {
    const url = new URL(base + path);
    for (const [name, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
    }
    const init = { method, headers: { Authorization: `Bearer ${key}`, ...(headers || {}) } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      throw new ApiError(0, "network", `The server could not be reached (${error.message}).`, null);
    }
    if (!response.ok) throw await toError(response);
    if (raw) return response;
    if (response.status === 204) return null;
    return response.json();
  }

  return {
    base,
    key,
    get: (path, query) => request("GET", path, { query }),
    post: (path, body, headers) => request("POST", path, { body, headers }),
    put: (path, body) => request("PUT", path, { body }),
    patch: (path, body) => request("PATCH", path, { body }),
    del: (path) => request("DELETE", path),
    raw: (method, path, options) => request(method, path, { ...options, raw: true }),
  };
}

export async function toError(response) {
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  const message = payload && typeof payload.error === "string" ? payload.error : `HTTP ${response.status}`;
  return new ApiError(response.status, payload && payload.code, message, payload && payload.request_id);
}

// Who a key is: a workspace key answers /balance, the admin credential answers the admin API. A key refused only
// for its scope (a `manage`-only key) is a workspace key all the same: it signs in, lands on Keys, and the pages it
// may not read say which scope it lacks. A suspended workspace's key is known too: its refusal (the API's own code
// and message) is thrown as it is, not taken for an unknown key.
export async function identify(key) {
  const api = createApi(key);
  try {
    const balance = await api.get("/balance");
    return { kind: "workspace", workspaceId: balance.workspace_id, home: "overview" };
  } catch (error) {
    if (!(error instanceof ApiError) || (error.status !== 401 && error.status !== 403)) throw error;
    if (error.code === "workspace_suspended") throw error;
    if (error.code === "insufficient_scope") return { kind: "workspace", workspaceId: await workspaceOf(api), home: "keys" };
  }
  await api.get("/admin/workspaces", { limit: 1 });
  return { kind: "admin", workspaceId: null, home: "workspaces" };
}

// The workspace of a key that cannot read the balance, from its key list (`manage`); null when that is refused too.
async function workspaceOf(api) {
  try {
    return (await api.get("/keys")).workspace_id || null;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return null;
    throw error;
  }
}

// Whether a sign-in refusal means "no such key" (unknown, revoked, expired, or a workspace key on the admin API),
// rather than a known key's own refusal such as a suspended workspace, which is shown with the API's message.
export function unknownKey(error) {
  return error instanceof ApiError && (error.status === 401 || error.code === "admin_only");
}
