"""Built-in editor accounts: argon2 password hashes in sources.yaml under `editors.accounts`.

`reportwatch editor add NAME` calls add_editor: the hash (never the password) goes into the
config file, whose comments and layout are kept. The UI signs editors in with verify_password.
Nothing here prints or logs a password or a hash.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from reportwatch.config.settings import (
    ConfigError,
    EditorAccount,
    editor_name_problem,
    parse_config,
)

PASSWORD_MIN = 8
PASSWORD_MAX = 1024  # argon2 takes any length; a cap keeps a sign-in form from being a DoS tool
CONCURRENT_CHECKS = 2  # argon2 verifications at once in this process (memory-hard: ~64 MiB each)
CHECK_WAIT = 10.0  # seconds a sign-in waits for its turn
_CHECKS = threading.BoundedSemaphore(CONCURRENT_CHECKS)
_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters


@cache
def _dummy_hash() -> str:
    """Verified when the name is unknown, so a wrong name costs as long as a wrong password."""
    return _HASHER.hash("reportwatch: no such editor")


class EditorError(ValueError):
    """The name, password or config file cannot take a new editor (the message says why)."""


def password_problem(password: str) -> str | None:
    if len(password) < PASSWORD_MIN:
        return f"the password must have at least {PASSWORD_MIN} characters"
    if len(password) > PASSWORD_MAX:
        return f"the password must have at most {PASSWORD_MAX} characters"
    return None


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(accounts: list[EditorAccount], name: str, password: str) -> str | None:
    """The account's name when `password` is right for the account `name` (case-insensitive
    name), else None. The time taken does not tell whether the name exists."""
    account = next((a for a in accounts if a.name.casefold() == name.strip().casefold()), None)
    stored = account.password_hash.get_secret_value() if account else _dummy_hash()
    if not password or len(password) > PASSWORD_MAX:
        return None
    # Each check takes ~64 MiB for a moment: many sessions trying made-up names at once must
    # not add up to gigabytes. Past the wait, the attempt is refused like a wrong password.
    if not _CHECKS.acquire(timeout=CHECK_WAIT):
        return None
    try:
        _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    finally:
        _CHECKS.release()
    return account.name if account else None


def _yaml() -> YAML:
    yaml = YAML()  # round trip: comments, key order and quoting survive
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _with_editor(text: str, name: str, password_hash: str) -> tuple[str, bool]:
    """The config text with the account set; True when an account of that name was replaced."""
    data = _yaml().load(text) if text.strip() else CommentedMap()
    if data is None:
        data = CommentedMap()
    if not isinstance(data, CommentedMap):
        raise EditorError("expected a mapping of settings at the top level")
    account = CommentedMap([("name", name), ("password_hash", password_hash)])
    if "editors" not in data:  # the usual first time: append lines, every other byte stays
        out = io.StringIO()
        _yaml().dump(CommentedMap([("editors", {"accounts": [account]})]), out)
        head = text if not text or text.endswith("\n") else text + "\n"
        return head + out.getvalue(), False
    editors = data["editors"]
    if editors is None:
        editors = data["editors"] = CommentedMap()
    if not isinstance(editors, dict):
        raise EditorError("'editors' is not a mapping")
    accounts = editors.get("accounts")
    if accounts is None:
        accounts = editors["accounts"] = CommentedSeq()
    if not isinstance(accounts, list):
        raise EditorError("'editors.accounts' is not a list")
    replaced = False
    for index, item in enumerate(accounts):
        if isinstance(item, dict) and str(item.get("name", "")).casefold() == name.casefold():
            accounts[index] = account
            replaced = True
            break
    else:
        accounts.append(account)
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue(), replaced


def _write(path: Path, text: str) -> None:
    """Replace the file in one step (no half-written config), keeping its permissions."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    fd, tmp = tempfile.mkstemp(prefix=".sources-", suffix=".yaml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_editor(path: Path, name: str, password: str) -> bool:
    """Add (or give a new password to) the editor `name` in the config file at `path`.

    True when an existing account was replaced. Raises EditorError for a bad name or password
    or a file that cannot take it, ConfigError when the result would not be a valid config.
    """
    if problem := editor_name_problem(name):
        raise EditorError(f"the editor name {problem}")
    if problem := password_problem(password):
        raise EditorError(problem)
    text = path.read_text(encoding="utf-8-sig") if path.exists() else ""
    new_text, replaced = _with_editor(text, name, hash_password(password))
    parse_config(new_text, path)  # raises ConfigError (without the hash) when it would not load
    _write(path, new_text)
    return replaced


__all__ = [
    "ConfigError",
    "EditorError",
    "add_editor",
    "hash_password",
    "password_problem",
    "verify_password",
]
