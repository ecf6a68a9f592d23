"""The form's own words in Korean and English: labels, help, and one plain message per field
for errors (the schema's messages are for API clients; a person gets these instead).

The consent notices themselves are not here: they are the clinic's versioned texts
(`hub.clinic.notices`), so the page shows exactly the version a consent records (R2).
"""

from __future__ import annotations

from typing import Final

LOCALES: Final = ("ko", "en")

INTEREST_LABELS: Final[dict[str, dict[str, str]]] = {
    "ko": {"eyes": "눈", "nose": "코", "contouring": "윤곽", "breast": "가슴",
           "body": "바디(체형)", "skin": "피부", "lifting": "리프팅", "other": "기타"},
    "en": {"eyes": "Eyes", "nose": "Nose", "contouring": "Facial contouring",
           "breast": "Breast", "body": "Body", "skin": "Skin", "lifting": "Lifting",
           "other": "Other"},
}

TEXTS: Final[dict[str, dict[str, str]]] = {
    "ko": {
        "html_lang": "ko",
        "title": "상담 신청",
        "intro": "아래 양식을 작성해 주시면 상담실에서 연락드립니다. "
                 "주민등록번호는 입력하지 마세요.",
        "switch_lang": "English",
        "required": "(필수)",
        "optional": "(선택)",
        "about_you": "신청자 정보",
        "name": "성함",
        "phone": "휴대폰 번호",
        "email": "이메일",
        "contact_note": "휴대폰 번호와 이메일 중 하나 이상 입력해 주세요.",
        "one_of": "(둘 중 하나 필수)",
        "sex": "성별",
        "sex_none": "선택 안 함",
        "sex.female": "여성",
        "sex.male": "남성",
        "sex.other": "기타",
        "birth_date": "생년월일",
        "age": "나이(만)",
        "birth_note": "생년월일과 나이 중 하나만 입력하셔도 됩니다.",
        "region": "거주 지역",
        "consultation": "상담 내용",
        "interests": "관심 부위",
        "health_note": "관심 부위와 문의 내용은 아래 민감정보(건강정보) 처리에 동의하신 경우에만 "
                       "저장됩니다. 동의하지 않으시면 연락(회신) 요청으로만 접수됩니다.",
        "preferred_hours": "희망 상담 시간",
        "preferred_hours_hint": "예: 평일 오후 2시 이후",
        "message": "문의 내용",
        "reply_channel": "회신 방법",
        "reply.sms": "문자",
        "reply.email": "이메일",
        "reply.phone": "전화",
        "guardian_title": "만 14세 미만이신가요?",
        "guardian_note": "만 14세 미만은 법정대리인(보호자)의 동의가 필요합니다. 보호자의 성함과 "
                         "휴대폰 번호를 입력해 주세요. 보호자 동의가 확인될 때까지 신청자의 "
                         "연락처와 문의 내용은 저장하지 않습니다.",
        "guardian_required": "(만 14세 미만 필수)",
        "guardian_name": "보호자 성함",
        "guardian_phone": "보호자 휴대폰 번호",
        "notices_title": "개인정보 처리 안내 및 동의",
        "notices_intro": "각 항목을 따로 동의하실 수 있습니다. 선택 항목에 동의하지 않으셔도 "
                         "상담 신청과 답변에는 불이익이 없습니다.",
        "part.purpose": "수집·이용 목적",
        "part.items": "수집 항목",
        "part.retention": "보유·이용 기간",
        "part.refusal": "동의를 거부할 권리 및 거부 시 불이익",
        "agree.collection": "위 개인정보 수집·이용에 동의합니다.",
        "agree.sensitive_health": "위 민감정보(건강정보) 처리에 동의합니다.",
        "agree.marketing": "광고성 정보를 받을 채널을 각각 선택해 주세요.",
        "agree.marketing_night": "야간(21:00~08:00)에도 광고성 정보를 받을 채널을 각각 선택해 "
                                 "주세요.",
        "night_note": "야간 수신은 같은 채널의 광고성 정보 수신에 동의하신 경우에만 선택할 수 "
                      "있습니다. 이메일은 야간 전송 제한 대상이 아니어서 따로 묻지 않습니다.",
        "night_suffix": "야간 수신",
        "without_consent_title": "동의 없이 처리하는 항목",
        "without_consent_intro": "아래 항목은 요청하신 상담에 답변하기 위해 동의 없이 "
                                 "처리합니다(개인정보 보호법 제15조 제1항 제4호).",
        "submit": "상담 신청하기",
        "errors_summary": "입력 내용을 확인해 주세요. 표시된 항목을 고친 뒤 다시 제출해 주세요.",
        "thanks_title": "상담 신청이 접수되었습니다",
        "thanks_body": "상담실에서 확인 후 연락드리겠습니다.",
        "reference": "접수번호",
        "thanks_guardian": "만 14세 미만의 신청이므로 보호자께 동의 확인 연락을 드립니다. "
                           "보호자 동의가 확인된 뒤 상담을 진행합니다.",
        "back": "처음으로",
        "bad_token_title": "양식을 다시 불러와 주세요",
        "bad_token_body": "양식이 만료되었거나 올바르지 않습니다. 페이지를 새로 고친 뒤 다시 "
                          "작성해 주세요.",
        "reload": "새 양식 열기",
        "rate_limited_title": "잠시 후 다시 시도해 주세요",
        "rate_limited_body": "짧은 시간에 요청이 너무 많았습니다. 잠시 후 다시 시도해 주세요.",
        "clinic_phone": "전화 문의",
    },
    "en": {
        "html_lang": "en",
        "title": "Consultation request",
        "intro": "Fill in the form and a counsellor will contact you. "
                 "Please do not enter a resident registration number.",
        "switch_lang": "한국어",
        "required": "(required)",
        "optional": "(optional)",
        "about_you": "About you",
        "name": "Name",
        "phone": "Mobile number",
        "email": "Email",
        "contact_note": "Give a mobile number, an email address, or both.",
        "one_of": "(one of the two required)",
        "sex": "Sex",
        "sex_none": "Prefer not to say",
        "sex.female": "Female",
        "sex.male": "Male",
        "sex.other": "Other",
        "birth_date": "Date of birth",
        "age": "Age",
        "birth_note": "Your date of birth or your age is enough.",
        "region": "Where you live",
        "consultation": "Your consultation",
        "interests": "Areas of interest",
        "health_note": "Areas of interest and your message are stored only if you consent to "
                       "the processing of sensitive (health) information below. Without it we "
                       "take your request as a call-back request only.",
        "preferred_hours": "Preferred time for the consultation",
        "preferred_hours_hint": "e.g. weekdays after 2 pm",
        "message": "Your message",
        "reply_channel": "How should we answer?",
        "reply.sms": "Text message",
        "reply.email": "Email",
        "reply.phone": "Phone call",
        "guardian_title": "Under 14?",
        "guardian_note": "A person under 14 needs the consent of a legal guardian. Please give "
                         "your guardian's name and mobile number. Until the guardian has "
                         "consented we keep none of your own contact details or message.",
        "guardian_required": "(required under 14)",
        "guardian_name": "Guardian's name",
        "guardian_phone": "Guardian's mobile number",
        "notices_title": "How we handle your personal data, and your consent",
        "notices_intro": "You can consent to each item separately. Refusing the optional items "
                         "has no effect on your consultation or our answer.",
        "part.purpose": "Purpose",
        "part.items": "Items collected",
        "part.retention": "Retention period",
        "part.refusal": "Your right to refuse, and its consequence",
        "agree.collection": "I consent to the collection and use of my personal data above.",
        "agree.sensitive_health": "I consent to the processing of my sensitive (health) "
                                  "information above.",
        "agree.marketing": "Choose each channel on which you want to receive advertising.",
        "agree.marketing_night": "Choose each channel on which you also want advertising at "
                                 "night (21:00-08:00).",
        "night_note": "Night-time consent counts only together with advertising consent for the "
                      "same channel. Email is not restricted at night, so we do not ask.",
        "night_suffix": "at night",
        "without_consent_title": "Items processed without consent",
        "without_consent_intro": "We process the items below without consent, to answer the "
                                 "consultation you asked for (PIPA Art. 15(1)4).",
        "submit": "Send my request",
        "errors_summary": "Please check the marked fields and send the form again.",
        "thanks_title": "We have received your consultation request",
        "thanks_body": "A counsellor will contact you.",
        "reference": "Reference number",
        "thanks_guardian": "As the request is for a person under 14, we will contact the "
                           "guardian to confirm their consent before the consultation goes "
                           "ahead.",
        "back": "Back to the form",
        "bad_token_title": "Please reload the form",
        "bad_token_body": "The form has expired or is not valid. Reload the page and fill it "
                          "in again.",
        "reload": "Open a new form",
        "rate_limited_title": "Please try again shortly",
        "rate_limited_body": "Too many requests came from your address in a short time. Please "
                             "try again in a moment.",
        "clinic_phone": "Phone",
    },
}

# One message per form slot (see `channels.web.form.SLOTS`); the schema's message is shown when
# a slot has none here.
FIELD_HINTS: Final[dict[str, dict[str, str]]] = {
    "ko": {
        "name": "성함을 1~100자로 입력해 주세요.",
        "phone": "휴대폰 번호를 확인해 주세요. 휴대폰 번호와 이메일 중 하나는 필요합니다.",
        "email": "이메일 주소를 확인해 주세요. 휴대폰 번호와 이메일 중 하나는 필요합니다.",
        "sex": "성별을 목록에서 골라 주세요.",
        "birth_date": "생년월일을 확인해 주세요. 오늘 이후이거나 120년보다 이전인 날짜는 입력할 "
                      "수 없습니다.",
        "age": "나이는 0~120 사이의 숫자로, 생년월일과 맞게 입력해 주세요.",
        "region": "거주 지역은 100자 이내로 입력해 주세요.",
        "interests": "관심 부위를 목록에서 골라 주세요.",
        "preferred_hours": "희망 상담 시간은 200자 이내로 입력해 주세요.",
        "message": "문의 내용은 5,000자 이내로 입력해 주세요.",
        "reply_channel": "회신 방법에 맞는 연락처를 입력해 주세요. 문자·전화는 휴대폰 번호, "
                         "이메일은 이메일 주소가 필요합니다.",
        "consent_collection": "상담 신청을 위해 개인정보 수집·이용 동의(필수)가 필요합니다.",
        "consent_sensitive_health": "민감정보 동의 항목을 확인해 주세요.",
        "marketing": "광고 수신 채널에 맞는 연락처를 입력해 주세요. 문자·카카오톡·전화는 휴대폰 "
                     "번호, 이메일은 이메일 주소가 필요합니다.",
        "marketing_night": "야간 수신은 같은 채널의 광고성 정보 수신에 동의하신 경우에만 선택할 수 "
                           "있습니다.",
        "guardian": "만 14세 미만은 보호자의 성함과 휴대폰 번호가 필요합니다.",
        "guardian_name": "보호자 성함을 1~100자로 입력해 주세요.",
        "guardian_phone": "보호자 휴대폰 번호를 확인해 주세요.",
        "general": "입력 내용을 확인해 주세요.",
    },
    "en": {
        "name": "Enter your name (1 to 100 characters).",
        "phone": "Check the mobile number. We need a mobile number or an email address.",
        "email": "Check the email address. We need a mobile number or an email address.",
        "sex": "Choose an option from the list.",
        "birth_date": "Check the date of birth: it cannot be in the future or more than 120 "
                      "years ago.",
        "age": "Enter an age from 0 to 120 that matches the date of birth.",
        "region": "Keep this to 100 characters.",
        "interests": "Choose areas from the list.",
        "preferred_hours": "Keep this to 200 characters.",
        "message": "Keep your message to 5,000 characters.",
        "reply_channel": "Give the contact for the answer you chose: a mobile number for a text "
                         "or a call, an email address for email.",
        "consent_collection": "We need your consent to collect and use your personal data "
                              "(required) to accept the request.",
        "consent_sensitive_health": "Check the sensitive information consent.",
        "marketing": "Give the contact for each advertising channel: a mobile number for text, "
                     "KakaoTalk or phone, an email address for email.",
        "marketing_night": "Night-time advertising can only be chosen for a channel you also "
                           "chose for advertising.",
        "guardian": "A person under 14 needs a guardian's name and mobile number.",
        "guardian_name": "Enter the guardian's name (1 to 100 characters).",
        "guardian_phone": "Check the guardian's mobile number.",
        "general": "Please check the form.",
    },
}
