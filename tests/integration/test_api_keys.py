"""Creating API keys against a real database: a key grants only the clusters it names.

The rules live in `create_key`, so they are checked there (every path that makes keys goes
through it) and once more through `costpipe keys create` run as operators run it, where a
refusal must be one clear line and a non-zero exit, and nothing stored.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from shared.apikeys import ALL_CLUSTERS, ALL_SCOPES, ApiKeyError, create_key
from tests.support.databases import fresh_database
from tests.support.processes import COSTPIPE
from tests.support.services import Services

pytestmark = pytest.mark.integration

ORG = uuid.UUID("0000000a-0000-4000-8000-0000000000a9")
OTHER_ORG = uuid.UUID("0000000b-0000-4000-8000-0000000000a9")
C1 = uuid.uuid5(ORG, "c1")
C2 = uuid.uuid5(ORG, "c2")
FOREIGN = uuid.uuid5(OTHER_ORG, "foreign")
LATER = uuid.uuid5(ORG, "not registered yet")


@pytest.fixture(scope="module")
def url(services: Services) -> Iterator[str]:
    with fresh_database(services.database_url) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            for org in (ORG, OTHER_ORG):
                conn.execute("INSERT INTO organization (id, name) VALUES (%s, 'o')", (org,))
            for cluster, org in ((C1, ORG), (C2, ORG), (FOREIGN, OTHER_ORG)):
                conn.execute(
                    "INSERT INTO cluster (id, organization_id, name) VALUES (%s, %s, 'c')",
                    (cluster, org),
                )
        yield url


def _stored(url: str, name: str) -> list[list[uuid.UUID] | None]:
    """The allow-lists of the keys called `name`, as the API will read them."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT allowed_cluster_ids FROM api_key WHERE name = %s", (name,)
        ).fetchall()
    return [row[0] for row in rows]


def _refused(url: str, name: str, clusters: object, allow_unknown: bool = False) -> str:
    with psycopg.connect(url, autocommit=True) as conn, pytest.raises(ApiKeyError) as refused:
        create_key(conn, ORG, name, ALL_SCOPES, clusters=clusters, allow_unknown=allow_unknown)  # type: ignore[arg-type]
    assert _stored(url, name) == []
    return str(refused.value)


# --- create_key -------------------------------------------------------------------------------


def test_an_empty_cluster_list_is_refused(url: str) -> None:
    message = _refused(url, "empty", ())
    assert "empty" in message
    assert "--all-clusters" in message


def test_none_is_not_a_way_to_say_all_clusters(url: str) -> None:
    _refused(url, "none", None)


def test_ids_that_are_not_uuids_are_refused(url: str) -> None:
    _refused(url, "strings", (str(C1),))


def test_an_unknown_cluster_is_refused_by_id(url: str) -> None:
    message = _refused(url, "unknown", (C1, LATER))
    assert str(LATER) in message
    assert str(C1) not in message
    assert "--allow-unknown" in message


def test_an_unknown_cluster_is_accepted_when_expected_later(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        record, _ = create_key(
            conn, ORG, "later", ALL_SCOPES, clusters=(C1, LATER), allow_unknown=True
        )
    assert record.allowed_cluster_ids == (C1, LATER)
    assert _stored(url, "later") == [[C1, LATER]]


def test_another_organizations_cluster_is_refused_even_when_unknown_ones_are_allowed(
    url: str,
) -> None:
    message = _refused(url, "foreign", (C1, FOREIGN), allow_unknown=True)
    assert str(FOREIGN) in message
    assert "another organization" in message


def test_all_clusters_stores_no_allow_list(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        record, _ = create_key(conn, ORG, "everything", ALL_SCOPES, clusters=ALL_CLUSTERS)
    assert record.allowed_cluster_ids is None
    assert _stored(url, "everything") == [None]


def test_known_clusters_are_stored_exactly(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        record, _ = create_key(conn, ORG, "two", ("finops:read",), clusters=(C2, C1, C2))
    assert record.allowed_cluster_ids == (C2, C1)
    assert _stored(url, "two") == [[C2, C1]]


# --- costpipe keys create ---------------------------------------------------------------------


def _cli(url: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COSTPIPE, "keys", "create", "--organization", str(ORG), *flags],
        env={**os.environ, "COSTPIPE_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_refuses_an_empty_cluster_list(url: str) -> None:
    result = _cli(url, "--name", "cli-empty", "--clusters", "")
    assert result.returncode == 2
    assert "costpipe keys create: error: argument --clusters: empty cluster list" in result.stderr
    assert "Traceback" not in result.stderr
    assert "secret" not in result.stdout
    assert _stored(url, "cli-empty") == []


def test_cli_refuses_a_list_with_blanks(url: str) -> None:
    result = _cli(url, "--name", "cli-blank", "--clusters", f"{C1},,{C2}")
    assert result.returncode == 2
    assert "blank entry in cluster list" in result.stderr
    assert _stored(url, "cli-blank") == []


def test_cli_refuses_a_malformed_id(url: str) -> None:
    result = _cli(url, "--name", "cli-bad", "--clusters", "c1")
    assert result.returncode == 2
    assert "not a UUID: 'c1'" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_refuses_an_unknown_cluster_unless_allowed(url: str) -> None:
    refused = _cli(url, "--name", "cli-later", "--clusters", f"{C1},{LATER}")
    assert refused.returncode == 2
    assert refused.stderr.startswith("costpipe keys: configuration error: unknown clusters")
    assert str(LATER) in refused.stderr
    assert "--allow-unknown" in refused.stderr
    assert _stored(url, "cli-later") == []

    accepted = _cli(url, "--name", "cli-later", "--clusters", f"{C1},{LATER}", "--allow-unknown")
    assert accepted.returncode == 0, accepted.stderr
    assert f"clusters: {C1},{LATER}" in accepted.stdout
    assert _stored(url, "cli-later") == [[C1, LATER]]


def test_cli_all_clusters_creates_an_all_clusters_key(url: str) -> None:
    result = _cli(url, "--name", "cli-all", "--all-clusters", "--scopes", "finops:read")
    assert result.returncode == 0, result.stderr
    assert "clusters: all (including clusters added later)" in result.stdout
    assert "secret (shown once): cpk_" in result.stdout
    assert _stored(url, "cli-all") == [None]


def test_cli_named_clusters_create_exactly_that_allow_list(url: str) -> None:
    result = _cli(url, "--name", "cli-two", "--clusters", f"{C1},{C2}")
    assert result.returncode == 0, result.stderr
    assert _stored(url, "cli-two") == [[C1, C2]]


def test_cli_allow_unknown_does_not_go_with_all_clusters(url: str) -> None:
    result = _cli(url, "--name", "cli-mixed", "--all-clusters", "--allow-unknown")
    assert result.returncode == 2
    assert "--allow-unknown goes with --clusters" in result.stderr
    assert _stored(url, "cli-mixed") == []
