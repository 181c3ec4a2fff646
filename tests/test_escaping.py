"""``merbench.escaping``: data text shown literally in a terminal."""

from __future__ import annotations


def test_invisible_format_characters_are_shown_escaped():
    """A zero-width space made two subject ids print alike; a right-to-left override reorders what follows it."""
    from merbench.escaping import printable, printable_line

    assert printable("s0\u200b") == "s0\\u200b" and printable_line("a\u202eb") == "a\\u202eb"
    assert printable("tab\tand line\n") == "tab\tand line\n" and printable("ünï") == "ünï"


def test_one_id_spelled_with_invisible_characters_or_another_unicode_form_shares_its_key():
    """A zero-width space or a full-width letter made a second subject that no warning named (only case and spaces
    were compared)."""
    from merbench.contracts import Dataset, Sample
    from merbench.dataset_check import subject_warnings
    from merbench.escaping import spelling_key

    assert spelling_key(" S01\u200b") == spelling_key("\uff33\uff10\uff11") == spelling_key("s01") != spelling_key("s02")
    samples = tuple(Sample(f"c{i}", subject, 0, "d", (), 0, 0, 0) for i, subject in enumerate(("S01", "S\u200b01")))
    (warning,) = subject_warnings(Dataset("d", ("a",), samples))
    assert "subject ids 'S01' and 'S\\u200b01' differ only in case or surrounding whitespace (or invisible" in warning


def test_joiners_that_words_and_emoji_need_are_kept():
    """Escaping every format character printed Persian class names as خوش\\u200cحال and broke emoji sequences."""
    from merbench.escaping import printable, printable_line

    for text in ("خوش\u200cحال", "👩\u200d🔬"):
        assert printable(text) == printable_line(text) == text
    assert printable("a\u2066b\ufeff") == "a\\u2066b\\ufeff"


def test_one_id_written_with_and_without_leading_zeros_is_warned_of_by_every_loader():
    """A CSV re-saved by Excel writes 006 as 6: the manifest refuses it, and any other loader's dataset gets the run's
    warning (before: two subjects, and no word)."""
    from merbench.contracts import Dataset, Sample
    from merbench.dataset_check import subject_warnings

    def warned(*ids: str) -> list[str]:
        samples = tuple(Sample(f"c{i}", subject, 0, "d", (), 0, 0, 0) for i, subject in enumerate(ids))
        return subject_warnings(Dataset("d", ("a",), samples))

    (warning,) = warned("006", "6", "007")
    assert "subject ids '006' and '6' differ only in case, leading zeros or surrounding whitespace" in warning
    assert warned("s1", "s10", "s100") == []
