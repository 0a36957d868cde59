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

if TYPE_CHECKING:
    from search.store.filters import QueryFilter


def canonical_json(value: Mapping[str, Any]) -> str:
    """A Qdrant filter in its JSON form, validated, as canonical JSON; `FilterError` with a short message when it is
    not a valid filter."""
    try:
        model = models.Filter.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FilterError(f"not a valid Qdrant filter ({where}: {first['msg']})") from None
    _check_values(model)
    return model.model_dump_json(by_alias=True, exclude_none=True)


def to_client(where: QueryFilter) -> models.Filter:
    """`where` as qdrant-client models."""
    if where.qdrant_json is not None:
        return models.Filter.model_validate_json(where.qdrant_json)
    return models.Filter(must=[models.FieldCondition(key=SOURCE, match=models.MatchAny(any=list(where.sources)))])


def _check_values(flt: models.Filter) -> None:
    """What the schema lets through but no store can use: `FilterError` for a `has_id` that is not a point id (a
    UUID or an unsigned integer) and a negative `values_count` bound."""
    parts: list[Any] = []
    for group in (flt.must, flt.should, flt.must_not):
        parts += group if isinstance(group, list) else [group] if group is not None else []
    if flt.min_should is not None:
        parts += flt.min_should.conditions
    for cond in parts:
        if isinstance(cond, models.Filter):
            _check_values(cond)
        elif isinstance(cond, models.NestedCondition):
            _check_values(cond.nested.filter)
        elif isinstance(cond, models.HasIdCondition):
            for point in cond.has_id:
                if isinstance(point, int):
                    ok = point >= 0
                else:
                    try:
                        uuid.UUID(str(point))
                        ok = True
                    except ValueError:
                        ok = False
                if not ok:
                    raise FilterError(f"has_id: {point!r} is not a point id (a UUID or an unsigned integer)")
        elif isinstance(cond, models.FieldCondition) and cond.values_count is not None:
            bounds = cond.values_count.model_dump(exclude_none=True)
            if any(value < 0 for value in bounds.values()):
                raise FilterError(f"values_count of {cond.key!r}: bounds must not be negative, got {bounds}")


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
