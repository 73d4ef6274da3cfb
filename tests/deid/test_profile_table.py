"""The PS3.15 table is generated from the maintained source, complete, with its edition recorded."""

from __future__ import annotations

from resources.deid.build_ps315_table import DEFAULT_EDITION, TABLE_PATH, render_table
from resources.deid.options import option_actions
from resources.deid.profile import load_basic_profile


def test_committed_table_is_what_the_generator_produces_from_the_installed_source() -> None:
    assert TABLE_PATH.read_text(encoding="utf-8") == render_table(DEFAULT_EDITION)


def test_table_is_the_complete_current_edition_with_every_action_code() -> None:
    table = load_basic_profile()
    assert table.edition == "2026c"
    assert "dicom-anonymizer" in table.source
    assert len(table) > 600
    codes = set(table.exact.values()) | {a for _, _, a in table.masked}
    assert {"D", "Z", "X", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"} <= codes
    assert table.action_for(0x0040A730) == "D"  # Content Sequence: the trap the option must avoid
    assert table.action_for(0x00100010) == "Z"
    assert table.action_for(0x60004000) == "X"  # overlay comments, masked repeating group


def test_option_table_names_only_known_keywords() -> None:
    actions = option_actions()
    assert actions["clean_structured_content"][0x0040A730] == "C"
    assert actions["retain_patient_characteristics"][0x00101010] == "K"
    assert actions["retain_device_identity"][0x00181000] == "P"
