"""`taskrow keys revoke` takes a key id or the whole key, and never prints any of the secret."""

from __future__ import annotations

import pytest

from .conftest import Cli


def secret_fragments(secret: str, longer_than: int) -> list[str]:
    """Every substring of ``secret`` longer than ``longer_than`` characters."""
    size = longer_than + 1
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]


def assert_no_secret(output: str, secret: str) -> None:
    # A key id is 16 characters: nothing of the secret as long as that may be printed.
    leaked = [part for part in secret_fragments(secret, 3) if part in output]
    assert not leaked, f"the output repeats part of the secret: {leaked[:3]}"


def test_revoke_by_the_whole_key_prints_only_its_id(cli: Cli) -> None:
    token = cli.run("keys", "create", "--tenant", "acme").stdout.strip()
    key_id, secret = token[4:20], token[21:]
    revoked = cli.run("keys", "revoke", token)
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.strip() == f"revoked {key_id}"
    assert_no_secret(revoked.stdout + revoked.stderr, secret)
    listed = cli.run("keys", "list", "--all").ok()
    [row] = [line.split() for line in listed.splitlines() if line.startswith(key_id)]
    assert row[-1] == "UTC", f"a revoked time in the REVOKED column: {row}"


@pytest.mark.slow  # many taskrow commands, about 3 s
def test_revoke_errors_never_repeat_a_secret(cli: Cli) -> None:
    token = cli.run("keys", "create").stdout.strip()
    secret = token[21:]
    unknown = "trk_0123456789abcdef_" + secret  # a well-formed key with an unknown id
    cut_short = token[:30]
    garbage = secret  # the secret alone, pasted by mistake
    results = cli.run_all(
        [("keys", "revoke", unknown), ("keys", "revoke", cut_short), ("keys", "revoke", garbage)]
    )
    assert "no API key '0123456789abcdef'" in results[0].error()
    assert results[1].returncode == 0 and results[1].stdout.strip() == f"revoked {token[4:20]}"
    assert "give a key id" in results[2].error()
    for result in results:
        assert_no_secret(result.stdout + result.stderr, secret)
