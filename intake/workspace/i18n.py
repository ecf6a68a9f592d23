"""The workspace's words in Korean (default) and English, chosen per staff user (Staff.locale),
and times shown in the clinic's zone (Asia/Seoul). Called by the views and the templates."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

WORDS: dict[str, dict[str, str]] = {
    "app.title": {"ko": "상담 워크스페이스", "en": "Consultation workspace"},
    "nav.queue": {"ko": "상담 목록", "en": "Queue"},
    "nav.sink": {"ko": "개발용 발송함", "en": "Development sink"},
    "nav.audit": {"ko": "접근 기록", "en": "Audit log"},
    "sign_out": {"ko": "로그아웃", "en": "Sign out"},
    "sign_in": {"ko": "로그인", "en": "Sign in"},
    "email": {"ko": "이메일", "en": "Email"},
    "password": {"ko": "비밀번호", "en": "Password"},
    "sign_in.wrong": {"ko": "이메일 또는 비밀번호가 올바르지 않습니다.",
                      "en": "Wrong email or password."},
    "sign_in.locked": {"ko": "로그인 실패가 반복되어 계정이 {until}까지 잠겼습니다.",
                       "en": "Too many failed sign-ins: this account is locked until {until}."},
    "sign_in.too_many": {"ko": "이 위치에서 로그인 시도가 너무 많습니다. "
                               "잠시 후 다시 시도해 주세요.",
                         "en": "Too many sign-in attempts from this address; try again later."},
    "sign_in.expired": {"ko": "다시 로그인해 주세요.", "en": "Please sign in again."},
    "status": {"ko": "상태", "en": "Status"},
    "channel": {"ko": "채널", "en": "Channel"},
    "interest": {"ko": "관심 부위", "en": "Interest"},
    "assignee": {"ko": "담당자", "en": "Assignee"},
    "person": {"ko": "고객", "en": "Person"},
    "waiting": {"ko": "미응답", "en": "Waiting"},
    "sla": {"ko": "응답 기한", "en": "First response"},
    "last_activity": {"ko": "최근 활동", "en": "Last activity"},
    "search": {"ko": "검색", "en": "Search"},
    "filter": {"ko": "필터", "en": "Filter"},
    "all": {"ko": "전체", "en": "All"},
    "mine": {"ko": "내 담당", "en": "Mine"},
    "unassigned": {"ko": "미배정", "en": "Unassigned"},
    "take_next": {"ko": "다음 상담 가져오기", "en": "Take next"},
    "take_next.none": {"ko": "미배정 상담이 없습니다.", "en": "No unassigned consultation."},
    "next_page": {"ko": "다음 페이지", "en": "Next page"},
    "first_page": {"ko": "처음으로", "en": "First page"},
    "empty": {"ko": "상담이 없습니다.", "en": "No consultations."},
    "sla.ok": {"ko": "여유", "en": "on time"},
    "sla.due_soon": {"ko": "임박", "en": "due soon"},
    "sla.overdue": {"ko": "초과", "en": "overdue"},
    "sla.due": {"ko": "기한", "en": "due"},
    "contact_points": {"ko": "연락처", "en": "Contact points"},
    "thread": {"ko": "대화 내역", "en": "Thread"},
    "attachments": {"ko": "첨부파일", "en": "Attachments"},
    "pages": {"ko": "쪽", "en": "pages"},
    "notes": {"ko": "내부 메모", "en": "Internal notes"},
    "add_note": {"ko": "메모 추가", "en": "Add note"},
    "status_history": {"ko": "상태 이력", "en": "Status history"},
    "consent": {"ko": "동의 현황", "en": "Consent"},
    "ledger": {"ko": "동의 기록", "en": "Consent ledger"},
    "reply": {"ko": "답장", "en": "Reply"},
    "send": {"ko": "보내기", "en": "Send"},
    "subject": {"ko": "제목", "en": "Subject"},
    "allowed": {"ko": "가능", "en": "allowed"},
    "not_allowed": {"ko": "불가", "en": "not allowed"},
    "no_reply_channel": {"ko": "답장할 수 있는 채널이 없습니다.",
                         "en": "No channel allows a reply."},
    "sms_count": {"ko": "{length}자 · {segments}건 ({encoding})",
                  "en": "{length} characters · {segments} segment(s) ({encoding})"},
    "change_status": {"ko": "상태 변경", "en": "Change status"},
    "assign": {"ko": "배정", "en": "Assign"},
    "assign_me": {"ko": "나에게 배정", "en": "Assign to me"},
    "unassign": {"ko": "배정 해제", "en": "Unassign"},
    "delivery": {"ko": "발송", "en": "Delivery"},
    "health_flag": {"ko": "민감정보 동의 필요 (R8)", "en": "Needs health consent (R8)"},
    "guardian_pending": {"ko": "법정대리인 동의 대기 (R12)",
                         "en": "Waiting for the guardian's consent (R12)"},
    "sink.intro": {"ko": "공급자 자격 증명이 없는 채널의 발송 내용입니다 (실제로 발송되지 않음).",
                   "en": "What channels without provider credentials would have sent "
                         "(nothing left the hub)."},
    "recipient": {"ko": "수신자", "en": "Recipient"},
    "body": {"ko": "내용", "en": "Body"},
    "at": {"ko": "일시", "en": "When"},
    "staff": {"ko": "직원", "en": "Staff"},
    "action": {"ko": "작업", "en": "Action"},
    "target": {"ko": "대상", "en": "Target"},
    "ip": {"ko": "접속 위치", "en": "From"},
    "date_from": {"ko": "시작일", "en": "From date"},
    "date_to": {"ko": "종료일", "en": "To date"},
    "forbidden": {"ko": "이 페이지를 볼 권한이 없습니다.",
                  "en": "Your role may not see this page."},
    "not_found": {"ko": "찾을 수 없습니다.", "en": "Not found."},
    "refused": {"ko": "처리할 수 없습니다", "en": "Refused"},
    "live": {"ko": "실시간 갱신", "en": "Live"},
    "from": {"ko": "보낸 사람", "en": "From"},
    "in": {"ko": "수신", "en": "in"},
    "out": {"ko": "발신", "en": "out"},
    "merge.title": {"ko": "동일인 병합", "en": "Same person?"},
    "merge.none": {"ko": "동일인 후보가 없습니다.", "en": "No likely duplicates."},
    "merge.confirm": {"ko": "이 고객으로 병합", "en": "Merge into this person"},
    "merge.manual": {"ko": "고객 번호로 병합", "en": "Merge person number"},
    "merge.history": {"ko": "병합 이력", "en": "Merges"},
    "merge.undo": {"ko": "병합 취소", "en": "Undo merge"},
    "merge.undone": {"ko": "취소됨", "en": "undone"},
    "merge.why.shared_phone": {"ko": "같은 전화번호", "en": "same phone"},
    "merge.why.shared_email": {"ko": "같은 이메일", "en": "same email"},
    "merge.why.shared_kakao": {"ko": "같은 카카오 사용자", "en": "same Kakao user"},
    "merge.why.shared_fax": {"ko": "같은 팩스번호", "en": "same fax number"},
    "merge.why.same_name": {"ko": "같은 이름 (확인 필요)", "en": "same name (check first)"},
    "nav.staff": {"ko": "직원 관리", "en": "Staff"},
    "staff.title": {"ko": "직원 계정 관리", "en": "Staff accounts"},
    "staff.intro": {"ko": "계정은 개인별로 발급하고, 필요한 최소 권한만 부여하며, "
                          "퇴사·직무 변경 시 즉시 비활성화합니다 (R28). "
                          "모든 변경은 접근 기록에 남습니다.",
                    "en": "Accounts are personal, get the least role they need and are "
                          "deactivated promptly when no longer needed (R28). Every change is "
                          "kept in the audit log."},
    "staff.name": {"ko": "이름", "en": "Name"},
    "staff.role": {"ko": "역할", "en": "Role"},
    "staff.locale": {"ko": "언어", "en": "Language"},
    "staff.active": {"ko": "사용", "en": "Active"},
    "staff.locked_until": {"ko": "잠금 해제 시각", "en": "Locked until"},
    "staff.new": {"ko": "새 직원 계정", "en": "New staff account"},
    "staff.password": {"ko": "초기 비밀번호 (10자 이상)",
                       "en": "Initial password (at least 10 characters)"},
    "staff.create": {"ko": "계정 만들기", "en": "Create account"},
    "staff.save": {"ko": "저장", "en": "Save"},
    "staff.deactivate": {"ko": "비활성화", "en": "Deactivate"},
    "staff.reactivate": {"ko": "다시 활성화", "en": "Reactivate"},
    "staff.unlock": {"ko": "잠금 해제", "en": "Unlock"},
    "staff.created": {"ko": "계정을 만들었습니다: {email}", "en": "Account created: {email}"},
    "staff.changed": {"ko": "변경했습니다: {email}", "en": "Changed: {email}"},
    "staff.unchanged": {"ko": "변경 사항이 없습니다.", "en": "Nothing changed."},
    "staff.history": {"ko": "권한 변경 이력", "en": "Grant history"},
    "yes": {"ko": "예", "en": "yes"},
    "no": {"ko": "아니요", "en": "no"},
    "role.counsellor": {"ko": "상담사", "en": "counsellor"},
    "role.marketer": {"ko": "마케터", "en": "marketer"},
    "role.privacy_officer": {"ko": "개인정보 보호책임자", "en": "privacy officer"},
    "role.admin": {"ko": "관리자", "en": "admin"},
    "order": {"ko": "정렬", "en": "Order"},
    "order.newest": {"ko": "최신순", "en": "Newest first"},
    "order.urgent": {"ko": "긴급순 (응답 기한 임박)", "en": "Most urgent first"},
    "order.urgent_note": {"ko": "미응답 상담만, 응답 기한이 가까운 순서로 표시합니다.",
                          "en": "Unanswered consultations only, soonest first-response "
                                "deadline first."},
    "st.new": {"ko": "신규", "en": "new"},
    "st.open": {"ko": "진행 중", "en": "open"},
    "st.waiting_on_patient": {"ko": "고객 응답 대기", "en": "waiting on patient"},
    "st.booked": {"ko": "예약 완료", "en": "booked"},
    "st.closed": {"ko": "종료", "en": "closed"},
    "st.spam": {"ko": "스팸", "en": "spam"},
    "st.pending_guardian": {"ko": "보호자 동의 대기", "en": "pending guardian"},
    "ch.web": {"ko": "웹", "en": "Web"},
    "ch.sms": {"ko": "문자", "en": "SMS"},
    "ch.voice": {"ko": "전화", "en": "Call"},
    "ch.kakao": {"ko": "카카오톡", "en": "KakaoTalk"},
    "ch.email": {"ko": "이메일", "en": "Email"},
    "ch.fax": {"ko": "팩스", "en": "Fax"},
    "dl.queued": {"ko": "대기", "en": "queued"},
    "dl.sending": {"ko": "발송 중", "en": "sending"},
    "dl.sent": {"ko": "발송됨", "en": "sent"},
    "dl.delivered": {"ko": "전달됨", "en": "delivered"},
    "dl.failed": {"ko": "실패", "en": "failed"},
    "dl.suppressed": {"ko": "발송 차단", "en": "suppressed"},
    "dl.held": {"ko": "보류", "en": "held"},
}

LOCALES = ("ko", "en")


def translate(locale: str, key: str, **values: object) -> str:
    """The word for `key` in `locale` (Korean when unknown); a missing key shows as itself."""
    entry = WORDS.get(key)
    if entry is None:
        return key
    text = entry.get(locale if locale in LOCALES else "ko") or entry["ko"]
    return text.format(**values) if values else text


def local_time(at: datetime | None, tz: ZoneInfo, with_date: bool = True) -> str:
    """`2026-11-25 11:00` in the clinic's zone (stored times are UTC)."""
    if at is None:
        return ""
    local = at.astimezone(tz)
    return local.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M")


def age(seconds: float, locale: str) -> str:
    """A short age: `3일 4시간`, `2h 5m`."""
    minutes = max(0, int(seconds // 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    units = ("일", "시간", "분") if locale != "en" else ("d", "h", "m")
    sep = " "
    if days:
        return f"{days}{units[0]}{sep}{hours}{units[1]}"
    if hours:
        return f"{hours}{units[1]}{sep}{mins}{units[2]}"
    return f"{mins}{units[2]}"


_KO_CHANNEL = {"SMS": "문자", "KakaoTalk": "카카오톡", "email": "이메일", "voice calls": "전화"}
_KO_REASONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^no (?P<w>.+) contact point$"), "{w} 연락처 없음"),
    (re.compile(r"^no consent for (?P<w>.+)$"), "{w} 수신 동의 없음"),
    (re.compile(r"^(?P<w>.+) opted out on (?P<d>\S+)$"), "{w} 수신 거부 ({d})"),
    (re.compile(r"^(?P<w>.+) replies withdrawn on (?P<d>\S+)$"), "{w} 답장 동의 철회 ({d})"),
    (re.compile(r"^(?P<w>.+) replies refused on (?P<d>\S+)$"), "{w} 답장 동의 거부 ({d})"),
    (re.compile(r"^(?P<w>.+) allowed since (?P<d>\S+)$"), "{w} 가능 ({d}부터)"),
    (re.compile(r"^guardian consent not recorded \(R12\)$"), "법정대리인 동의 미기록 (R12)"),
)


def reason(text: str, locale: str) -> str:
    """A policy reason (written in English by `intake.policy`) in the staff user's language;
    Korean for the reply reasons the workspace shows, the English text for anything else."""
    if locale == "en":
        return text
    for pattern, template in _KO_REASONS:
        match = pattern.match(text)
        if match:
            values = match.groupdict()
            if "w" in values:
                values["w"] = _KO_CHANNEL.get(values["w"], values["w"])
            return template.format(**values)
    return text
