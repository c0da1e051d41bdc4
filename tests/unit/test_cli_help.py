"""Each command's --help: its own options first, then only the variables it reads; `keys
create` lists the scopes a key can have."""

from __future__ import annotations

import pytest

from services.cli import READS, build_parser
from shared.apikeys import ALL_SCOPES
from shared.settings import ENV_DOC


def _help(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit):
        build_parser().parse_args([*args, "--help"])
    return capsys.readouterr().out


def test_every_variable_is_read_by_some_command_and_documented() -> None:
    read = {f"COSTPIPE_{name}" for names in READS.values() for name in names}
    assert read <= set(ENV_DOC)
    assert set(ENV_DOC) - read == {"COSTPIPE_LOG_LEVEL", "COSTPIPE_LOG_FORMAT"}


@pytest.mark.parametrize("command", sorted(READS))
def test_a_command_lists_its_options_before_only_the_variables_it_reads(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    text = _help(capsys, command)
    environment = text.index("environment it reads:")
    assert text.index("options:") < environment
    section = text[environment:]
    in_section = {w for w in section.split() if w in ENV_DOC}
    wanted = {f"COSTPIPE_{n}" for n in READS[command]} | {
        "COSTPIPE_LOG_LEVEL",
        "COSTPIPE_LOG_FORMAT",
    }
    assert in_section == wanted


def test_the_collector_help_leaves_out_what_only_the_api_reads(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = _help(capsys, "collector")
    assert "COSTPIPE_KUBECOST_URL" in text
    assert "COSTPIPE_API_PORT" not in text
    assert "COSTPIPE_BATCH_MAX_EVENTS" not in text


def test_keys_create_lists_the_scopes(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "keys", "create")
    scopes = text[text.index("scopes:\n") :]
    for scope in ALL_SCOPES:
        assert f"  {scope}\n" in scopes
    assert "COSTPIPE_DATABASE_URL" in text
    assert "COSTPIPE_KAFKA_BOOTSTRAP" not in text
