"""``arith-ic``: arithmetic word problems with one irrelevant sentence (GSM-IC style).

GSM-IC (Shi et al., 2023) measures *distractibility*: a model's accuracy on grade-school
problems after one sentence that does not change the answer is added. This task rebuilds
the idea on problems written from syllabus's own templates, so it needs no external data
and can never leak a benchmark into training data:

* **base problems**: short two-step word problems (shopping, sharing, distance, ages,
  baking, savings, ...) drawn from 16 templates with names, objects and numbers from a seeded
  ``random.Random``. Each template computes its gold answer (an integer) and a worked
  solution in code.
* **variants**: each base problem also appears with ONE irrelevant sentence inserted
  after its first sentence and before its question, for each of the 2 x 2 x 2 combinations of three factors:

  ========  ===========================================  ====================================
  factor    levels                                       meaning
  ========  ===========================================  ====================================
  topic     ``in_topic`` / ``off_topic``                 same scenario (another shop, another
                                                         person's savings) or unrelated (shoe
                                                         size, a star's distance)
  role      ``same_name`` / ``new_name``                 the sentence names the problem's main
                                                         character, or a name not in it
  number    ``in_range`` / ``out_of_range``              between the smallest and largest
                                                         number of the problem (never one of
                                                         them or the answer), or at least 10x
                                                         the largest and at least 1,000
  ========  ===========================================  ====================================

  So one base problem gives 9 examples: the clean problem, then its 8 variants. The
  sentences talk about another person, object or time, so the answer never changes; the
  templates name their characters instead of using pronouns, so an inserted sentence
  about someone else cannot make a later "she" ambiguous.

Splits. ``split="test"`` (the default) and ``split="train"`` never share a base problem: a
base problem belongs to a split by a hash of its template and its numbers (names are left
out of the hash, so a renamed copy of a test problem also lands in test). A teacher may
generate training data from ``train`` problems (their worked solutions are in
``meta["arith_ic.solution"]``); evaluation uses ``test``.

Prompt: the task's instruction asks for a reply that ends with "The answer is N." and the
scoring keys on that marker (:mod:`syllabus.evaluate.extract`).

Metrics per example: ``strict_acc`` (number after the first answer marker), ``flexible_acc``
(last number) and ``format_compliance`` (a marker with a number is present). Aggregated,
for ``strict`` and ``flexible`` each (see :meth:`ArithIC.aggregate`): clean, micro, macro
and normalized accuracy and accuracy per factor level, with 95% confidence intervals.

>>> task = ArithIC(n_base=2)
>>> examples = task.load()
>>> len(examples), examples[0].meta["arith_ic.variant"], examples[1].meta["arith_ic.variant"]
(18, 'clean', 'in_topic/same_name/in_range')
>>> examples[0].reference == examples[8].reference
True
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from syllabus.errors import ConfigError, DataError
from syllabus.evaluate.extract import answers_match, extract_flexible, extract_strict
from syllabus.evaluate.stats import Estimate, mean_ci
from syllabus.evaluate.task import Output, Task
from syllabus.record import Example, content_hash

__all__ = [
    "FACTORS",
    "INSTRUCTION",
    "ArithIC",
    "BaseProblem",
    "Variant",
    "cluster_bootstrap",
    "make_base_problems",
    "make_variants",
    "split_of",
]

META = "arith_ic"  # namespace of this task's keys in Example.meta

# The three GSM-IC factors and their two levels each, in the order variants are listed.
FACTORS: dict[str, tuple[str, str]] = {
    "topic": ("in_topic", "off_topic"),
    "role": ("same_name", "new_name"),
    "number": ("in_range", "out_of_range"),
}
# The 8 combinations (topic, role, number), in the order each base problem's variants appear.
FACTOR_LEVELS: tuple[tuple[str, str, str], ...] = tuple(itertools.product(*FACTORS.values()))  # type: ignore[arg-type]

INSTRUCTION = (
    "Solve the math word problem below. Work it out step by step if that helps, then end your "
    'reply with the sentence "The answer is N." where N is the final answer as a number written in digits.'
)

NAMES = (
    "Maria", "Kofi", "Aiko", "Liam", "Priya", "Mateo", "Fatima", "Noah", "Mei", "Omar",
    "Sofia", "Ravi", "Elena", "Jamal", "Hana", "Lucas", "Amara", "Diego", "Ingrid", "Tomas",
    "Zara", "Chen", "Nadia", "Ivan", "Leila", "Samuel", "Yuki", "Ayesha", "Felix", "Greta",
    "Kwame", "Lena", "Marco", "Nia", "Oscar", "Sanjay", "Tariq", "Vera", "Wei", "Anya",
)

# Off-topic sentences: about nothing any template asks about. {role} is a name, {number} a number.
OFF_TOPIC = (
    "{role}'s shoe size is {number}.",
    "{role} lives at number {number} on a quiet street.",
    "{role}'s grandmother once counted {number} birds on a trip to the coast.",
    "{role} has a poster of a mountain that is {number} metres high.",
    "{role}'s cousin scored {number} points in a video game.",
    "The star that {role} likes best is {number} light years away.",
    "{role}'s favourite song is {number} seconds long.",
    "The oldest tree in {role}'s town is {number} years old.",
)

# Out-of-range numbers are at least this large (and at least 10x the problem's largest).
OUT_OF_RANGE_FLOOR = 1000


# ---------------------------------------------------------------------------------------
# Base problems and their templates
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaseProblem:
    """One clean word problem written from a template.

    Attributes:
        template: the template's name.
        conditions: the sentences before the question.
        question: the last sentence.
        answer: the gold answer, computed in code.
        numbers: the quantities written in the text (number ranges and the split use them).
        hero: the main character; ``same_name`` distractors reuse this name.
        people: every name in the text; ``new_name`` distractors avoid them.
        steps: the worked solution, one sentence per arithmetic step.
        in_topic: in-topic distractor patterns with ``{role}`` and ``{number}``.
    """

    template: str
    conditions: tuple[str, ...]
    question: str
    answer: int
    numbers: tuple[int, ...]
    hero: str
    people: tuple[str, ...]
    steps: tuple[str, ...]
    in_topic: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join((*self.conditions, self.question))

    @property
    def key(self) -> str:
        """What makes two problems the same: template and numbers, not names."""
        return f"{self.template}:{','.join(map(str, self.numbers))}"

    @property
    def solution(self) -> str:
        """A worked solution that ends the way the instruction asks."""
        return " ".join((*self.steps, f"The answer is {self.answer}."))


Template = Callable[[random.Random, str, str], BaseProblem]
TEMPLATES: dict[str, Template] = {}


def _template(fn: Template) -> Template:
    """Register a template under its function name (without the leading underscore)."""
    TEMPLATES[fn.__name__.lstrip("_")] = fn
    return fn


# Every template: (rng, hero, other) -> BaseProblem. Numbers are drawn so that the answer
# is a positive integer (exact division, nothing negative); ``numbers`` lists the
# quantities as written, in text order.


@_template
def _shopping(rng: random.Random, hero: str, other: str) -> BaseProblem:
    n, price, bag = rng.randint(2, 9), rng.randint(2, 12), rng.randint(10, 60)
    cost = n * price
    return BaseProblem(
        template="shopping",
        conditions=(f"{hero} buys {n} notebooks that cost ${price} each.", f"{hero} also buys a backpack for ${bag}."),
        question=f"How many dollars does {hero} spend on the notebooks and the backpack?",
        answer=cost + bag,
        numbers=(n, price, bag),
        hero=hero,
        people=(hero,),
        steps=(
            f"The notebooks cost {n} * {price} = {cost} dollars.",
            f"With the backpack, {cost} + {bag} = {cost + bag} dollars.",
        ),
        in_topic=(
            "{role}'s brother bought {number} pencils at the same shop last month.",
            "{role}'s friend has a gift card worth ${number} for another store.",
        ),
    )


@_template
def _stickers(rng: random.Random, hero: str, other: str) -> BaseProblem:
    friends, each = rng.randint(2, 6), rng.randint(3, 12)
    total = friends * each
    have = rng.randint(2, total - 2)
    gift = total - have
    return BaseProblem(
        template="stickers",
        conditions=(
            f"{hero} has {have} stickers.",
            f"{other} gives {hero} {gift} more stickers.",
            f"{hero} shares all the stickers equally among {friends} friends.",
        ),
        question="How many stickers does each friend get?",
        answer=each,
        numbers=(have, gift, friends),
        hero=hero,
        people=(hero, other),
        steps=(f"{hero} has {have} + {gift} = {total} stickers.", f"Each friend gets {total} / {friends} = {each} stickers."),
        in_topic=(
            "{role}'s cousin keeps {number} stickers in an album at home.",
            "{role} gave away {number} stamps at school last year.",
        ),
    )


@_template
def _distance(rng: random.Random, hero: str, other: str) -> BaseProblem:
    speed, hours, walk = 5 * rng.randint(6, 18), rng.randint(2, 5), rng.randint(2, 9)
    drive = speed * hours
    return BaseProblem(
        template="distance",
        conditions=(
            f"{hero} drives at {speed} kilometres per hour for {hours} hours.",
            f"{hero} then walks {walk} kilometres to a lake.",
        ),
        question=f"How many kilometres does {hero} travel in total?",
        answer=drive + walk,
        numbers=(speed, hours, walk),
        hero=hero,
        people=(hero,),
        steps=(
            f"Driving covers {speed} * {hours} = {drive} kilometres.",
            f"With the walk, {drive} + {walk} = {drive + walk} kilometres.",
        ),
        in_topic=(
            "{role}'s neighbour drove {number} kilometres to the coast last summer.",
            "The car of {role}'s uncle has a fuel tank that holds {number} litres.",
        ),
    )


@_template
def _ages(rng: random.Random, hero: str, other: str) -> BaseProblem:
    age, gap, years = rng.randint(5, 40), rng.randint(2, 30), rng.randint(2, 15)
    now = age + gap
    return BaseProblem(
        template="ages",
        conditions=(f"{hero} is {age} years old.", f"{other} is {gap} years older than {hero}."),
        question=f"How old will {other} be in {years} years?",
        answer=now + years,
        numbers=(age, gap, years),
        hero=hero,
        people=(hero, other),
        steps=(
            f"{other} is {age} + {gap} = {now} years old now.",
            f"In {years} years, {other} will be {now} + {years} = {now + years}.",
        ),
        in_topic=("{role}'s grandmother turned {number} last spring.", "{role}'s cat is {number} months old."),
    )


@_template
def _baking(rng: random.Random, hero: str, other: str) -> BaseProblem:
    trays, per_tray = rng.randint(2, 6), rng.randint(6, 15)
    baked = trays * per_tray
    given = rng.randint(2, baked - 1)
    return BaseProblem(
        template="baking",
        conditions=(
            f"{hero} bakes {trays} trays of cookies.",
            f"Each tray holds {per_tray} cookies.",
            f"{hero} gives {given} cookies to the neighbours.",
        ),
        question=f"How many cookies does {hero} have left?",
        answer=baked - given,
        numbers=(trays, per_tray, given),
        hero=hero,
        people=(hero,),
        steps=(
            f"{hero} bakes {trays} * {per_tray} = {baked} cookies.",
            f"After giving some away, {baked} - {given} = {baked - given} cookies are left.",
        ),
        in_topic=(
            "{role}'s sister baked {number} muffins for a school fair last year.",
            "The bakery near {role}'s house sells {number} loaves of bread every day.",
        ),
    )


@_template
def _savings(rng: random.Random, hero: str, other: str) -> BaseProblem:
    weekly, weeks = rng.randint(3, 20), rng.randint(3, 12)
    saved = weekly * weeks
    spent = rng.randint(1, saved - 1)
    return BaseProblem(
        template="savings",
        conditions=(
            f"{hero} starts with an empty piggy bank and saves ${weekly} every week.",
            f"After {weeks} weeks, {hero} spends ${spent} on a gift.",
        ),
        question=f"How many dollars does {hero} have left?",
        answer=saved - spent,
        numbers=(weekly, weeks, spent),
        hero=hero,
        people=(hero,),
        steps=(
            f"{hero} saves {weekly} * {weeks} = {saved} dollars.",
            f"After the gift, {saved} - {spent} = {saved - spent} dollars are left.",
        ),
        in_topic=(
            "{role}'s brother saves ${number} every month.",
            "{role}'s best friend spent ${number} on a bicycle last year.",
        ),
    )


@_template
def _garden(rng: random.Random, hero: str, other: str) -> BaseProblem:
    rows, per_row, extra = rng.randint(2, 9), rng.randint(3, 12), rng.randint(2, 20)
    planted = rows * per_row
    return BaseProblem(
        template="garden",
        conditions=(
            f"{hero} plants {rows} rows of tulips in an empty garden, with {per_row} tulips in each row.",
            f"{other} plants {extra} more tulips in the same garden.",
        ),
        question="How many tulips are in the garden now?",
        answer=planted + extra,
        numbers=(rows, per_row, extra),
        hero=hero,
        people=(hero, other),
        steps=(
            f"{hero} plants {rows} * {per_row} = {planted} tulips.",
            f"With {other}'s, {planted} + {extra} = {planted + extra} tulips.",
        ),
        in_topic=(
            "{role}'s neighbour grows {number} roses in a different garden.",
            "{role} bought a bag of {number} sunflower seeds to plant next year.",
        ),
    )


@_template
def _reading(rng: random.Random, hero: str, other: str) -> BaseProblem:
    per_day, days, rest = rng.randint(5, 30), rng.randint(2, 9), rng.randint(5, 100)
    read = per_day * days
    return BaseProblem(
        template="reading",
        conditions=(
            f"A book has {read + rest} pages.",
            f"{hero} reads {per_day} pages of the book every day for {days} days.",
        ),
        question=f"How many pages does {hero} still have to read to finish the book?",
        answer=rest,
        numbers=(read + rest, per_day, days),
        hero=hero,
        people=(hero,),
        steps=(f"{hero} reads {per_day} * {days} = {read} pages.", f"{read + rest} - {read} = {rest} pages are left."),
        in_topic=(
            "{role}'s brother read a comic with {number} pages last week.",
            "The school library that {role} visits has {number} books.",
        ),
    )


@_template
def _fruit_stall(rng: random.Random, hero: str, other: str) -> BaseProblem:
    boxes, per_box = rng.randint(2, 9), rng.randint(6, 24)
    apples = boxes * per_box
    sold = rng.randint(2, apples - 1)
    return BaseProblem(
        template="fruit_stall",
        conditions=(
            f"{hero} has {boxes} boxes of apples at a fruit stall.",
            f"Each box holds {per_box} apples.",
            f"{hero} sells {sold} apples in the morning.",
        ),
        question=f"How many apples does {hero} have left?",
        answer=apples - sold,
        numbers=(boxes, per_box, sold),
        hero=hero,
        people=(hero,),
        steps=(
            f"{hero} has {boxes} * {per_box} = {apples} apples.",
            f"After selling, {apples} - {sold} = {apples - sold} apples are left.",
        ),
        in_topic=(
            "{role}'s neighbour sells {number} pears at the same market.",
            "{role} bought {number} oranges for a party last week.",
        ),
    )


@_template
def _school_trip(rng: random.Random, hero: str, other: str) -> BaseProblem:
    classes, per_class = rng.randint(2, 8), rng.randint(15, 30)
    students = classes * per_class
    trip = rng.randint(5, students - 1)
    return BaseProblem(
        template="school_trip",
        conditions=(
            f"{hero}'s school has {classes} classes.",
            f"Each class has {per_class} students.",
            f"One day, {trip} of the students go on a trip to a museum.",
        ),
        question=f"How many students stay at {hero}'s school that day?",
        answer=students - trip,
        numbers=(classes, per_class, trip),
        hero=hero,
        people=(hero,),
        steps=(
            f"The school has {classes} * {per_class} = {students} students.",
            f"{students} - {trip} = {students - trip} students stay.",
        ),
        in_topic=(
            "{role}'s cousin goes to a school with {number} students in another city.",
            "The museum that {role} visited two years ago has {number} paintings.",
        ),
    )


@_template
def _piano(rng: random.Random, hero: str, other: str) -> BaseProblem:
    minutes, weeks = rng.randint(10, 75), rng.randint(2, 5)
    weekly = minutes * 7
    return BaseProblem(
        template="piano",
        conditions=(f"{hero} practises the piano for {minutes} minutes every day.",),
        question=f"How many minutes does {hero} practise in {weeks} weeks?",
        answer=weekly * weeks,
        numbers=(minutes, weeks),
        hero=hero,
        people=(hero,),
        steps=(
            f"A week has 7 days, so {hero} practises {minutes} * 7 = {weekly} minutes a week.",
            f"In {weeks} weeks, {weekly} * {weeks} = {weekly * weeks} minutes.",
        ),
        in_topic=(
            "{role}'s teacher has played the piano for {number} years.",
            "{role}'s sister practises the violin for {number} minutes every day.",
        ),
    )


@_template
def _pets(rng: random.Random, hero: str, other: str) -> BaseProblem:
    dogs, cats, parrots = rng.randint(2, 12), rng.randint(2, 12), rng.randint(2, 8)
    four, two = 4 * (dogs + cats), 2 * parrots
    return BaseProblem(
        template="pets",
        conditions=(f"{hero} has {dogs} dogs and {cats} cats.", f"{hero} also has {parrots} parrots."),
        question=f"How many legs do {hero}'s dogs, cats and parrots have in total?",
        answer=four + two,
        numbers=(dogs, cats, parrots),
        hero=hero,
        people=(hero,),
        steps=(
            f"The dogs and cats have 4 * {dogs + cats} = {four} legs.",
            f"The parrots have 2 * {parrots} = {two} legs, so {four} + {two} = {four + two} legs.",
        ),
        in_topic=("{role}'s neighbour keeps {number} goldfish in a pond.", "{role}'s aunt has {number} chickens on a farm."),
    )


@_template
def _fuel(rng: random.Random, hero: str, other: str) -> BaseProblem:
    litres, price = rng.randint(10, 80), rng.randint(1, 4)
    cost = litres * price
    note = next(n for n in (50, 100, 200, 500) if n > cost)
    return BaseProblem(
        template="fuel",
        conditions=(
            f"{hero} buys {litres} litres of fuel.",
            f"One litre of fuel costs ${price}.",
            f"{hero} pays with a ${note} note.",
        ),
        question=f"How many dollars of change does {hero} get?",
        answer=note - cost,
        numbers=(litres, price, note),
        hero=hero,
        people=(hero,),
        steps=(f"The fuel costs {litres} * {price} = {cost} dollars.", f"The change is {note} - {cost} = {note - cost} dollars."),
        in_topic=(
            "{role}'s uncle paid ${number} for car repairs last winter.",
            "The petrol station near {role}'s home sells {number} litres of fuel every day.",
        ),
    )


@_template
def _pizza(rng: random.Random, hero: str, other: str) -> BaseProblem:
    pizzas, slices = rng.randint(2, 12), rng.choice((4, 6, 8, 10, 12))
    total = pizzas * slices
    people = rng.choice([k for k in range(2, 9) if total % k == 0])  # 2 always divides
    friends = people - 1
    return BaseProblem(
        template="pizza",
        conditions=(
            f"{hero} orders {pizzas} pizzas.",
            f"Each pizza is cut into {slices} slices.",
            f"{hero} and {friends} friend{'s' if friends > 1 else ''} share all the slices equally.",
        ),
        question="How many slices does each person get?",
        answer=total // people,
        numbers=(pizzas, slices, friends),
        hero=hero,
        people=(hero,),
        steps=(
            f"There are {pizzas} * {slices} = {total} slices for 1 + {friends} = {people} people.",
            f"Each person gets {total} / {people} = {total // people} slices.",
        ),
        in_topic=(
            "{role} ate {number} slices of cake at a party last week.",
            "The pizza shop that {role} likes sells {number} pizzas on a busy night.",
        ),
    )


@_template
def _wages(rng: random.Random, hero: str, other: str) -> BaseProblem:
    rate, hours = rng.randint(8, 40), 2 * rng.randint(1, 6)  # even hours: half the pay is whole
    pay = rate * hours
    return BaseProblem(
        template="wages",
        conditions=(
            f"{hero} earns ${rate} for every hour of work.",
            f"On Saturday, {hero} works for {hours} hours.",
            f"{hero} puts half of that day's pay into a bank account.",
        ),
        question=f"How many dollars does {hero} put into the bank account?",
        answer=pay // 2,
        numbers=(rate, hours),
        hero=hero,
        people=(hero,),
        steps=(f"{hero} earns {rate} * {hours} = {pay} dollars.", f"Half of it is {pay} / 2 = {pay // 2} dollars."),
        in_topic=(
            "{role}'s father earns ${number} every month.",
            "{role}'s best friend bought a bicycle for ${number} last year.",
        ),
    )


@_template
def _bus(rng: random.Random, hero: str, other: str) -> BaseProblem:
    start = rng.randint(10, 40)
    off, on = rng.randint(2, start - 1), rng.randint(2, 20)
    left = start - off
    return BaseProblem(
        template="bus",
        conditions=(
            f"{hero} drives a bus that leaves the station with {start} passengers.",
            f"At the first stop, {off} passengers get off and {on} passengers get on.",
        ),
        question=f"How many passengers are on {hero}'s bus after the first stop?",
        answer=left + on,
        numbers=(start, off, on),
        hero=hero,
        people=(hero,),
        steps=(
            f"After {off} get off, {start} - {off} = {left} passengers remain.",
            f"After {on} get on, {left} + {on} = {left + on} passengers.",
        ),
        in_topic=(
            "{role}'s brother drives a different bus that carries {number} passengers a day.",
            "{role} waited {number} minutes for a train last Monday.",
        ),
    )


def split_of(problem: BaseProblem) -> Literal["test", "train"]:
    """The split a base problem belongs to: half the hash space each, fixed forever.

    Names are not in the key, so renaming a test problem does not move it to train.
    """
    return "test" if int(content_hash(["arith-ic", problem.key]), 16) % 2 == 0 else "train"


def make_base_problems(n: int, seed: int = 0, split: Literal["test", "train"] = "test") -> list[BaseProblem]:
    """``n`` distinct base problems of ``split``, templates taken in turn.

    Problems are drawn one after another from one seeded generator, so the first ``k``
    problems are the same for every ``n >= k``.

    >>> [p.template for p in make_base_problems(3)]
    ['shopping', 'stickers', 'distance']
    """
    rng = random.Random(f"arith-ic:{split}:{seed}")
    templates = list(TEMPLATES.values())
    problems: list[BaseProblem] = []
    seen: set[str] = set()
    for i in range(n):
        template = templates[i % len(templates)]
        # Each template writes at least ~100 distinct problems per split (so n_base up to
        # about 1,500 fits); past that, drawing more would loop for ever, so stop and say so.
        for _ in range(2000):
            hero, other = rng.sample(NAMES, 2)
            problem = template(rng, hero, other)
            if problem.key not in seen and split_of(problem) == split:
                break
        else:
            raise DataError(
                f"arith-ic ran out of distinct {template.__name__.lstrip('_')!r} problems for split "
                f"{split!r} after {len(problems)} base problems; lower n_base (about 1,500 fit) or vary seed instead."
            )
        seen.add(problem.key)
        problems.append(problem)
    return problems


# ---------------------------------------------------------------------------------------
# Variants: one irrelevant sentence per combination of the three factors
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """A base problem with one irrelevant sentence inserted before the question."""

    topic: str
    role: str
    number: str
    sentence: str
    index: int  # position of the sentence among the problem's sentences (0 = first)
    value: int  # the number written in the sentence
    text: str

    @property
    def name(self) -> str:
        return f"{self.topic}/{self.role}/{self.number}"


def _distractor_number(problem: BaseProblem, level: str, rng: random.Random) -> int:
    """The number in a distractor sentence.

    In range: between the problem's smallest and largest number, never one of them or the
    answer (so a model that copies the distractor is always wrong); when that range has
    no such number (``2, 3, 4``), between 1 and twice the largest. Out of range: at least
    10x the largest number and at least 1,000, at most 10x that floor.
    """
    low, high = min(problem.numbers), max(problem.numbers)
    if level == "out_of_range":
        floor = max(OUT_OF_RANGE_FLOOR, 10 * high)
        return rng.randint(floor, 10 * floor)
    taken = {*problem.numbers, problem.answer}
    choices = [v for v in range(low, high + 1) if v not in taken] or [v for v in range(1, 2 * high + 2) if v not in taken]
    return rng.choice(choices)


def make_variants(problem: BaseProblem, rng: random.Random) -> list[Variant]:
    """The 8 variants of ``problem``, in the order of :data:`FACTOR_LEVELS`."""
    strangers = [n for n in NAMES if n not in problem.people]
    sentences = [*problem.conditions, problem.question]
    variants = []
    for topic, role, number in FACTOR_LEVELS:
        pattern = rng.choice(problem.in_topic if topic == "in_topic" else OFF_TOPIC)
        name = problem.hero if role == "same_name" else rng.choice(strangers)
        value = _distractor_number(problem, number, rng)
        sentence = pattern.format(role=name, number=value)
        # After the first sentence (which sets the scene), before the question.
        index = rng.randint(1, len(problem.conditions))
        text = " ".join([*sentences[:index], sentence, *sentences[index:]])
        variants.append(Variant(topic, role, number, sentence, index, value, text))
    return variants


# ---------------------------------------------------------------------------------------
# Statistics over base problems
# ---------------------------------------------------------------------------------------


def _ratio(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray:
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def cluster_bootstrap(
    table: Sequence[Sequence[float]],
    statistic: Callable[[np.ndarray], np.ndarray],
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """A statistic of column sums, with a percentile bootstrap CI that resamples rows.

    Each row is one base problem (a cluster) and holds per-problem sums, e.g. (correct
    variants, variants). The variants of one problem succeed or fail together more often
    than independent items would, so resampling problems, not examples, gives an honest
    interval. ``statistic`` maps an array of column sums (last axis) to a value, and
    returns NaN when it is undefined (a zero denominator); such resamples are dropped.
    ``n`` in the result counts rows.

    >>> est = cluster_bootstrap([[1, 2], [2, 2], [0, 2]], lambda s: _ratio(s[..., 0], s[..., 1]))
    >>> est.value, est.n, est.method
    (0.5, 3, 'cluster-bootstrap')
    """
    rows = np.asarray(table, dtype=float)
    value = float(statistic(rows.sum(axis=0)))
    n = rows.shape[0]
    # Multinomial counts are the bootstrap weights of the rows: same draws as resampling
    # row indices, without building a (resamples x n x columns) array.
    weights = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=resamples)
    boots = np.asarray(statistic(weights @ rows), dtype=float)
    boots = boots[np.isfinite(boots)]
    alpha = 1.0 - confidence
    if boots.size == 0 or not math.isfinite(value):
        low = high = math.nan
    else:
        low, high = (float(q) for q in np.quantile(boots, [alpha / 2, 1 - alpha / 2]))
    return Estimate(value, low, high, n, "cluster-bootstrap", confidence)


# ---------------------------------------------------------------------------------------
# The task
# ---------------------------------------------------------------------------------------


@dataclass
class ArithIC(Task):
    """Arithmetic word problems, clean and with one irrelevant sentence (GSM-IC style).

    Fields:
        n_base: number of base problems; each gives 9 examples (clean + 8 variants).
        seed: which problems and distractors are drawn.
        split: ``"test"`` to evaluate; ``"train"`` gives disjoint problems to teach from.
        variants: False evaluates the clean problems only.
        max_tokens: the reply budget; short on purpose (small models, CPU).

    Versioning: bump ``version`` whenever templates, sentences or the instruction
    change, because the examples change with them.
    """

    name: ClassVar[str] = "arith-ic"
    version: ClassVar[str] = "1"
    metrics: ClassVar[tuple[str, ...]] = ("strict_acc", "flexible_acc", "format_compliance")
    source: ClassVar[str] = "syllabus's own arithmetic templates with GSM-IC-style irrelevant sentences; no external data"

    n_base: int = 40
    seed: int = 0
    split: Literal["test", "train"] = "test"
    variants: bool = True
    max_tokens: int = 128

    def __post_init__(self) -> None:
        if self.n_base < 1:
            raise ConfigError(f"arith-ic needs n_base >= 1, got {self.n_base}")
        if self.split not in ("test", "train"):
            raise ConfigError(f"arith-ic split must be 'test' or 'train', got {self.split!r}")

    # -- data ------------------------------------------------------------------------------
    def base_problems(self) -> list[BaseProblem]:
        return make_base_problems(self.n_base, self.seed, self.split)

    def load(self) -> list[Example]:
        """Base problem by base problem: the clean one, then its 8 variants.

        Grouped so that ``limit`` keeps whole base problems as far as it can (9 examples each).
        """
        examples = []
        for problem in self.base_problems():
            base_id = f"aic-{self.split}-{content_hash(problem.key, 12)}"
            examples.append(self._example(problem, base_id, problem.text, None))
            if self.variants:
                # Its own generator per problem: the base problems do not depend on whether
                # variants are drawn, and a problem's variants not on the problems before it.
                rng = random.Random(f"arith-ic:variants:{self.seed}:{problem.key}")
                examples += [self._example(problem, base_id, v.text, v) for v in make_variants(problem, rng)]
        return examples

    def _example(self, problem: BaseProblem, base_id: str, text: str, variant: Variant | None) -> Example:
        meta: dict[str, Any] = {
            "skill": "arithmetic",
            "split": self.split,
            "source": "syllabus:arith-ic",
            f"{META}.base_id": base_id,
            f"{META}.template": problem.template,
            f"{META}.variant": variant.name if variant else "clean",
            f"{META}.topic": variant.topic if variant else None,
            f"{META}.role": variant.role if variant else None,
            f"{META}.number": variant.number if variant else None,
            f"{META}.problem": text,
            f"{META}.distractor": variant.sentence if variant else None,
            f"{META}.distractor_index": variant.index if variant else None,
            f"{META}.distractor_number": variant.value if variant else None,
            f"{META}.steps": len(problem.steps),
            f"{META}.solution": problem.solution,
        }
        suffix = variant.name.replace("/", ".") if variant else "clean"
        return Example.from_prompt(
            f"{INSTRUCTION}\n\nProblem: {text}", id=f"{base_id}.{suffix}", reference=str(problem.answer), meta=meta
        )

    def fewshot_pool(self) -> list[Example]:
        """Clean train-split problems with worked solutions (never a test problem)."""
        pool = ArithIC(n_base=max(16, self.num_fewshot), seed=self.seed, split="train", variants=False).load()
        for example in pool:
            example.completion = example.meta[f"{META}.solution"]
        return pool

    # -- scoring ---------------------------------------------------------------------------
    def score(self, example: Example, outputs: Sequence[Output]) -> dict[str, float]:
        text = getattr(outputs[0], "text", "") if outputs else ""
        strict = extract_strict(text)
        return {
            "strict_acc": float(answers_match(strict, example.reference)),
            "flexible_acc": float(answers_match(extract_flexible(text), example.reference)),
            "format_compliance": float(strict is not None),
        }

    def aggregate(self, examples: Sequence[Example]) -> dict[str, Any]:
        """Metrics with 95% CIs; CIs resample base problems, since variants of one problem are correlated.

        * ``strict_acc``, ``flexible_acc``, ``format_compliance``: over every example
          (clean and variants).

        Then for ``M`` in ``strict`` and ``flexible``:

        * ``M.clean_acc``: accuracy on the clean base problems (Wilson interval);
        * ``M.micro_acc``: accuracy over all variants (GSM-IC's micro accuracy);
        * ``M.macro_acc``: the share of base problems whose 8 variants are **all** right
          (GSM-IC's macro accuracy; base problems cut short by ``limit`` are left out; Wilson);
        * ``M.normalized_acc``: ``micro_acc / clean_acc`` (GSM-IC's normalized accuracy: 1.0
          means the irrelevant sentences cost nothing); when clean accuracy is 0 it is
          ``{"undefined": reason}`` instead of an estimate;
        * ``M.<level>_acc`` for each factor level (``in_topic``, ``off_topic``, ``same_name``,
          ``new_name``, ``in_range``, ``out_of_range``): accuracy over the variants at that level.

        ``n`` is the number of base problems behind each value. The other intervals
        (method ``cluster-bootstrap+wilson``) span both a percentile bootstrap over base
        problems (:func:`cluster_bootstrap`; variants of one problem tend to fail together,
        so examples are not independent) and a Wilson interval over examples (which stays
        open at 0% and 100%, where the bootstrap collapses to a point). ``normalized_acc``
        has the bootstrap interval alone.
        """
        out: dict[str, Any] = {}
        groups = _by_base(examples)
        for metric in self.metrics:
            rows = [_sum_count(g, self._key(metric)) for g in groups.values()]
            if any(count for _, count in rows):
                out[metric] = _cluster_ratio(rows)
        for mode in ("strict", "flexible"):
            out.update(self._breakdown(groups, mode))
        return out

    def _breakdown(self, groups: dict[str, list[Example]], mode: str) -> dict[str, Any]:
        """The ``mode.*`` metrics of :meth:`aggregate` for one extraction mode."""
        key = self._key(f"{mode}_acc")
        out: dict[str, Any] = {}
        clean = {b: [e for e in g if e.meta.get(f"{META}.topic") is None] for b, g in groups.items()}
        variants = {b: [e for e in g if e.meta.get(f"{META}.topic") is not None] for b, g in groups.items()}
        clean_values = [e.scores[key] for g in clean.values() for e in g if key in e.scores]
        if clean_values:
            out[f"{mode}.clean_acc"] = _wilson(clean_values)
        with_variants = [b for b, g in variants.items() if _sum_count(g, key)[1]]
        if not with_variants:
            return out
        out[f"{mode}.micro_acc"] = _cluster_ratio([_sum_count(variants[b], key) for b in with_variants])
        complete = [variants[b] for b in with_variants if _sum_count(variants[b], key)[1] == len(FACTOR_LEVELS)]
        if complete:
            out[f"{mode}.macro_acc"] = _wilson([float(all(e.scores[key] == 1.0 for e in g)) for g in complete])
        # Per base problem: (correct variants, variants, correct clean, clean).
        rows = [(*_sum_count(variants[b], key), *_sum_count(clean[b], key)) for b in with_variants]
        normalized = cluster_bootstrap(rows, lambda s: _ratio(_ratio(s[..., 0], s[..., 1]), _ratio(s[..., 2], s[..., 3])))
        # Without a value there is no estimate to show; say why instead of writing a null
        # value that tables and charts would have to special-case.
        out[f"{mode}.normalized_acc"] = (
            normalized.to_dict() if math.isfinite(normalized.value) else {"undefined": "clean accuracy is 0, so micro / clean has no value"}
        )
        for factor, levels in FACTORS.items():
            for level in levels:
                at_level = [[e for e in variants[b] if e.meta.get(f"{META}.{factor}") == level] for b in with_variants]
                rows2 = [_sum_count(g, key) for g in at_level if g]
                if rows2:
                    out[f"{mode}.{level}_acc"] = _cluster_ratio(rows2)
        return out

    def _key(self, metric: str) -> str:
        return f"{self.namespace}.{metric}"


# -- aggregation helpers -----------------------------------------------------------------


def _by_base(examples: Iterable[Example]) -> dict[str, list[Example]]:
    groups: dict[str, list[Example]] = {}
    for e in examples:
        groups.setdefault(str(e.meta.get(f"{META}.base_id", e.id)), []).append(e)
    return groups


def _sum_count(group: Sequence[Example], key: str) -> tuple[float, int]:
    """(sum, count) of one score over the examples that have it."""
    values = [e.scores[key] for e in group if key in e.scores]
    return float(sum(values)), len(values)


def _cluster_ratio(rows: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """Accuracy from per-base (correct, total) rows; the CI is the hull of two intervals.

    The bootstrap over base problems accounts for variants of one problem failing
    together, but collapses to a point when every outcome is the same (0/36 gives
    [0, 0]); the Wilson interval over examples never collapses but assumes independent
    examples. Taking the wider bound on each side keeps both failure modes out.
    """
    boot = cluster_bootstrap(rows, lambda s: _ratio(s[..., 0], s[..., 1]))
    correct, total = int(round(sum(r[0] for r in rows))), int(round(sum(r[1] for r in rows)))
    wilson = mean_ci([1.0] * correct + [0.0] * (total - correct), method="wilson")
    low, high = float(np.fmin(boot.low, wilson.low)), float(np.fmax(boot.high, wilson.high))
    return Estimate(boot.value, low, high, boot.n, "cluster-bootstrap+wilson", boot.confidence).to_dict()


def _wilson(values: Sequence[float]) -> dict[str, Any]:
    return mean_ci(values, method="wilson").to_dict()
