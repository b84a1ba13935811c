"""sources.yaml → validated settings.

Every problem in a file is reported at once, each with its key path, line and what is expected,
so an analyst can fix a config in one pass.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from reportwatch.urls import WEB_SCHEMES, database_backend

DEFAULT_CONFIG = "sources.yaml"
CONFIG_ENV = "REPORTWATCH_CONFIG"
DATABASE_ENV = "REPORTWATCH_DATABASE_URL"
NAME_MAX = 200  # the store's source name and tag columns (PostgreSQL enforces the length)


def name_problem(value: str) -> str | None:
    """Why a source name or tag cannot be stored, or None."""
    if len(value) > NAME_MAX:
        return f"is longer than {NAME_MAX} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return f"contains a control character: {value!r}"
    return None


class TagRule(BaseModel):
    """How a tag is recognised. An empty rule means the tag's own name."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    any_: list[str] = Field(default_factory=list, alias="any")  # at least one of these
    all_: list[str] = Field(default_factory=list, alias="all")  # every one of these
    none_: list[str] = Field(default_factory=list, alias="none")  # none of these
    title_only: list[str] = Field(default_factory=list)  # count only when in the title
    # More words that let the tag's learned model judge an item (besides the rule's own
    # keywords): the model decides only among items its gate admits.
    gate: list[str] = Field(default_factory=list)


def _check_timezone(value: str | None) -> str | None:
    if value is None:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {value!r} (expected e.g. Asia/Shanghai)") from exc
    return value


class SourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    url: str = Field(min_length=1)
    interval: int | None = Field(default=None, ge=5)
    enabled: bool = True
    encoding: str | None = None
    timezone: str | None = None
    # "ui": added from the dashboard or by OPML import, so not the operator's own choice: it is
    # fetched only from public addresses unless allow_private_sources is true. Absent: trusted.
    origin: Literal["ui"] | None = None

    @field_validator("name")
    @classmethod
    def _storable_name(cls, value: str) -> str:
        if problem := name_problem(value):
            raise ValueError(f"the name {problem}")
        return value

    @field_validator("url")
    @classmethod
    def _url_scheme(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError as exc:
            raise ValueError(f"not a valid URL ({exc}): {value!r}") from None
        scheme = parts.scheme.lower()
        if scheme not in (*WEB_SCHEMES, "file"):
            raise ValueError(f"expected an http://, https:// or file: URL, got {value!r}")
        if scheme != "file" and not host:
            raise ValueError(f"the URL has no host name: {value!r}")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is not None:
            import codecs

            try:
                codecs.lookup(value)
            except LookupError as exc:
                raise ValueError(f"unknown encoding {value!r}") from exc
        return value

    _tz = field_validator("timezone")(classmethod(lambda cls, v: _check_timezone(v)))


class FetchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    concurrency: int = Field(default=50, ge=1, le=1000)
    per_host: int = Field(default=4, ge=1, le=1000)
    timeout: float = Field(default=20.0, gt=0, le=600)
    connect_timeout: float = Field(default=10.0, gt=0, le=600)
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_redirects: int = Field(default=5, ge=0, le=20)


EDITOR_NAME_MAX = 100
_ARGON2_HASH = re.compile(
    r"\$argon2(id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+"
)


def editor_name_problem(value: str) -> str | None:
    """Why an editor account name is not usable, or None."""
    if not value.strip():
        return "is empty"
    if value != value.strip():
        return "starts or ends with a space"
    if len(value) > EDITOR_NAME_MAX:
        return f"is longer than {EDITOR_NAME_MAX} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "contains a control character"
    return None


class EditorAccount(BaseModel):
    """A built-in editor: a name and an argon2 hash of the password (never the password)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    password_hash: SecretStr  # shown as ********** in reprs, logs and messages

    @field_validator("name")
    @classmethod
    def _usable_name(cls, value: str) -> str:
        if problem := editor_name_problem(value):
            raise ValueError(f"the editor name {problem}")
        return value

    @field_validator("password_hash")
    @classmethod
    def _argon2(cls, value: SecretStr) -> SecretStr:
        if not _ARGON2_HASH.fullmatch(value.get_secret_value()):
            raise ValueError(
                "expected an argon2 hash ($argon2id$…); set it with `reportwatch editor add NAME`"
            )
        return value


class EditorsConfig(BaseModel):
    """Who may change sources from the UI. Without accounts, emails or domains nobody can."""

    model_config = ConfigDict(extra="forbid")

    accounts: list[EditorAccount] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)  # signed in with st.login (OIDC)
    domains: list[str] = Field(default_factory=list)  # every address of these domains
    session_hours: float = Field(default=8.0, gt=0, le=24 * 30)

    @field_validator("accounts")
    @classmethod
    def _unique_accounts(cls, accounts: list[EditorAccount]) -> list[EditorAccount]:
        seen: set[str] = set()
        for index, account in enumerate(accounts):
            if account.name.casefold() in seen:
                raise ValueError(f"accounts[{index}]: the name {account.name!r} is used twice")
            seen.add(account.name.casefold())
        return accounts

    @field_validator("emails")
    @classmethod
    def _emails(cls, emails: list[str]) -> list[str]:
        for email in emails:
            if email.count("@") != 1 or not all(email.split("@")):
                raise ValueError(f"not an email address: {email!r}")
        return [email.strip().lower() for email in emails]

    @field_validator("domains")
    @classmethod
    def _domains(cls, domains: list[str]) -> list[str]:
        for domain in domains:
            if "@" in domain or "." not in domain.strip(". ") or " " in domain.strip():
                raise ValueError(f"expected a domain such as example.com, got {domain!r}")
        return [domain.strip().lstrip("@").lower() for domain in domains]

    @property
    def configured(self) -> bool:
        return bool(self.accounts or self.emails or self.domains)


def check_database_url(value: str) -> str:
    """A SQLAlchemy URL for SQLite or PostgreSQL, or a ValueError saying what is expected."""
    expected = "expected e.g. sqlite:///reportwatch.db or postgresql://user@host/dbname"
    backend = database_backend(value)
    if backend is None:
        raise ValueError(f"not a database URL ({expected}), got {value!r}")
    if backend == "postgres":
        raise ValueError(f"write postgresql:// instead of postgres://, got {value!r}")
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"only SQLite and PostgreSQL are supported ({expected}), got {value!r}")
    return value


_SECRET_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_CHANNEL_URL = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")


class NotifyChannel(BaseModel):
    """A group chat or other endpoint that gets a message for each new matching story.

    `url` is an apprise URL (wecombot://KEY, feishu://TOKEN, dingtalk://SECRET@TOKEN, json://…,
    mailto://…, ntfy://…); ${ENV_VAR} in it is read from the environment when sending. The URL
    is a secret: kept in a SecretStr, never printed, logged or shown."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    url: SecretStr
    tags: list[str] | None = None  # None: every tag of the reports
    mode: Literal["instant", "digest"] = "instant"
    digest_every: int = Field(default=3600, ge=60)  # seconds between digests (mode: digest)
    # Where our own senders (wecombot, feishu, dingtalk) post instead of the platform's public
    # endpoint: a proxy, a private deployment, a test's local receiver.
    endpoint: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not name.strip() or (problem := name_problem(name)):
            raise ValueError(problem or "must not be blank")
        return name.strip()

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str] | None) -> list[str] | None:
        if tags is not None and not tags:
            raise ValueError("an empty list: leave tags out for every tag of the reports")
        return tags

    @field_validator("url")
    @classmethod
    def _url_shape(cls, url: SecretStr) -> SecretStr:
        raw = url.get_secret_value().strip()
        if not _CHANNEL_URL.match(raw):
            scheme = raw.split("://", 1)[0] if "://" in raw else ""
            hint = f" (it starts with {scheme!r}://)" if scheme.isalnum() else ""
            raise ValueError("must be an apprise URL such as wecombot://KEY or json://host/path"
                             + hint)  # fmt: skip
        return SecretStr(raw)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in WEB_SCHEMES:
            raise ValueError("must be an http(s) URL")
        return value

    @property
    def kind(self) -> str:
        """The URL's scheme (wecombot, feishu, json …): safe to show."""
        return self.url.get_secret_value().split("://", 1)[0].lower()

    def resolved_url(self) -> str:
        """The URL with ${ENV_VAR} filled in; KeyError names a variable that is not set."""

        def value(m: re.Match[str]) -> str:
            found = os.environ.get(m.group(1))
            if found is None:
                raise KeyError(m.group(1))
            return found

        return _SECRET_REF.sub(value, self.url.get_secret_value())

    def missing_env(self) -> list[str]:
        refs = _SECRET_REF.findall(self.url.get_secret_value())
        return [name for name in refs if name not in os.environ]


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    database_url: str = "sqlite:///reportwatch.db"
    poll_interval: int = Field(default=300, ge=5)
    ui_refresh: int = Field(default=10, ge=1)
    timezone: str = "Asia/Shanghai"
    retention_days: int = Field(default=30, ge=1)
    reports_dir: str = "reports"
    language: Literal["zh", "en"] = "zh"
    demo: bool = False  # the UI shows 演示数据 when true
    embedded_poller: bool = True
    # Sources added from the UI may not point at private/loopback hosts unless this is true.
    allow_private_sources: bool = False
    fetch: FetchConfig = Field(default_factory=FetchConfig)
    sources: list[SourceConfig] = Field(default_factory=list)
    tags: dict[str, TagRule | None] = Field(default_factory=dict)
    editors: EditorsConfig = Field(default_factory=EditorsConfig)  # who may edit from the UI
    notify: list[NotifyChannel] = Field(default_factory=list)  # alerts to group chats

    _tz = field_validator("timezone")(classmethod(lambda cls, v: _check_timezone(v)))
    _db = field_validator("database_url")(classmethod(lambda cls, v: check_database_url(v)))

    @field_validator("tags")
    @classmethod
    def _storable_tags(cls, tags: dict[str, TagRule | None]) -> dict[str, TagRule | None]:
        for tag in tags:
            if problem := name_problem(tag):
                raise ValueError(f"the tag {tag[:40]!r} {problem}")
        return tags

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        first: dict[str, int] = {}
        for index, source in enumerate(sources):
            if source.name in first:
                raise ValueError(
                    f"sources[{index}]: the name {source.name!r} is used twice "
                    f"(also sources[{first[source.name]}]); names must be unique"
                )
            first.setdefault(source.name, index)
        return sources

    @field_validator("notify")
    @classmethod
    def _unique_channels(cls, channels: list[NotifyChannel]) -> list[NotifyChannel]:
        seen: set[str] = set()
        for index, channel in enumerate(channels):
            if channel.name in seen:
                raise ValueError(f"notify[{index}]: the name {channel.name!r} is used twice")
            seen.add(channel.name)
        return channels

    def rules(self) -> dict[str, TagRule]:
        return {tag: rule or TagRule() for tag, rule in self.tags.items()}


@dataclass(frozen=True)
class Problem:
    location: str  # key path such as "sources[0].url", or "" for the whole file
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.location or "(file)"
        if self.line is not None:
            where += f" (line {self.line})"
        return f"{where}: {self.message}"


class ConfigError(Exception):
    def __init__(self, path: Path, problems: list[Problem]):
        self.path = path
        self.problems = problems
        super().__init__(self.describe())

    def describe(self) -> str:
        lines = [f"{self.path}: {len(self.problems)} problem(s) in the configuration"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config plus where it came from (relative paths resolve against `folder`)."""

    config: Config
    path: Path

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def reports_path(self) -> Path:
        return (self.folder / self.config.reports_dir).resolve()


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def _key_lines(node: yaml.Node, prefix: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map each key path to its 1-based line, so messages can point into the file."""
    lines = {prefix: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = (*prefix, key_node.value)
            lines.update(_key_lines(value_node, path))
            lines[path] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_key_lines(item, (*prefix, index)))
    return lines


def _duplicate_keys(node: yaml.Node, prefix: tuple[Any, ...] = ()) -> list[Problem]:
    """YAML keeps the last of two equal keys without a word; say so instead."""
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key, line = key_node.value, key_node.start_mark.line + 1
            path = (*prefix, key)
            if key in first_line:
                message = (
                    f"{key!r} appears twice (lines {first_line[key]} and {line}); "
                    "only the last would count: remove or merge one"
                )
                problems.append(Problem(_location(path), message, line))
            else:
                first_line[key] = line
            problems += _duplicate_keys(value_node, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems += _duplicate_keys(item, (*prefix, index))
    return problems


_DUPLICATE_SOURCE = re.compile(r"sources\[(\d+)\]: (?=the name .* is used twice)")


def _location(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _message(error: dict[str, Any]) -> str:
    kind, msg = error["type"], error["msg"]
    if kind == "missing":
        return "required but missing"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see DESIGN.md for accepted keys)"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    msg = re.sub(r" or instance of \w+", "", msg)  # pydantic's class names mean nothing here
    msg = msg[0].lower() + msg[1:]
    got = error.get("input")
    if isinstance(got, dict | list):
        return f"{msg}, got a {'mapping' if isinstance(got, dict) else 'list'}"
    return f"{msg}, got {got!r}"


def _absolute(url: str, folder: Path) -> str:
    """Resolve sqlite and file: paths against the config's folder."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rest = url.removeprefix("sqlite:///")
        if rest.startswith("file:"):  # SQLite URI form: sqlite:///file:PATH?mode=ro&uri=true
            path, mark, query = rest.removeprefix("file:").partition("?")
            if path and not path.startswith("/"):
                return f"sqlite:///file:{(folder / path).resolve()}{mark}{query}"
            return url
        if rest and rest != ":memory:":
            return "sqlite:///" + str((folder / rest).resolve())
    if url.startswith("file:"):
        parts = urlsplit(url)
        path = Path(unquote(parts.path))
        if not path.is_absolute() or parts.netloc not in ("", "localhost"):
            path = folder / (parts.netloc + parts.path)
        return path.resolve().as_uri()
    return url


# libyaml's parser builds the same nodes (with line marks) several times faster than PyYAML's
# pure-Python one: with hundreds of sources that is most of the time spent loading the file.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose_and_load(text: str) -> tuple[yaml.Node | None, Any]:
    """Parse once: the node tree (for line numbers and duplicate keys) and the data built
    from it, as yaml.compose plus yaml.safe_load would give."""
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        return node, loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def parse_config(text: str, path: Path) -> Config:
    """Validate config text; raise ConfigError listing every problem."""
    try:
        node, data = _compose_and_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, [Problem("", f"not valid YAML: {reason}", line)]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, [Problem("", "expected a mapping of settings at the top level", 1)])
    lines = _key_lines(node) if node is not None else {}
    problems = _duplicate_keys(node) if node is not None else []
    env_db = os.environ.get(DATABASE_ENV)
    if env_db:
        try:
            check_database_url(env_db)
        except ValueError as exc:
            problems.append(Problem(f"${DATABASE_ENV}", str(exc)))
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if p not in ("function-after[_tz(), str]",))
            message = _message(error)
            if loc == ("sources",) and (dup := _DUPLICATE_SOURCE.match(message)):
                loc = ("sources", int(dup.group(1)), "name")  # point at the second one
                message = message[dup.end() :]
            line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), None)
            problems.append(Problem(_location(loc), message, line))
        raise ConfigError(path, sorted(problems, key=lambda p: p.line or 0)) from None
    if problems:
        raise ConfigError(path, problems)
    folder = path.resolve().parent
    config.database_url = _absolute(env_db or config.database_url, folder)
    for source in config.sources:
        source.url = _absolute(source.url, folder)
    return config


def load_config(path: str | os.PathLike[str] | None = None) -> LoadedConfig:
    """Read and validate the config file (REPORTWATCH_CONFIG, else ./sources.yaml)."""
    resolved = config_path(path)
    try:
        raw = resolved.read_bytes()
    except FileNotFoundError:
        raise ConfigError(resolved, [Problem("", "file not found")]) from None
    except OSError as exc:
        raise ConfigError(
            resolved, [Problem("", f"cannot read the file: {exc.strerror}")]
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problem = Problem("", f"not UTF-8 text (bad byte at offset {exc.start})")
        raise ConfigError(resolved, [problem]) from None
    return LoadedConfig(parse_config(text, resolved), resolved.resolve())
