"""The playbook knowledge base: parsing, chunking, incremental indexing, filters, hybrid search.

A deterministic fake embedder (hashed bag of words) stands in wherever the real model is not the
subject; one module fixture indexes the built-in playbooks with the real local MiniLM.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge import (
    CHURN_REASONS,
    CLV_TIERS,
    SECTIONS,
    SEGMENTS,
    Hit,
    KnowledgeBase,
    KnowledgeError,
    builtin_playbook_dir,
    chunk_playbook,
    load_playbooks,
    parse_playbook,
)
from knowledge.keyword import tokenize

ROOT = Path(__file__).resolve().parents[2]


class FakeEmbedder:
    """Hashed bag-of-words vectors: deterministic, fast, and it counts what it embeds."""

    def __init__(self, name: str = "fake-bow", dim: int = 256) -> None:
        self.name = name
        self.dim = dim
        self.calls = 0
        self.texts: list[str] = []

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        self.texts.extend(texts)
        out = []
        for text in texts:
            vec = [0.0] * self.dim
            for tok in tokenize(text):
                h = int(hashlib.md5(tok.encode()).hexdigest(), 16)
                vec[h % self.dim] += 1.0 if (h >> 8) % 2 else -1.0
            norm = math.sqrt(sum(v * v for v in vec)) or 1.0
            out.append([v / norm for v in vec])
        return out


GOOD = """---
id: {id}
title: {title}
segments: [At risk, Lost]
churn_reasons: [{reason}]
clv_tiers: [medium]
channels: [{channel}]
cost_level: low
offer_type: none
prior_uplift: 0.1
sources: [assumption]
---

Intro line for {title}.

## When to use

{when}

## The play

1. Do the thing for {title}.

## Message skeleton

Hi {{first_name}}, about {{product_name}}.
"""


def write_pb(
    folder: Path,
    pid: str,
    *,
    title: str | None = None,
    reason: str = "fading_engagement",
    channel: str = "email",
    when: str = "When customers drift away.",
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{pid}.md"
    path.write_text(
        GOOD.format(
            id=pid,
            title=title or pid.replace("-", " ").title(),
            reason=reason,
            channel=channel,
            when=when,
        )
    )
    return path


# --- the built-in playbooks ------------------------------------------------------------------


def test_builtin_playbooks_are_complete_and_valid():
    loaded = load_playbooks([builtin_playbook_dir()])
    assert loaded.errors == ()
    assert len(loaded.playbooks) >= 30
    for pb in loaded.playbooks:
        assert pb.id == pb.path.stem
        headings = [s.heading for s in pb.sections]
        assert headings == list(SECTIONS), pb.id
        assert pb.meta.sources, pb.id
        assert re.search(r"\{first_name\}|\{[a-z_]+\}", pb.message_skeleton), pb.id


def test_builtin_playbooks_cover_the_issue_topics():
    ids = {pb.id for pb in load_playbooks([builtin_playbook_dir()]).playbooks}
    required = {
        "price-sensitive-save",
        "service-recovery",
        "quality-returns-recovery",
        "fading-engagement-reactivation",
        "replenishment-reminder",
        "second-purchase-conversion",
        "new-customer-onboarding",
        "vip-personal-outreach",
        "win-back-lapsed",
        "thank-you-page-offer",
        "post-purchase-follow-up",
        "review-request-timing",
        "cross-sell-bundles",
        "upsell-by-clv",
        "cart-abandonment-recovery",
        "loyalty-tiers",
        "personalised-challenges",
        "surprise-and-delight",
        "referral-advocacy",
        "feedback-solicitation",
        "value-reinforcement",
        "ltv-cac-acquisition-spend",
        "smart-retention-goals",
        "holdout-measurement",
        "consent-fairness-safeguards",
    }
    assert required <= ids
    reasons = {
        r
        for pb in load_playbooks([builtin_playbook_dir()]).playbooks
        for r in pb.meta.churn_reasons
    }
    assert reasons == set(CHURN_REASONS)


FALSE_URGENCY = re.compile(
    r"hurry|last chance|act now|only today|today only|ends (tonight|soon)|expires (tonight|soon)"
    r"|don't miss out|before it's too late|limited time|while stocks last|only \d+ left",
    re.IGNORECASE,
)


def test_no_false_urgency_in_message_skeletons():
    for pb in load_playbooks([builtin_playbook_dir()]).playbooks:
        assert not FALSE_URGENCY.search(pb.message_skeleton), pb.id


# --- parsing and the malformed-playbook report -----------------------------------------------


def test_parse_reads_metadata_and_sections(tmp_path):
    pb = parse_playbook(write_pb(tmp_path, "gentle-nudge", reason="cycle_overdue", channel="sms"))
    assert pb.meta.churn_reasons == ("cycle_overdue",)
    assert pb.meta.segments == ("At risk", "Lost")
    assert [s.heading for s in pb.sections] == ["When to use", "The play", "Message skeleton"]
    assert pb.intro == "Intro line for Gentle Nudge."
    assert "{first_name}" in pb.message_skeleton
    assert pb.sections[0].line == 16


def test_malformed_playbooks_are_reported_by_file_and_line_and_skipped(tmp_path):
    d = tmp_path / "mine"
    write_pb(d, "fine-one")
    (d / "bad-yaml.md").write_text("---\nid: bad-yaml\ntitle: [unclosed\n---\n\n## The play\n\nx\n")
    (d / "no-title.md").write_text(
        "---\nid: no-title\nprior_uplift: 0.1\nsources: [assumption]\n---\n\n## The play\n\nx\n"
    )
    bad_reason = write_pb(d, "bad-reason")
    bad_reason.write_text(
        bad_reason.read_text().replace(
            "churn_reasons: [fading_engagement]", "churn_reasons:\n  - fading_engagement\n  - bored"
        )
    )
    (d / "wrong-stem.md").write_text(write_pb(tmp_path / "x", "other-id").read_text())

    kb = KnowledgeBase(tmp_path / "chroma", [d], embedder=FakeEmbedder(), include_builtin=False)
    report = kb.index()
    assert report.playbooks == 1 and report.chunks == 4
    errors = {e.path.name: e for e in report.errors}
    assert set(errors) == {"bad-yaml.md", "no-title.md", "bad-reason.md", "wrong-stem.md"}
    assert errors["bad-yaml.md"].line in (3, 4) and "YAML" in errors["bad-yaml.md"].message
    assert errors["no-title.md"].line == 5 and "title" in errors["no-title.md"].message
    assert errors["bad-reason.md"].line == 7 and "'bored'" in errors["bad-reason.md"].message
    assert errors["wrong-stem.md"].line == 2 and "stem" in errors["wrong-stem.md"].message
    assert "bad-reason.md:7:" in str(errors["bad-reason.md"])
    assert "skipped" in str(report)
    assert [h.playbook_id for h in kb.search("drift away")] == ["fine-one"]


def test_missing_front_matter_and_missing_sections(tmp_path):
    from knowledge import PlaybookParseError

    p = tmp_path / "plain.md"
    p.write_text("# Just a heading\n\n## The play\n\nx\n")
    with pytest.raises(PlaybookParseError, match=r"plain.md:1: no YAML front matter"):
        parse_playbook(p)
    q = write_pb(tmp_path, "no-sections")
    q.write_text(q.read_text().split("## When")[0])
    with pytest.raises(PlaybookParseError, match="no '## ' sections"):
        parse_playbook(q)


# --- chunking ---------------------------------------------------------------------------------


def test_chunks_follow_sections_and_carry_metadata(tmp_path):
    pb = parse_playbook(write_pb(tmp_path, "chunky"))
    chunks = chunk_playbook(pb)
    assert [c.section for c in chunks] == [
        "Overview",
        "When to use",
        "The play",
        "Message skeleton",
    ]
    assert [c.id for c in chunks][1] == "chunky::when_to_use"
    for c in chunks:
        assert c.playbook_id == "chunky" and c.title == "Chunky"
        assert c.meta["prior_uplift"] == 0.1 and c.meta["channels"] == ("email",)
        assert c.embed_text.startswith("Chunky. ")
    assert chunks[1].text == "When customers drift away."


def test_long_sections_are_split_at_paragraphs(tmp_path):
    long = "\n\n".join(" ".join(f"word{i}x{j}" for j in range(60)) for i in range(5))
    pb = parse_playbook(write_pb(tmp_path, "long-one", when=long))
    parts = [c for c in chunk_playbook(pb) if c.section == "When to use"]
    assert len(parts) == 3
    assert [p.id for p in parts] == [
        "long-one::when_to_use",
        "long-one::when_to_use-2",
        "long-one::when_to_use-3",
    ]
    assert all(len(p.text.split()) <= 170 for p in parts)


# --- front-matter questions -------------------------------------------------------------------


def with_questions(path: Path, questions: list[str]) -> Path:
    """Add a `questions:` list to a playbook's front matter (before the closing ---)."""
    head, rest = path.read_text().split("\n---\n", 1)
    block = "\n".join(["questions:"] + [f'  - "{q}"' for q in questions])
    path.write_text(f"{head}\n{block}\n---\n{rest}")
    return path


def test_builtin_playbooks_carry_5_to_10_merchant_questions():
    for pb in load_playbooks([builtin_playbook_dir()]).playbooks:
        assert 5 <= len(pb.meta.questions) <= 10, pb.id
        assert all(q == " ".join(q.split()) and len(q) >= 8 for q in pb.meta.questions), pb.id


def test_front_matter_questions_are_parsed_chunked_and_indexed(tmp_path):
    d = tmp_path / "pbs"
    path = with_questions(
        write_pb(d, "gentle-nudge", when="Customers who drift away."),
        ["how do I bring the quiet ones back", "zebra yak quokka"],
    )
    pb = parse_playbook(path)
    assert pb.meta.questions == ("how do I bring the quiet ones back", "zebra yak quokka")
    chunks = chunk_playbook(pb)
    questions = [c for c in chunks if c.is_question]
    assert [c.id for c in questions] == ["gentle-nudge::q-1", "gentle-nudge::q-2"]
    assert [c.embed_text for c in questions] == list(pb.meta.questions)  # the question alone
    assert not any(c.is_question for c in chunks[:-2])
    write_pb(d, "other-play", when="Customers who stop opening email.")
    fake = FakeEmbedder()
    kb = KnowledgeBase(tmp_path / "chroma", [d], embedder=fake, include_builtin=False)
    report = kb.index()
    assert (report.chunks, report.embedded) == (10, 10)
    assert "zebra yak quokka" in fake.texts
    kinds = kb.collection.get(ids=["gentle-nudge::q-2"], include=["metadatas"])["metadatas"]
    assert kinds[0]["kind"] == "question"
    hits = kb.search("zebra yak quokka", k=2)
    # only a question has these words: its playbook comes first, and its hit shows playbook
    # text, never the synthetic question
    assert [h.playbook_id for h in hits] == ["gentle-nudge", "other-play"]
    assert hits[0].section != "Questions" and hits[0].passage != "zebra yak quokka"
    without = KnowledgeBase(
        tmp_path / "chroma", [d], embedder=fake, include_builtin=False, question_weight=0.0
    )
    assert without.search("zebra yak quokka", k=1)[0].score < hits[0].score - 0.2
    # a changed question is the only chunk embedded again
    path.write_text(path.read_text().replace("zebra yak quokka", "zebra yak okapi"))
    again = kb.index()
    assert (again.embedded, again.removed) == (1, 0) and fake.texts[-1] == "zebra yak okapi"


def test_bad_questions_are_reported_with_the_line(tmp_path):
    d = tmp_path / "mine"
    with_questions(write_pb(d, "twice"), ["what do I send them", "What do I send them"])
    with_questions(write_pb(d, "short"), ["why?"])
    report = KnowledgeBase(
        tmp_path / "chroma", [d], embedder=FakeEmbedder(), include_builtin=False
    ).index()
    errors = {e.path.name: e for e in report.errors}
    assert set(errors) == {"twice.md", "short.md"}
    assert "listed twice" in errors["twice.md"].message and errors["twice.md"].line == 12
    assert "8 characters" in errors["short.md"].message


# --- query understanding ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, segments, reasons, tiers",
    [
        (
            "my best customer hasn't ordered in 4 months, what do I do",
            {"Can't lose them", "At risk"},
            set(),
            {"high"},
        ),
        ("one of our whales went quiet", {"Can't lose them"}, {"fading_engagement"}, {"high"}),
        (
            "bring back people who haven't bought in over a year",
            {"Hibernating", "Lost"},
            set(),
            set(),
        ),
        ("she hasnt ordered for 3 weeks", {"About to sleep", "Need attention"}, set(), set()),
        ("this lady only buys when there's a sale", set(), {"price_sensitivity"}, set()),
        ("coupon hunters are killing my margin", set(), {"price_sensitivity"}, set()),
        ("folks stopped opening my emails", set(), {"fading_engagement"}, set()),
        ("customers about to run out of shampoo", set(), {"cycle_overdue"}, set()),
        ("most people bought once and that was it", set(), {"one_time_buyer"}, set()),
        ("the mug arrived broken and she sent it back", set(), {"quality_returns"}, set()),
        ("a furious customer still waiting for his money back", set(), {"service_problems"}, set()),
        ("what do I do with hibernating customers", {"Hibernating"}, set(), set()),
        (
            "reason price_sensitivity, segment can't lose them",
            {"Can't lose them"},
            {"price_sensitivity"},
            set(),
        ),
    ],
)
def test_merchant_words_map_to_segments_reasons_and_tiers(query, segments, reasons, tiers):
    from knowledge.query import understand

    intent = understand(query)
    assert set(intent.segments) >= segments, intent
    assert set(intent.churn_reasons) == reasons, intent
    assert set(intent.clv_tiers) == tiers, intent
    assert intent and intent.search_text.startswith(query)
    # everyday words get an expansion in the playbooks' words; vocabulary names need none
    assert bool(intent.expansion) == any(
        ":" not in c or c.startswith("lapsed") for c in intent.cues
    )
    assert set(intent.segments) <= set(SEGMENTS) and set(intent.clv_tiers) <= set(CLV_TIERS)


@pytest.mark.parametrize(
    "query",
    [
        "LTV:CAC",
        "thank-you page ideas",
        "customers who buy a tent never buy sleeping bags from us",
        "what should the cancel page offer",
    ],
)
def test_questions_without_cues_are_searched_as_written(query):
    from knowledge.query import understand

    intent = understand(query)
    assert not intent and not intent.segments and not intent.churn_reasons
    assert "lapsed" not in intent.cues


def test_the_vocabulary_is_imported_from_the_schema_not_copied():
    import knowledge.query as q
    import knowledge.schema as schema

    assert q.SEGMENTS is schema.SEGMENTS and q.CHURN_REASONS is schema.CHURN_REASONS
    assert q.CLV_TIERS is schema.CLV_TIERS
    for cue in q.CUES:
        assert set(cue.segments) <= set(schema.SEGMENTS), cue.name
        assert set(cue.churn_reasons) <= set(schema.CHURN_REASONS), cue.name
    with pytest.raises(ValueError, match="not in the vocabulary"):
        q._cue("typo", [r"x"], segments=("At Risk",))


def test_understanding_reranks_every_caller_of_search(tmp_path):
    """Two plays with the same words, tagged for different customers: the tier and segments a
    merchant's words imply put the right one first through the plain search API."""
    d = tmp_path / "pbs"
    when = "When a customer has not been back for a while, write to them."
    vip = write_pb(d, "a-low-tier-play", when=when)
    write_pb(d, "b-vip-play", when=when)
    (d / "b-vip-play.md").write_text(
        (d / "b-vip-play.md")
        .read_text()
        .replace("segments: [At risk, Lost]", "segments: [Can't lose them, At risk]")
        .replace("clv_tiers: [medium]", "clv_tiers: [high]")
    )
    assert vip.exists()
    fake = FakeEmbedder()
    kb = KnowledgeBase(tmp_path / "chroma", [d], embedder=fake, include_builtin=False)
    kb.index()
    ask = "my best customer hasn't ordered in 4 months"
    assert kb.understand(ask).clv_tiers == ("high",)
    assert [h.playbook_id for h in kb.search(ask, k=2)] == ["b-vip-play", "a-low-tier-play"]
    assert fake.texts[-1] == kb.understand(ask).search_text  # the expansion is what is embedded
    literal = KnowledgeBase(
        tmp_path / "chroma", [d], embedder=fake, include_builtin=False, understand_queries=False
    )
    assert not literal.understand(ask)
    assert [h.playbook_id for h in literal.search(ask, k=2)] == ["a-low-tier-play", "b-vip-play"]


# --- incremental re-indexing ------------------------------------------------------------------


def test_reindex_embeds_only_changed_chunks_and_removes_deleted(tmp_path):
    d = tmp_path / "pbs"
    write_pb(d, "alpha-play", when="Alpha customers who drift.")
    write_pb(d, "beta-play", when="Beta customers who stop opening email.")
    fake = FakeEmbedder()
    kb = KnowledgeBase(tmp_path / "chroma", [d], embedder=fake, include_builtin=False)

    first = kb.index()
    assert (first.playbooks, first.chunks, first.embedded, first.skipped_unchanged) == (2, 8, 8, 0)
    embedded_texts = len(fake.texts)

    again = KnowledgeBase(tmp_path / "chroma", [d], embedder=fake, include_builtin=False).index()
    assert (again.embedded, again.skipped_unchanged, again.removed) == (0, 8, 0)
    assert len(fake.texts) == embedded_texts  # nothing re-embedded

    path = d / "alpha-play.md"
    path.write_text(
        path.read_text().replace("Alpha customers who drift.", "Alpha shoppers fading.")
    )
    changed = kb.index()
    assert (changed.embedded, changed.skipped_unchanged) == (1, 7)
    assert fake.texts[-1].endswith("Alpha shoppers fading.")

    path.write_text(path.read_text().replace("prior_uplift: 0.1", "prior_uplift: 0.2"))
    meta_only = kb.index()
    assert (meta_only.embedded, meta_only.metadata_updated) == (0, 4)
    assert kb.search("alpha shoppers fading")[0].metadata["prior_uplift"] == 0.2

    (d / "beta-play.md").unlink()
    removed = kb.index()
    assert (removed.playbooks, removed.removed, removed.embedded) == (1, 4, 0)
    assert kb.count() == 4
    assert {h.playbook_id for h in kb.search("stop opening email", k=5)} == {"alpha-play"}


def test_merchant_playbooks_are_indexed_with_the_builtin_ones(tmp_path):
    d = tmp_path / "merchant"
    write_pb(
        d,
        "matcha-ritual-club",
        title="Matcha ritual club",
        when="Tea drinkers who whisk matcha every morning.",
    )
    kb = KnowledgeBase(tmp_path / "chroma", [d], embedder=FakeEmbedder())
    report = kb.index()
    assert report.playbooks == len(load_playbooks([builtin_playbook_dir()]).playbooks) + 1
    assert kb.search("matcha whisk morning")[0].playbook_id == "matcha-ritual-club"
    assert kb.get_playbook("matcha-ritual-club").meta.channels == ("email",)
    # a later instance without the merchant folder still finds it through the index
    later = KnowledgeBase(tmp_path / "chroma", embedder=kb.embedder)
    assert later.get_playbook("matcha-ritual-club").title == "Matcha ritual club"


def test_embedder_choice_follows_the_environment(monkeypatch):
    from knowledge import MiniLMEmbedder, OpenAIEmbedder, default_embedder

    monkeypatch.delenv("RETENTION_EMBEDDINGS", raising=False)
    assert isinstance(default_embedder(), MiniLMEmbedder)
    monkeypatch.setenv("RETENTION_EMBEDDINGS", "openai")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(RuntimeError, match="needs OPENAI_API_KEY"):
        default_embedder()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    chosen = default_embedder()  # built only: no request is made here
    assert isinstance(chosen, OpenAIEmbedder) and chosen.name == "openai-text-embedding-3-small"


# --- search: filters, exact terms, results ----------------------------------------------------


@pytest.fixture(scope="module")
def fake_kb(tmp_path_factory):
    kb = KnowledgeBase(tmp_path_factory.mktemp("fake") / "chroma", embedder=FakeEmbedder())
    kb.index()
    return kb


def test_filters_keep_only_matching_playbooks(fake_kb):
    hits = fake_kb.search("how do I keep these customers", k=10, segment="Can't lose them")
    assert hits and all("Can't lose them" in h.metadata["segments"] for h in hits)
    hits = fake_kb.search("what should I send", k=10, reason="service_problems", channel="phone")
    assert hits
    for h in hits:
        assert "service_problems" in h.metadata["churn_reasons"]
        assert "phone" in h.metadata["channels"]
    # the user's spelling is normalised
    assert fake_kb.search("win back", k=3, segment="at_risk", channel="SMS")
    with pytest.raises(KnowledgeError, match="unknown churn reason 'bored'"):
        fake_kb.search("x", reason="bored")


def test_exact_terms_are_found_by_keyword_score(fake_kb):
    assert fake_kb.search("LTV:CAC")[0].playbook_id == "ltv-cac-acquisition-spend"
    assert fake_kb.search("thank-you page")[0].playbook_id == "thank-you-page-offer"
    kw_only = KnowledgeBase(
        fake_kb.persist_dir, embedder=fake_kb.embedder, vector_weight=0.0, keyword_weight=1.0
    )
    assert kw_only.search("LTV:CAC")[0].playbook_id == "ltv-cac-acquisition-spend"


def test_hits_are_small_frozen_dataclasses_one_per_playbook(fake_kb):
    hits = fake_kb.search("customers who stopped buying", k=5)
    assert len(hits) == 5 and len({h.playbook_id for h in hits}) == 5
    assert all(isinstance(h, Hit) for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        hits[0].score = 1.0  # type: ignore[misc]
    d = hits[0].to_dict()
    assert set(d) == {"playbook_id", "title", "section", "score", "passage", "metadata"}
    assert isinstance(d["metadata"]["segments"], list)


def test_get_playbook_gives_metadata_and_skeleton(fake_kb):
    pb = fake_kb.get_playbook("vip-personal-outreach")
    assert pb.meta.offer_type == "gift" and "high" in pb.meta.clv_tiers
    assert 0 < pb.meta.prior_uplift < 1
    assert "{first_name}" in pb.message_skeleton
    with pytest.raises(KeyError, match="no playbook 'nope'"):
        fake_kb.get_playbook("nope")


def test_empty_query_is_a_clear_error(fake_kb):
    with pytest.raises(KnowledgeError, match="empty"):
        fake_kb.search("   ")


# --- the real local model ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_kb(tmp_path_factory):
    kb = KnowledgeBase(tmp_path_factory.mktemp("real") / "chroma")
    report = kb.index()
    assert report.errors == ()
    return kb


def test_real_model_finds_service_recovery_for_a_late_refund(real_kb):
    hits = real_kb.search("customers angry about a late refund")
    assert hits[0].playbook_id == "service-recovery"
    assert hits[0].metadata["offer_type"] == "service_recovery"


def test_real_model_retrieval_eval_meets_its_targets(real_kb):
    from evals.quality.retrieval import run_retrieval_eval

    result = run_retrieval_eval(real_kb, runs=1)
    assert result["split"] == "dev" and result["cases"] >= 80
    assert result["recall@3"] >= 0.90, result["misses"]
    assert result["latency_ms_p95"] < 1000  # the 100 ms target is the benchmark's, not CI's


@pytest.mark.parametrize("split, cases", [("heldout", 40), ("heldout_2", 40)])
def test_real_model_recall_on_the_frozen_held_out_splits(real_kb, split, cases):
    """Questions written apart from the playbooks and never tuned on: recall@3 >= 0.95."""
    from evals.quality.retrieval import TARGETS, run_retrieval_eval

    result = run_retrieval_eval(real_kb, split=split, runs=1, warmup=0)
    assert result["cases"] >= cases
    assert TARGETS[split] == 0.95
    assert result["recall@3"] >= TARGETS[split], result["misses"]


def test_held_out_target_fails_without_questions_and_understanding(real_kb):
    """The target discriminates: the search as it was (no front-matter questions, words taken
    literally) stays below it on the held-out split."""
    from evals.quality.retrieval import TARGETS, run_retrieval_eval

    literal = KnowledgeBase(
        real_kb.persist_dir,
        embedder=real_kb.embedder,
        understand_queries=False,
        question_weight=0.0,
    )
    result = run_retrieval_eval(literal, split="heldout", runs=1, warmup=0)
    assert result["recall@3"] < TARGETS["heldout"]


def test_held_out_splits_are_frozen_and_never_copied(monkeypatch):
    import evals.quality.retrieval as ev

    dev = {c["q"].lower() for c in ev.load_cases(split="dev")}
    synthetic = {
        q.lower()
        for pb in load_playbooks([builtin_playbook_dir()]).playbooks
        for q in pb.meta.questions
    }
    for split in ev.FROZEN:
        held = {c["q"].lower() for c in ev.load_cases(split=split)}  # digest checked here
        relevant = {r for c in ev.load_cases(split=split) for r in c["relevant"]}
        assert not held & dev and not held & synthetic, split
        assert relevant <= {pb.id for pb in load_playbooks([builtin_playbook_dir()]).playbooks}
    monkeypatch.setitem(ev.FROZEN, "heldout", "0" * 64)
    with pytest.raises(ev.HeldOutChanged, match="not the frozen heldout set"):
        ev.load_cases(split="heldout")


# --- the CLI ----------------------------------------------------------------------------------


def test_cli_index_and_search(tmp_path, monkeypatch, capsys):
    import json

    import knowledge.embeddings as emb
    from agent.cli.main import main

    monkeypatch.delenv("RETENTION_EMBEDDINGS", raising=False)
    monkeypatch.setattr(emb, "_default", FakeEmbedder())
    ws = tmp_path / "ws"
    assert main(["kb", "search", "LTV:CAC", "--json", "-k", "2", "--workspace", str(ws)]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["playbook_id"] == "ltv-cac-acquisition-spend" and len(hits) == 2
    assert main(["kb", "index", "--workspace", str(ws)]) == 0
    assert "0 embedded" in capsys.readouterr().out
    assert main(["kb", "search", "refund", "--segment", "Sleepy", "--workspace", str(ws)]) == 2
    assert "unknown segment 'Sleepy'" in capsys.readouterr().err
    assert main(["kb", "index", "--playbooks", str(tmp_path / "nope"), "--workspace", str(ws)]) == 2


# --- boundaries -------------------------------------------------------------------------------


FORBIDDEN = ("agent", "tools", "ui", "gradio", "langchain", "langchain_core", "openai")


def test_knowledge_imports_nothing_from_agent_tools_or_ui():
    for path in (ROOT / "knowledge").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN[:5], f"{path.name} imports {name}"
    code = (
        "import sys, knowledge, knowledge.base, knowledge.store; "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout.split()
    )
    assert not loaded & set(FORBIDDEN)
