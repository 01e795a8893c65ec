// Typed errors of the Hub client (src/hub). Each names the repo and, where
// there is one, the file, and says in plain words what happened and what to do:
// a gated or private repo needs a token, a missing file is named with the
// repo's listing in mind, a cut connection says how much is kept for a resume.
import { Sub4Error } from '../base/errors.ts';

export class HubError extends Sub4Error {
  constructor(
    /** "org/name" (datasets prefixed "datasets/"). */
    readonly repo: string,
    /** Path inside the repo, or null when the repo itself is meant. */
    readonly file: string | null,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${file ? `${repo}/${file}` : repo}: ${detail}`, options);
  }
}

/** The Hub refused the request: a gated or private repo without a token, or a token without access. */
export class HubAuthError extends HubError {}

/** The repo, the revision or the file is not on the Hub (or not visible with this token). */
export class HubNotFoundError extends HubError {}

/** The connection failed or was cut; what arrived is kept and the next try resumes from there. */
export class HubNetworkError extends HubError {}

/** The Hub answered something a Hub client cannot use (no size, a range it did not ask for, a short file). */
export class HubResponseError extends HubError {}

/** A repo id or an hf:// address that is not one. */
export class HubAddressError extends Sub4Error {}
