"""Repos published over time on the local Hub (`.hub.json` `publish_at`), as the freshness
benchmark uses them: invisible to every client before, new-looking after."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError

from fakeimg_assets.testbed.local_hub.publishing import schedule_publication
from fakeimg_assets.testbed.local_hub.server import HubServer
from tests.helpers.hub_repos import TEXT_TO_IMAGE, make_repo


def _ids(api: HfApi) -> list[str]:
    return [m.id for m in api.list_models(**TEXT_TO_IMAGE, sort="created_at")]


def test_a_repo_appears_when_its_publish_time_comes(tmp_path: Path) -> None:
    meta = {"created_at": "2024-01-01T00:00:00Z", "last_modified": "2024-01-02T00:00:00Z"}
    make_repo(tmp_path, "acme/old", hub=meta)
    make_repo(tmp_path, "acme/soon", hub=meta)
    make_repo(tmp_path, "acme/later", hub=meta)
    now = dt.datetime.now(dt.UTC)
    soon = now + dt.timedelta(seconds=1.5)
    schedule_publication(tmp_path, {"acme/soon": soon,
                                    "acme/later": now + dt.timedelta(days=1)})
    with HubServer(tmp_path) as hub:
        api = HfApi(endpoint=hub.url, token=False)
        assert _ids(api) == ["acme/old"]
        for hidden in ("acme/soon", "acme/later"):
            with pytest.raises(RepositoryNotFoundError):
                api.model_info(hidden)
        time.sleep(max(0.0, (soon - dt.datetime.now(dt.UTC)).total_seconds()) + 0.3)
        assert _ids(api) == ["acme/soon", "acme/old"]  # newest first: created when published
        info = api.model_info("acme/soon")
        assert abs((info.created_at - soon).total_seconds()) < 0.01
        assert abs((info.last_modified - soon).total_seconds()) < 0.01
        with pytest.raises(RepositoryNotFoundError):
            api.model_info("acme/later")


def test_schedule_publication_refuses_bad_input(tmp_path: Path) -> None:
    make_repo(tmp_path, "acme/a", hub={})
    when = dt.datetime.now(dt.UTC)
    with pytest.raises(FileNotFoundError, match="no repo acme/missing"):
        schedule_publication(tmp_path, {"acme/missing": when})
    with pytest.raises(ValueError, match="must be timezone-aware"):
        schedule_publication(tmp_path, {"acme/a": when.replace(tzinfo=None)})
    with pytest.raises(ValueError, match="not a Hugging Face model id|model id"):
        schedule_publication(tmp_path, {"../etc": when})
