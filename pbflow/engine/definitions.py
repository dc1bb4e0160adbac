"""Load and validate workflow files (DESIGN section 3) into immutable definitions.

A definition is plain data; the behaviour behind its names lives in ``guards``, ``effects``
and ``fields``. Every check here exists so that a mistake in a workflow file is found when the
file is loaded (or by ``pbflow workflows check``), never halfway through somebody's case.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from pbflow.clock import COARSE_UNITS
from pbflow.engine.errors import DefinitionError
from pbflow.engine.rules import Rulebook
from pbflow.models.org import ORG_KINDS
from pbflow.models.people import ROLES

# Types only a ``data`` declaration may have: values effects keep, never typed in a form.
DATA_TYPES = ("records", "per_person")
FIELD_TYPES = (
    "string",
    "text",
    "integer",
    "number",
    "date",
    "boolean",
    "choice",
    "multichoice",
    "user",
    "person",
    "persons",
    "file",
    # A line of text for each of some people (a reason for each absence): a mapping from
    # person id to text; ``people`` names the case's persons field whose people it is for.
    "per_person_text",
)
ROLE_SCOPES = ("org", "parent", "committee", "general_branch", "ancestor")
# code_holder: whoever proved they hold a case's tracking code (an anonymous submitter, see
# actors.CodeHolder); never matched by a logged-in user as such.
ACTOR_WORDS = ("subject", "submitter", "assignee", "system", "anyone", "code_holder")
OVERDUE_ACTIONS = ("notify", "escalate")
QUORUMS = ("none", "more_than_half", "two_thirds")
PASS_MARKS = ("more_than_half", "two_thirds")
VOTE_MODES = ("ballot", "meeting")
DUE_UNITS = ("days", "working_days", "months")
ELECTORATES = {"full_members"}


def parse_role_electorate(electorate: str) -> tuple[str, str] | None:
    """``role:NAME`` or ``role:NAME@SCOPE`` (scope as in a ``by`` rule's ``at``)."""
    if not electorate.startswith("role:"):
        return None
    role, _sep, scope = electorate[5:].partition("@")
    return role, scope or "org"


# --- YAML with line numbers -----------------------------------------------------------------


class _LineDict(dict):
    line: int | None = None
    key_lines: dict[Any, int] | None = None


# libyaml's parser when PyYAML has it (the wheels do): the pure-Python one costs seconds for
# the larger procedures, paid again by every process and every test app.
class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    result = _LineDict(loader.construct_pairs(node, deep=True))
    if len(result) != len(node.value):
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in seen:
                raise DefinitionError("", f"duplicate key '{key}'", key_node.start_mark.line + 1)
            seen.add(key)
    result.line = node.start_mark.line + 1
    result.key_lines = {
        k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)
    }
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line(obj: Any) -> int | None:
    return getattr(obj, "line", None)


class _At:
    """A line to point an error at, for a place that is not a mapping of its own."""

    def __init__(self, line: int | None):
        self.line = line


def _check_bounds(p: _Parser, spec: dict[str, Any], what: str) -> None:
    """A number an office may change is bounded both ways, its default between the bounds:
    the time limits are such numbers, and one set to -5 or to a million working days would
    make every case overdue at once or never (an office's typing slip, or a way to switch
    the supervision of a procedure off)."""
    if "min" not in spec or "max" not in spec:
        raise p.fail(f"{what}: a number needs its bounds (min and max)", spec)
    try:
        lo, hi, default = (Fraction(str(spec[k])) for k in ("min", "max", "default"))
    except (ValueError, ZeroDivisionError):
        raise p.fail(f"{what}: min, max and default must be numbers", spec) from None
    if not lo <= default <= hi:
        raise p.fail(f"{what}: the default must lie between min and max", spec)


def _key_at(node: Any, key: Any) -> _At:
    """The line of ``key`` inside a mapping, else of the mapping itself."""
    lines = getattr(node, "key_lines", None) or {}
    return _At(lines.get(key, _line(node)))


# --- the definition model -------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    zh: str
    en: str

    def get(self, locale: str | None) -> str:
        return self.en if (locale or "").startswith("en") else self.zh

    def __str__(self) -> str:
        return self.zh


# The items of a list read inside a sentence or a cell (people, choices, files): 、 between
# Chinese items and a comma between English ones, and ； or ; between longer entries. Code
# that is handed a locale uses these; templates use the catalog's ``_(', ')`` for the page's.
LIST_SEPARATOR = Label(zh="、", en=", ")
ENTRY_SEPARATOR = Label(zh="；", en="; ")
COMMA = Label(zh="，", en=", ")  # between the parts of a clause (who, when)
LABEL_SEPARATOR = Label(zh="：", en=": ")  # between a label and what it labels
ASIDE_OPEN, ASIDE_CLOSE = Label(zh="（", en=" ("), Label(zh="）", en=")")  # a note's brackets


def joined(items: Iterable[str], locale: str | None) -> str:
    """``items`` as one list in ``locale``'s punctuation."""
    return LIST_SEPARATOR.get(locale).join(items)


def labelled(label: str, text: str, locale: str | None) -> str:
    """``text`` after its ``label``: full-width ： in Chinese, ": " in English."""
    return f"{label}{LABEL_SEPARATOR.get(locale)}{text}"


def aside(text: str, note: str, locale: str | None) -> str:
    """``text`` with ``note`` in brackets after it: full-width （） in Chinese."""
    if not note:
        return text
    return f"{text}{ASIDE_OPEN.get(locale)}{note}{ASIDE_CLOSE.get(locale)}"


@dataclass(frozen=True)
class Choice:
    value: str
    label: Label


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    label: Label
    required: bool = False
    choices: tuple[Choice, ...] = ()
    min: float | None = None
    max: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    help: Label | None = None
    # Bookkeeping the engine and the effects keep in the case (a clock's start, a counter):
    # stored and audited like any value, never shown on the case page.
    internal: bool = False
    # Of a ``per_person_text`` field: the persons field whose people it has a line for.
    people: str | None = None

    def choice_values(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.choices)


@dataclass(frozen=True)
class ActorRule:
    """Who may act: ``kind`` is role, field (a user field), person_field (a person field whose
    person's account acts), or one of ACTOR_WORDS."""

    kind: str
    role: str | None = None
    at: str = "org"
    field: str | None = None

    def describe(self) -> str:
        if self.kind == "role":
            return self.role if self.at == "org" else f"{self.role}@{self.at}"
        if self.kind in ("field", "person_field"):
            return f"{self.kind}:{self.field}"
        return self.kind


@dataclass(frozen=True)
class RuleSpec:
    """A named guard or effect with its parameters from the file."""

    name: str
    params: dict[str, Any]


@dataclass(frozen=True)
class DueSpec:
    amount: int | None
    unit: str
    setting: str | None = None
    from_field: str | None = None


@dataclass(frozen=True)
class VoteSpec:
    mode: tuple[str, ...]
    electorate: str
    passed: str
    failed: str
    quorum: str = "more_than_half"
    pass_mark: str = "more_than_half"


@dataclass(frozen=True)
class StateSpec:
    name: str
    label: Label
    description: Label | None = None
    final: bool = False
    due: DueSpec | None = None
    remind_before: int | None = None  # days
    on_overdue: tuple[str, ...] = ()
    overdue_trigger: str | None = None
    # With ``escalate``: the time the superior has to act on the case escalated from here,
    # counted from the day it escalates (otherwise the escalation's general limit).
    escalation_due: DueSpec | None = None
    vote: VoteSpec | None = None
    stage: str | None = None


@dataclass(frozen=True)
class TransitionSpec:
    trigger: str
    sources: tuple[str, ...]
    dest: str
    label: Label
    by: tuple[ActorRule, ...]
    fields: tuple[FieldSpec, ...] = ()
    guards: tuple[RuleSpec, ...] = ()
    effects: tuple[RuleSpec, ...] = ()
    comment: str = "optional"  # required | optional | none
    show_blocked: bool = True
    line: int | None = None
    # Does the step make the case wait on its actors (pbflow.engine.tasks)? ``None``: decided
    # by the engine (a way out of several states into a final one is merely possible, the
    # rest waits); ``waits: false`` in the file marks a step that is only ever possible
    # (change the handler, record a departure, add information).
    waits: bool | None = None

    @property
    def system_only(self) -> bool:
        return all(rule.kind == "system" for rule in self.by)


# A setting's type: int, number (a decimal), bool, str (free, or one of ``choices``), fraction
# (a share such as "2/3"). Older files say "integer" for int.
SETTING_TYPES = ("int", "integer", "number", "bool", "str", "fraction")


@dataclass(frozen=True)
class SettingSpec:
    name: str
    default: Any
    type: str
    label: Label
    min: Any = None  # bounds of an int, number or fraction
    max: Any = None
    choices: tuple[Choice, ...] = ()  # of a str: each value with the label the page shows

    @property
    def choice_values(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.choices)

    def choice_label(self, value: Any) -> Label | None:
        """The label of ``value`` if it is one of the choices."""
        return next((c.label for c in self.choices if c.value == str(value)), None)


@dataclass
class Definition:
    id: str
    version: str
    title: Label
    description: Label | None
    run_by: tuple[str, ...]
    start_by: tuple[ActorRule, ...]
    start_fields: tuple[FieldSpec, ...]
    start_effects: tuple[RuleSpec, ...]
    start_guards: tuple[RuleSpec, ...]
    subject: str  # none | self | <person field name>
    title_template: str | None
    settings: dict[str, SettingSpec]
    initial: str
    states: dict[str, StateSpec]
    transitions: list[TransitionSpec]
    stages: dict[str, Label]
    source: str
    content_hash: str
    path: str
    # "hour" or "day": the steps of an anonymous actor (the public, a tracking-code holder)
    # are dated no finer than this in the case, its audit events and notices; None: exactly.
    anonymous_time: str | None = None
    # Values the effects store that no form asks for (section ``data``): their labels and
    # types for the case page, or ``internal: true`` to keep them off it. Besides the form
    # types: ``records`` (a list of entries) and ``per_person`` (entries by person id).
    data_fields: tuple[FieldSpec, ...] = ()
    _by_source: dict[str, list[TransitionSpec]] = field(default_factory=dict, repr=False)
    _by_key: dict[tuple[str, str], TransitionSpec] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for t in self.transitions:
            for s in self.expand_sources(t):
                self._by_source.setdefault(s, []).append(t)
                self._by_key[(s, t.trigger)] = t

    def expand_sources(self, t: TransitionSpec) -> list[str]:
        if t.sources == ("*",):
            return [s for s, spec in self.states.items() if not spec.final]
        return list(t.sources)

    def transitions_from(self, state: str) -> list[TransitionSpec]:
        return self._by_source.get(state, [])

    def field_label(self, name: str, locale: str) -> str:
        """The label of a field any form of the workflow asks for, or of a value its effects
        store, in ``locale``, for messages about it; the name itself when none declares it."""
        forms = (f for t in self.transitions for f in t.fields)
        for spec in (*self.start_fields, *forms, *self.data_fields):
            if spec.name == name:
                return spec.label.get(locale)
        return name

    def state_label(self, name: str | None, locale: str) -> str | None:
        """A state's label in ``locale``; the name itself when this revision has no such
        state (a history written by another revision), None for None."""
        if name is None:
            return None
        spec = self.states.get(name)
        return spec.label.get(locale) if spec else name

    def transition(self, state: str, trigger: str) -> TransitionSpec | None:
        return self._by_key.get((state, trigger))

    def triggers(self) -> set[str]:
        return {t.trigger for t in self.transitions}

    def setting_default(self, name: str) -> Any:
        return self.settings[name].default


# --- parsing --------------------------------------------------------------------------------


class _Parser:
    def __init__(self, path: str, raw: Any):
        self.path = path
        self.raw = raw

    def fail(self, problem: str, node: Any = None) -> DefinitionError:
        return DefinitionError(self.path, problem, _line(node) if node is not None else None)

    def keys(self, node: Any, allowed: set[str], what: str, required: set[str] = frozenset()):
        if not isinstance(node, dict):
            raise self.fail(f"{what} must be a mapping", node)
        unknown = sorted(set(node) - allowed, key=str)
        if unknown:
            raise self.fail(
                f"{what}: unknown key(s) {', '.join(map(str, unknown))} "
                f"(allowed: {', '.join(sorted(allowed))})",
                _key_at(node, unknown[0]),
            )
        missing = sorted(required - set(node))
        if missing:
            raise self.fail(f"{what}: missing key(s) {', '.join(missing)}", node)

    def label(self, node: Any, what: str, parent: Any = None) -> Label:
        if (
            isinstance(node, dict)
            and set(node) == {"zh", "en"}
            and all(isinstance(v, str) and v.strip() for v in node.values())
        ):
            return Label(zh=node["zh"], en=node["en"])
        raise self.fail(
            f"{what} needs a label with both zh and en text",
            node if isinstance(node, dict) else parent,
        )

    def choices(self, node: list, what: str) -> list[Choice]:
        """A form field's or a setting's choices: ``{value, label}`` each, or a bare value
        (then shown as it is written)."""
        choices = []
        for c in node:
            if isinstance(c, dict):
                self.keys(c, {"value", "label"}, f"{what}: choice", {"value", "label"})
                choices.append(Choice(str(c["value"]), self.label(c["label"], "choice", c)))
            else:
                choices.append(Choice(str(c), Label(str(c), str(c))))
        return choices

    def actor_rules(self, node: Any, what: str, parent: Any) -> tuple[ActorRule, ...]:
        items = node if isinstance(node, list) else [node]
        if not items or node is None:
            raise self.fail(f"{what}: 'by' must name who may act", parent)
        rules = []
        for item in items:
            if isinstance(item, str):
                if item in ACTOR_WORDS:
                    rules.append(ActorRule(kind=item))
                elif item in ROLES:
                    rules.append(ActorRule(kind="role", role=item))
                else:
                    raise self.fail(
                        f"{what}: unknown role or actor '{item}'", _key_at(parent, "by")
                    )
            elif isinstance(item, dict) and "role" in item:
                self.keys(item, {"role", "at"}, f"{what}: actor", {"role"})
                if item["role"] not in ROLES:
                    raise self.fail(f"{what}: unknown role '{item['role']}'", item)
                at = item.get("at", "org")
                if at not in ROLE_SCOPES:
                    raise self.fail(
                        f"{what}: 'at' must be one of {', '.join(ROLE_SCOPES)}, not '{at}'", item
                    )
                rules.append(ActorRule(kind="role", role=item["role"], at=at))
            elif isinstance(item, dict) and ("field" in item or "person_field" in item):
                key = "field" if "field" in item else "person_field"
                self.keys(item, {key}, f"{what}: actor", {key})
                rules.append(ActorRule(kind=key, field=str(item[key])))
            else:
                raise self.fail(f"{what}: cannot read actor {item!r}", _key_at(parent, "by"))
        return tuple(rules)

    def fields(
        self, node: Any, what: str, extra_types: tuple[str, ...] = ()
    ) -> tuple[FieldSpec, ...]:
        if node is None:
            return ()
        if not isinstance(node, list):
            raise self.fail(f"{what}: fields must be a list")
        specs, seen = [], set()
        for item in node:
            self.keys(
                item,
                {
                    "name",
                    "type",
                    "label",
                    "required",
                    "choices",
                    "min",
                    "max",
                    "min_length",
                    "max_length",
                    "min_items",
                    "max_items",
                    "help",
                    "internal",
                    "people",
                },
                f"{what}: field",
                {"name", "type", "label"},
            )
            name = str(item["name"])
            if not name.isidentifier():
                raise self.fail(f"{what}: field name '{name}' must be an identifier", item)
            if name in seen:
                raise self.fail(f"{what}: field '{name}' declared twice", item)
            seen.add(name)
            ftype = item["type"]
            if ftype not in FIELD_TYPES + extra_types:
                raise self.fail(
                    f"{what}: field '{name}' has unknown type '{ftype}' "
                    f"(known: {', '.join(FIELD_TYPES + extra_types)})",
                    item,
                )
            choices: list[Choice] = []
            if ftype in ("choice", "multichoice"):
                raw_choices = item.get("choices")
                if not isinstance(raw_choices, list) or not raw_choices:
                    raise self.fail(f"{what}: field '{name}' needs a list of choices", item)
                choices = self.choices(raw_choices, what)
            elif "choices" in item:
                raise self.fail(f"{what}: field '{name}' of type {ftype} cannot have choices", item)
            people = item.get("people")
            if ftype == "per_person_text":
                if not isinstance(people, str) or not people.isidentifier():
                    raise self.fail(
                        f"{what}: field '{name}' needs 'people': the persons field whose "
                        f"people it has a line for",
                        item,
                    )
            elif people is not None:
                raise self.fail(f"{what}: field '{name}' of type {ftype} cannot have people", item)
            for num in ("min", "max"):
                if num in item and not isinstance(item[num], int | float):
                    raise self.fail(f"{what}: field '{name}': {num} must be a number", item)
            specs.append(
                FieldSpec(
                    name=name,
                    type=ftype,
                    label=self.label(item["label"], f"field '{name}'", item),
                    required=bool(item.get("required", False)),
                    choices=tuple(choices),
                    min=item.get("min"),
                    max=item.get("max"),
                    min_length=item.get("min_length"),
                    max_length=item.get("max_length"),
                    min_items=item.get("min_items"),
                    max_items=item.get("max_items"),
                    help=self.label(item["help"], "help", item) if "help" in item else None,
                    internal=bool(item.get("internal", False)),
                    people=people,
                )
            )
        return tuple(specs)

    def rules(self, node: Any, what: str, book: Rulebook, kind: str, parent: Any = None):
        registry = book.of(kind)
        if node is None:
            return ()
        if not isinstance(node, list):
            raise self.fail(f"{what}: {kind}s must be a list")
        specs = []
        for item in node:
            if isinstance(item, str):
                name, params = item, {}
            elif isinstance(item, dict) and "name" in item:
                name = item["name"]
                params = {k: v for k, v in item.items() if k != "name"}
            else:
                raise self.fail(f"{what}: cannot read {kind} {item!r}", parent)
            where = item if isinstance(item, dict) else _key_at(parent, f"{kind}s")
            if name not in registry and (kind, name) in book.elsewhere:
                raise self.fail(
                    f"{what}: {kind} '{name}' belongs to the procedure "
                    f"'{book.elsewhere[kind, name]}', which is not installed",
                    where,
                )
            if name not in registry:
                raise self.fail(
                    f"{what}: unknown {kind} '{name}' (known: {', '.join(sorted(registry))})",
                    where,
                )
            problem = registry[name].check_params(params)
            if problem:
                raise self.fail(f"{what}: {kind} '{name}': {problem}", where)
            specs.append(RuleSpec(name=name, params=dict(params)))
        return tuple(specs)

    def due(self, node: Any, what: str) -> DueSpec:
        self.keys(node, {"days", "working_days", "months", "setting", "unit", "from"}, what)
        units = [u for u in DUE_UNITS if u in node]
        if "setting" in node:
            if units:
                raise self.fail(f"{what}: give either an amount or a setting, not both", node)
            unit = node.get("unit", "days")
            if unit not in DUE_UNITS:
                raise self.fail(f"{what}: unit must be one of {', '.join(DUE_UNITS)}", node)
            return DueSpec(None, unit, setting=str(node["setting"]), from_field=node.get("from"))
        if len(units) != 1:
            raise self.fail(f"{what}: give exactly one of {', '.join(DUE_UNITS)}", node)
        amount = node[units[0]]
        # ``{days: 0, from: deadline}``: due on the date a field holds (a deadline set earlier).
        least = 0 if "from" in node else 1
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < least:
            raise self.fail(f"{what}: {units[0]} must be a positive whole number", node)
        return DueSpec(amount, units[0], from_field=node.get("from"))


# Parsed definitions by (text hash, path, rulebook). A definition never changes once parsed (a
# changed file is a new text, hence a new key), so every app in the process may share them.
_PARSED: dict[tuple[str, str, tuple, bool], Definition] = {}


def parse(source: str, path: str, rules: Rulebook, *, stored: bool = False) -> Definition:
    """Parse and validate one workflow file's text against the guards and effects ``rules``
    offers; raise DefinitionError on the first problem.

    ``stored``: the text of a revision stored when a case started on it, read again for that
    case. It was accepted then, and cases still run on it: rules of form added since (a
    setting's bounds) are not applied to it, or an upgrade would stop those cases."""
    key = (hashlib.sha256(source.encode()).hexdigest(), path, rules.key, stored)
    cached = _PARSED.get(key)
    if cached is not None:
        return cached
    try:
        definition = _parse(source, path, rules, stored)
    except (TypeError, AttributeError, ValueError, KeyError) as exc:
        # A shape no check above foresaw (a list where a mapping belongs...): still a refusal
        # naming the file, never a crash of whoever loads it.
        raise DefinitionError(path, f"cannot read the file's structure ({exc!r})") from None
    _PARSED[key] = definition
    return definition


def _parse(source: str, path: str, rules: Rulebook, stored: bool = False) -> Definition:
    try:
        raw = yaml.load(source, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    except DefinitionError as exc:
        raise DefinitionError(path, exc.problem, exc.line) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise DefinitionError(
            path,
            f"not valid YAML: {getattr(exc, 'problem', exc)}",
            mark.line + 1 if mark else None,
        ) from None
    p = _Parser(path, raw)
    p.keys(
        raw,
        {
            "id",
            "version",
            "title",
            "description",
            "run_by",
            "start",
            "settings",
            "initial",
            "states",
            "transitions",
            "stages",
            "anonymous_time",
            "data",
        },
        "workflow",
        {"id", "version", "title", "run_by", "start", "initial", "states", "transitions"},
    )
    wf_id = str(raw["id"])
    if not wf_id.isidentifier():
        raise p.fail(f"id '{wf_id}' must be a lower-case identifier", raw)
    if ("workflow", wf_id) in rules.elsewhere:
        raise p.fail(
            f"workflow '{wf_id}' belongs to the procedure "
            f"'{rules.elsewhere['workflow', wf_id]}', which is not installed",
            _key_at(raw, "id"),
        )
    run_by = raw["run_by"] if isinstance(raw["run_by"], list) else [raw["run_by"]]
    for kind in run_by:
        if kind not in ORG_KINDS:
            raise p.fail(f"run_by: unknown organization kind '{kind}'", raw)

    settings: dict[str, SettingSpec] = {}
    for section in ("settings", "stages"):
        if not isinstance(raw.get(section) or {}, dict):
            raise p.fail(f"{section} must be a mapping", _key_at(raw, section))
    for name, spec in (raw.get("settings") or {}).items():
        what = f"setting '{name}'"
        p.keys(
            spec, {"default", "type", "label", "min", "max", "choices"}, what, {"default", "label"}
        )
        stype = spec.get("type", type(spec["default"]).__name__)
        stype = {"float": "number", "Decimal": "number"}.get(stype, stype)
        if stype not in SETTING_TYPES:
            raise p.fail(f"{what}: type must be one of {', '.join(SETTING_TYPES)}", spec)
        raw_choices = spec.get("choices") or []
        if not isinstance(raw_choices, list):
            raise p.fail(f"{what}: choices must be a list", spec)
        choices = tuple(p.choices(raw_choices, what))
        if choices and str(spec["default"]) not in {c.value for c in choices}:
            raise p.fail(f"{what}: the default is not one of its choices", spec)
        numeric = stype in ("int", "integer", "number", "fraction")
        for bound in ("min", "max"):
            if bound in spec and not numeric:
                raise p.fail(f"{what}: {bound} only bounds a number", spec)
        if numeric and not stored:
            _check_bounds(p, spec, what)
        settings[name] = SettingSpec(
            name,
            spec["default"],
            stype,
            p.label(spec["label"], what, spec),
            spec.get("min"),
            spec.get("max"),
            choices,
        )

    stages = {str(k): p.label(v, f"stage '{k}'", raw) for k, v in (raw.get("stages") or {}).items()}
    anonymous_time = raw.get("anonymous_time")
    if anonymous_time is not None and anonymous_time not in COARSE_UNITS:
        raise p.fail(
            f"anonymous_time must be one of {', '.join(COARSE_UNITS)}",
            _key_at(raw, "anonymous_time"),
        )

    start = raw["start"]
    p.keys(start, {"by", "fields", "subject", "title", "effects", "guards"}, "start", {"by"})
    start_fields = p.fields(start.get("fields"), "start")
    if any(f.type == "per_person_text" for f in start_fields):
        raise p.fail(
            "start: a per_person_text field belongs to a step's form (its lines are for people "
            "the case already names)",
            start,
        )
    start_field_names = {f.name for f in start_fields}
    subject = str(start.get("subject", "none"))
    if subject not in ("none", "self") and subject not in start_field_names:
        raise p.fail(f"start: subject '{subject}' is not 'none', 'self' or a start field", start)

    states: dict[str, StateSpec] = {}
    if not isinstance(raw["states"], dict) or not raw["states"]:
        raise p.fail("states must be a non-empty mapping", raw)
    for name, spec in raw["states"].items():
        what = f"state '{name}'"
        if not str(name).isidentifier():
            raise p.fail(f"{what}: state names must be identifiers", raw["states"])
        p.keys(
            spec,
            {
                "label",
                "description",
                "final",
                "due",
                "remind_before",
                "on_overdue",
                "escalation_due",
                "vote",
                "stage",
            },
            what,
            {"label"},
        )
        due = p.due(spec["due"], f"{what}: due") if "due" in spec else None
        on_overdue_raw = spec.get("on_overdue") or []
        on_overdue_raw = on_overdue_raw if isinstance(on_overdue_raw, list) else [on_overdue_raw]
        on_overdue, overdue_trigger = [], None
        for item in on_overdue_raw:
            if isinstance(item, dict) and set(item) == {"fire"}:
                overdue_trigger = str(item["fire"])
            elif item in OVERDUE_ACTIONS:
                on_overdue.append(item)
            else:
                raise p.fail(
                    f"{what}: on_overdue must be notify, escalate or {{fire: trigger}}", spec
                )
        if (on_overdue or overdue_trigger) and due is None:
            raise p.fail(f"{what}: on_overdue needs a due time", spec)
        escalation_due = None
        if "escalation_due" in spec:
            escalation_due = p.due(spec["escalation_due"], f"{what}: escalation_due")
            if "escalate" not in on_overdue:
                raise p.fail(f"{what}: escalation_due needs 'escalate' in on_overdue", spec)
            if escalation_due.from_field:
                raise p.fail(
                    f"{what}: escalation_due counts from the day the case escalates, not "
                    f"from a field",
                    spec,
                )
        vote = None
        if "vote" in spec:
            v = spec["vote"]
            p.keys(
                v,
                {"mode", "electorate", "passed", "failed", "quorum", "pass_mark"},
                f"{what}: vote",
                {"mode", "electorate", "passed", "failed"},
            )
            modes = v["mode"] if isinstance(v["mode"], list) else [v["mode"]]
            if not modes or any(m not in VOTE_MODES for m in modes):
                raise p.fail(f"{what}: vote mode must be ballot and/or meeting", v)
            electorate = str(v["electorate"])
            parsed = parse_role_electorate(electorate)
            if electorate not in ELECTORATES and not (
                parsed and parsed[0] in ROLES and parsed[1] in ROLE_SCOPES
            ):
                raise p.fail(
                    f"{what}: unknown electorate '{electorate}' (use full_members or "
                    f"role:NAME, role:NAME@SCOPE)",
                    _key_at(v, "electorate"),
                )
            if v.get("quorum", "more_than_half") not in QUORUMS:
                raise p.fail(f"{what}: quorum must be one of {', '.join(QUORUMS)}", v)
            if v.get("pass_mark", "more_than_half") not in PASS_MARKS:
                raise p.fail(f"{what}: pass_mark must be one of {', '.join(PASS_MARKS)}", v)
            vote = VoteSpec(
                tuple(modes),
                electorate,
                str(v["passed"]),
                str(v["failed"]),
                v.get("quorum", "more_than_half"),
                v.get("pass_mark", "more_than_half"),
            )
        stage = spec.get("stage")
        if stage is not None and stage not in stages:
            raise p.fail(f"{what}: unknown stage '{stage}'", spec)
        remind = spec.get("remind_before")
        if remind is not None and (not isinstance(remind, int) or remind <= 0):
            raise p.fail(f"{what}: remind_before is a positive number of days", spec)
        states[str(name)] = StateSpec(
            name=str(name),
            label=p.label(spec["label"], what, spec),
            description=p.label(spec["description"], what, spec) if "description" in spec else None,
            final=bool(spec.get("final", False)),
            due=due,
            remind_before=remind,
            on_overdue=tuple(on_overdue),
            overdue_trigger=overdue_trigger,
            escalation_due=escalation_due,
            vote=vote,
            stage=stage,
        )
    initial = str(raw["initial"])
    if initial not in states:
        raise p.fail(f"initial state '{initial}' is not declared", raw)

    transitions: list[TransitionSpec] = []
    seen_keys: dict[tuple[str, str], int | None] = {}
    if not isinstance(raw["transitions"], list):
        raise p.fail("transitions must be a list", raw)
    for item in raw["transitions"]:
        p.keys(
            item,
            {
                "trigger",
                "source",
                "dest",
                "label",
                "by",
                "fields",
                "guards",
                "effects",
                "comment",
                "show_blocked",
                "waits",
            },
            "transition",
            {"trigger", "source", "dest", "label", "by"},
        )
        trigger = str(item["trigger"])
        what = f"transition '{trigger}'"
        if not trigger.isidentifier():
            raise p.fail(f"{what}: triggers must be identifiers", item)
        sources = item["source"] if isinstance(item["source"], list) else [item["source"]]
        sources = [str(s) for s in sources]
        if sources != ["*"]:
            for s in sources:
                if s not in states:
                    raise p.fail(f"{what}: unknown source state '{s}'", _key_at(item, "source"))
                if states[s].final:
                    raise p.fail(f"{what}: source '{s}' is a final state", _key_at(item, "source"))
        dest = str(item["dest"])
        # "=": the step records something and the case stays where it is, from each source.
        if dest != "=" and dest not in states:
            raise p.fail(f"{what}: unknown destination state '{dest}'", _key_at(item, "dest"))
        expanded = [s for s in states if not states[s].final] if sources == ["*"] else sources
        for s in expanded:
            if (s, trigger) in seen_keys:
                raise p.fail(
                    f"{what}: trigger '{trigger}' is declared twice from state '{s}'", item
                )
            seen_keys[(s, trigger)] = _line(item)
        comment = item.get("comment", "optional")
        if comment not in ("required", "optional", "none"):
            raise p.fail(f"{what}: comment must be required, optional or none", item)
        fields = p.fields(item.get("fields"), what)
        waits = item.get("waits")
        if waits is not None and not isinstance(waits, bool):
            raise p.fail(f"{what}: waits must be true or false", _key_at(item, "waits"))
        shared = {
            "trigger": trigger,
            "label": p.label(item["label"], what, item),
            "by": p.actor_rules(item["by"], what, item),
            "fields": fields,
            "guards": p.rules(item.get("guards"), what, rules, "guard", item),
            "effects": p.rules(item.get("effects"), what, rules, "effect", item),
            "comment": comment,
            "show_blocked": bool(item.get("show_blocked", True)),
            "line": _line(item),
            "waits": waits,
        }
        if dest == "=":
            transitions.extend(TransitionSpec(sources=(s,), dest=s, **shared) for s in expanded)
        else:
            transitions.append(TransitionSpec(sources=tuple(sources), dest=dest, **shared))

    definition = Definition(
        id=wf_id,
        version=str(raw["version"]),
        title=p.label(raw["title"], "title", raw),
        description=p.label(raw["description"], "description", raw)
        if "description" in raw
        else None,
        run_by=tuple(run_by),
        start_by=p.actor_rules(start["by"], "start", start),
        start_fields=start_fields,
        start_effects=p.rules(start.get("effects"), "start", rules, "effect", start),
        start_guards=p.rules(start.get("guards"), "start", rules, "guard", start),
        subject=subject,
        title_template=start.get("title"),
        settings=settings,
        initial=initial,
        states=states,
        transitions=transitions,
        stages=stages,
        data_fields=p.fields(raw.get("data"), "data", DATA_TYPES),
        source=source,
        content_hash=hashlib.sha256(source.encode()).hexdigest(),
        path=path,
        anonymous_time=anonymous_time,
    )
    _check_graph(p, definition)
    return definition


def _date_fields(d: Definition) -> set[str]:
    fields = [*d.start_fields, *(f for t in d.transitions for f in t.fields)]
    # A date the set_date effect records (for example when a time limit starts) counts too.
    effects = [*d.start_effects, *(e for t in d.transitions for e in t.effects)]
    return {f.name for f in fields if f.type == "date"} | {
        e.params["field"] for e in effects if e.name == "set_date"
    }


def _check_people(p: _Parser, d: Definition) -> None:
    """A ``per_person_text`` field has a line for the people of a persons field of the
    workflow (its ``people``)."""
    forms = [(f"transition '{t.trigger}'", t.line, t.fields) for t in d.transitions]
    every = [*d.start_fields, *(f for _t, _l, specs in forms for f in specs), *d.data_fields]
    persons = {f.name for f in every if f.type == "persons"}
    for what, line, specs in [*forms, ("data", None, d.data_fields)]:
        for f in specs:
            if f.type == "per_person_text" and f.people not in persons:
                raise p.fail(
                    f"{what}: field '{f.name}': people '{f.people}' is not a persons field "
                    f"of this workflow",
                    _At(line),
                )


def _check_graph(p: _Parser, d: Definition) -> None:
    _check_people(p, d)
    raw_states = p.raw["states"]
    for name, state in d.states.items():
        node = raw_states.get(name, raw_states)
        outgoing = d.transitions_from(name)
        if not state.final and not outgoing:
            raise p.fail(f"state '{name}' is not final and has no way out", node)
        # The engine itself fires vote outcomes and on_overdue steps: they must allow it.
        automatic: list[tuple[str, str]] = []
        if state.vote:
            automatic = [(t, "vote outcome") for t in (state.vote.passed, state.vote.failed)]
        if state.overdue_trigger:
            automatic.append((state.overdue_trigger, "on_overdue trigger"))
        for trigger, why in automatic:
            t = d.transition(name, trigger)
            if t is None:
                raise p.fail(
                    f"state '{name}': {why} '{trigger}' is not a transition from '{name}'",
                    node,
                )
            if not any(rule.kind == "system" for rule in t.by):
                raise p.fail(
                    f"state '{name}': {why} '{trigger}' is fired by the engine, so it needs "
                    f"'system' in its 'by'",
                    node,
                )
        if state.due and state.due.setting and state.due.setting not in d.settings:
            raise p.fail(f"state '{name}': due uses unknown setting '{state.due.setting}'", node)
        later = state.escalation_due
        if later and later.setting and later.setting not in d.settings:
            raise p.fail(
                f"state '{name}': escalation_due uses unknown setting '{later.setting}'", node
            )
        source = state.due.from_field if state.due else None
        if source and not source.startswith("subject.") and source not in _date_fields(d):
            raise p.fail(
                f"state '{name}': due counts from '{source}', which is not a date field of "
                f"this workflow (or subject.<key date>)",
                node,
            )
    reached = {d.initial}
    queue = deque([d.initial])
    while queue:
        for t in d.transitions_from(queue.popleft()):
            if t.dest not in reached:
                reached.add(t.dest)
                queue.append(t.dest)
    unreachable = [s for s in d.states if s not in reached]
    if unreachable:
        raise p.fail(
            f"unreachable state(s): {', '.join(unreachable)}",
            raw_states.get(unreachable[0], raw_states),
        )
    for t in d.transitions:
        for rule in (*t.guards, *t.effects):
            setting = rule.params.get("setting")
            if setting is not None and setting not in d.settings:
                raise p.fail(
                    f"transition '{t.trigger}': '{rule.name}' uses unknown setting '{setting}'",
                    None,
                )


def load_file(path: Path, rules: Rulebook) -> Definition:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError(str(path), f"cannot read file: {exc}") from None
    return parse(source, str(path), rules)


def load_dir(folder: Path, rules: Rulebook) -> tuple[dict[str, Definition], list[DefinitionError]]:
    """Every ``*.yaml`` in the folder; problems are collected so one bad file names them all."""
    found: dict[str, Definition] = {}
    errors: list[DefinitionError] = []
    for path in sorted(Path(folder).glob("*.yaml")):
        try:
            d = load_file(path, rules)
        except DefinitionError as exc:
            errors.append(exc)
            continue
        if d.id in found:
            errors.append(
                DefinitionError(str(path), f"id '{d.id}' is also used by {found[d.id].path}")
            )
            continue
        found[d.id] = d
    return found, errors
