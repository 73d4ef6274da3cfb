"""The optional vault: pseudonym -> identity, encrypted (Fernet, AES-128-CBC + HMAC) in its own folder.

One small file per pseudonym, so concurrent writers never conflict and a rerun rewrites the same file.
The file name is the pseudonym (not identifying); the content needs the vault key. Only the
``dicom-lake reidentify`` command reads it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from resources.deid.errors import VaultError
from resources.spool.durability import write_atomically

logger = logging.getLogger(__name__)


def _fernet(vault_key: bytes) -> Fernet:
    # Any secret of 16+ bytes becomes a Fernet key; the site file never holds it.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"dicom-lake-vault\x00" + vault_key).digest()))


class Vault:
    def __init__(self, folder: Path, vault_key: bytes) -> None:
        self.folder = Path(folder)
        self._fernet = _fernet(vault_key)
        self._written: set[str] = set()

    def _path(self, pseudonym: str) -> Path:
        if not pseudonym.isalnum():
            raise VaultError("a pseudonym is letters and digits only")
        return self.folder / f"{pseudonym}.vault"

    def record(self, pseudonym: str, identity: dict[str, str]) -> None:
        """Store (or overwrite) the identity behind ``pseudonym``.

        Raises
        ------
        VaultError
            If the vault folder cannot be written.
        """
        if pseudonym in self._written:
            return
        token = self._fernet.encrypt(json.dumps(identity, sort_keys=True).encode("utf-8"))
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomically(self._path(pseudonym), token, fsync=False)
        except OSError as exc:
            raise VaultError(f"vault {self.folder}: could not be written ({exc.__class__.__name__})") from exc
        self._written.add(pseudonym)

    def lookup(self, pseudonym: str) -> dict[str, str]:
        """The identity behind ``pseudonym``.

        Raises
        ------
        VaultError
            If the pseudonym is unknown or the key does not open the entry.
        """
        path = self._path(pseudonym)
        if not path.exists():
            raise VaultError(f"pseudonym {pseudonym} is not in the vault at {self.folder}")
        try:
            data: dict[str, str] = json.loads(self._fernet.decrypt(path.read_bytes()))
        except InvalidToken as exc:
            raise VaultError("the vault key does not open this vault entry") from exc
        return data
