"""`costpipe keys create` flags: a key grants only what its flags name.

Empty or blank lists used to fall through to "every cluster"; here they must stop at the parser,
with argparse's one-line error and exit code 2, before any database is touched.
"""

from __future__ import annotations

import uuid

import pytest

from services.cli import build_parser

ORG = "0000000e-0000-4000-8000-0000000000c1"
C1 = uuid.UUID("c1000000-0000-4000-8000-0000000000c1")
C2 = uuid.UUID("c2000000-0000-4000-8000-0000000000c2")


def _create(*flags: str) -> list[str]:
    return ["keys", "create", "--organization", ORG, *flags]


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "costpipe keys create: error:" in err
    return err


@pytest.mark.parametrize("value", ["", " ", " , "])
def test_an_empty_cluster_list_is_refused_not_read_as_all(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refused(_create("--clusters", value), capsys)
    assert "--all-clusters" in err


@pytest.mark.parametrize("value", [f"{C1},,{C2}", f"{C1},", f",{C1}", f"{C1}, ,{C2}"])
def test_a_blank_entry_in_the_cluster_list_is_refused(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refused(_create("--clusters", value), capsys)
    assert "blank entry in cluster list" in err


def test_a_malformed_cluster_id_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    err = _refused(_create("--clusters", f"{C1},not-a-uuid"), capsys)
    assert "not a UUID: 'not-a-uuid'" in err
    assert "Traceback" not in err


def test_a_malformed_organization_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    err = _refused(["keys", "create", "--organization", "acme", "--all-clusters"], capsys)
    assert "not a UUID: 'acme'" in err


def test_the_clusters_reached_must_be_said(capsys: pytest.CaptureFixture[str]) -> None:
    err = _refused(_create(), capsys)
    assert "one of the arguments --clusters --all-clusters is required" in err


def test_a_list_and_all_clusters_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    err = _refused(_create("--clusters", str(C1), "--all-clusters"), capsys)
    assert "not allowed with argument" in err


@pytest.mark.parametrize("value", ["", "clusters:read,,finops:read"])
def test_an_empty_or_blank_scope_list_is_refused_not_read_as_all(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _refused(_create("--all-clusters", "--scopes", value), capsys)


def test_named_clusters_are_parsed_in_order_with_spaces_allowed() -> None:
    args = build_parser().parse_args(_create("--clusters", f" {C2} ,{C1}", "--allow-unknown"))
    assert args.clusters == (C2, C1)
    assert args.all_clusters is False
    assert args.allow_unknown is True
    assert args.organization == uuid.UUID(ORG)


def test_all_clusters_is_asked_for_by_name() -> None:
    args = build_parser().parse_args(_create("--all-clusters"))
    assert args.all_clusters is True
    assert args.clusters is None
    assert args.scopes is None  # all scopes, the documented default when --scopes is left out
