"""Guardrails of a workspace or of one key, as configured through the API, validated once when they are set.

Deny rules are regular expressions for RE2 (linear-time matching: no backreferences or lookaround) or keyword
lists. A pattern that RE2 cannot compile, or that nests unbounded quantifiers (the shape that makes
backtracking engines take exponential time, and that usually means a mistake), is refused when configured,
not discovered on a request.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import re2
from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.api import ModelName
from schemas.text import PRINTABLE

RedactionKind = Literal["email", "phone", "card"]

RULES_MAX = 50
PATTERN_LENGTH_MAX = 1_000
KEYWORDS_MAX = 200
KEYWORD_LENGTH_MAX = 100
ALLOWED_MODELS_MAX = 100
# RE2 refuses to build a program larger than this; it bounds memory per compiled rule.
PATTERN_MEMORY_MAX_BYTES = 1 << 20

RuleName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$"), PRINTABLE]
Keyword = Annotated[str, Field(min_length=1, max_length=KEYWORD_LENGTH_MAX), PRINTABLE]


class DenyRule(BaseModel):
    """Refuse input (and, with `check_output`, withhold an answer) that matches; the error names `name`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: RuleName
    pattern: Annotated[str, Field(min_length=1, max_length=PATTERN_LENGTH_MAX), PRINTABLE] | None = None
    keywords: Annotated[tuple[Keyword, ...], Field(min_length=1, max_length=KEYWORDS_MAX)] | None = None
    case_sensitive: bool = Field(default=False, strict=True)

    @model_validator(mode="after")
    def _one_matcher(self) -> DenyRule:
        if (self.pattern is None) == (self.keywords is None):
            raise ValueError(f"rule '{self.name}': give exactly one of pattern or keywords")
        # Keywords are matched as one RE2 alternation: a list too large for RE2's memory bound is refused here,
        # never found failing to compile on a request.
        problem = pattern_problem(self.pattern) if self.pattern is not None else _re2_problem(self.expression())
        if problem is not None:
            raise ValueError(f"rule '{self.name}': {problem}")
        return self

    def expression(self) -> str:
        """The RE2 expression this rule matches with (keywords as whole words)."""
        if self.pattern is not None:
            body = self.pattern
        else:
            assert self.keywords is not None
            body = "|".join(_whole_word(keyword) for keyword in self.keywords)
        return body if self.case_sensitive else f"(?i:{body})"


def _whole_word(keyword: str) -> str:
    """A keyword matched as a whole word: a boundary on each side that starts or ends with a word character
    (a boundary next to "+" in "C++" would never match)."""
    start = r"\b" if keyword[0].isalnum() or keyword[0] == "_" else ""
    end = r"\b" if keyword[-1].isalnum() or keyword[-1] == "_" else ""
    return f"{start}{re.escape(keyword)}{end}"


class Guardrails(BaseModel):
    """Everything optional: an empty object means no guardrails. A workspace and each of its keys may have a set;
    both apply to a request (ingress/guardrail_check.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # Models the workspace (or key) may use at all (on top of each key's own allowed models).
    allowed_models: Annotated[tuple[ModelName, ...], Field(min_length=1, max_length=ALLOWED_MODELS_MAX)] | None = None
    # Refused before anything is held when the job's hold (its most possible cost) would exceed this.
    max_cost_tokens_per_request: Annotated[int, Field(strict=True, gt=0, le=10**15)] | None = None
    # The prompt's characters: every text the provider receives, together (ingress/prompt_texts.py).
    max_prompt_chars: Annotated[int, Field(strict=True, gt=0, le=10**9)] | None = None
    deny: Annotated[tuple[DenyRule, ...], Field(max_length=RULES_MAX)] = ()
    # Replaced by `[REDACTED:<kind>]` before the prompt leaves for the provider (ingress/prompt_redaction.py).
    redact: Annotated[tuple[RedactionKind, ...], Field(max_length=3)] = ()
    # Apply the deny rules and the redaction to answers too (in the workers).
    check_output: bool = Field(default=False, strict=True)

    @model_validator(mode="after")
    def _unique_rule_names(self) -> Guardrails:
        names = [rule.name for rule in self.deny]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"deny rule names must be unique: {', '.join(duplicates)}")
        return self


class OutputChecks(BaseModel):
    """What a worker applies to an answer: the deny rules and redactions of the workspace and the key that asked,
    carried with the job."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    deny: tuple[DenyRule, ...] = ()
    redact: tuple[RedactionKind, ...] = ()


def pattern_problem(pattern: str) -> str | None:
    """Why a deny pattern is refused, or None: RE2 must compile it and no unbounded quantifier may nest."""
    problem = _re2_problem(pattern)
    if problem is not None:
        return problem
    if _nests_unbounded_quantifiers(pattern):
        return "nested unbounded quantifiers (like (a+)+) are refused: they are catastrophic for backtracking"
    return None


def _re2_problem(expression: str) -> str | None:
    options = re2.Options()
    options.max_mem = PATTERN_MEMORY_MAX_BYTES
    options.log_errors = False
    try:
        re2.compile(expression, options)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        return f"not a valid RE2 pattern ({reason})"
    return None


def _nests_unbounded_quantifiers(pattern: str) -> bool:
    try:
        parsed = re._parser.parse(pattern)  # type: ignore[attr-defined]
    except (re.error, RecursionError, OverflowError):
        return False  # RE2 syntax Python does not read: RE2 matches it in linear time anyway
    return _walk(list(parsed), inside_repeat=False)


_REPEATS = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}
_UNBOUNDED = 1 << 16  # sre's MAXREPEAT is far larger; anything this big repeats "without bound" here


def _walk(items: list[tuple[Any, Any]], *, inside_repeat: bool) -> bool:
    """Whether an unbounded repeat sits inside another one, in sre's parse tree."""
    for op, arg in items:
        name = str(op)
        children: list[list[tuple[Any, Any]]] = []
        nested = inside_repeat
        if name in _REPEATS:
            unbounded = int(arg[1]) >= _UNBOUNDED
            if unbounded and inside_repeat:
                return True
            nested = inside_repeat or unbounded
            children = [list(arg[2])]
        elif name == "SUBPATTERN":
            children = [list(arg[-1])]
        elif name == "BRANCH":
            children = [list(branch) for branch in arg[1]]
        if any(_walk(child, inside_repeat=nested) for child in children):
            return True
    return False
