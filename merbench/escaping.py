"""Data text made safe for each place merbench writes it: a terminal, Markdown, LaTeX and HTML.

Names, sample ids, labels and plugin messages come from datasets and plugins, so they may hold
characters that mean something to the output: control characters (an escape sequence acts on a
terminal, and one saved in a report acts on whoever ``cat``\\s it), Markdown's ``|*_`<[`` (a pipe splits a
table cell, the others make emphasis, code, links or raw HTML), LaTeX's specials, HTML's ``<&"``. Each function
here shows such text literally in one output; the caller adds its own markup (bold, code spans) afterwards.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any, Callable


HIDDEN_FORMAT = frozenset(chr(c) for c in (0x200B, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2060, 0x2065),
                                             *range(0x2066, 0x206A), 0xFEFF))
"""Invisible format characters shown escaped: zero-width spaces and joiners of words (two ids that print alike),
direction marks, overrides and isolates (which reorder what follows). The zero-width (non-)joiners U+200C and
U+200D are not among them: Persian words and emoji sequences need them."""


def _shown(c: str, keep: str = "") -> bool:
    category = unicodedata.category(c)
    return c in keep or (category != "Cc" and c not in HIDDEN_FORMAT)


def printable(text: str) -> str:
    """``text`` with control characters other than line breaks and tabs shown as ``\\xNN`` (an escape sequence in
    data, e.g. ESC, would otherwise act on the terminal), and ``HIDDEN_FORMAT`` characters as ``\\uNNNN`` (a
    zero-width space would make two ids look alike, a right-to-left override would reorder what follows)."""
    return "".join(c if _shown(c, "\n\t") else _escaped(c) for c in text)


def _escaped(c: str) -> str:
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}"


def printable_line(text: str) -> str:
    """``text`` for one line of a terminal or log: every control character, line breaks and tabs included, shown as
    ``\\xNN`` (a plugin's description, citation or error message: a ``\\r\\n`` in it would split the line, an ESC
    would act on the terminal; U+2028 and U+2029 as ``\\u2028``, ``\\u2029``). Rich markup is not escaped here:
    print the result as plain ``Text``, or ``escape`` it."""
    return "".join(c if _shown(c) and unicodedata.category(c) not in ("Zl", "Zp") else _escaped(c) for c in text)


def visible_text(text: str) -> str:
    """``text`` without surrounding whitespace and invisible format characters (a zero-width space, a direction
    mark): what a file browser or a spreadsheet shows of it."""
    return "".join(c for c in text.strip() if unicodedata.category(c) != "Cf")


def spelling_key(text: str) -> str:
    """What two spellings of one id share: without surrounding whitespace and invisible format characters (a
    zero-width space), in Unicode's compatibility form (a full-width ``Ｓ`` is ``S``), without case. Two subject ids
    of one key are most likely one person spelled two ways."""
    return unicodedata.normalize("NFKC", visible_text(text)).casefold()


LEADING_ZEROS = re.compile(r"(?<!\d)0+(?=\d)")


def number_key(text: str) -> str:
    """What two spellings of one numbered id share: ``spelling_key`` with each number written without leading zeros
    (``006`` is ``6``, ``sub06`` is ``sub6``, as a CSV re-saved by Excel writes them; ``s10`` stays ``s10``)."""
    return LEADING_ZEROS.sub("", spelling_key(text))


MARKDOWN_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
# Backslash-escaped punctuation and HTML entities both show as the plain character (CommonMark, GFM); an ``_``
# between two letters or digits never makes emphasis, so ``x86_64`` stays as written.
MARKDOWN_SPECIAL = re.compile(r"[\\`*\[\]~$|<>&]|(?<![^\W_])_|_(?![^\W_])")


def console_line(text: str) -> str:
    """Data text (a plugin's description, a file name the user gave) for ``Console.print`` with markup: on one line,
    Rich markup and control characters shown as written (an ESC as ``\\x1b``, a ``\\r\\n`` as ``\\x0d\\x0a``)."""
    from rich.markup import escape

    return escape(printable_line(text))


def _one_line(text: str) -> str:
    return " ".join(printable(text).splitlines())


def markdown_cell(text: str) -> str:
    """``text`` shown literally in a Markdown table cell (or paragraph): control characters shown, line breaks as
    spaces, and every character Markdown or GFM would read as markup (``\\ ` * _ [ ] ~ $ | < > &``) escaped."""
    return MARKDOWN_SPECIAL.sub(lambda m: MARKDOWN_ENTITIES.get(m[0], "\\" + m[0]), _one_line(text))


def markdown_code(text: str, table: bool = True) -> str:
    """``text`` as a Markdown code span: a fence longer than any run of backticks in ``text``, and in a table
    (``table``) ``|`` as ``\\|`` (GFM splits a row into cells before it reads code spans); blank text as
    ``markdown_cell``."""
    line = _one_line(text)
    if not line.strip():
        return markdown_cell(line)
    fence = "`" * (1 + max((len(run) for run in re.findall(r"`+", line)), default=0))
    pad = " " if line[0] in "` " or line[-1] in "` " else ""
    body = line.replace("|", "\\|") if table else line
    return f"{fence}{pad}{body}{pad}{fence}"


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                  "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "·": r"$\cdot$",
                  "†": r"$^\dagger$", "—": "---", "<": r"\textless{}", ">": r"\textgreater{}",
                  "|": r"\textbar{}", "`": r"\textasciigrave{}",
                  # symbols merbench's own captions and cells use, which pdfLaTeX's default UTF-8 input lacks
                  "−": r"$-$", "×": r"$\times$", "→": r"$\to$", "…": r"\ldots{}", "–": "--", "Δ": r"$\Delta$",
                  "≥": r"$\geq$", "≤": r"$\leq$", "²": r"$^2$", "³": r"$^3$", "⚠": r"$^\dagger$"}
LATEX_LIGATURES = "-',"
"""Characters LaTeX joins when doubled (``--`` a dash, ``''`` and ``,,`` quotation marks): kept apart by
``\\textcompwordmark{}`` (an empty group ``{}`` does it under pdfLaTeX only, not LuaLaTeX)."""


def latex_escape(text: str) -> str:
    """``text`` for LaTeX: its special characters escaped, control characters shown as ``\\xNN`` (escaped too), the
    ligatures ``--``, ``''`` and ``,,`` kept apart and backticks escaped (a name shows as written, not with a dash
    or quotation marks), and a leading ``[`` or ``*`` guarded by ``{}`` (after ``\\\\`` or ``\\midrule`` it would
    be read as their argument)."""
    shown = printable(text)
    escaped = "".join(LATEX_SPECIALS.get(ch, ch) + (r"\textcompwordmark{}" if ch in LATEX_LIGATURES
                                                     and shown[i + 1:i + 2] == ch else "")
                      for i, ch in enumerate(shown))
    return "{}" + escaped if escaped[:1] in ("[", "*") else escaped


def html_text(value: Any) -> str:
    """``value`` as text safe inside HTML elements and quoted attributes (control characters shown as ``\\xNN``:
    HTML does not allow them)."""
    return html.escape(printable(str(value)), quote=True)


COMMAND_SPAN = re.compile(r"\\([\\`])|`(merbench [^`]*)`")
"""In a note's text: a backslash-escaped backslash or backtick of data (``note_data``), or a command the note names in
Markdown's backticks (``merbench show ID``)."""


def note_data(text: str) -> str:
    """Data text (a model's row, a dataset's name, a run id) for a note that ``with_commands`` reads: each backslash
    and backtick escaped with a backslash, so that a name holding a command in backticks is shown as written, never
    as a command merbench names."""
    return re.sub(r"([\\`])", r"\\\1", text)


def with_commands(text: str, plain: Callable[[str], str], command: Callable[[str], str]) -> str:
    """``text`` (a note) with each command it names in backticks given by ``command`` (a code span, ``\\texttt``,
    ``<code>``) and the rest, the escapes of its data (``note_data``) undone, by ``plain`` (escaped for the format),
    so that no format shows the backticks as characters, nor a data name as a command."""
    parts, words, start = [], "", 0
    for found in COMMAND_SPAN.finditer(text):
        words += text[start:found.start()]
        if found[1] is not None:  # an escaped character of data
            words += found[1]
        else:
            parts += [plain(words), command(found[2])]
            words = ""
        start = found.end()
    return "".join([*parts, plain(words + text[start:])])


def note_text(text: str) -> str:
    """A note as plain text (a terminal, JSON): its data's escapes (``note_data``) undone, the commands it names left
    in their backticks."""
    return with_commands(text, str, lambda command: f"`{command}`")
