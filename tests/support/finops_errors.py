"""The check every FinOps bad-input case shares: the documented status, code and allowed values."""

from __future__ import annotations

import httpx


def assert_bad_input(response: httpx.Response, status: int, allowed: list[str] | None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == ("BAD_REQUEST" if status == 400 else "VALIDATION_ERROR")
    assert error["message"]
    if allowed is not None:
        assert set(allowed) <= set(error["details"]["allowed"])
