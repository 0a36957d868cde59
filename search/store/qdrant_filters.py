"""The Qdrant side of `QueryFilter` (`search.store.filters`): a filter validated against qdrant-client's schema,
and filters as qdrant-client models (a server) or as the embedded engine's types.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import qdrant_edge as edge
from pydantic import ValidationError
from qdrant_client import models

from search.store.errors import FilterError
from search.store.schema import SOURCE
from search.validation import InvalidRequestError, check_text

if TYPE_CHECKING:
    from search.store.filters import QueryFilter


MAX_DEPTH = 64
"""Deepest JSON nesting a filter may have (a filter inside a condition list is two levels: about 32 nested filters).
The engine and the JSON parsers recurse per level; deeper ones are refused, not sent."""
_U64_MAX = 2**64 - 1
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
KEY_FORMS = "a JSON path such as `source`, `meta.author`, `tags[]` or `items[0].name`"


def canonical_json(value: Mapping[str, Any]) -> str:
    """A Qdrant filter in its JSON form, validated, as canonical JSON; `FilterError` with a short message naming the
    clause when it is not a valid filter or holds a value no store can take."""
    _check_json(value)
    try:
        model = models.Filter.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FilterError(f"not a valid Qdrant filter ({where}: {first['msg']})") from None
    _check_filter(model, "filter.")
    return model.model_dump_json(by_alias=True, exclude_none=True)


def to_client(where: QueryFilter) -> models.Filter:
    """`where` as qdrant-client models."""
    if where.qdrant_json is not None:
        return models.Filter.model_validate_json(where.qdrant_json)
    return models.Filter(must=[models.FieldCondition(key=SOURCE, match=models.MatchAny(any=list(where.sources)))])


def _check_json(value: Any) -> None:
    """The filter's JSON before it is read: nested at most `MAX_DEPTH` levels, every string valid Unicode (a lone
    surrogate cannot be encoded for the engine)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise FilterError(f"filter: nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, Mapping):
            stack += [(k, depth) for k in item] + [(v, depth + 1) for v in item.values()]
        elif isinstance(item, list | tuple):
            stack += [(v, depth + 1) for v in item]
        elif isinstance(item, str):
            try:
                check_text(item, "filter")
            except InvalidRequestError as exc:
                raise FilterError(str(exc)) from None


def _check_filter(flt: models.Filter, where: str) -> None:
    """What the schema lets through but no store can use, each refused with `FilterError` naming the clause (`where`
    is its path, e.g. "filter.must[0]."): a payload key that is not a JSON path, an integer outside the engine's
    range (point ids and counts: unsigned 64-bit; payload integers: signed 64-bit), a `has_id` that is not a point
    id, a negative count."""
    for group in ("must", "should", "must_not"):
        value = getattr(flt, group)
        if isinstance(value, list):
            for i, cond in enumerate(value):
                _check_condition(cond, f"{where}{group}[{i}]")
        elif value is not None:
            _check_condition(value, f"{where}{group}")
    if flt.min_should is not None:
        _check_count(flt.min_should.min_count, f"{where}min_should.min_count")
        for i, cond in enumerate(flt.min_should.conditions):
            _check_condition(cond, f"{where}min_should.conditions[{i}]")


def _check_condition(cond: Any, where: str) -> None:
    if isinstance(cond, models.Filter):
        _check_filter(cond, where + ".")
    elif isinstance(cond, models.NestedCondition):
        _check_key(cond.nested.key, f"{where}.nested.key")
        _check_filter(cond.nested.filter, f"{where}.nested.filter.")
    elif isinstance(cond, models.IsEmptyCondition):
        _check_key(cond.is_empty.key, f"{where}.is_empty.key")
    elif isinstance(cond, models.IsNullCondition):
        _check_key(cond.is_null.key, f"{where}.is_null.key")
    elif isinstance(cond, models.HasIdCondition):
        for point in cond.has_id:
            if not _is_point_id(point):
                raise FilterError(f"{where}.has_id: {point!r} is not a point id (a UUID or an unsigned 64-bit "
                                  "integer)")
    elif isinstance(cond, models.FieldCondition):
        _check_key(cond.key, f"{where}.key")
        match = cond.match
        values: list[Any] = [match.value] if isinstance(match, models.MatchValue) else \
            list(match.any) if isinstance(match, models.MatchAny) else \
            list(match.except_) if isinstance(match, models.MatchExcept) else []
        for value in values:
            if isinstance(value, int) and not isinstance(value, bool) and not _I64_MIN <= value <= _I64_MAX:
                raise FilterError(f"{where}.match of {cond.key!r}: {value} is outside the range of a payload "
                                  "integer (signed 64-bit)")
        if cond.values_count is not None:
            for bound, value in cond.values_count.model_dump(exclude_none=True).items():
                _check_count(value, f"{where}.values_count.{bound} of {cond.key!r}")


def _check_key(key: str, where: str) -> None:
    """`key` when the engine reads it as a payload path (its own parser decides), else `FilterError`."""
    try:
        edge.IsEmptyCondition(key=key)
    except ValueError:
        raise FilterError(f"{where}: {key!r} is not a payload key ({KEY_FORMS})") from None


def _check_count(value: int, where: str) -> None:
    if not 0 <= value <= _U64_MAX:
        raise FilterError(f"{where}: must be a count from 0 to {_U64_MAX}, got {value}")


def _is_point_id(point: object) -> bool:
    if isinstance(point, int):
        return 0 <= point <= _U64_MAX
    try:
        uuid.UUID(str(point))
    except ValueError:
        return False
    return True


def source_is(source: str, keep: Sequence[str] = ()) -> models.Filter:
    """Points of `source`, except the ids in `keep`."""
    must_not: list[models.Condition] = [models.HasIdCondition(has_id=list(keep))] if keep else []
    return models.Filter(
        must=[models.FieldCondition(key=SOURCE, match=models.MatchValue(value=source))], must_not=must_not
    )


def client_to_edge(flt: models.Filter) -> edge.Filter:
    """Translate a qdrant-client `Filter` (the REST schema) into the embedded engine's `Filter`."""

    def conditions(value: Any) -> list[Any] | None:
        if value is None:
            return None
        return [_condition(c) for c in (value if isinstance(value, list) else [value])]

    min_should = None
    if flt.min_should is not None:
        min_should = edge.MinShould(conditions=conditions(flt.min_should.conditions) or [],
                                    min_count=flt.min_should.min_count)
    return edge.Filter(must=conditions(flt.must), should=conditions(flt.should), must_not=conditions(flt.must_not),
                       min_should=min_should)


def _condition(cond: Any) -> Any:
    if isinstance(cond, models.Filter):
        return client_to_edge(cond)
    if isinstance(cond, models.FieldCondition):
        return _field(cond)
    if isinstance(cond, models.IsEmptyCondition):
        return edge.IsEmptyCondition(key=cond.is_empty.key)
    if isinstance(cond, models.IsNullCondition):
        return edge.IsNullCondition(key=cond.is_null.key)
    if isinstance(cond, models.HasIdCondition):
        return edge.HasIdCondition(point_ids={str(i) if not isinstance(i, int) else i for i in cond.has_id})
    if isinstance(cond, models.HasVectorCondition):
        return edge.HasVectorCondition(vector=cond.has_vector)
    if isinstance(cond, models.NestedCondition):
        return edge.NestedCondition(key=cond.nested.key, filter=client_to_edge(cond.nested.filter))
    raise FilterError(f"the embedded store does not support the filter condition {type(cond).__name__}")


_MATCHES: dict[type, Any] = {
    models.MatchValue: lambda m: edge.MatchValue(value=m.value),
    models.MatchText: lambda m: edge.MatchText(text=m.text),
    models.MatchTextAny: lambda m: edge.MatchTextAny(text_any=m.text_any),
    models.MatchPhrase: lambda m: edge.MatchPhrase(phrase=m.phrase),
    models.MatchPrefix: lambda m: edge.MatchPrefix(prefix=m.prefix),
    models.MatchSubstring: lambda m: edge.MatchSubstring(substring=m.substring),
    models.MatchAny: lambda m: edge.MatchAny(any=list(m.any)),
    models.MatchExcept: lambda m: edge.MatchExcept(list(m.except_)),  # the stub says except_, the engine "except"
}


def _field(cond: models.FieldCondition) -> edge.FieldCondition:
    if cond.geo_bounding_box or cond.geo_radius or cond.geo_polygon:
        raise FilterError("the embedded store does not support geo filter conditions; use a Qdrant server")
    match = _MATCHES[type(cond.match)](cond.match) if cond.match is not None else None
    rng: Any = None
    if isinstance(cond.range, models.DatetimeRange):
        rng = edge.RangeDateTime(**{k: v.isoformat() if hasattr(v, "isoformat") else v
                                    for k, v in cond.range.model_dump(exclude_none=True).items()})
    elif cond.range is not None:
        rng = edge.RangeFloat(**cond.range.model_dump(exclude_none=True))
    count = edge.ValuesCount(**cond.values_count.model_dump(exclude_none=True)) if cond.values_count else None
    return edge.FieldCondition(key=cond.key, match=match, range=rng, values_count=count, is_empty=cond.is_empty,
                               is_null=cond.is_null)
