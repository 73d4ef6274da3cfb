"""Partition keys with and without a source: parsed, built, made into folder names."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from resources.partition_keys import (
    PartitionKeyError,
    day_of,
    folder_name,
    key_for,
    parse,
    qualify,
    source_of,
)


def test_date_only_keys_are_the_one_source_partitions() -> None:
    ref = parse("2026-11-09")
    assert ref.day == dt.date(2026, 11, 9) and ref.source is None
    assert ref.key == "2026-11-09" == key_for(dt.date(2026, 11, 9), None)


def test_source_keys_are_dagsters_multi_partition_keys() -> None:
    dagster_key = dg.MultiPartitionKey({"date": "2026-11-09", "source": "east"})
    assert key_for("2026-11-09", "east") == str(dagster_key) == "2026-11-09|east"
    ref = parse(str(dagster_key))
    assert (ref.day, ref.source) == (dt.date(2026, 11, 9), "east")
    assert source_of("2026-11-09|east") == "east" and source_of("2026-11-09") is None
    assert day_of("2026-11-09|east") == "2026-11-09" == day_of("2026-11-09")


def test_a_header_date_is_qualified_with_the_listener_source() -> None:
    assert qualify("2026-11-09", "east") == "2026-11-09|east"
    assert qualify("2026-11-09", None) == "2026-11-09"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("2026-13-01", "not a YYYY-MM-DD date"),
        ("20261109", "not a YYYY-MM-DD date"),
        ("2026-11-09|", "not a source name"),
        ("2026-11-09|East", "not a source name"),
        ("2026-11-09|../x", "not a source name"),
        ("2026-11-09|a|b", "not a source name"),
    ],
)
def test_bad_keys_are_refused_naming_the_key(key: str, reason: str) -> None:
    with pytest.raises(PartitionKeyError, match=reason) as caught:
        parse(key)
    assert repr(key) in str(caught.value)


def test_folder_names_hold_no_character_smb_shares_refuse() -> None:
    assert folder_name("2026-11-09|east") == "2026-11-09@east"
    assert folder_name("2026-11-09") == "2026-11-09"
    assert not set(folder_name("2026-11-09|east-2_b")) & set('<>:"/\\|?*')


def test_source_keys_sort_within_their_day() -> None:
    """What every period filter relies on: a day's source keys lie between the day and the next."""
    keys = ["2026-11-30|a", "2026-11-30|zz-9", "2026-11-30"]
    assert all("2026-11-30" <= key < "2026-12-01" for key in keys)
    assert not "2026-11-29|zz" >= "2026-11-30"
