"""Offline mode: a deterministic planner over the assistant's tools (no language model).

A request is routed to an intent (`agent.assistant.router`: the local embedding's match on
example phrasings, an intent model, keyword cues and the entities `agent.assistant.entities`
extracts); the intent picks the tool calls; the answer is a template filled only from the tool
results (`agent.assistant.answers`, `agent.assistant.outreach_answers`), and says that no
language model is in use. What it cannot map, it says so and lists what it can do. Several asks
in one message are answered in turn. Routing is measured on merchant phrasings: dev splits,
held-out 1 (seen) and held-out 2 to 4, written blind (`evals.quality.agent.routing_eval`).
A request it must not carry out (send without approval, target by a sensitive attribute, false
urgency, a discount over the cap, personal data, another store) is refused first, with what it
can do instead (`agent.outreach.policy`).
"""

from __future__ import annotations

import re

from agent.assistant import answers as T
from agent.assistant import outreach_answers as OA
from agent.assistant.cues import (
    ADVICE_Q,
    FIRST_ONE,
    KEYWORDS,
    OTHER_SHOPS_PRACTICE,
    OUT_OF_SCOPE,
    SELF_APPROVE,
    SEND_ASK,
    SEND_CUT,
    THEM,
    TOP_GROUP,
)
from agent.assistant.entities import Entities, expand
from agent.assistant.nudges import CUSTOMER_INTENTS
from agent.assistant.prompts import CAPABILITIES, OFFLINE_NOTE
from agent.assistant.router import Router
from agent.outreach import policy
from agent.toolbox.tools import Answer, ToolRunner


class Planner(Router):
    """Maps a request to tools and answers from templates. Remembers the last customer."""

    def __init__(self, session, runner: ToolRunner | None = None, embedder=None) -> None:
        super().__init__(session, embedder)
        self.runner = runner or ToolRunner(session)
        self.last_customer: str | None = None
        self._listed: list[str] = []
        self._ranked: dict[str, str] = {}

    def ask(self, message: str) -> Answer:
        start = len(self.runner.trace)
        pieces = self._pieces(message)
        sends = [self._sends(p) for _, p in pieces]
        refusals: list[policy.Refusal] = []  # the sends among other asks, refused one by one
        if all(sends) or not any(sends):  # one request
            if all(sends) and SEND_ASK.search(message) and not ADVICE_Q.search(message):
                return self._refused(policy.Refusal("send"), start)  # send, blast, export
            refused = self._policy(message)
            if refused is not None and (refused.kind != "send" or all(sends)):
                return self._refused(refused, start)
            if all(sends):
                return self._refused(policy.Refusal("send"), start)
            rest = message
        else:  # "show me the brief and send it to my partner": the other asks are answered (no
            rest = "".join(  # tool sends or approves), the send refused
                (sep if i else "") + p
                for i, (sep, p) in enumerate(x for x, s in zip(pieces, sends) if not s)
            )
            refused = self._policy(rest)
            if refused is not None and refused.kind != "send":
                return self._refused(refused, start)
            for (_, p), send in zip(pieces, sends):
                r = self._policy(p) if send else None
                r = r if r is not None and r.kind != "send" else policy.Refusal("send")
                if send and r not in refusals:
                    refusals.append(r)
        routed = self.route(rest)
        if refusals and all(intent in (None, "help") for intent, _, _ in routed):
            return self._refused(refusals[0], start)  # the send was the request
        texts = []
        self._listed = []  # the customers this message's list asks named
        self._ranked = {}  # "my top customer" as this message's first ask found them
        for intent, ents, part in routed:
            if ents.customer_ids:
                self.last_customer = ents.customer_ids[0]
            elif (
                not ents.unknown_ids
                and self.last_customer
                and re.search(
                    r"\b(this|that|the same|him|her|them) customer\b|\b(him|her)\b", part.lower()
                )
            ):
                ents.customer_ids = [self.last_customer]
            texts.append(self._answer(intent, ents, part))
        refused_texts = [self._refuse(r) for r in refusals]  # where the sends were asked: first,
        texts = refused_texts + texts if sends[0] else texts + refused_texts  # or after the rest
        return Answer(
            "\n\n".join(texts) + f"\n\n{OFFLINE_NOTE}", self.runner.trace[start:], "offline"
        )

    def _refused(self, r: policy.Refusal, start: int) -> Answer:
        return Answer(f"{self._refuse(r)}\n\n{OFFLINE_NOTE}", self.runner.trace[start:], "offline")

    def _policy(self, text: str) -> policy.Refusal | None:
        """What `agent.outreach.policy` refuses in `text`: a "so I can approve them" is the
        merchant's own step, and "what do other shops do" asks for practice, not their data."""
        screened = SELF_APPROVE.sub("", text)
        if ADVICE_Q.search(screened) or re.search(KEYWORDS["playbook"][0], screened.lower()):
            screened = OTHER_SHOPS_PRACTICE.sub(r"most \1", screened)
        return policy.refusal(screened, discount_cap=self._discount_cap())

    @staticmethod
    def _pieces(message: str) -> list[tuple[str, str]]:
        """The message cut where one ask may end (`SEND_CUT`): (the separator before, the piece)."""
        out, at, sep = [], 0, ""
        for m in SEND_CUT.finditer(message):
            if message[at : m.start()].strip(" ,."):
                out.append((sep, message[at : m.start()]))
                sep = ""
            sep += message[m.start() : m.end()]
            at = m.end()
        if message[at:].strip(" ,.") or not out:
            out.append((sep, message[at:]))
        return out

    @staticmethod
    def _sends(piece: str) -> bool:
        """Whether a piece of a request asks to send, export or approve now (never done here); an
        advice question about sending ("what's the best time of day to send it?") is not one,
        unless it asks to send now or skip the approval."""
        piece = re.sub(r"^\s*(?:and|then|also|plus)\s+", "", piece, flags=re.I)
        advice = ADVICE_Q.search(piece)
        if SEND_ASK.search(piece) and not advice:
            return True
        screened = SELF_APPROVE.sub("", piece)
        return bool((policy.SEND_NOW if advice else policy.SEND).search(screened))

    def _answer(self, intent: str | None, e: Entities, message: str) -> str:
        if intent is None or intent == "help":
            lead = (
                "Here is what I can do."
                if intent == "help"
                else f'I can\'t map "{message.strip()}" to one of my tools: none acts on the shop '
                "itself (orders, refunds, prices, shipping, stock)."
                if OUT_OF_SCOPE.search(expand(message.lower()))
                else "I can't map that request to one of my tools."
            )
            return lead + " Try asking about:\n" + "\n".join(f"- {c}" for c in CAPABILITIES)
        if intent in CUSTOMER_INTENTS + ("draft",) and not e.customer_ids and e.ambiguous:
            return (
                f"Several customers of this store are called {e.ambiguous[0]}: which one? Give "
                f"their customer id, e.g. '{message.rstrip('?.! ')}' with the id instead of the name."
            )
        lead = ""
        if (
            intent in CUSTOMER_INTENTS + ("draft",)
            and not e.customer_ids
            and e.rank
            and not e.unknown_ids
        ):
            # looked up once per message, by rank alone (later asks inherit it: the same
            if e.rank not in self._ranked:  # customer, at risk or not): "why is my top
                res = self._call(  # customer at risk, and draft a message for them"
                    "list_customers",
                    sort_by="value_at_stake" if e.rank == "stake" else "predicted_clv",
                    at_risk_only=e.at_risk or None,
                    limit=1,
                )
                if isinstance(res, str) or not res["customers"]:
                    return T.customers(res)
                self._ranked[e.rank] = res["customers"][0]["customer_id"]
                lead = T.top_customer(res) + "\n"
            e.customer_ids = [self._ranked[e.rank]]
            self.last_customer = e.customer_ids[0]
        if (
            intent in CUSTOMER_INTENTS
            and not e.customer_ids
            and self._listed
            and (FIRST_ONE.search(message) or THEM.search(message))
        ):  # "top 3 at risk, why are they at risk": the first customer this message listed
            e.customer_ids = self._listed[:1]
            lead = f"The first of the {len(self._listed)} customers listed, {e.customer_ids[0]}:\n"
        if intent in CUSTOMER_INTENTS and not e.customer_ids:
            if e.unknown_ids:
                return self._call_error("explain_customer", {"customer_id": e.unknown_ids[0]})
            return (
                "Which customer? Give their id, e.g. "
                f"'{message.rstrip('?.! ')} {self.session.by_id.index[0]}'."
            )
        return lead + getattr(self, f"_{intent}")(e, message)

    def _discount_cap(self) -> float:
        return float(self.session.settings.discount_cap)

    def _refuse(self, r: policy.Refusal) -> str:
        rules = self._call("outreach_rules") if r.kind == "discount" else None
        return policy.refusal_text(r, rules, store=f"the store in {self.session.store_dir.name!r}")

    def _call_error(self, tool: str, args: dict) -> str:
        res = self.runner.call(tool, args)
        return res if isinstance(res, str) else "Unexpected result."

    # --- one handler per intent: tool calls, then a template over their results -----------------

    def _call(self, tool: str, **args):
        return self.runner.call(tool, {k: v for k, v in args.items() if v is not None})

    def _contact_week(self, e: Entities, _: str) -> str:
        res = self._call("prioritise_interventions", limit=e.count or 10)
        if isinstance(res, str):  # prioritisation not built: rank by value at stake instead
            return T.at_risk(self._call("at_risk_customers", limit=e.count or 10), this_week=True)
        return OA.plan(res)

    def _at_risk(self, e: Entities, limit: int):
        """The at-risk list filtered as the request says, its count or `limit` long."""
        return self._call(
            "at_risk_customers",
            segment=e.segment,
            clv_tier=e.tier,
            reason=e.reason,
            limit=e.count or limit,
        )

    def _at_risk_list(self, e: Entities, _: str) -> str:
        res = self._at_risk(e, 10)
        if not isinstance(res, str):
            self._listed = [c["customer_id"] for c in res["customers"]]
        return T.at_risk(res)

    def _why_customer(self, e: Entities, _: str) -> str:
        return "\n\n".join(
            T.why(self._call("explain_customer", customer_id=c)) for c in e.customer_ids[:3]
        )

    def _customer_profile(self, e: Entities, _: str) -> str:
        return "\n\n".join(
            T.profile(self._call("explain_customer", customer_id=c)) for c in e.customer_ids[:3]
        )

    def _cross_sell(self, e: Entities, _: str) -> str:
        return "\n\n".join(
            T.cross_sell(self._call("next_best_product", customer_id=c)) for c in e.customer_ids[:3]
        )

    def _clv_by_segment(self, e: Entities, _: str) -> str:
        return T.segments(self._call("segment_summary"))

    def _segment_change(self, e: Entities, _: str) -> str:
        return T.migration(
            self._call("segment_summary"),
            self._call("segment_migration", days_back=e.days_back),
            e.segment,
        )

    def _ltv_cac(self, e: Entities, _: str) -> str:
        return T.ltv_cac(self._call("clv_ltv_cac", cac=e.money, segment=e.segment))

    def _playbook(self, e: Entities, message: str) -> str:
        res = self._call(
            "search_playbooks", query=message[:300], segment=e.segment, reason=e.reason
        )
        if not isinstance(res, str) and not res["playbooks"] and (e.segment or e.reason):
            res = self._call("search_playbooks", query=message[:300])
        return T.playbooks(res)

    def _brief(self, e: Entities, _: str) -> str:
        res = self._call("weekly_brief", cac=e.money)
        if not isinstance(res, str):
            return T.brief(res)
        return T.mini_brief(
            self._call("store_overview"),
            self._call("segment_migration"),
            self._call("at_risk_customers", limit=5),
        )

    def _draft(self, e: Entities, message: str) -> str:
        """Drafts into the approval queue, of the kind of play and on the channel asked for. "My
        top N at-risk customers" are the ones the at-risk list names (by value at stake); "my
        Champions", "my top 20 customers" (a group named by segment, tier, consent or rank, not
        by risk) the ones the customer list names: each is drafted or said why not (no consent,
        no fitting play), never silently swapped for this week's plan."""
        if e.unknown_ids and not e.customer_ids:
            return self._call_error("explain_customer", {"customer_id": e.unknown_ids[0]})
        if e.preview and e.customer_ids:
            return OA.draft_preview(self._call("draft_message", customer_id=e.customer_ids[0]))
        kind = {"play": e.play, "channel": e.channel}
        if not e.customer_ids and self._listed and THEM.search(message):  # "my top 5 customers,
            return self._queue_for(self._listed[:100], kind)  # and drafts for them": just listed
        if e.customer_ids:
            return OA.queued(self._call("queue_drafts", customer_ids=e.customer_ids[:10], **kind))
        if not e.at_risk and (e.segment or e.tier or e.consent or TOP_GROUP.search(message)):
            return self._draft_group(e, kind)
        if e.at_risk or e.segment or e.tier:
            risk = self._at_risk(e, 3)
            if isinstance(risk, str) or not risk["customers"]:
                return T.at_risk(risk)
            ids = [c["customer_id"] for c in risk["customers"]]
            return (
                f"Your top {len(ids)} at-risk customers by value at stake: {', '.join(ids)}. Drafts go to "
                "the customers this week's plan can contact; each of these that gets none is named below "
                "with why.\n"
                + OA.queued(self._call("queue_drafts", top_n=e.count or 3, explain_ids=ids, **kind))
            )
        return OA.queued(self._call("queue_drafts", top_n=e.count or 3, **kind))

    def _draft_group(self, e: Entities, kind: dict) -> str:
        """Drafts for the customers of a segment, tier, consent or top N by value
        (`list_customers`: "drafts for everyone who opted in to sms")."""
        ch, state = e.consent or (None, None)
        group = self._call(
            "list_customers",
            sort_by=e.sort_by,
            segment=e.segment,
            clv_tier=e.tier,
            reason=e.reason,
            consent_channel=ch,
            consent_state=state,
            limit=e.count or 10,
        )
        if isinstance(group, str) or not group["customers"]:
            return T.customers(group)
        ids = [c["customer_id"] for c in group["customers"]]
        return T.customers(group) + "\n" + self._queue_for(ids, kind)

    def _queue_for(self, ids: list[str], kind: dict) -> str:
        """Drafts for these customers, each drafted or named with why not."""
        return OA.queued(
            self._call(
                "queue_drafts", customer_ids=ids, top_n=len(ids), explain_ids=ids[:50], **kind
            )
        )

    def _overview(self, e: Entities, _: str) -> str:
        return T.overview(self._call("store_overview"))

    def _kpis(self, e: Entities, _: str) -> str:
        return T.kpis(self._call("store_kpis"), e.metrics or None)

    def _campaign_results(self, e: Entities, _: str) -> str:
        return OA.campaigns(self._call("campaign_results"))

    def _customer_list(self, e: Entities, _: str) -> str:
        ch, state = e.consent or (None, None)
        sort_by = e.sort_by or ("value_at_stake" if e.rank == "stake" else None)
        res = self._call(
            "list_customers",
            sort_by=sort_by,
            at_risk_only=e.at_risk or None,
            segment=e.segment,
            clv_tier=e.tier,
            reason=e.reason,
            consent_channel=ch,
            consent_state=state,
            limit=e.count or (1 if e.rank else 10),
        )
        if not isinstance(res, str):
            self._listed = [c["customer_id"] for c in res["customers"]]
            if e.rank and self._listed:  # "who is my best customer and write them a note"
                self._ranked.setdefault(e.rank, self._listed[0])
        return T.customers(res)

    def _customer_history(self, e: Entities, _: str) -> str:
        return "\n\n".join(
            OA.history(self._call("customer_history", customer_id=c)) for c in e.customer_ids[:3]
        )

    def _tickets(self, e: Entities, _: str) -> str:
        return T.tickets(
            self._call("support_tickets", days_back=e.days_back if e.period_given else None)
        )
