"""The listener's TLS server context (optional; mutual TLS when a CA is given)."""

from __future__ import annotations

import ssl
from pathlib import Path

from resources.listener.errors import ListenerConfigError
from resources.site_config import ListenerSettings


def tls_context(settings: ListenerSettings, base_dir: Path | None = None) -> ssl.SSLContext | None:
    """A server TLS context from the listener settings, or None when TLS is not configured.

    Raises
    ------
    ListenerConfigError
        If only one of certificate/key is given, a CA is given without them, or the files cannot be
        loaded.
    """
    if settings.tls_certificate is None and settings.tls_private_key is None:
        if settings.tls_ca_certificate is not None:
            # Serving plain TCP here would admit every sender the CA was meant to keep out.
            raise ListenerConfigError(
                "listener.tls_ca_certificate (client certificates required) needs tls_certificate "
                "and tls_private_key"
            )
        return None
    if settings.tls_certificate is None or settings.tls_private_key is None:
        raise ListenerConfigError("listener TLS needs both tls_certificate and tls_private_key")

    def resolve(path: Path) -> Path:
        return path if path.is_absolute() or base_dir is None else base_dir / path

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(resolve(settings.tls_certificate), resolve(settings.tls_private_key))
        if settings.tls_ca_certificate is not None:
            # A CA given = client certificates are required (mutual TLS).
            context.load_verify_locations(resolve(settings.tls_ca_certificate))
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ListenerConfigError(f"listener TLS files could not be loaded: {exc}") from exc
    return context
