"""Each check of what a Hub endpoint answers, attacked with the lies it must refuse."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from fakeimg_assets.hub_client.answers import (
    HubAnswerError,
    check_commit,
    check_etag,
    check_repo_info,
    check_size,
)
from fakeimg_assets.lib.retry import is_transient

SHA = "a" * 40


def _info(**kw: object) -> NS:
    base = {"id": "org/name", "sha": SHA, "siblings": [NS(rfilename="model_index.json",
                                                          size=10, lfs=None)]}
    return NS(**{**base, **kw})


@pytest.mark.parametrize("bad", ["../../etc/passwd", "A" * 40, "a" * 39, "a" * 41, "", None,
                                 "g" * 40, "a" * 39 + "\n", "a" * 40 + "\n", 40])
def test_commit_must_be_40_lowercase_hex(bad: object) -> None:
    with pytest.raises(HubAnswerError, match="X-Repo-Commit"):
        check_commit(bad, field="X-Repo-Commit", what="m")
    assert check_commit(SHA, field="sha", what="m") == SHA


@pytest.mark.parametrize("bad", ["../../blob", "abc", "a" * 64 + "\n", "a" * 63, "a" * 50, None, "W/x", "a" * 65])
def test_etag_is_a_git_sha1_or_a_sha256(bad: object) -> None:
    with pytest.raises(HubAnswerError, match="ETag"):
        check_etag(bad, what="m")
    assert check_etag("b" * 64, what="m") and check_etag("c" * 40, what="m")


@pytest.mark.parametrize("bad", [-1, 2**50, None, "10", True, 1.5])
def test_size_is_a_byte_count(bad: object) -> None:
    with pytest.raises(HubAnswerError, match="size"):
        check_size(bad, field="size", what="m")


@pytest.mark.parametrize(
    ("info", "words"),
    [
        (_info(id="other/name"), "answered repo id 'other/name'"),
        (_info(id="../x"), "not a repo id"),
        (_info(sha="../../../x"), "sha"),
        (_info(sha=None), "sha"),
        (_info(siblings=[NS(rfilename=None, size=1, lfs=None)]), "file named None"),
        (_info(siblings=[NS(rfilename="a", size=-5, lfs=None)]), "size of 'a'"),
        (_info(siblings=[NS(rfilename="a", size=5, lfs={"sha256": "../x"})]), "LFS sha256"),
    ],
)
def test_repo_info_lies_are_refused_naming_the_field(info: NS, words: str) -> None:
    with pytest.raises(HubAnswerError, match="") as err:
        check_repo_info(info, "org/name", revision=None, what="model_info")
    assert words in str(err.value)
    assert not is_transient(err.value)  # retrying asks the same liar: permanent


def test_repo_info_for_a_pinned_revision_must_answer_that_revision() -> None:
    with pytest.raises(HubAnswerError, match=f"asked for revision {'b' * 40}"):
        check_repo_info(_info(), "org/name", revision="b" * 40, what="m")
    assert check_repo_info(_info(), "org/name", revision=SHA, what="m")
    assert check_repo_info(_info(id="Org/Name"), "org/name", revision="main", what="m")  # case
