"""Wall-clock slots: collection timestamps are multiples of the interval since the epoch."""

from datetime import UTC, datetime, timedelta


def slot_of(moment: datetime, interval_seconds: int) -> datetime:
    """The start of the slot that `moment` falls in (UTC)."""
    seconds = int(moment.timestamp())
    return datetime.fromtimestamp(seconds - seconds % interval_seconds, tz=UTC)


def next_slot(moment: datetime, interval_seconds: int) -> datetime:
    return slot_of(moment, interval_seconds) + timedelta(seconds=interval_seconds)
