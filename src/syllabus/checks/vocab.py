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
    "keywords_from",
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
