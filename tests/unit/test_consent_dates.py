from datetime import UTC, datetime

from intake.services.consent import reconfirm_due


def test_reconfirmation_due_two_years_less_a_day_R48():
    granted = datetime(2026, 3, 15, 1, 0, tzinfo=UTC)
    assert reconfirm_due(granted).date().isoformat() == "2028-03-14"


def test_reconfirmation_from_leap_day_R48():
    assert reconfirm_due(datetime(2028, 2, 29, tzinfo=UTC)).date().isoformat() == "2030-02-27"
