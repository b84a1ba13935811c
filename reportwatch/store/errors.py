"""Database trouble as one sentence an analyst can act on, never with the URL's password."""

from __future__ import annotations

import re


class StoreError(Exception):
    """The database cannot be used (missing folder, locked, read-only, corrupt …). Every driver
    error leaves the store as this type (see Store._wrap_error)."""


def shown_url(url: str) -> str:
    """A database URL as messages show it: never with its password."""
    return re.sub(r"(//[^/@:]*:)[^/]*@", r"\1***@", url)


def describe_db_error(exc: BaseException, url: str) -> str:
    text = str(getattr(exc, "orig", exc) or exc)
    url = shown_url(url)
    if "readonly" in text or "read-only" in text:
        return f"the database is read-only: {url}"
    if "locked" in text:
        return f"the database is locked by another process: {url}"
    if "unable to open" in text:
        return f"cannot open the database (does its folder exist and is it writable?): {url}"
    if "not a database" in text or "malformed" in text:
        return f"the database file is damaged or not a database: {url}"
    if "authentication failed" in text or "no password supplied" in text:
        return f"the database server refused the user name or password: {url}"
    if "database" in text and "does not exist" in text:
        return f"the database does not exist on the server (create it first): {url}"
    if "Connection refused" in text or "resolve host" in text or "translate host" in text:
        return f"cannot reach the database server (is it running?): {url}"
    return f"database error ({url}): {text.splitlines()[0] if text else type(exc).__name__}"
