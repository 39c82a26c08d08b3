"""Server mode: with CHROMA_HOST/CHROMA_PORT set, the same KnowledgeBase code uses a real Chroma
server, started here with `chroma run` on a free port and a temporary path."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from test_knowledge import FakeEmbedder, write_pb  # same module object pytest collected

from knowledge import KnowledgeBase, KnowledgeError, builtin_playbook_dir
from tests.builders import free_port


def _chroma_executable() -> str | None:
    local = Path(sys.executable).with_name("chroma")
    return str(local) if local.exists() else shutil.which("chroma")


def _heartbeat(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1) as r:
            return any("heartbeat" in key for key in json.loads(r.read().decode()))
    except (OSError, ValueError):
        return False


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    exe = _chroma_executable()
    if exe is None:
        pytest.skip("the `chroma` executable (installed with chromadb) is not on this machine")
    path = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = (path / "server.log").open("w")
    proc = subprocess.Popen(
        [exe, "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path / "data")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not _heartbeat(port):
            if proc.poll() is not None:
                pytest.fail(
                    f"chroma run exited with {proc.returncode}: "
                    + (path / "server.log").read_text()[-2000:]
                )
            if time.monotonic() > deadline:
                pytest.fail("chroma run gave no heartbeat within 60 s")
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def server(chroma_server, monkeypatch):
    monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CHROMA_PORT", str(chroma_server))
    return chroma_server


def _name() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


def test_server_is_used_instead_of_the_local_folder(server, tmp_path):
    import chromadb
    from chromadb.config import Settings

    name = _name()
    kb = KnowledgeBase(
        tmp_path / "local-chroma",
        [tmp_path / "pbs"],
        embedder=FakeEmbedder(),
        include_builtin=False,
        collection=name,
    )
    write_pb(tmp_path / "pbs", "server-play")
    report = kb.index()
    assert report.chunks == 4 and not (tmp_path / "local-chroma").exists()
    direct = chromadb.HttpClient(
        host="127.0.0.1", port=server, settings=Settings(anonymized_telemetry=False)
    )
    assert direct.get_collection(name).count() == 4


def test_server_incremental_reindex_and_removal(server, tmp_path):
    d = tmp_path / "pbs"
    write_pb(d, "one-play", when="Shoppers who drift.")
    write_pb(d, "two-play", when="Shoppers who complain.")
    fake, name = FakeEmbedder(), _name()
    kb = KnowledgeBase(None, [d], embedder=fake, include_builtin=False, collection=name)
    assert kb.index().embedded == 8
    calls = len(fake.texts)
    again = KnowledgeBase(None, [d], embedder=fake, include_builtin=False, collection=name).index()
    assert (again.embedded, again.skipped_unchanged) == (0, 8) and len(fake.texts) == calls
    (d / "two-play.md").unlink()
    gone = kb.index()
    assert gone.removed == 4 and kb.count() == 4


def test_server_search_filters_and_exact_terms(server):
    kb = KnowledgeBase(None, embedder=FakeEmbedder(), collection=_name())
    kb.index()
    assert kb.search("LTV:CAC")[0].playbook_id == "ltv-cac-acquisition-spend"
    assert kb.search("thank-you page")[0].playbook_id == "thank-you-page-offer"
    hits = kb.search("what do I send", k=10, reason="service_problems", channel="phone")
    assert hits and all("phone" in h.metadata["channels"] for h in hits)
    assert all("service_problems" in h.metadata["churn_reasons"] for h in hits)


def test_server_real_model_late_refund(server, tmp_path):
    d = tmp_path / "subset"
    d.mkdir()
    for pid in (
        "service-recovery",
        "quality-returns-recovery",
        "proactive-delay-notice",
        "price-sensitive-save",
        "win-back-lapsed",
        "failed-payment-dunning",
    ):
        shutil.copy(builtin_playbook_dir() / f"{pid}.md", d / f"{pid}.md")
    kb = KnowledgeBase(None, [d], include_builtin=False, collection=_name())
    assert kb.index().playbooks == 6
    assert kb.search("customers angry about a late refund")[0].playbook_id == "service-recovery"


def test_unreachable_server_is_a_one_line_error(monkeypatch):
    monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CHROMA_PORT", str(free_port()))
    kb = KnowledgeBase(None, embedder=FakeEmbedder(), collection=_name())
    with pytest.raises(KnowledgeError) as info:
        kb.index()
    assert "\n" not in str(info.value).strip()
