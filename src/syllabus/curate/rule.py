"""The InstructMining linear rule: indicator scores -> a predicted fine-tuning loss.

InstructMining (Cao et al., 2023) fine-tunes a model on many subsets of a data pool, then
regresses each subset's evaluation loss on the subset's *mean* indicator values. The
fitted line, applied to single examples, ranks them:

    predicted = intercept + sum(coef_i * indicator_i)

:class:`Rule` holds the line; :func:`fit_rule` fits it by least squares from a user's
results table (one row per fine-tuned subset: its mean indicators and its eval ``loss``),
with R², leave-one-out R² and a p-value per coefficient; :class:`InstructMiningRule` is the
pipeline step that applies it.

Units. Indicators enter the rule **raw**, in the units the scorers write them
(``quality.length`` in words, ``quality.nll`` in nats/token, ``quality.mtld``,
``quality.knn`` as a cosine distance, ``quality.reward`` on 1-10). There is no
standardisation inside the formula, so a rule fitted on subset means applies unchanged to
single examples; the rule file records each indicator's mean and sd from the fit, used to
fill in a missing indicator (``missing="mean"``) and to report standardised coefficients
(coef x sd: which indicator moves the prediction most).

Direction. The target is the loss (lower is better); by default its log, as in the paper.
The step writes ``quality.instructmining_loss`` (the prediction) and
``quality.instructmining`` = minus the prediction, so that, like every other quality
score, **higher is better** for thresholds and top-k.

>>> rule = Rule(intercept=1.0, coefficients={"quality.reward": -0.1})
>>> rule.predict({"quality.reward": 8.0})
0.2
>>> from syllabus.record import Example
>>> ex = Example.from_prompt("Hi", completion="Hello", scores={"quality.reward": 8.0})
>>> [ex] = InstructMiningRule(rule=rule.to_dict())([ex]); ex.scores["quality.instructmining"]
-0.2
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from syllabus.errors import ConfigError, DataError
from syllabus.pipeline.step import Map
from syllabus.record import Example

__all__ = ["DEFAULT_RULE", "InstructMiningRule", "Rule", "fit_rule", "load_results", "load_rule", "rows_from_examples"]

RULE_FORMAT = "syllabus.instructmining-rule"
LABEL_KEYS = ("subset", "name", "id")  # row keys that name a subset instead of measuring it

Target = Literal["log_loss", "loss"]


@dataclass
class Rule:
    """A linear rule over named indicator scores.

    Attributes:
        intercept: the constant term.
        coefficients: score name (``quality.reward``) -> coefficient.
        target: what the rule predicts: ``"log_loss"`` (natural log of the eval loss) or ``"loss"``.
        means, sds: each indicator's mean and standard deviation over the fitting rows.
        fit: statistics of the fit (``n``, ``r2``, ``adj_r2``, ``loo_r2``, ``p_values``,
            ``std_errors``, ``standardized``), or ``None`` for a rule not fitted here.
        source: where the coefficients come from, in words.
    """

    intercept: float
    coefficients: dict[str, float]
    target: Target = "log_loss"
    means: dict[str, float] = field(default_factory=dict)
    sds: dict[str, float] = field(default_factory=dict)
    fit: dict[str, Any] | None = None
    source: str = ""

    def predict(self, indicators: Mapping[str, float]) -> float:
        """The predicted target for one example's (or one subset's) indicator values.

        Raises :class:`DataError` naming a missing indicator.
        """
        missing = [name for name in self.coefficients if name not in indicators]
        if missing:
            raise DataError(f"the rule needs indicator(s) {', '.join(missing)}; got {', '.join(sorted(indicators)) or 'none'}")
        return round(self.intercept + sum(c * float(indicators[name]) for name, c in self.coefficients.items()), 12)

    # -- JSON --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": RULE_FORMAT,
            "version": 1,
            "intercept": self.intercept,
            "coefficients": dict(self.coefficients),
            "target": self.target,
            "means": dict(self.means),
            "sds": dict(self.sds),
            "fit": self.fit,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "rule") -> Rule:
        """Parse :meth:`to_dict` output; ``where`` (a file name) goes into error messages."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: a rule must be a JSON object, got {type(data).__name__}")
        if data.get("format", RULE_FORMAT) != RULE_FORMAT:
            raise ConfigError(f"{where}: not an InstructMining rule (format {data.get('format')!r}, expected {RULE_FORMAT!r})")
        known = {"format", "version", "intercept", "coefficients", "target", "means", "sds", "fit", "source"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        coefficients = data.get("coefficients")
        if not isinstance(coefficients, Mapping) or not coefficients:
            raise ConfigError(f"{where}: 'coefficients' must be a non-empty object of score name -> number")
        if data.get("target", "log_loss") not in ("log_loss", "loss"):
            raise ConfigError(f"{where}: 'target' must be 'log_loss' or 'loss', got {data.get('target')!r}")
        try:
            return cls(
                intercept=float(data.get("intercept", 0.0)),
                coefficients={str(k): float(v) for k, v in coefficients.items()},
                target=data.get("target", "log_loss"),
                means={str(k): float(v) for k, v in (data.get("means") or {}).items()},
                sds={str(k): float(v) for k, v in (data.get("sds") or {}).items()},
                fit=data.get("fit"),
                source=str(data.get("source", "")),
            )
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{where}: intercept, coefficients, means and sds must be numbers ({e})") from None

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the rule as JSON (atomically: a temp file renamed into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2, sort_keys=False)
            f.write("\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Rule:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"rule file {path} does not exist; write one with `syllabus curate fit-rule --results FILE`")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
        return cls.from_dict(data, where=str(path))


def load_rule(rule: str | os.PathLike[str] | Mapping[str, Any] | Rule | None) -> Rule:
    """A rule from a file path, a dict, a :class:`Rule`, or ``None``/``"default"`` for :data:`DEFAULT_RULE`."""
    if rule is None or rule == "default":
        return DEFAULT_RULE
    if isinstance(rule, Rule):
        return rule
    if isinstance(rule, Mapping):
        return Rule.from_dict(rule)
    return Rule.load(rule)


# The paper's LLaMA-2-7B rule, as recalled in our research notes (not re-checked against the
# paper, and NOT refitted on our data): log L = 1.0694 - 0.1498 Rew + 8.257e-5 Len - 0.9350 Knn6.
# Adapted to our indicators: Len was in tokens, ours is in words (about 1.3 tokens a word), so
# its coefficient is x1.3; Rew was an OpenAssistant reward-model score, ours a 1-10 judge
# rating, taken one rating point per reward unit with the scale centred at 5.5 (folded into
# the intercept: 1.0694 + 0.1498 * 5.5); Knn6 is our mean cosine distance to 6 neighbours.
# It ranks examples the way the paper's rule would, which is all a default can promise; fit
# your own with `syllabus curate fit-rule` for predictions in your model's loss units.
DEFAULT_RULE = Rule(
    intercept=round(1.0694 + 0.1498 * 5.5, 6),
    coefficients={"quality.reward": -0.1498, "quality.length": 8.257e-5 * 1.3, "quality.knn": -0.9350},
    target="log_loss",
    source=(
        "InstructMining's LLaMA-2-7B rule (Cao et al. 2023) adapted to syllabus indicators: "
        "length per word (x1.3 tokens/word), reward as a 1-10 rating centred at 5.5, knn = mean "
        "cosine distance to 6 neighbours; not refitted"
    ),
)


# -- fitting --------------------------------------------------------------------------------


def load_results(path: str | os.PathLike[str]) -> list[dict[str, float]]:
    """Read a results table for :func:`fit_rule`: JSONL (one object a line) or CSV (header row).

    Each row is one fine-tuned subset: ``loss`` (its evaluation loss, > 0) and its mean
    indicator values under the score names (``quality.reward``, ...); ``subset``, ``name``
    and ``id`` may label a row and are ignored. Every row must have the same indicators.
    Errors name the file and line::

        runs/results.jsonl:3: 'loss' must be a number, got 'n/a'
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"results file {path} does not exist")
    rows: list[tuple[int, dict[str, Any]]] = []
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            for i, row in enumerate(reader, start=2):  # line 1 is the header
                rows.append((i, dict(row)))
    else:
        with path.open(encoding="utf-8") as f:
            for i, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}:{i}: not valid JSON ({e.msg})") from None
                if not isinstance(row, dict):
                    raise DataError(f"{path}:{i}: each line must be a JSON object, got {type(row).__name__}")
                rows.append((i, row))
    if not rows:
        raise DataError(f"{path}: no rows; each row needs 'loss' and the subset's mean indicator values")
    out: list[dict[str, float]] = []
    first_keys: set[str] | None = None
    for line, row in rows:
        values: dict[str, float] = {}
        for key, value in row.items():
            if key in LABEL_KEYS:
                continue
            number = _number(value)
            if number is None:
                raise DataError(f"{path}:{line}: {key!r} must be a number, got {value!r}")
            values[key] = number
        if "loss" not in values:
            raise DataError(f"{path}:{line}: missing 'loss' (the subset's evaluation loss)")
        keys = set(values) - {"loss"}
        if first_keys is None:
            first_keys = keys
        elif keys != first_keys:
            diff = sorted(keys ^ first_keys)
            raise DataError(f"{path}:{line}: indicators differ from the first row's ({', '.join(diff)}); every row needs the same ones")
        out.append(values)
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def fit_rule(
    rows: Sequence[Mapping[str, float]],
    indicators: Sequence[str] | None = None,
    *,
    target: Target = "log_loss",
    source: str = "",
) -> Rule:
    """Fit a :class:`Rule` by ordinary least squares from (mean indicators -> loss) rows.

    ``indicators`` picks the columns (default: every key but ``loss`` and the label keys,
    sorted). Needs more rows than coefficients + 1. ``fit`` in the returned rule holds:
    ``n``, ``r2``, ``adj_r2``, ``loo_r2`` (leave-one-subset-out, the honest one: InstructMining
    keeps indicators that predict unseen subsets), and per coefficient ``std_errors``,
    ``t`` and two-sided ``p_values`` (Student t with n - p - 1 degrees of freedom; needs
    scipy), plus ``standardized`` (coef x sd).

    >>> rows = [{"quality.reward": r, "loss": math.exp(2.0 - 0.1 * r)} for r in (2, 4, 6, 8)]
    >>> rule = fit_rule(rows)
    >>> round(rule.intercept, 6), round(rule.coefficients["quality.reward"], 6), rule.fit["r2"]
    (2.0, -0.1, 1.0)
    """
    import numpy as np

    if target not in ("log_loss", "loss"):
        raise ConfigError(f"fit_rule: target must be 'log_loss' or 'loss', got {target!r}")
    if not rows:
        raise DataError("fit_rule: no rows")
    names = list(indicators) if indicators is not None else sorted({k for r in rows for k in r} - {"loss", *LABEL_KEYS})
    if not names:
        raise DataError("fit_rule: the rows have no indicator columns besides 'loss'")
    n, p = len(rows), len(names)
    if n < p + 2:
        raise DataError(f"fit_rule: {n} rows cannot fit {p} indicator(s) and an intercept with any error estimate; need at least {p + 2}")
    for i, row in enumerate(rows):
        missing = [k for k in (*names, "loss") if k not in row]
        if missing:
            raise DataError(f"fit_rule: row {i + 1} lacks {', '.join(missing)}")
    x = np.array([[float(r[k]) for k in names] for r in rows], dtype=np.float64)
    loss = np.array([float(r["loss"]) for r in rows], dtype=np.float64)
    if target == "log_loss":
        if (loss <= 0).any():
            raise DataError("fit_rule: target log_loss needs every loss > 0; use target='loss' for other values")
        y = np.log(loss)
    else:
        y = loss
    design = np.column_stack([np.ones(n), x])
    if np.linalg.matrix_rank(design) < p + 1:
        raise DataError(
            "fit_rule: the indicator columns are collinear or constant across rows "
            f"({', '.join(names)}); drop one or add more varied subsets"
        )
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    fitted = design @ beta
    resid = y - fitted
    rss = float(resid @ resid)
    tss = float(((y - y.mean()) ** 2).sum())
    df = n - p - 1
    r2 = 1.0 - rss / tss if tss > 0 else 1.0
    adj_r2 = 1.0 - (1.0 - r2) * (n - 1) / df
    xtx_inv = np.linalg.inv(design.T @ design)
    # Leave-one-out residuals without refitting: e_i / (1 - h_ii), h the hat matrix diagonal.
    leverage = np.einsum("ij,jk,ik->i", design, xtx_inv, design)
    loo_resid = resid / np.clip(1.0 - leverage, 1e-12, None)
    loo_r2 = 1.0 - float(loo_resid @ loo_resid) / tss if tss > 0 else 1.0
    sigma2 = rss / df
    se = np.sqrt(np.clip(np.diag(xtx_inv) * sigma2, 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, beta / se, np.inf * np.sign(beta))
    p_values = _two_sided_p(t, df)
    sds = x.std(axis=0, ddof=1)
    terms = ["intercept", *names]
    fit = {
        "n": n,
        "df": df,
        "r2": round(r2, 12),
        "adj_r2": round(adj_r2, 12),
        "loo_r2": round(loo_r2, 12),
        "std_errors": {k: float(v) for k, v in zip(terms, se, strict=True)},
        "t": {k: float(v) for k, v in zip(terms, t, strict=True)},
        "p_values": {k: v for k, v in zip(terms, p_values, strict=True)},
        "standardized": {k: float(beta[i + 1] * sds[i]) for i, k in enumerate(names)},
    }
    return Rule(
        intercept=float(beta[0]),
        coefficients={k: float(beta[i + 1]) for i, k in enumerate(names)},
        target=target,
        means={k: float(v) for k, v in zip(names, x.mean(axis=0), strict=True)},
        sds={k: float(v) for k, v in zip(names, sds, strict=True)},
        fit=fit,
        source=source or f"least-squares fit on {n} subsets",
    )


def _two_sided_p(t: Any, df: int) -> list[float | None]:
    try:
        from scipy import stats
    except ImportError:  # p-values are a report, not needed to apply the rule
        return [None] * len(t)
    return [float(2.0 * stats.t.sf(abs(v), df)) for v in t]


# -- the step -------------------------------------------------------------------------------


class InstructMiningRule(Map):
    """Apply a :class:`Rule`: writes ``quality.instructmining`` (higher is better) and
    ``quality.instructmining_loss`` (the rule's prediction).

    Options (JSON-able, for recipes):
        rule: a rule file written by ``syllabus curate fit-rule``, a rule as a dict, or
            ``"default"`` (:data:`DEFAULT_RULE`, the paper's rule adapted, not refitted).
        missing: ``"skip"`` (default) leaves an example without a needed indicator unscored
            and names what is missing in ``meta["quality.instructmining_error"]``; ``"mean"``
            fills a missing indicator with the rule's fitting mean (and still notes it).

    Run the indicator scorers before this step (the default rule needs ``quality.reward``,
    ``quality.length`` and ``quality.knn``)::

        steps: [length, {use: reward}, knn-distance, instructmining-rule]
    """

    name = "instructmining-rule"
    version = "1"

    def __init__(self, *, rule: str | dict[str, Any] | None = "default", missing: Literal["skip", "mean"] = "skip"):
        if missing not in ("skip", "mean"):
            raise ConfigError(f"instructmining-rule: missing must be 'skip' or 'mean', got {missing!r}")
        self.rule = load_rule(rule)
        self.missing = missing
        if missing == "mean":
            lacking = [k for k in self.rule.coefficients if k not in self.rule.means]
            if lacking:
                raise ConfigError(
                    f"instructmining-rule: missing='mean' needs the rule's fitting means, and it has none for {', '.join(lacking)}; "
                    "use missing='skip' or a fitted rule"
                )

    def map(self, example: Example) -> Example:
        values = {k: example.scores[k] for k in self.rule.coefficients if k in example.scores}
        lacking = [k for k in self.rule.coefficients if k not in values]
        if lacking:
            example.set_meta("quality", "instructmining_error", f"missing {', '.join(lacking)}")
            if self.missing == "skip":
                return example
            values.update({k: self.rule.means[k] for k in lacking})
        predicted = self.rule.predict(values)
        example.set_score("quality", "instructmining_loss", predicted)
        example.set_score("quality", "instructmining", -predicted)
        return example

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "rule": self.rule.to_dict(), "missing": self.missing}


def rows_from_examples(subsets: Iterable[tuple[Iterable[Example], float]], indicators: Sequence[str]) -> list[dict[str, float]]:
    """Build fitting rows from scored subsets: each subset's mean indicator values and its loss.

    >>> a = [Example.from_prompt("x", scores={"quality.reward": 4.0}), Example.from_prompt("y", scores={"quality.reward": 6.0})]
    >>> rows_from_examples([(a, 1.5)], ["quality.reward"])
    [{'quality.reward': 5.0, 'loss': 1.5}]
    """
    rows = []
    for examples, loss in subsets:
        examples = list(examples)
        row: dict[str, float] = {}
        for name in indicators:
            values = [ex.scores[name] for ex in examples if name in ex.scores]
            if not values:
                raise DataError(f"no example of a subset has the score {name!r}; run its scorer first")
            row[name] = sum(values) / len(values)
        row["loss"] = float(loss)
        rows.append(row)
    return rows
