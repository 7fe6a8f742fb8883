/** A response the API would send instead of the resource: status plus FastAPI's `detail`. */
export class ApiError extends Error {
  readonly status: number;
  readonly detail: unknown;

  constructor(status: number, detail: unknown) {
    super(typeof detail === "string" ? detail : `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

/** One entry of a 422 `detail` list, as FastAPI/pydantic report it. */
export interface ValidationIssue {
  loc: (string | number)[];
  msg: string;
  type: string;
}

export function validationError(issues: ValidationIssue[]): ApiError {
  return new ApiError(422, issues);
}

export function notFound(what: string, fid: string): ApiError {
  return new ApiError(404, `${what} ${fid} not found`);
}
