"""Frozen records whose schema Pydantic checks: the base of the IR and of `Stats`.

A record class declares typed fields the way a Pydantic model does (annotations, defaults,
`Field(repr=False)`, `ClassVar`s for class data) and offers the part of `BaseModel`'s interface the
IR needs: `model_fields`, `model_dump`, `model_dump_json`, `model_validate`, `model_validate_json`,
`model_json_schema`, `model_copy`, equality, hashing, a repr, and no assignment. What enters from
outside, a record a user constructs (`Conv(name="c", ...)`) or JSON, is validated by Pydantic exactly
as a `BaseModel` would be: each record class has a Pydantic model with the same fields, built on the
first validation, whose result becomes the record. The compiler's own construction (`checked`) takes
values it has already checked and typed exactly, and involves no Pydantic at all: a fresh `cnndsl
stats` never imports it (`from pydantic import BaseModel` and 43 model classes took longer than the
whole command's start-up budget, issue 12).
"""

from __future__ import annotations

import json
import threading
import types
import typing
from typing import Any, ClassVar, TypeVar

REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()


class FieldInfo:
    """One field of a record: its annotation (as written), its default (`REQUIRED` if none) and
    whether the repr shows it."""

    __slots__ = ("annotation", "default", "repr")

    def __init__(self, default: Any = REQUIRED, *, repr: bool = True, annotation: str = ""):
        self.annotation, self.default, self.repr = annotation, default, repr

    def is_required(self) -> bool:
        return self.default is REQUIRED


def Field(default: Any = REQUIRED, *, repr: bool = True) -> Any:  # Pydantic's spelling
    """A field's default and repr flag: `span: Span = Field(repr=False)`."""
    return FieldInfo(default, repr=repr)


R = TypeVar("R", bound="Record")
_new, _set = object.__new__, object.__setattr__


class Record:
    """Base of the frozen records: fields are collected from each class's annotations, base
    classes' fields first (a redeclared field keeps its place: the JSON order)."""

    model_fields: ClassVar[dict[str, FieldInfo]] = {}
    _template: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        fields = dict(cls.model_fields)
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063  (own, unevaluated)
            if not isinstance(annotation, str):
                raise TypeError(f"{cls.__name__}.{name}: records are declared under "
                                "`from __future__ import annotations`")
            if annotation.startswith(("ClassVar", "typing.ClassVar")):
                continue
            value = cls.__dict__.get(name, REQUIRED)
            info = value if isinstance(value, FieldInfo) else FieldInfo(value)
            info.annotation = annotation
            if isinstance(value, FieldInfo):
                delattr(cls, name)
            fields[name] = info
        cls.model_fields = fields
        cls._template = {n: f.default for n, f in fields.items()}  # declared order; required ones overwritten

    # -------- construction
    def __init__(self, **data: Any):
        """Validated construction, for records built outside the compiler (Pydantic's rules)."""
        made = _validated(type(self), data)
        _set(self, "__dict__", made.__dict__)

    @classmethod
    def model_validate(cls: type[R], data: Any) -> R:  # noqa: PYI019  (typing.Self: Python 3.11)
        return _validated(cls, data)

    @classmethod
    def model_validate_json(cls: type[R], text: str | bytes) -> R:  # noqa: PYI019
        return _record(_pydantic(cls).model_validate_json(text))

    @classmethod
    def model_json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of the record's JSON (Pydantic's, of the model that validates it)."""
        return _pydantic(cls).model_json_schema()

    def model_copy(self: R, *, update: dict[str, Any] | None = None) -> R:  # noqa: PYI019
        """A copy with some fields replaced, not validated (as Pydantic's `model_copy`)."""
        obj = _new(type(self))
        _set(obj, "__dict__", {**self.__dict__, **(update or {})})
        return obj

    # -------- output
    def model_dump(self, *, mode: str = "python", exclude: set[str] | frozenset[str] | None = None) -> dict[str, Any]:
        """The fields as a dict, records inside as dicts too; `mode="json"`: JSON types only."""
        plain = _json if mode == "json" else _python
        d = self.__dict__
        return {n: plain(d[n]) for n in self.model_fields if not exclude or n not in exclude}

    def model_dump_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=indent, ensure_ascii=False,
                          separators=(",", ":") if indent is None else None)

    def _values(self) -> tuple:
        d = self.__dict__
        return tuple(d[n] for n in self.model_fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        d = self.__dict__
        shown = ", ".join(f"{n}={d[n]!r}" for n, f in self.model_fields.items() if f.repr)
        return f"{type(self).__name__}({shown})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(f"{type(self).__name__} is frozen: '{name}' cannot be assigned (use model_copy(update=...))")

    def __delattr__(self, name: str) -> None:
        raise TypeError(f"{type(self).__name__} is frozen: '{name}' cannot be deleted")


def checked(cls: type[R], **values: Any) -> R:
    """`cls(**values)` for values the compiler has already checked and typed exactly (the
    elaborator's decoders, the shape pass, the stats): no validation, no Pydantic."""
    obj = _new(cls)
    _set(obj, "__dict__", {**cls._template, **values})
    return obj


def _each(v: Any, leaf, seq: type = tuple) -> Any:
    """`leaf` applied to each value inside the tuples, lists and dicts `v` is made of, tuples made
    `seq`s; a named tuple (a `Span`) is a value."""
    t = type(v)
    if t is tuple or t is list:
        return (seq if t is tuple else list)(_each(x, leaf, seq) for x in v)
    if t is dict:
        return {k: _each(x, leaf, seq) for k, x in v.items()}
    return leaf(v)


def _python(v: Any) -> Any:
    return _each(v, lambda x: x.model_dump() if isinstance(x, Record) else x)


def _json(v: Any) -> Any:
    return _each(v, lambda x: x.model_dump(mode="json") if isinstance(x, Record) else
                 list(x) if isinstance(x, tuple) else x, list)


# -------- validation: a Pydantic model per record class, built on first use
_LOCK = threading.RLock()
_MODELS: dict[type, Any] = {}  # record class -> its Pydantic model
_RECORDS: dict[Any, type] = {}  # Pydantic model -> its record class


def _validated(cls: type[R], data: Any) -> R:
    model = _pydantic(cls)
    return _record(model.model_validate(_plain(data)))


def _plain(v: Any) -> Any:
    """Input with records as dicts, so their Pydantic models validate them (a record is validated
    again: it may have been built by `checked` or `model_copy`)."""
    return _each(v, lambda x: {n: _plain(x.__dict__[n]) for n in x.model_fields} if isinstance(x, Record) else x)


def _record(v: Any) -> Any:
    """A validated Pydantic value with each model instance turned into its record."""

    def leaf(x: Any) -> Any:
        cls = _RECORDS.get(type(x))
        return x if cls is None else checked(cls, **{n: _record(getattr(x, n)) for n in cls.model_fields})

    return _each(v, leaf)


def _pydantic(cls: type) -> Any:
    """The Pydantic model that validates `cls`: every record class reachable from its fields gets
    one too, and a union of node kinds is discriminated by `kind` (as the IR's JSON is)."""
    model = _MODELS.get(cls)
    if model is not None:
        return model
    with _LOCK:
        if cls in _MODELS:
            return _MODELS[cls]
        from pydantic import ConfigDict, create_model
        from pydantic import Field as PydanticField

        made: dict[type, Any] = {}
        names: dict[str, Any] = {}
        todo, seen = [cls], {cls}

        def mirror(tp: Any) -> Any:
            if isinstance(tp, type) and issubclass(tp, Record):
                if tp not in _MODELS and tp not in seen:
                    seen.add(tp)
                    todo.append(tp)
                return typing.ForwardRef(_ref(tp))
            origin, args = typing.get_origin(tp), typing.get_args(tp)
            if origin is None or not args:
                return tp
            if origin is typing.Literal:
                return tp
            if origin is typing.Annotated:
                return typing.Annotated[(mirror(args[0]), *tp.__metadata__)]  # type: ignore[misc]
            inner = tuple(mirror(a) for a in args)
            if origin in (typing.Union, types.UnionType):
                union = typing.Union[inner]  # type: ignore[valid-type]  # noqa: UP007  (built from a tuple)
                kinds = [a for a in args if isinstance(a, type) and issubclass(a, Record)]
                if len(kinds) == len(args) > 1 and all(_kind(a) for a in kinds):
                    return typing.Annotated[union, PydanticField(discriminator="kind")]
                return union
            return origin[inner[0] if len(inner) == 1 else inner]

        while todo:
            rec = todo.pop()
            hints = _hints(rec)
            fields = {n: (mirror(hints[n]), ... if f.is_required() else PydanticField(f.default, repr=f.repr))
                      for n, f in rec.model_fields.items()}
            model = create_model(rec.__name__, __config__=ConfigDict(frozen=True, extra="forbid", defer_build=True),
                                 __module__=rec.__module__, **fields)
            model.__qualname__ = rec.__qualname__
            made[rec] = model
            names[_ref(rec)] = model
        names.update({_ref(r): m for r, m in _MODELS.items()})
        for rec, model in made.items():
            model.model_rebuild(_types_namespace=names)
            _RECORDS[model] = rec
        _MODELS.update(made)
        return _MODELS[cls]


def _ref(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}".replace(".", "__")


def _kind(cls: type) -> bool:
    f = cls.model_fields.get("kind")  # type: ignore[attr-defined]
    return f is not None and isinstance(f.default, str)


def _hints(cls: type) -> dict[str, Any]:
    """The field annotations of `cls` and its bases as types, each read where it was written."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {n: hints[n] for n in cls.model_fields}  # type: ignore[attr-defined]
