"""Query parameters a route does not declare are refused, not ignored.

A misspelled parameter (`start_date` for `startDate`) would otherwise be dropped and the
defaults answered with a 200: the caller would read the wrong window as the right one. Checked
right after authentication (by each family's principal), so the order of errors stays the one
documented: credentials first, then the request's own validity.
"""

from __future__ import annotations

import difflib
from typing import Any

from litestar import Request
from litestar.params import ParameterKwarg

from services.api.errors import validation_error

_ACCEPTED: dict[int, frozenset[str]] = {}


def _accepted_query(handler: Any) -> frozenset[str]:
    """The query parameters a handler declares (what its OpenAPI operation lists)."""
    found = _ACCEPTED.get(id(handler))
    if found is None:
        found = frozenset(
            param.kwarg_definition.query or name
            for name, param in handler.parsed_fn_signature.parameters.items()
            if isinstance(param.kwarg_definition, ParameterKwarg)
            and not param.kwarg_definition.header
            and not param.kwarg_definition.cookie
        )
        _ACCEPTED[id(handler)] = found
    return found


def refuse_unknown_query(request: Request[Any, Any, Any]) -> None:
    """A misspelled parameter (`start_date` for `startDate`) would otherwise be ignored and the
    defaults answered with a 200: the caller would read the wrong window as the right one."""
    accepted = _accepted_query(request.route_handler)
    for name in request.query_params:
        if name not in accepted:
            close = difflib.get_close_matches(name, accepted, n=1, cutoff=0.6)
            if not close:  # start_date -> startDate: compare without case and separators
                plain = {a.replace("_", "").lower(): a for a in accepted}
                match = plain.get(name.replace("_", "").replace("-", "").lower())
                close = [match] if match else []
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise validation_error(
                f"unknown query parameter {name!r}{hint}",
                parameter=name,
                accepted=sorted(accepted),
                **({"did_you_mean": close[0]} if close else {}),
            )
