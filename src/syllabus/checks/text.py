"""Words, sentences and paragraphs, by rules: no tokenizer model, no downloaded data.

IFEval counts sentences with NLTK's Punkt model, whose data must be downloaded at run
time. These rules need nothing but the standard library, are deterministic, and are
written down so a score can be explained. They deviate from Punkt on purpose in a few
places (noted below); a check's result therefore may differ from IFEval's on the same text.

Words (:func:`words`):

* a word is a run of letters or digits; an apostrophe, hyphen or dot *inside* a run keeps
  it whole (``don't``, ``well-known``, ``e.g``, ``U.S``);
* a number with decimal or thousands separators is one word (``3.14``, ``1,000``);
* punctuation, markdown symbols and emoji are not words;
* scripts written without spaces (Chinese, Japanese) count one word per unbroken run,
  which undercounts them: the word-count checks are meant for space-separated languages.

Sentences (:func:`split_sentences`):

1. A blank line always ends a sentence, and so does a line break before a list item
   (``-``, ``*``, ``+``, ``1.``, ``1)``) or a markdown heading, and after a heading: each
   heading and each list item is its own unit even without final punctuation.
2. Otherwise a sentence ends at ``.``, ``!``, ``?``, ``‽`` or ``…`` (also repeated:
   ``?!``, ``...``), optionally followed by closing quotes, brackets or markdown
   emphasis (``"`` ``”`` ``’`` ``»`` ``)`` ``]`` ``*`` ``_``), and then whitespace or
   the end of the text. A dot inside a token (``3.14``, ``example.com``) never ends one.
3. Chinese and Japanese full stops, question and exclamation marks (``。！？``) end a
   sentence with no space after them.
4. ``?`` or ``!`` inside closing quotes followed by a lowercase word does not end the
   sentence (reported speech: ``"Why?" she asked.``).
5. An ellipsis ends a sentence only if the next word does not start in lowercase
   (``I was... tired`` is one sentence).
6. A single ``.`` does not end a sentence after: a title (``Mr.``, ``Dr.``, ``Prof.``);
   ``e.g.``, ``i.e.``, ``vs.``, ``cf.`` and similar; ``No.``, ``Fig.``, ``p.`` before a
   number; a single capital letter (an initial, ``J. K. Rowling``; the pronoun ``I``
   excepted); a number that opens a line (a list marker). After an abbreviation that can
   also close a sentence (``etc.``, ``Inc.``, ``a.m.``, ``U.S.``, any dotted acronym,
   month names) it ends the sentence only if the next word starts with a capital.
   Any other ``.`` followed by whitespace ends a sentence, even before a lowercase word,
   so that all-lowercase text is split too (Punkt would often join those).
7. A piece without any letter or digit (``***``, ``---``) is not a sentence.

Known limits: a sentence that really ends with an initial (``Plan B.``) or with ``e.g.``
is joined to the next one; ``U.S. Army`` is split after ``U.S.``.

>>> split_sentences("Dr. Smith paid $3.50, i.e. a lot. Did he? Yes!")
['Dr. Smith paid $3.50, i.e. a lot.', 'Did he?', 'Yes!']
>>> count_words("It's a well-known fact: 3.14 > 3.")
6
"""

from __future__ import annotations

import re

__all__ = [
    "append_text",
    "as_sentence",
    "capitalize_first",
    "contains_phrase",
    "count_phrase",
    "count_sentences",
    "count_words",
    "keep_sentences",
    "keep_words",
    "normalize_space",
    "phrase_pattern",
    "plain_sentences",
    "prepend_text",
    "regroup",
    "sentence_spans",
    "split_clause",
    "split_on_divider",
    "split_paragraphs",
    "split_sentences",
    "strip_code_fence",
    "words",
]

_WORD = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:['’.\-][^\W_]+)*")


def words(text: str) -> list[str]:
    """The words of ``text`` by the rules in the module docstring.

    >>> words("Don't panic -- it's 1,000.5 km (approx.)!")
    ["Don't", 'panic', "it's", '1,000.5', 'km', 'approx']
    """
    return _WORD.findall(text)


def count_words(text: str) -> int:
    return len(words(text))


def normalize_space(text: str) -> str:
    """Collapse every run of whitespace to one space and strip the ends."""
    return " ".join(text.split())


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A whole-word, case-insensitive pattern for ``phrase`` (any spacing between its words)."""
    # Whole-word match: "cat" must not count inside "category". The lookarounds (rather
    # than \b) also work for phrases that begin or end with punctuation, like "P.S.".
    body = r"\s+".join(re.escape(part) for part in phrase.split())
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


def count_phrase(text: str, phrase: str) -> int:
    """How often ``phrase`` occurs as whole words, ignoring case and spacing.

    >>> count_phrase("A cat, a Cat and a category.", "cat")
    2
    """
    if not phrase.strip():
        return 0
    return len(phrase_pattern(phrase).findall(text))


def contains_phrase(text: str, phrase: str) -> bool:
    return count_phrase(text, phrase) > 0


# -- sentences ---------------------------------------------------------------------------

_TITLES = {
    "mr", "mrs", "ms", "messrs", "mme", "dr", "prof", "st", "mt", "ft", "rev", "fr",
    "gen", "capt", "col", "lt", "sgt", "cmdr", "hon", "gov", "sen", "rep", "pres", "supt",
}
_NEVER_END = _TITLES | {"e.g", "i.e", "cf", "vs", "viz", "approx", "ca", "incl", "esp", "resp", "dept", "est"}
_BEFORE_NUMBER = {"no", "nos", "nr", "fig", "figs", "vol", "vols", "p", "pp", "ch", "sec", "eq", "art", "ref", "op"}
_MAY_END = {
    "etc", "al", "inc", "ltd", "co", "corp", "jr", "sr", "bros", "ph.d", "a.m", "p.m",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
}
_ACRONYM = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")  # u.s, e.u, b.c (dots inside; the last one was the candidate)

_OPENERS = "\"'“‘«([{*_`"
_CLOSERS = "\"'”’»)]}*_`"
_QUOTES = "\"'”’»"
_CANDIDATE = re.compile(
    rf"(?P<punct>[.!?‽…]+)(?P<close>[{re.escape(_CLOSERS)}]*)(?=\s|$)"
    r"|(?P<cjk>[。！？｡]+)(?P<cjkclose>[」』”’）)]*)"
)
_NEXT_CHAR = re.compile(rf"\s*[{re.escape(_OPENERS)}]*(\S)")
_STRUCTURAL_LINE = re.compile(r"[ \t]*(?:[-*+•][ \t]+\S|\d+[.)][ \t]+\S|#{1,6}[ \t]+\S)")
_HEADING_LINE = re.compile(r"[ \t]*#{1,6}[ \t]+\S")
_HAS_WORD = re.compile(r"[^\W_]")


def _blocks(text: str) -> list[str]:
    """Cut at the line breaks that always end a sentence (rule 1)."""
    blocks: list[list[str]] = [[]]
    previous_was_heading = False
    for line in text.splitlines():
        if not line.strip():
            blocks.append([])
            previous_was_heading = False
            continue
        if blocks[-1] and (_STRUCTURAL_LINE.match(line) or previous_was_heading):
            blocks.append([])
        blocks[-1].append(line)
        previous_was_heading = bool(_HEADING_LINE.match(line))
    return ["\n".join(lines) for lines in blocks if lines]


def _is_boundary(block: str, match: re.Match[str]) -> bool:
    if match["cjk"]:
        return True
    punct, close = match["punct"], match["close"]
    following = _NEXT_CHAR.match(block, match.end())
    if following is None:  # end of the block
        return True
    nxt = following.group(1)
    if any(c in punct for c in "!?‽"):
        reported_speech = any(c in _QUOTES for c in close) and nxt.islower()
        return not reported_speech
    if len(punct) > 1 or "…" in punct:  # an ellipsis
        return not nxt.islower()
    # A single dot: look at the token it ends.
    line_start = block.rfind("\n", 0, match.start()) + 1
    token_start = match.start()
    while token_start > line_start and not block[token_start - 1].isspace():
        token_start -= 1
    token = block[token_start : match.start()].lstrip(_OPENERS)
    lower = token.lower()
    if lower in _NEVER_END:
        return False
    if lower in _BEFORE_NUMBER and nxt.isdigit():
        return False
    if token.isdigit() and not block[line_start:token_start].strip():
        return False  # "1." opening a line is a list marker
    if lower in _MAY_END or _ACRONYM.fullmatch(lower):
        return nxt.isupper()
    if len(token) == 1 and token.isupper() and token != "I":
        return False  # an initial
    return True


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences by the rules in the module docstring.

    >>> split_sentences("He said “Stop!” and left… Then? e.g. this one.")
    ['He said “Stop!” and left…', 'Then?', 'e.g. this one.']
    >>> split_sentences("天气很好。我们走吧！")
    ['天气很好。', '我们走吧！']
    >>> split_sentences("Steps:\\n1. Mix the flour\\n2. Bake it")
    ['Steps:', '1. Mix the flour', '2. Bake it']
    """
    sentences: list[str] = []
    for block in _blocks(text):
        start = 0
        for match in _CANDIDATE.finditer(block):
            if _is_boundary(block, match):
                sentences.append(block[start : match.end()])
                start = match.end()
        sentences.append(block[start:])
    return [s.strip() for s in sentences if _HAS_WORD.search(s)]


def count_sentences(text: str) -> int:
    return len(split_sentences(text))


# -- paragraphs and fences ---------------------------------------------------------------

_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs separated by blank lines; pieces without a letter or digit are dropped.

    >>> split_paragraphs("One.\\n\\n  \\nTwo\\nstill two.\\n\\n---\\n")
    ['One.', 'Two\\nstill two.']
    """
    parts = (p.strip() for p in _BLANK_LINE.split(text))
    return [p for p in parts if _HAS_WORD.search(p)]


def split_on_divider(text: str, divider: str) -> list[str]:
    """Split on lines that hold nothing but ``divider`` (surrounding spaces allowed).

    Empty pieces are kept so a caller can tell ``a\\n***\\n***\\nb`` from ``a\\n***\\nb``.

    >>> split_on_divider("a\\n***\\nb\\n *** \\nc", "***")
    ['a', 'b', 'c']
    """
    pattern = re.compile(rf"^[ \t]*{re.escape(divider)}[ \t]*$", re.MULTILINE)
    return [p.strip() for p in pattern.split(text)]


_FENCE = re.compile(r"\A```[\w+.-]*[ \t]*\n(?P<body>.*?)\n?[ \t]*```\Z", re.DOTALL)


def strip_code_fence(text: str) -> str:
    """The body of a response that is one fenced code block, else the stripped text.

    >>> strip_code_fence('```json\\n{"a": 1}\\n```\\n')
    '{"a": 1}'
    """
    stripped = text.strip()
    match = _FENCE.match(stripped)
    return match["body"].strip() if match else stripped


# -- rewriting (used by Check.repair) ------------------------------------------------------
#
# Small edits that keep the text readable: cut after a sentence, add a sentence or a line,
# turn sentences into a given number of units. Each keeps the text's own layout where it can.


def _unify_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each of :func:`split_sentences` in ``text`` (``\\n`` line breaks).

    >>> text = "One. Two!\\n* three"
    >>> [text[a:b] for a, b in sentence_spans(text)]
    ['One.', 'Two!', '* three']
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    for sentence in split_sentences(text):
        start = text.find(sentence, pos)
        if start < 0:  # a line break other than \n inside the sentence: stop there
            break
        spans.append((start, start + len(sentence)))
        pos = start + len(sentence)
    return spans


def keep_sentences(text: str, n: int) -> str:
    """The first ``n`` sentences of ``text``, in its own layout.

    >>> keep_sentences("One. Two.\\n\\nThree.", 2)
    'One. Two.'
    """
    text = _unify_newlines(text)
    spans = sentence_spans(text)
    if len(spans) <= n:
        return text.strip()
    return text[: spans[n - 1][1]].strip() if n > 0 else ""


def keep_words(text: str, n: int) -> str:
    """At most ``n`` words: whole sentences while they fit; if even the first does not,
    its first ``n`` words closed with a full stop.

    >>> keep_words("One two three. Four five six.", 4)
    'One two three.'
    >>> keep_words("One two three four five.", 2)
    'One two.'
    """
    text = _unify_newlines(text)
    if count_words(text) <= n:
        return text.strip()
    kept = 0
    for _, end in sentence_spans(text):
        if count_words(text[:end]) > n:
            break
        kept = end
    if kept:
        return text[:kept].strip()
    found = list(_WORD.finditer(text))
    if n < 1 or not found:
        return ""
    return as_sentence(text[: found[n - 1].end()])


def capitalize_first(text: str) -> str:
    """Upper-case the first letter, leave the rest alone.

    >>> capitalize_first("the iPhone")
    'The iPhone'
    """
    for i, c in enumerate(text):
        if c.isalpha():
            return text[:i] + c.upper() + text[i + 1 :]
    return text


def as_sentence(text: str) -> str:
    """``text`` stripped, with a full stop added when it ends in a letter or digit.

    >>> as_sentence("Bake it "), as_sentence("Done!")
    ('Bake it.', 'Done!')
    """
    text = text.strip().rstrip(",;:-–— ")
    return text + "." if text[-1:].isalnum() else text


def _ends_structurally(text: str) -> bool:
    last = text.rstrip().rsplit("\n", 1)[-1]
    return bool(_STRUCTURAL_LINE.match(last)) or last.lstrip().startswith("<<")


def _starts_structurally(text: str) -> bool:
    first = text.lstrip().split("\n", 1)[0]
    return bool(_STRUCTURAL_LINE.match(first)) or first.startswith(("<<", "```", "{", "["))


def append_text(text: str, addition: str, *, own_line: bool = False) -> str:
    """``addition`` after ``text``: as the next sentence of the last paragraph, or on a
    line of its own (after a blank line) when asked or when the text ends in a list.

    >>> append_text("Bake it", "Enjoy.")
    'Bake it. Enjoy.'
    >>> append_text("* a\\n* b", "Enjoy.")
    '* a\\n* b\\n\\nEnjoy.'
    """
    text = text.rstrip()
    if not text.strip():
        return addition
    if own_line or _ends_structurally(text):
        return f"{text}\n\n{addition}"
    return f"{as_sentence(text)} {addition}"


def prepend_text(lead: str, text: str) -> str:
    """``lead`` before ``text``: on its own line when the text opens with a list, title,
    heading or code; else as the start of the first line.

    >>> prepend_text("Sure!", "It works."), prepend_text("Sure!", "* a")
    ('Sure! It works.', 'Sure!\\n\\n* a')
    """
    text = text.strip()
    if not text:
        return lead
    return f"{lead}\n\n{text}" if _starts_structurally(text) else f"{lead} {text}"


_LIST_MARKER = re.compile(r"^[ \t]*(?:[-*+•][ \t]+|\d+[.)][ \t]+|#{1,6}[ \t]+)")


def plain_sentences(text: str) -> list[str]:
    """The sentences of ``text`` on one line each, list and heading markers removed.

    >>> plain_sentences("Tips:\\n1. Rest\\n- Eat well.\\n## End")
    ['Tips:', 'Rest', 'Eat well.', 'End']
    """
    return [normalize_space(_LIST_MARKER.sub("", s)) for s in split_sentences(_unify_newlines(text))]


# Where one sentence may become two: a semicolon, a colon, a comma before a conjunction
# (the "and" is dropped), and, failing those, any comma.
_CLAUSE_BREAKS = (
    re.compile(r";\s+"),
    re.compile(r":\s+(?=\S)"),
    re.compile(r",\s+(?:and\s+)?(?=(?:but|so|yet|while|then|and)\b)", re.IGNORECASE),
    re.compile(r",\s+"),
)


def split_clause(sentence: str) -> list[str]:
    """Two sentences from one, cut at the clause break nearest its middle; ``[sentence]``
    when it has no break with three or more words on each side.

    >>> split_clause("The river rises in spring, and the town floods every year.")
    ['The river rises in spring.', 'The town floods every year.']
    """
    middle = len(sentence) / 2
    for pattern in _CLAUSE_BREAKS:
        cuts = [
            m
            for m in pattern.finditer(sentence)
            if count_words(sentence[: m.start()]) >= 3 and count_words(sentence[m.end() :]) >= 3
        ]
        if cuts:
            cut = min(cuts, key=lambda m: abs(m.start() - middle))
            rest = re.sub(r"^and\s+", "", sentence[cut.end() :].strip(), flags=re.IGNORECASE)
            return [as_sentence(sentence[: cut.start()]), capitalize_first(rest)]
    return [sentence]


def regroup(units: list[str], n: int) -> list[str] | None:
    """``units`` (sentences) as exactly ``n`` pieces, in order: neighbours are joined when
    there are too many, the longest sentences split at a clause break when too few;
    ``None`` when even that gives fewer than ``n``.

    >>> regroup(["A b c.", "D e f.", "G h i."], 2)
    ['A b c. D e f.', 'G h i.']
    >>> regroup(["Short."], 2) is None
    True
    """
    units = [u for u in units if u.strip()]
    while len(units) < n:
        for i in sorted(range(len(units)), key=lambda i: -count_words(units[i])):
            parts = split_clause(units[i])
            if len(parts) == 2:
                units[i : i + 1] = parts
                break
        else:
            return None
    size, extra = divmod(len(units), n)
    groups, pos = [], 0
    for g in range(n):
        take = size + (1 if g < extra else 0)
        groups.append(" ".join(units[pos : pos + take]))
        pos += take
    return groups
