"""The `reportwatch` command: poll, items, sources, check-config, explain."""

from __future__ import annotations

import argparse
import csv
import gc
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from reportwatch import __version__
from reportwatch.config.settings import ConfigError, LoadedConfig, config_path, load_config
from reportwatch.models import FetchResult
from reportwatch.store.core import Store, StoreError, open_store

if TYPE_CHECKING:
    from reportwatch.match.learned import LearnedMatcher
    from reportwatch.match.matcher import Matcher
    from reportwatch.store.queries import Item

EXIT_CONFIG = 2
EXIT_STORE = 3


def _fail(message: str, code: int) -> int:
    print(f"reportwatch: {message}", file=sys.stderr)
    return code


class Progress:
    """A one-line progress bar on a terminal; per-source lines with --verbose."""

    def __init__(self, total: int, verbose: bool):
        self.total, self.done, self.verbose = total, 0, verbose
        self.tty = sys.stderr.isatty()

    def __call__(self, result: FetchResult) -> None:
        self.done += 1
        if self.verbose:
            detail = result.error or f"{result.nbytes} bytes"
            self._clear()
            print(f"{result.status:13} {result.latency:6.2f}s  {result.name}: {detail}",
                  file=sys.stderr)  # fmt: skip
        if self.tty and self.total:
            width = 30
            filled = width * self.done // self.total
            bar = "#" * filled + "-" * (width - filled)
            print(f"\r[{bar}] {self.done}/{self.total}", end="", file=sys.stderr, flush=True)

    def _clear(self) -> None:
        if self.tty:
            print("\r" + " " * 50 + "\r", end="", file=sys.stderr)

    def close(self) -> None:
        if self.tty and self.total:
            print(file=sys.stderr)


def _open(args: argparse.Namespace) -> tuple[LoadedConfig, Store]:
    loaded = load_config(args.config)
    args.database_url = loaded.config.database_url  # for messages about database trouble
    return loaded, open_store(loaded.config.database_url)


def cmd_poll(args: argparse.Namespace) -> int:
    from reportwatch.poll.loop import CycleEnd, watch
    from reportwatch.poll.owner import poller_id

    loaded, store = _open(args)
    # The modules and config loaded so far live as long as the process: leave them out of
    # every garbage collection from now on, including the one at exit (~0.3 s otherwise).
    gc.freeze()
    stop = threading.Event()
    if args.watch:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    first = [loaded]

    def load() -> LoadedConfig:
        return first.pop() if first else load_config(args.config)

    def ended(end: CycleEnd) -> None:
        if end.report is None:  # a worker outlives a database busy or read-only for a while
            what = "keeping the last good configuration" if end.config else "cycle failed, retrying"
            print(f"reportwatch: {what}: {end.error}", file=sys.stderr)
            return
        report = end.report
        seconds = (report.finished - report.started).total_seconds()
        print(f"polled {len(report.outcomes)} source(s) in {seconds:.1f}s: "
              f"{report.new_entries} new entries, {report.errors} error(s)",
              file=sys.stderr)  # fmt: skip

    try:
        watch(load, store, stop, owner=poller_id(), once=args.once, trigger="cli",
              on_fetched=lambda total: Progress(total, args.verbose), on_cycle=ended)  # fmt: skip
    finally:
        store.close()
    return 0


def _parse_since(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def cmd_items(args: argparse.Namespace) -> int:
    from reportwatch.store.queries import matched_items

    try:
        since = _parse_since(args.since)
    except ValueError:
        return _fail(f"--since expects an ISO date or time, got {args.since!r}", EXIT_CONFIG)
    _, store = _open(args)
    items = matched_items(store, tags=args.tag or (), since=since, limit=args.limit)
    rows = [row for item in items for row in _item_rows(item, args.all_copies)]
    if args.format == "csv":
        writer = csv.writer(sys.stdout)
        columns = ["source", "key", "title", "link", "published", "first_seen", "tags", "story"]
        if not args.all_copies:
            columns += ["sources", "links"]
        writer.writerow(columns)
        for row in rows:
            writer.writerow([" ".join(v) if isinstance(v, list) else v
                             for v in (row[c] for c in columns)])  # fmt: skip
    else:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    return 0


def _item_rows(item: Item, all_copies: bool) -> list[dict[str, object]]:
    """One row a story, or with --all-copies one row a copy (first seen first), each with its
    story's id and tags."""
    story = item.as_dict()
    if not all_copies:
        return [story]
    iso = lambda t: t.isoformat() if t else None  # noqa: E731
    rows = [{k: story[k] for k in ("story", "source", "key", "title", "link", "published",
                                   "first_seen", "tags", "summary")}]  # fmt: skip
    for c in item.others:
        rows.append({"story": item.story, "source": c.source, "key": c.key, "title": c.title,
                     "link": c.link, "published": iso(c.published),
                     "first_seen": iso(c.first_seen), "tags": item.tags})  # fmt: skip
    return rows


def cmd_sources(args: argparse.Namespace) -> int:
    from reportwatch.store.queries import source_health

    loaded, store = _open(args)
    store.sync_sources((s.name, s.url, s.enabled) for s in loaded.config.sources)
    rows = source_health(store)
    if args.format == "table":
        for row in rows:
            d = row.as_dict()
            print(f"{d['status']:13} {d['entries']:6}  {row.name}  {row.error or ''}")
    else:
        for row in rows:
            print(json.dumps(row.as_dict(), ensure_ascii=False))
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    path = config_path(args.path or args.config)
    loaded = load_config(path)
    config = loaded.config
    problems = []
    if config.notify:
        from reportwatch.config.reports import load_reports
        from reportwatch.notify.send import understood

        known = set(config.tags) | {t for r in load_reports(loaded.reports_path).reports
                                    for t in r.tags}  # fmt: skip
        for index, channel in enumerate(config.notify):
            if problem := understood(channel):
                problems.append(f"  - notify[{index}] ({channel.name}): {problem}")
            unknown = [t for t in channel.tags or () if t not in known]
            if unknown:
                problems.append(f"  - notify[{index}] ({channel.name}): tags in no rule and no "
                                f"report, so never sent: {', '.join(unknown)}")  # fmt: skip
    if problems:
        print(f"{path}: {len(problems)} problem(s) in the alert channels", file=sys.stderr)
        print("\n".join(problems), file=sys.stderr)
        return EXIT_CONFIG
    channels = f", {len(config.notify)} alert channels" if config.notify else ""
    print(f"{path}: ok ({len(config.sources)} sources, {len(config.tags)} tag rules{channels})")
    return 0


def cmd_notify(args: argparse.Namespace) -> int:
    from reportwatch.poll import alerts

    if args.test is not None:
        loaded = load_config(args.config)
        result = alerts.send_test(loaded, args.test)
        if not result.ok:
            return _fail(f"test message to {args.test!r} not delivered: {result.error}", 1)
        print(f"test message to {args.test!r} delivered")
        return 0
    loaded, store = _open(args)
    try:
        names = [c.name for c in loaded.config.notify]
        kinds = {c.name: c.kind for c in loaded.config.notify}
        rows = store.channel_status(names)
    finally:
        store.close()
    iso = lambda t: t.isoformat() if t else None  # noqa: E731
    for row in rows:
        data = {"name": row.name, "kind": kinds[row.name], "started": iso(row.since),
                "last_sent": iso(row.last_sent), "pending": row.pending, "failing": row.failing,
                "last_error": row.last_error, "last_error_at": iso(row.last_error_at)}  # fmt: skip
        if args.format == "json":
            print(json.dumps(data, ensure_ascii=False))
        else:
            print(f"{row.name}  {kinds[row.name]}  pending {row.pending}  "
                  f"last sent {data['last_sent'] or '—'}  {row.last_error or ''}")  # fmt: skip
    if not rows and args.format != "json":
        print("no alert channels (notify: in sources.yaml)")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from reportwatch.poll.cycle import build_matcher

    loaded = load_config(args.config)
    rules = build_matcher(loaded)
    text, summary = args.text, args.summary or ""
    found = rules.match(text, summary, args.category or ())
    models = _models(loaded, rules)
    print("rules:" if found else "rules: no tag matches")
    for m in found:
        hits = ", ".join(f"{h.keyword!r} in {h.field}" for h in m.hits)
        print(f"  {m.tag}  (score {m.score:.2f}): {hits}")
    if models is None:
        return 0
    if not models.models:
        print("models: none trained yet (the rules decide every tag)")
        return 0
    print("models (they decide their tags among the items their gate admits):")
    from reportwatch.match.matcher import normalise

    for tag, model in sorted(models.models.items()):
        gated = model.gated(normalise(text) + "\n" + normalise(summary))
        score = model.score(text, summary, found)
        verdict = "gives" if gated and score >= model.threshold else "does not give"
        why = "" if gated else " (no gate word: not judged)"
        top = ", ".join(f"{g!r} {w:+.2f}" for g, w in model.top_grams(text, summary, found))
        print(f"  {tag}: score {score:+.2f}, {verdict} the tag{why}; "
              f"version {model.version}, {model.labels} labels; weighed most: {top}")  # fmt: skip
    tags = [m.tag for m in models.match(text, summary, args.category or ())]
    print("result: " + (", ".join(tags) if tags else "no tag"))
    return 0


def _models(loaded: LoadedConfig, rules: Matcher) -> LearnedMatcher | None:
    """The rules with the store's models, or None (and why on stderr) when the store is not
    there to ask."""
    from reportwatch.poll.learn import current_matcher
    from reportwatch.urls import sqlite_file

    url = loaded.config.database_url
    path = sqlite_file(url)
    if path is not None and not path.exists():  # no store yet: nothing trained, nothing made
        print("models: none (no database yet)", file=sys.stderr)
        return None
    try:
        store = open_store(url)
    except StoreError as exc:
        print(f"models: not shown ({exc})", file=sys.stderr)
        return None
    try:  # read only: explaining never trains or writes (a read-only store works too)
        return current_matcher(store, loaded, rules, train=False)
    except StoreError as exc:
        print(f"models: not shown ({exc})", file=sys.stderr)
        return None
    finally:
        store.close()


def cmd_feedback(args: argparse.Namespace) -> int:
    from reportwatch.poll.cycle import build_matcher
    from reportwatch.poll.learn import FeedbackError, import_feedback

    loaded, store = _open(args)
    try:
        if args.action == "export":
            for v in store.feedback(args.tag):
                print(json.dumps(v.as_dict(), ensure_ascii=False))
            return 0
        try:
            if args.file == "-":
                lines = sys.stdin.read().splitlines()
            else:
                with open(args.file, encoding="utf-8") as f:
                    lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            return _fail(f"cannot read {args.file}: {exc}", EXIT_CONFIG)
        try:
            report = import_feedback(store, loaded, build_matcher(loaded), lines, args.analyst)
        except FeedbackError as exc:
            return _fail(str(exc), EXIT_CONFIG)
        print(f"imported {report}")
        return 0
    finally:
        store.close()


def cmd_evaluate(args: argparse.Namespace) -> int:

    from reportwatch.match import evaluate as ev
    from reportwatch.poll.cycle import build_matcher
    from reportwatch.poll.learn import gates

    loaded = load_config(args.config)
    rules = build_matcher(loaded)
    try:
        items = ev.load_labels(Path(args.labels))
    except ev.LabelsError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    present = {t for i in items for t in i.labels}
    tags = args.tag or [t for t in rules.tags if t in present]
    unknown = [t for t in tags if t not in rules.tags]
    if unknown:
        return _fail(f"unknown tag(s): {', '.join(unknown)}", EXIT_CONFIG)
    if not tags:
        known = ", ".join(rules.tags)
        return _fail(f"{args.labels}: no label is for a tag of the config ({known})", EXIT_CONFIG)
    gate = gates(loaded, tags)
    reports = []
    for tag in tags:
        print(f"evaluating {tag} …", file=sys.stderr)
        reports.append(ev.evaluate_tag(tag, items, rules, gate[tag], kind=args.kind))
    print(ev.format_report(reports, args.kind))
    return 0


def _read_password() -> str:
    """Twice with getpass on a terminal; else one line from stdin (for scripts)."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat the password: ") != first:
            raise ValueError("the two passwords differ")
        return first
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


def cmd_editor(args: argparse.Namespace) -> int:
    from reportwatch.config.editors import EditorError, add_editor

    path = config_path(args.config)
    try:
        password = _read_password()
        replaced = add_editor(path, args.name, password)
    except (EditorError, ValueError) as exc:
        return _fail(str(exc), EXIT_CONFIG)
    except OSError as exc:
        return _fail(f"cannot write {path}: {exc.strerror}", EXIT_CONFIG)
    what = "new password for" if replaced else "added"
    print(f"{path}: {what} editor {args.name!r} (argon2 hash stored; they can sign in now)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reportwatch", description=__doc__)
    parser.add_argument("--version", action="version", version=f"reportwatch {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="path to sources.yaml (default: $REPORTWATCH_CONFIG "
                        "or ./sources.yaml)")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)

    poll = sub.add_parser("poll", parents=[common], help="poll the feeds")
    mode = poll.add_mutually_exclusive_group(required=True)
    mode.add_argument("--once", action="store_true", help="run one full cycle and exit")
    mode.add_argument("--watch", action="store_true", help="poll until stopped")
    poll.add_argument("-v", "--verbose", action="store_true", help="one line per source")
    poll.set_defaults(func=cmd_poll)

    items = sub.add_parser("items", parents=[common], help="print matched stories")
    items.add_argument("--tag", action="append", help="only this tag (repeatable)")
    items.add_argument("--since", help="only stories first seen at or after this ISO time")
    items.add_argument(
        "--all-copies",
        action="store_true",
        help="one line per copy (each feed's item) instead of one per story",
    )
    items.add_argument("--format", choices=["json", "csv"], default="json")
    items.add_argument("--limit", type=int, default=None)
    items.set_defaults(func=cmd_items)

    srcs = sub.add_parser("sources", parents=[common], help="print each source's health")
    srcs.add_argument("--format", choices=["json", "table"], default="json")
    srcs.set_defaults(func=cmd_sources)

    check = sub.add_parser("check-config", parents=[common], help="validate a config file")
    check.add_argument("path", nargs="?")
    check.set_defaults(func=cmd_check_config)

    explain = sub.add_parser("explain", parents=[common], help="which tags a text would get")
    explain.add_argument("text", help="a headline (or any text)")
    explain.add_argument("--summary", help="summary text")
    explain.add_argument("--category", action="append", help="a category (repeatable)")
    explain.set_defaults(func=cmd_explain)

    notify = sub.add_parser("notify", parents=[common], help="alert channels: status or a test")
    what = notify.add_mutually_exclusive_group(required=True)
    what.add_argument("--test", metavar="NAME", help="send a test message to this channel")
    what.add_argument("--status", action="store_true", help="each channel's state")
    notify.add_argument("--format", choices=["json", "table"], default="json")
    notify.set_defaults(func=cmd_notify)

    fb = sub.add_parser("feedback", help="analysts' verdicts on stories: import or export")
    fb_sub = fb.add_subparsers(dest="action", required=True)
    imp = fb_sub.add_parser(
        "import", parents=[common],
        help='verdicts from JSON lines: {"link": …, "tag": …, "relevant": true|false}',
    )  # fmt: skip
    imp.add_argument("file", help='a JSON-lines file ("-": stdin)')
    imp.add_argument("--analyst", help="whose verdicts these are (stored with them)")
    imp.set_defaults(func=cmd_feedback)
    exp = fb_sub.add_parser("export", parents=[common], help="print every verdict as JSON lines")
    exp.add_argument("--tag", help="only this tag")
    exp.set_defaults(func=cmd_feedback)

    evaluate = sub.add_parser(
        "evaluate", parents=[common],
        help="P / R / F1 per tag of the rules, the model and both, cross-validated on labels",
    )  # fmt: skip
    evaluate.add_argument("labels", help="JSON lines of labelled items")
    evaluate.add_argument("--tag", action="append", help="only this tag (repeatable)")
    evaluate.add_argument("--kind", choices=["logreg", "svm", "nbsvm"], default="logreg")
    evaluate.set_defaults(func=cmd_evaluate)

    editor = sub.add_parser("editor", help="manage the editors who may change sources in the UI")
    editor_sub = editor.add_subparsers(dest="action", required=True)
    add = editor_sub.add_parser(
        "add",
        parents=[common],
        help="add an editor or set a new password (asked twice on a terminal, else one line "
        "from stdin)",
    )
    add.add_argument("name", help="the name to sign in with")
    add.set_defaults(func=cmd_editor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    except StoreError as exc:
        return _fail(str(exc), EXIT_STORE)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
