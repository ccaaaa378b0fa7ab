"""Translate provider SDK exceptions into :class:`harness.errors.ModelError` with a retryable flag and advice."""

from __future__ import annotations

import json

from ..errors import ModelError

ADVICE = {
    401: "the API key was rejected (401): check that {env} holds a valid key",
    403: "the key is not allowed to use this model or endpoint (403): check the key's workspace and permissions",
    404: "not found (404): check the model name given to --model and the base URL",
}


def _retry_after(headers) -> float | None:
    if headers is None:
        return None
    for name in ("retry-after-ms", "retry-after"):
        v = headers.get(name)
        if v is None:
            continue
        try:
            secs = float(v)
        except ValueError:
            continue
        return secs / 1000.0 if name.endswith("-ms") else secs
    return None


def _body_error_type(body) -> str | None:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return err.get("type")
    return None


def from_status(status: int, message: str, *, headers=None, body=None, env: str = "ANTHROPIC_API_KEY") -> ModelError:
    """Classify an HTTP error status.

    Retryable: 408, 409, 429, 5xx and 529 / ``overloaded_error``. Fast-fail with advice: 400, 401, 403, 404.
    """
    etype = _body_error_type(body)
    ra = _retry_after(headers)
    if status == 429:
        return ModelError(f"rate limited (429): {message}", kind="rate_limit", retryable=True, status=status,
                          retry_after=ra)
    if status == 529 or etype == "overloaded_error":
        return ModelError(f"overloaded ({status}): {message}", kind="overloaded", retryable=True, status=status,
                          retry_after=ra)
    if status >= 500 or status in (408, 409):
        return ModelError(f"server error ({status}): {message}", kind="server", retryable=True, status=status,
                          retry_after=ra)
    if status in ADVICE:
        kind = {401: "auth", 403: "permission", 404: "not_found"}[status]
        return ModelError(f"{ADVICE[status].format(env=env)}; server said: {message}", kind=kind, status=status)
    low = message.lower()
    if status in (400, 413) and ("prompt is too long" in low or "context" in low and "length" in low
                                 or "too many tokens" in low):
        return ModelError(f"the prompt is longer than the model's context ({status}): {message}",
                          kind="context_length", status=status)
    return ModelError(f"request rejected ({status}): {message}; the request is malformed or unsupported for this "
                      "model, so retrying will not help", kind="bad_request", status=status)


# the HTTP status an API error type stands for, to classify an error that arrived inside a 200 (a proxy or a
# gateway that answers 200 with the upstream's error body, or an error event as the first server-sent event)
_TYPE_STATUS = {"overloaded_error": 529, "rate_limit_error": 429, "api_error": 500, "timeout_error": 504,
                "invalid_request_error": 400, "request_too_large": 413, "authentication_error": 401,
                "permission_error": 403, "not_found_error": 404, "billing_error": 402}


def from_error_body(error: object, *, where: str, env: str = "ANTHROPIC_API_KEY") -> ModelError:
    """Classify an API error object (``{"type": "overloaded_error", "message": ...}``) that came with a 200.

    Known types are classified as their HTTP status would be (overloaded and api errors retryable, bad requests
    not); an unknown type is a retryable ``malformed_response``."""
    etype = error.get("type") if isinstance(error, dict) else None
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    status = _TYPE_STATUS.get(str(etype))
    if status is None:
        return ModelError(f"malformed response: {where} holds an error of unknown type {etype!r}: {message[:200]}",
                          kind="malformed_response", retryable=True)
    err = from_status(status, message[:200], body={"error": error}, env=env)
    return ModelError(f"{etype} in {where}: {message[:200]}", kind=err.kind, retryable=err.retryable, status=200)


def classify_text_body(text: str, *, env: str = "ANTHROPIC_API_KEY") -> ModelError:
    """Classify a 200 body the SDK could not parse into a message and handed back as text: a JSON error body,
    server-sent events (an ``error`` event among them), or anything else (an HTML page from a proxy)."""
    head = text.lstrip()[:2000]
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("type") == "error":
        return from_error_body(data.get("error"), where="a 200 response body", env=env)
    if head.startswith(("event:", "data:")):
        for line in text.splitlines():
            if line.startswith("data:"):
                try:
                    ev = json.loads(line[5:].strip())
                except ValueError:
                    continue
                if isinstance(ev, dict) and ev.get("type") == "error":
                    return from_error_body(ev.get("error"), where="an error event of a 200 event stream", env=env)
        return ModelError("malformed response: a 200 answered with an event stream to a non-streaming request",
                          kind="malformed_response", retryable=True)
    what = "an HTML page" if head[:15].lower().startswith(("<!doctype", "<html")) else "a non-JSON body"
    return ModelError(f"malformed response: a 200 with {what} ({head[:80]!r}…), e.g. from a proxy",
                      kind="malformed_response", retryable=True)


def short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "…"


def body_of(exc) -> object:
    body = getattr(exc, "body", None)
    if body is None:
        resp = getattr(exc, "response", None)
        try:
            body = json.loads(resp.text) if resp is not None else None
        except Exception:  # noqa: BLE001 - a body we cannot parse carries no classification
            body = None
    return body


def map_sdk_exception(exc: BaseException, sdk, *, env: str) -> ModelError:
    """Classify an exception raised by an SDK built on the Stainless client (``anthropic`` or ``openai``; both
    define APITimeoutError, APIConnectionError, APIStatusError and APIResponseValidationError) as a ModelError.

    A decode error on a 200 body (truncated or non-JSON) is retryable; any other exception (a TypeError from an
    SDK whose signature changed...) is a bug on our side: not retried, and not called a malformed response.
    """
    if isinstance(exc, ModelError):
        return exc
    if isinstance(exc, sdk.APITimeoutError):
        return ModelError("request timed out", kind="timeout", retryable=True)
    if isinstance(exc, sdk.APIConnectionError):
        return ModelError(f"connection failed: {short(exc)}", kind="connection", retryable=True)
    if isinstance(exc, sdk.APIStatusError):
        return from_status(exc.status_code, short(exc), headers=exc.response.headers, body=body_of(exc), env=env)
    if isinstance(exc, (sdk.APIResponseValidationError, ValueError)):
        return ModelError(f"malformed response ({type(exc).__name__}): {short(exc)}", kind="malformed_response",
                          retryable=True)
    return ModelError(f"the {sdk.__name__} SDK call failed ({type(exc).__name__}): {short(exc)}",
                      kind="client_error")
