"""`QueryFilter`: which chunks a query may return, and its translation for each backend.

Callers give source path(s) or a Qdrant filter in its JSON form (the REST API's `filter` object); the filter is
validated once here, kept as canonical JSON (so equal filters are equal and hashable: the service's cache keys
them), and turned into qdrant-client models for a server or into the engine's own types for the embedded store.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import qdrant_edge as edge
from pydantic import BaseModel, ValidationError
from qdrant_client import models

from search.store.errors import FilterError
from search.store.schema import SOURCE


@dataclass(frozen=True)
class QueryFilter:
    """Source paths to search within, or a Qdrant filter (canonical JSON); never both."""

    sources: tuple[str, ...] = ()
    qdrant_json: str | None = None

    @classmethod
    def parse(cls, value: object) -> QueryFilter | None:
        """A `QueryFilter` from source path(s), a Qdrant filter (dict or qdrant-client model) or a `QueryFilter`;
        None for no filter. Raises `FilterError` with a short message for anything else or an invalid filter."""
        if value is None or isinstance(value, QueryFilter):
            return value
        if isinstance(value, str):
            return cls(sources=(value,)) if value else None
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json", by_alias=True, exclude_none=True)
        if isinstance(value, Mapping):
            try:
                model = models.Filter.model_validate(value)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise FilterError(f"not a valid Qdrant filter ({where}: {first['msg']})") from None
            _check_values(model)
            return cls(qdrant_json=model.model_dump_json(by_alias=True, exclude_none=True))
        if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
            return cls(sources=tuple(sorted(set(value)))) if value else None
        raise FilterError("filter must be a source path, a list of them, or a Qdrant filter object")

    def to_json(self) -> str | list[str] | dict[str, Any]:
        """The form a caller would send over HTTP (the inverse of `parse`)."""
        if self.qdrant_json is not None:
            return dict(json.loads(self.qdrant_json))
        return list(self.sources)

    def to_client(self) -> models.Filter:
        """The filter as qdrant-client models (the server backend)."""
        if self.qdrant_json is not None:
            return models.Filter.model_validate_json(self.qdrant_json)
        return models.Filter(must=[models.FieldCondition(key=SOURCE, match=models.MatchAny(any=list(self.sources)))])

    def to_edge(self) -> edge.Filter:
        """The filter as the embedded engine's types. Raises `FilterError` for a condition it lacks."""
        return client_to_edge(self.to_client())


FilterLike = QueryFilter | str | Sequence[str] | Mapping[str, Any] | BaseModel | None
"""What `SearchQuery` and the LangChain retriever accept as `filter`: see `QueryFilter.parse`."""


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
