"""Ids sort in creation order within a process."""

from aiki.ids import new_id


def test_ids_made_in_a_row_are_unique_sorted_and_26_hex_characters() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(len(value) == 26 and int(value, 16) >= 0 for value in ids)
