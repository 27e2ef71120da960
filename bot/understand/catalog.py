"""The operations the bot offers, as data: the text grammar, the modal and the help read it."""

from __future__ import annotations

from dataclasses import dataclass

FIELD_KINDS = frozenset({"name", "name_list", "flag", "duration", "value"})
# What a "value" field holds, as the API receives it.
VALUE_TYPES = frozenset({"string", "integer", "number", "boolean"})
# Words the grammar itself owns, so no operation keyword may take them.
BUILT_IN_COMMANDS = frozenset({"help", "list", "status", "plan", "freeze", "unfreeze"})
# Words the grammar reads between the parts of a command (`nginx on web-01 and web-02 at 14:00`):
# a field's word among them would make a command mean two things.
GRAMMAR_WORDS = frozenset({"on", "and", "the", "at", "in"})
# The Python types a "value" field's default may have, by value_type.
_DEFAULT_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


@dataclass(frozen=True, kw_only=True)
class ParamField:
    """One parameter of an operation kind, read by the text grammar and shown in the modal.

    `word` is how the parameter appears in text:
    - "flag": the word itself, anywhere (`force`);
    - "duration": the word before the value, anywhere (`timeout 600`);
    - "name_list": the word before the list, after the devices (`with curl, openssl`);
    - "name": one or more names, with the word optional before or after them
      (`restart [the] [service] nginx[, apache] [service] on ...`): one operation per name;
    - "value": one value of `value_type` after the word, anywhere: before "on" as in
      `set <path> to 300 on ...`, or after the devices like a duration.
    """

    name: str
    label: str
    kind: str
    required: bool
    default: object
    placeholder: str = ""
    word: str = ""
    value_type: str = ""  # for a "value" field: one of VALUE_TYPES


@dataclass(frozen=True, kw_only=True)
class OperationKind:
    keyword: str
    operation_type: str
    label: str
    syntax: str
    example: str
    fields: tuple[ParamField, ...]
    fixed: dict[str, object]


@dataclass(frozen=True, kw_only=True)
class Catalog:
    kinds: tuple[OperationKind, ...]

    def __post_init__(self) -> None:
        # Checked once here so the grammar can rely on a well-formed catalog.
        if not self.kinds:
            raise ValueError("a catalog needs at least one operation kind")
        keywords = [k.keyword for k in self.kinds]
        types = [k.operation_type for k in self.kinds]
        if len(set(keywords)) != len(keywords) or len(set(types)) != len(types):
            raise ValueError("operation keywords and types must be unique")
        for kind in self.kinds:
            if kind.keyword != kind.keyword.lower() or kind.keyword in BUILT_IN_COMMANDS:
                raise ValueError(f"bad operation keyword {kind.keyword!r}")
            names = [f.name for f in kind.fields]
            if len(set(names)) != len(names) or set(names) & set(kind.fixed):
                raise ValueError(f"{kind.keyword}: parameter names must be unique")
            for f in kind.fields:
                if f.kind not in FIELD_KINDS:
                    raise ValueError(f"{kind.keyword}.{f.name}: unknown field kind {f.kind!r}")
                if f.kind != "name" and not f.word:
                    raise ValueError(f"{kind.keyword}.{f.name}: a {f.kind} field needs a word")
                if f.word != f.word.lower():
                    raise ValueError(f"{kind.keyword}.{f.name}: words are lower case")
                if f.word in GRAMMAR_WORDS or f.word in BUILT_IN_COMMANDS:
                    raise ValueError(f"{kind.keyword}.{f.name}: {f.word!r} is the grammar's word")
                _check_value_type(kind, f)
            for single in ("name", "name_list"):
                if sum(f.kind == single for f in kind.fields) > 1:
                    raise ValueError(f"{kind.keyword}: at most one {single} field")
            # One word, one field: "to 300" must say which value it sets.
            words = [f.word for f in kind.fields if f.word]
            if len(set(words)) != len(words):
                raise ValueError(f"{kind.keyword}: each field needs a word of its own")

    def by_keyword(self, word: str) -> OperationKind | None:
        word = word.lower()
        return next((k for k in self.kinds if k.keyword == word), None)

    def by_type(self, operation_type: str) -> OperationKind | None:
        return next((k for k in self.kinds if k.operation_type == operation_type), None)

    def name_field(self, operation_type: str) -> ParamField | None:
        """The field that names what an operation of this type acts on (restart_service:
        service_name, `restart nginx`); None for a kind without one (reboot)."""
        kind = self.by_type(operation_type)
        return next((f for f in kind.fields if f.kind == "name"), None) if kind else None

    def words(self) -> frozenset[str]:
        """Words that introduce flags, durations, lists and values: never device names."""
        return frozenset(
            f.word for k in self.kinds for f in k.fields if f.word and f.kind != "name"
        )


def _check_value_type(kind: OperationKind, f: ParamField) -> None:
    where = f"{kind.keyword}.{f.name}"
    if f.kind != "value":
        if f.value_type:
            raise ValueError(f"{where}: only a value field has a value_type")
        return
    if f.value_type not in VALUE_TYPES:
        raise ValueError(f"{where}: value_type must be one of {sorted(VALUE_TYPES)}")
    allowed = _DEFAULT_TYPES[f.value_type]
    # bool is an int to Python, but true is no number of seconds or port.
    wrong_bool = isinstance(f.default, bool) and f.value_type != "boolean"
    if f.default is not None and (not isinstance(f.default, allowed) or wrong_bool):
        raise ValueError(f"{where}: the default must be a {f.value_type} or None")


DEFAULT_CATALOG = Catalog(
    kinds=(
        OperationKind(
            keyword="restart",
            operation_type="restart_service",
            label="Restart a service",
            syntax="restart <service>[, <service>…] on <devices>",
            example="restart nginx on server-02 at 14:00",
            fields=(
                ParamField(
                    name="service_name",
                    label="Service",
                    kind="name",
                    required=True,
                    default=None,
                    placeholder="nginx",
                    word="service",
                ),
            ),
            fixed={"verify_status": True},
        ),
        OperationKind(
            keyword="reboot",
            operation_type="reboot",
            label="Reboot devices",
            syntax="reboot <devices> [force] [timeout <seconds>]",
            example="reboot server-01 at 14:00",
            fields=(
                ParamField(
                    name="force",
                    label="Force",
                    kind="flag",
                    required=False,
                    default=False,
                    word="force",
                ),
                ParamField(
                    name="timeout",
                    label="Timeout",
                    kind="duration",
                    required=False,
                    default=300,
                    placeholder="300",
                    word="timeout",
                ),
            ),
            fixed={},
        ),
        OperationKind(
            keyword="update",
            operation_type="update",
            label="Update packages",
            syntax="update <devices> with <package>[, <package>…]",
            example="update server-01 with openssl, curl tomorrow at 03:00",
            fields=(
                ParamField(
                    name="package_list",
                    label="Packages",
                    kind="name_list",
                    required=True,  # an empty list would leave nobody knowing what it updates
                    default=[],
                    placeholder="security-updates, openssl",
                    word="with",
                ),
            ),
            fixed={},
        ),
    )
)
