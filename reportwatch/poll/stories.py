"""The poller's side of stories: exact keys and the near-duplicate index (reportwatch.match
.similar) behind the store's StoriesLike, kept warm across cycles like the matcher.

The index holds the stories of the last LOAD_DAYS (by their time: published, else first seen).
At every cycle it loads the stories started since (by this poller or any other one sharing the
store), so a copy that another poller's story already covers joins that story.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from reportwatch.match.similar import StoryIndex, story_keys
from reportwatch.models import Entry
from reportwatch.store.core import Store

LOAD_DAYS = 7  # a near-duplicate is looked for among stories this recent


class Stories:
    def __init__(self) -> None:
        self.index = StoryIndex()
        self.source_of: dict[int, int] = {}  # story → the source of its first copy
        self.last_id = 0  # the newest story the index has loaded from the store
        self.loaded_since: datetime | None = None

    # -- StoriesLike ------------------------------------------------------------------------
    def keys(self, entry: Entry) -> list[str]:
        return story_keys(entry.title, entry.link, entry.key)

    def near(self, entry: Entry, when: datetime, source_id: int) -> int | None:
        # Across feeds only: two items of one feed are two stories unless they share a key
        # (a feed's series parts and follow-ups look alike).
        def own(story_id: int) -> bool:
            return self.source_of.get(story_id) == source_id

        return self.index.find(entry.title, entry.summary, when, skip=own)

    def added(self, story_id: int, entry: Entry, when: datetime, source_id: int) -> None:
        self.index.add(story_id, entry.title, entry.summary, when)
        self.source_of[story_id] = source_id
        self.last_id = max(self.last_id, story_id)

    # -- keeping up with the store -----------------------------------------------------------
    def refresh(self, store: Store, now: datetime) -> None:
        since = now - timedelta(days=LOAD_DAYS)
        rows = store.story_founders(since, self.last_id)
        if rows:
            self.index.add_many([(i, title, summary, when) for i, title, summary, when, _ in rows])
            self.source_of.update((r[0], r[4]) for r in rows)
            self.last_id = max(self.last_id, max(r[0] for r in rows))
        self.index.prune(since)
        if len(self.source_of) > 2 * len(self.index):  # forget the pruned stories' sources
            self.source_of = {k: v for k, v in self.source_of.items() if k in self.index}


_warm: dict[str, Stories] = {}  # per store URL: the index survives --watch and embedded cycles


def stories_for(store: Store, now: datetime) -> Stories:
    """This process's stories for the store, caught up with what other pollers stored, and with
    entries stored before stories existed assigned (a backfill, once)."""
    stories = _warm.setdefault(store.url, Stories())
    stories.refresh(store, now)
    if store.assign_stories(stories):
        stories.refresh(store, now)
    return stories
