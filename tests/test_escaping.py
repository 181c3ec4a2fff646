"""``merbench.escaping``: data text shown literally in a terminal."""

from __future__ import annotations


def test_invisible_format_characters_are_shown_escaped():
    """A zero-width space made two subject ids print alike; a right-to-left override reorders what follows it."""
    from merbench.escaping import printable, printable_line

    assert printable("s0\u200b") == "s0\\u200b" and printable_line("a\u202eb") == "a\\u202eb"
    assert printable("tab\tand line\n") == "tab\tand line\n" and printable("ünï") == "ünï"
