"""アクセストークンの検証 (社内 IdP が発行する OIDC アクセストークン)."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import jwt
from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

log = logging.getLogger("tickets.auth")

OIDC_ISSUER = os.environ["OIDC_ISSUER"]
JWKS_URL = f"{OIDC_ISSUER.rstrip('/')}/.well-known/jwks.json"
JWKS_CACHE_SECONDS = 600
CLOCK_SKEW_SECONDS = 30

bearer_scheme = HTTPBearer(auto_error=False)
jwks_client = jwt.PyJWKClient(JWKS_URL, cache_keys=True, lifespan=JWKS_CACHE_SECONDS)


@dataclass(frozen=True)
class CurrentUser:
    sub: str
    email: str | None
    scopes: frozenset[str]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


def decode_access_token(token: str) -> dict:
    try:
        signing_key = jwks_client.get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            signing_key.key,
            algorithms=["RS256"],
            issuer=OIDC_ISSUER,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["exp", "iat", "sub"], "verify_aud": False},
        )
    except jwt.PyJWKClientError as exc:
        log.info("jwks lookup failed: %s", exc)
        raise _unauthorized("invalid token") from exc
    except jwt.InvalidTokenError as exc:
        log.info("token rejected: %s", exc)
        raise _unauthorized("invalid token") from exc


def current_user(creds: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)) -> CurrentUser:
    # sync def: FastAPI がスレッドプールで実行するので JWKS 取得でイベントループを止めない
    if creds is None:
        raise _unauthorized("authentication required")
    claims = decode_access_token(creds.credentials)
    return CurrentUser(
        sub=claims["sub"],
        email=claims.get("email"),
        scopes=frozenset(str(claims.get("scope", "")).split()),
    )


def require_scope(scope: str):
    def checker(user: CurrentUser = Depends(current_user)) -> CurrentUser:
        if scope not in user.scopes:
            raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=f"missing scope: {scope}")
        return user

    return checker
