"""Word lists the checks draw parameters from, and keyword extraction from a prompt.

The lists are small and plain on purpose: a sampled instruction should read naturally
next to almost any prompt, and a small model should be able to follow it.
"""

from __future__ import annotations

from syllabus.checks.text import words

__all__ = [
    "END_PHRASES",
    "FIRST_WORDS",
    "FORBIDDEN_WORDS",
    "KEYWORDS",
    "OPTION_SETS",
    "POSTSCRIPT_MARKERS",
    "SECTION_MARKERS",
    "START_PHRASES",
    "STOPWORDS",
    "emphasis_candidates",
    "keywords_from",
    "mention",
]

# Topic-neutral nouns for keyword checks when the prompt offers none.
KEYWORDS = (
    "balance", "bridge", "garden", "history", "journey", "light", "market", "music",
    "ocean", "pattern", "river", "science", "season", "signal", "window", "winter",
)
# Filler words a model tends to write unprompted, so forbidding them has bite.
FORBIDDEN_WORDS = (
    "also", "basically", "good", "important", "just", "many", "really", "thing", "very",
)
END_PHRASES = (
    "Any other questions?",
    "Hope this helps.",
    "Let me know if anything is unclear.",
    "That is all for now.",
    "Thanks for reading!",
)
START_PHRASES = ("Good question.", "Here is my answer:", "In short", "Let me explain.", "Sure")
FIRST_WORDS = ("finally", "first", "however", "imagine", "meanwhile", "next", "overall", "today")
SECTION_MARKERS = ("PART", "SECTION", "Step")
POSTSCRIPT_MARKERS = ("P.S.", "P.P.S.")
# No commas inside options, so the options check combines with punctuation.no_comma.
OPTION_SETS = (
    ("yes", "no", "maybe"),
    ("true", "false"),
    ("agree", "disagree", "not sure"),
    ("A", "B", "C", "D"),
)

STOPWORDS = frozenset(
    """
    about above after again against also among another because been before being below
    between both could does doing down during each either every from further have having
    here hers herself himself into itself just like make many more most much must myself
    neither only other ought ours ourselves over same shall should some such than that
    their theirs them themselves then there these they this those through under until
    upon very want were what when where which while whom whose will with within without
    would your yours yourself yourselves give given write tell explain describe provide
    list answer question please using used use short long brief detailed response words
    """.split()
)


def keywords_from(text: str) -> list[str]:
    """Content words of ``text`` (lowercased, 4+ letters, no stopwords), first occurrence order.

    >>> keywords_from("Explain why the River Thames floods, and why rivers flood.")
    ['river', 'thames', 'floods', 'rivers', 'flood']
    """
    seen: dict[str, None] = {}
    for word in words(text):
        lower = word.lower()
        if len(lower) >= 4 and lower.isalpha() and lower not in STOPWORDS:
            seen.setdefault(lower, None)
    return list(seen)


# -- text that repairs add (Check.repair) -----------------------------------------------
# Plain, comma-free, and free of FORBIDDEN_WORDS, so an addition never breaks another check.

#: Sentences that bring a missing keyword in; ``{}`` is the word (or "x and y").
MENTIONS = (
    "It is worth keeping {} in mind.",
    "All of this ties back to {}.",
    "Thinking about {} makes this clearer.",
    "In the end it comes back to {}.",
)
#: Fill-in fields in the order they are added, as phrases of one closing sentence.
FILL_IN_PHRASES = ("for [your name]", "on [date]", "in [place]", "at [time]")
FILL_IN_SENTENCE = "Feel free to adapt this {}."
#: The text after the postscript marker (lowercase: "P.S. if" stays one sentence).
POSTSCRIPT_TEXT = "if you want more detail on any part of this I am happy to help."
#: Replacements for filler words; a forbidden word not listed here is left out.
REPLACEMENTS = {"good": "great", "important": "essential", "many": "numerous", "thing": "point"}


def mention(words_: list[str] | tuple[str, ...], index: int = 0) -> str:
    """A short sentence that uses ``words_``; ``index`` picks the wording.

    >>> mention(["river"]), mention(["river", "bridge"], 1)
    ('It is worth keeping river in mind.', 'All of this ties back to river and bridge.')
    """
    joined = " and ".join(words_) if len(words_) <= 2 else " ".join(words_[:-1]) + " and " + words_[-1]
    return MENTIONS[index % len(MENTIONS)].format(joined)


def emphasis_candidates(text: str, prompt: str = "") -> list[str]:
    """Words of ``text`` worth emphasising: the prompt's content words it uses, then its own.

    >>> emphasis_candidates("Ice floats because frozen water is less dense.", "Why does ice float on water?")
    ['water', 'floats', 'frozen', 'dense']
    """
    own = keywords_from(text)
    topic = [w for w in keywords_from(prompt) if w in own]
    return topic + [w for w in own if w not in topic and len(w) >= 5]
