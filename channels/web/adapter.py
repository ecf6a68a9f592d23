"""From a validated web inquiry to the channel-neutral `Inquiry` (shared by the JSON route and
the HTML form), with the consent choices the person made and the notice each one was given
under (R2, R5: version and sha256 of the text shown, in the person's language).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from channels.web.schemas import InquiryData
from intake.clinic import Clinic
from intake.inquiry import ConsentChoice, ContactValue, Guardian, Inquiry, Profile
from intake.redaction import mask_identifiers
from intake.vocab import Channel, ConsentAction, ConsentMethod, ConsentPurpose

# The reply channels a contact point opens (the form's collection consent: answering there).
REPLY_CHANNELS_BY_KIND = {"phone": ("sms", "voice"), "email": ("email",)}


class WebSource(StrEnum):
    """Which web entry point an inquiry came through; recorded in every consent's evidence."""

    FORM = "form"
    API = "api"


_EVIDENCE_TAG: dict[WebSource, dict[str, str]] = {
    WebSource.FORM: {"form": "consult"},
    WebSource.API: {"api": "inquiries"},
}


def consent_choices(data: InquiryData, clinic: Clinic, source: WebSource) -> tuple[
        ConsentChoice, ...]:
    """What the person ticked, each with its notice's evidence. Nothing unticked is recorded:
    consent never given needs no event and no R47 notice."""
    notices = clinic.notices
    tag = _EVIDENCE_TAG[source]

    def grant(purpose: ConsentPurpose, notice: str, channel: str | None = None) -> ConsentChoice:
        evidence: dict[str, Any] = {**notices.consent(notice, data.locale).evidence(), **tag}
        return ConsentChoice(purpose=purpose, action=ConsentAction.GRANT,
                             method=ConsentMethod.WEB_FORM, channel=channel, evidence=evidence)

    choices: list[ConsentChoice] = []
    if source is WebSource.FORM:
        # The form's required collection consent: answering on the contact points given. The
        # JSON route relies on the request-response basis (R6) that `receive` records itself.
        kinds = [kind for kind, value in (("phone", data.phone), ("email", data.email)) if value]
        for kind in kinds:
            for channel in REPLY_CHANNELS_BY_KIND[kind]:
                choices.append(grant(ConsentPurpose.REPLY, "consent.collection", channel))
    if data.consents.sensitive_health:
        choices.append(grant(ConsentPurpose.SENSITIVE_HEALTH, "consent.sensitive_health"))
    for channel in data.consents.marketing:
        choices.append(grant(ConsentPurpose.MARKETING, "consent.marketing", channel))
    for channel in data.consents.marketing_night:
        choices.append(grant(ConsentPurpose.MARKETING_NIGHT, "consent.marketing_night", channel))
    return tuple(choices)


def build_inquiry(data: InquiryData, clinic: Clinic, *, provider_id: str, source: WebSource,
                  source_ip: str | None, received_at: datetime | None = None,
                  request_digest: str | None = None) -> Inquiry:
    """The `Inquiry` for `receive`: contacts phone first (the channel a clinic answers first),
    health fields marked as asked up front (R8)."""
    contacts = tuple(ContactValue(kind, value)
                     for kind, value in (("phone", data.phone), ("email", data.email)) if value)
    guardian = None
    if data.guardian is not None:
        # The domain masks the person's name but stores the guardian's as given.
        guardian = Guardian(name=mask_identifiers(data.guardian.name)[0],
                            phone=data.guardian.phone)
    profile = Profile(sex=data.sex, birth_date=data.birth_date, age=data.age, region=data.region,
                      interests=data.interests, preferred_hours=data.preferred_hours,
                      locale=data.locale)
    return Inquiry(
        channel=Channel.WEB,
        provider_id=provider_id,
        received_at=received_at or datetime.now(UTC),
        contacts=contacts,
        name=data.name,
        body=data.message,
        profile=profile,
        reply_channel=data.reply_channel,
        consents=consent_choices(data, clinic, source),
        guardian=guardian,
        health_fields_asked=True,
        consent_method=ConsentMethod.WEB_FORM,
        source_ip=source_ip,
        request_digest=request_digest,
        raw={"source": str(source)},  # no personal data: the validated fields are the record
    )
