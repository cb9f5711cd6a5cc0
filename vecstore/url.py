"""One URL convention for every backend.

==============================  ==============================================
``SCHEME://``                   embedded, in memory
``SCHEME:///abs/dir``           embedded, persisted in ``/abs/dir``
``SCHEME://./rel/dir``          embedded, persisted in a relative directory
``SCHEME:rel/dir``              (same)
``SCHEME://host:port``          a server over HTTP
``SCHEME+https://host:port``    a server over TLS
``SCHEME://user:pass@host``     credentials in the URL (or options / env vars)
``pgvector://host:5432/db``     a database name, for the PostgreSQL schemes only
``...?timeout=5&grpc=true``     query parameters become options
==============================  ==============================================
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse
from typing import Any

from .errors import ConfigError

SECRET_PARAMS = ("api_key", "apikey", "token", "password")
#: schemes whose server URL names a database in its path
DATABASE_SCHEMES = frozenset({"pgvector", "postgres", "postgresql"})


@dataclasses.dataclass(frozen=True)
class ConnectionSpec:
    scheme: str  # without "+https"
    mode: str  # "memory" | "path" | "server"
    path: str | None = None
    host: str | None = None
    port: int | None = None
    tls: bool = False
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    params: dict[str, str] = dataclasses.field(default_factory=dict)
    #: the database of a server URL's path (PostgreSQL schemes only)
    database: str | None = None

    def __repr__(self) -> str:  # the dataclass's would print the params, API keys among them
        return f"ConnectionSpec({self.redacted!r})"

    @property
    def redacted(self) -> str:
        """The URL with no password or API key in it: safe for messages and logs."""
        return self._render(mask=True)

    @property
    def without_secrets(self) -> str:
        """The URL with the password and secret options left out (not masked): a URL to store
        in a configuration, the secrets coming from the backend's environment variables."""
        return self._render(mask=False)

    def _render(self, mask: bool) -> str:
        scheme = self.scheme + ("+https" if self.tls else "")
        if self.mode == "memory":
            return f"{scheme}://"
        if self.mode == "path":
            return f"{scheme}://{self.path}" if self.path and self.path.startswith("/") else f"{scheme}:{self.path}"
        secret = ":***" if mask and self.password else ""
        user = f"{self.username}{secret}@" if self.username else ""
        port = f":{self.port}" if self.port else ""
        query = {k: ("***" if k.lower() in SECRET_PARAMS else v) for k, v in self.params.items()
                 if mask or k.lower() not in SECRET_PARAMS}
        qs = f"?{urllib.parse.urlencode(query)}" if query else ""
        db = f"/{urllib.parse.quote(self.database)}" if self.database else ""
        return f"{scheme}://{user}{self.host}{port}{db}{qs}"

    @property
    def http_url(self) -> str:
        """``http(s)://host:port`` for a server spec, without credentials."""
        port = f":{self.port}" if self.port else ""
        return f"{'https' if self.tls else 'http'}://{self.host}{port}"


def parse_url(url: str) -> ConnectionSpec:
    """Parse a store URL; raises :class:`ConfigError` naming what is wrong."""
    if not isinstance(url, str) or ":" not in url:
        raise ConfigError(f"not a store URL: {url!r} (expected SCHEME://, SCHEME:///dir or SCHEME://host:port)")
    raw_scheme, rest = url.split(":", 1)
    raw_scheme = raw_scheme.lower()
    tls = False
    scheme = raw_scheme
    if "+" in raw_scheme:
        scheme, transport = raw_scheme.split("+", 1)
        if transport not in ("https", "http"):
            raise ConfigError(f"unknown transport {transport!r} in {raw_scheme!r}: use SCHEME+https://")
        tls = transport == "https"
    if not scheme:
        raise ConfigError(f"no scheme in URL {url!r}")
    if not rest.startswith("//"):
        # SCHEME:relative/dir
        if not rest:
            raise ConfigError(f"empty location in URL {url!r}")
        return ConnectionSpec(scheme, "path", path=os.path.abspath(os.path.expanduser(rest)), tls=tls)
    parts = urllib.parse.urlsplit(f"x:{rest}")
    params = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    netloc = parts.netloc
    if not netloc:
        if parts.path in ("", "/"):
            if tls:
                raise ConfigError(f"{url!r}: +https needs a host")
            return ConnectionSpec(scheme, "memory", params=params)
        return ConnectionSpec(scheme, "path", path=os.path.abspath(urllib.parse.unquote(parts.path)), params=params)
    if netloc in (".", "..", "~") or netloc.startswith(("./", "../")):
        path = os.path.abspath(os.path.expanduser(netloc + urllib.parse.unquote(parts.path)))
        return ConnectionSpec(scheme, "path", path=path, params=params)
    database = None
    if parts.path not in ("", "/") and scheme in DATABASE_SCHEMES:
        database = urllib.parse.unquote(parts.path.strip("/"))
    elif parts.path not in ("", "/"):
        raise ConfigError(f"{_strip_secret(url)!r}: a server URL takes no path ({parts.path!r})")
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"bad port in URL {_strip_secret(url)!r}") from exc
    if not parts.hostname:
        raise ConfigError(f"no host in URL {_strip_secret(url)!r}")
    return ConnectionSpec(
        scheme,
        "server",
        host=parts.hostname,
        port=port,
        tls=tls,
        username=urllib.parse.unquote(parts.username) if parts.username else None,
        password=urllib.parse.unquote(parts.password) if parts.password else None,
        params=params,
        database=database,
    )


def _strip_secret(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}..."


def option(spec: ConnectionSpec, options: dict[str, Any], name: str, env: str | None = None, default: Any = None) -> Any:
    """An option by precedence: explicit keyword > URL query parameter > environment > default."""
    if name in options and options[name] is not None:
        return options[name]
    if name in spec.params:
        return spec.params[name]
    if env and os.environ.get(env):
        return os.environ[env]
    return default


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
