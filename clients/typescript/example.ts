// A frontend's calls, typed by the generated session-service.ts (make openapi writes it
// from docs/openapi.json). Compiled by tests/unit/test_typescript.py; copy what you need.
import type { components, operations } from "./session-service";

type TokenResponse = components["schemas"]["TokenResponse"];
type ErrorResponse = components["schemas"]["ErrorResponse"];
type LoginBody = operations["login"]["requestBody"]["content"]["application/json"];
type Sessions = operations["listSessions"]["responses"][200]["content"]["application/json"];

/** A refused call: the contract's error code, and Retry-After when there is one. */
export class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorResponse,
    readonly retryAfter: number | null,
  ) {
    super(body.error_description);
  }
}

async function call<T>(api: string, path: string, init: RequestInit): Promise<T> {
  const response = await fetch(api + path, {
    ...init,
    credentials: "include", // cookie mode: the refresh cookie travels
    headers: { "Content-Type": "application/json", "X-Requested-With": "fetch", ...init.headers },
  });
  if (!response.ok) {
    const retry = response.headers.get("Retry-After");
    throw new ServiceError(response.status, await response.json(), retry ? Number(retry) : null);
  }
  return (response.status === 204 ? undefined : await response.json()) as T;
}

export function login(api: string, body: LoginBody): Promise<TokenResponse> {
  return call(api, "/auth/login", { method: "POST", body: JSON.stringify(body) });
}

export function refresh(api: string): Promise<TokenResponse> {
  return call(api, "/auth/refresh", { method: "POST" });
}

export function listSessions(api: string, accessToken: string): Promise<Sessions> {
  return call(api, "/auth/sessions", { headers: { Authorization: `Bearer ${accessToken}` } });
}

/** What a refused login means to the user interface. */
export function explain(error: ServiceError): string {
  switch (error.body.error) {
    case "mfa_required":
      return "Enter the code from your authenticator app.";
    case "rate_limited":
      return `Too many tries: wait ${error.retryAfter ?? 60} seconds.`;
    case "invalid_grant":
      return "The username or password is incorrect.";
    default:
      return error.body.error_description;
  }
}
