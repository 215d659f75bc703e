//! Deadline cases checked by hand against a paper calendar (UTC+7).

use super::*;

fn cal() -> WorkingCalendar {
    WorkingCalendar::builtin()
}

/// Local wall time as a UTC instant.
fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    cal().instant(NaiveDate::from_ymd_opt(y, m, d).unwrap(), h * 60 + min)
}

fn wd(amount: u32) -> ProcessingTime {
    ProcessingTime { amount, unit: TimeUnit::WorkingDays, same_day: false }
}
fn wh(amount: u32) -> ProcessingTime {
    ProcessingTime { amount, unit: TimeUnit::WorkingHours, same_day: false }
}
fn cd(amount: u32) -> ProcessingTime {
    ProcessingTime { amount, unit: TimeUnit::CalendarDays, same_day: false }
}
const SAME_DAY: ProcessingTime = ProcessingTime { amount: 0, unit: TimeUnit::WorkingDays, same_day: true };

#[test]
fn appointments_match_hand_checked_dates() {
    #[rustfmt::skip]
    let cases: &[(&str, i64, ProcessingTime, i64)] = &[
        ("Mon 09:00 + 3 days is Thu 09:00",
            at(2025, 11, 17, 9, 0), wd(3), at(2025, 11, 20, 9, 0)),
        ("Fri 16:00 + 1 day: 1 h Friday, 7 h Monday",
            at(2025, 11, 21, 16, 0), wd(1), at(2025, 11, 24, 16, 0)),
        ("received on Saturday counts from Monday 07:00",
            at(2025, 11, 22, 10, 0), wd(1), at(2025, 11, 24, 17, 0)),
        ("received at lunch counts from 13:30",
            at(2025, 11, 18, 12, 0), wh(2), at(2025, 11, 18, 15, 30)),
        ("received after 17:00 counts from next day 07:00",
            at(2025, 11, 18, 17, 30), wd(1), at(2025, 11, 19, 17, 0)),
        ("received before 07:00 counts from 07:00",
            at(2025, 11, 19, 6, 0), wh(4), at(2025, 11, 19, 11, 0)),
        ("a deadline on a window's end stays there",
            at(2025, 11, 19, 7, 0), wd(1), at(2025, 11, 19, 17, 0)),
        ("Tết Ất Tỵ: 27 Jan - 2 Feb 2025 skipped",
            at(2025, 1, 24, 10, 0), wd(3), at(2025, 2, 5, 10, 0)),
        ("Saturday 8 Feb 2025 after Tết is a plain Saturday",
            at(2025, 2, 7, 16, 0), wd(1), at(2025, 2, 10, 16, 0)),
        ("make-up Saturday 22 Aug 2026 is a working day",
            at(2026, 8, 21, 16, 0), wd(1), at(2026, 8, 22, 16, 0)),
        ("National Day 2026: 31 Aug - 2 Sep skipped",
            at(2026, 8, 28, 9, 0), wd(1), at(2026, 9, 3, 9, 0)),
        ("Hùng Kings' day, Mon 7 Apr 2025, skipped",
            at(2025, 4, 4, 8, 0), wd(2), at(2025, 4, 9, 8, 0)),
        ("make-up Saturday 26 Apr 2025 is a working day",
            at(2025, 4, 25, 7, 0), wd(3), at(2025, 4, 28, 17, 0)),
        ("30 Apr, 1 and 2 May 2025 skipped",
            at(2025, 4, 29, 9, 0), wd(1), at(2025, 5, 5, 9, 0)),
        ("National Day 1-2 Sep 2025 skipped",
            at(2025, 8, 29, 9, 0), wd(1), at(2025, 9, 3, 9, 0)),
        ("Tết Bính Ngọ: 14-22 Feb 2026 skipped; ends at 11:30",
            at(2026, 2, 13, 13, 30), wd(2), at(2026, 2, 24, 11, 30)),
        ("New Year 2027 skipped",
            at(2026, 12, 31, 16, 0), wd(1), at(2027, 1, 4, 16, 0)),
        ("same day: received 14:59 is due 17:00",
            at(2025, 11, 19, 14, 59), SAME_DAY, at(2025, 11, 19, 17, 0)),
        ("same day: received 15:01 is due next working day",
            at(2025, 11, 19, 15, 1), SAME_DAY, at(2025, 11, 20, 17, 0)),
        ("same day: Friday after 15:00 is due Monday",
            at(2025, 11, 21, 15, 30), SAME_DAY, at(2025, 11, 24, 17, 0)),
        ("same day: received on Saturday is due Monday",
            at(2025, 11, 22, 9, 0), SAME_DAY, at(2025, 11, 24, 17, 0)),
        ("calendar days: ending on Saturday moves to Monday",
            at(2025, 11, 17, 9, 0), cd(5), at(2025, 11, 24, 9, 0)),
        ("calendar days: ending in Tết moves past it",
            at(2026, 2, 10, 8, 0), cd(5), at(2026, 2, 23, 8, 0)),
    ];
    let cal = cal();
    for (name, received, time, expected) in cases {
        let got = cal.due_at(*received, *time).unwrap();
        assert_eq!(got, *expected, "{name}: got {} expected {}", show(got), show(*expected));
    }
}

fn show(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms + 7 * 3_600_000).unwrap().naive_utc().to_string()
}

#[test]
fn working_minutes_between_skips_nights_and_weekends() {
    let cal = cal();
    assert_eq!(cal.working_minutes_between(at(2025, 11, 21, 16, 0), at(2025, 11, 24, 9, 0)).unwrap(), 180);
    assert_eq!(cal.working_minutes_between(at(2025, 11, 18, 11, 0), at(2025, 11, 18, 14, 0)).unwrap(), 60);
    assert_eq!(cal.working_minutes_between(at(2025, 11, 18, 14, 0), at(2025, 11, 18, 11, 0)).unwrap(), 0);
    // A whole Tết week is worth nothing.
    assert_eq!(cal.working_minutes_between(at(2025, 1, 27, 0, 0), at(2025, 2, 2, 23, 0)).unwrap(), 0);
}

#[test]
fn a_pause_moves_the_appointment_by_the_working_time_waited() {
    let cal = cal();
    let due = at(2025, 11, 20, 9, 0);
    let shifted =
        cal.shift_for_pause(due, TimeUnit::WorkingDays, at(2025, 11, 17, 10, 0), at(2025, 11, 18, 10, 0)).unwrap();
    assert_eq!(shifted, at(2025, 11, 21, 9, 0));
    // Waiting over a weekend only counts its 3 working hours: 09:00 + 3 h
    // across lunch is 14:00.
    let shifted =
        cal.shift_for_pause(due, TimeUnit::WorkingDays, at(2025, 11, 21, 16, 0), at(2025, 11, 24, 9, 0)).unwrap();
    assert_eq!(shifted, at(2025, 11, 20, 14, 0));
}

#[test]
fn make_up_days_and_holidays_are_classified() {
    let cal = cal();
    let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
    assert!(cal.is_working_day(d(2025, 4, 26)), "make-up Saturday");
    assert!(!cal.is_working_day(d(2025, 2, 8)), "no make-up day after Tết 2025");
    assert!(!cal.is_working_day(d(2027, 2, 4)), "Tết Đinh Mùi, projected");
    assert!(!cal.is_working_day(d(2025, 1, 29)), "Tết");
    assert!(!cal.is_working_day(d(2025, 11, 22)), "plain Saturday");
    assert!(cal.is_working_day(d(2025, 11, 24)), "plain Monday");
    assert!(!cal.is_working_day(d(2026, 2, 17)), "Tết Bính Ngọ");
}

/// A UTC+7 calendar file with these working windows and no holidays.
fn calendar_file(windows: &[&str]) -> CalendarFile {
    CalendarFile {
        version: "t".into(),
        utc_offset_minutes: 420,
        windows: windows.iter().map(|w| w.to_string()).collect(),
        seasons: vec![],
        centers: Default::default(),
        same_day_cutoff: "15:00".into(),
        sources: String::new(),
        holidays: vec![],
        make_up_days: vec![],
    }
}

#[test]
fn bad_calendars_are_refused() {
    let base = calendar_file(&["07:00-11:30", "13:30-17:00"]);
    assert!(WorkingCalendar::from_file(&base).is_ok());
    let mut f = base.clone();
    f.windows = vec!["07:00-11:30".into(), "11:00-14:30".into()];
    assert_eq!(WorkingCalendar::from_file(&f), Err(CalendarError::WindowsOverlap));
    let mut f = base.clone();
    f.windows = vec!["07:00-11:30".into()];
    assert_eq!(WorkingCalendar::from_file(&f), Err(CalendarError::WindowsNotEightHours(270)));
    let mut f = base.clone();
    f.windows = vec!["7-11".into()];
    assert!(matches!(WorkingCalendar::from_file(&f), Err(CalendarError::BadWindow(_))));
    let mut f = base.clone();
    f.holidays = vec![DatedEntry { date: "2025-02-30".into(), name: "x".into() }];
    assert!(matches!(WorkingCalendar::from_file(&f), Err(CalendarError::BadDate(_))));
    for offset in [1440, -721, 841] {
        let mut f = base.clone();
        f.utc_offset_minutes = offset;
        assert_eq!(WorkingCalendar::from_file(&f), Err(CalendarError::BadOffset(offset)));
    }
    let mut f = base;
    f.holidays = vec![DatedEntry { date: "2025-02-08".into(), name: "x".into() }];
    f.make_up_days = vec![DatedEntry { date: "2025-02-08".into(), name: "y".into() }];
    assert!(matches!(WorkingCalendar::from_file(&f), Err(CalendarError::HolidayAndMakeUp(_))));
}

#[test]
fn deadline_arithmetic_is_bounded() {
    let cal = cal();
    let huge = ProcessingTime { amount: u32::MAX, unit: TimeUnit::WorkingDays, same_day: false };
    assert_eq!(cal.due_at(at(2025, 11, 17, 9, 0), huge), Err(CalendarError::TooFar));
    assert_eq!(cal.due_at(at(2025, 11, 17, 9, 0), cd(100_000)), Err(CalendarError::TooFar));
}

#[test]
fn every_instant_has_a_local_date() {
    assert_eq!(local_date_at(0, 420), NaiveDate::from_ymd_opt(1970, 1, 1).unwrap());
    assert_eq!(local_date_at(-DAY_MS, 0), NaiveDate::from_ymd_opt(1969, 12, 31).unwrap());
    assert_eq!(local_date_at(INSTANT_MIN_MS, 0), NaiveDate::from_ymd_opt(1900, 1, 1).unwrap());
    assert_eq!(local_date_at(INSTANT_MAX_MS - 1, 0), NaiveDate::from_ymd_opt(2999, 12, 31).unwrap());
    assert_eq!(local_date_at(i64::MAX, 840), NaiveDate::MAX);
    assert_eq!(local_date_at(i64::MIN, -720), NaiveDate::MIN);
    assert!(in_range(INSTANT_MIN_MS) && !in_range(INSTANT_MAX_MS) && !in_range(INSTANT_MIN_MS - 1));
}

#[test]
fn the_working_day_ends_where_the_province_says() {
    assert_eq!(cal().day_end_minute(), 17 * 60);
    let early = calendar_file(&["07:30-11:30", "12:30-16:30"]);
    assert_eq!(WorkingCalendar::from_file(&early).unwrap().day_end_minute(), 16 * 60 + 30);
}

#[test]
fn seasonal_and_center_hours_set_each_day_s_windows() {
    let mut f = calendar_file(&["07:00-11:30", "13:30-17:00"]);
    // Summer from 15/4, winter from 15/10 (07:30-11:30, 13:00-17:00).
    f.seasons = vec![
        SeasonFile { from: "10-15".into(), windows: vec!["07:30-11:30".into(), "13:00-17:00".into()] },
        SeasonFile { from: "04-15".into(), windows: vec!["07:00-11:30".into(), "13:30-17:00".into()] },
    ];
    f.centers.insert(
        "26734".into(),
        CenterFile {
            windows: vec!["07:30-12:00".into(), "13:30-17:00".into()],
            saturday_reception: Some("07:30-11:30".into()),
            ..CenterFile::default()
        },
    );
    let cal = WorkingCalendar::from_file(&f).unwrap();
    let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
    assert_eq!(cal.windows_on(d(2025, 11, 17))[0].start_min, 7 * 60 + 30, "winter");
    assert_eq!(cal.windows_on(d(2026, 1, 5))[0].start_min, 7 * 60 + 30, "winter, before the first season starts");
    assert_eq!(cal.windows_on(d(2026, 6, 1))[0].start_min, 7 * 60, "summer");
    // A winter receipt at 07:10 counts from 07:30; a one-day procedure is
    // due at the end of that day's winter hours (07:30-11:30, 13:00-17:00),
    // and one received at 10:00 at 10:00 the next day.
    let received = at(2025, 11, 17, 7, 10);
    assert_eq!(cal.normalize_receipt(received), Ok(at(2025, 11, 17, 7, 30)));
    let one_day = ProcessingTime { amount: 1, unit: TimeUnit::WorkingDays, same_day: false };
    assert_eq!(cal.due_at(received, one_day), Ok(at(2025, 11, 17, 17, 0)));
    assert_eq!(
        cal.due_at(at(2025, 11, 17, 12, 0), one_day),
        Ok(at(2025, 11, 18, 11, 30)),
        "lunch in winter ends at 13:00"
    );
    assert_eq!(cal.day_end_minute_on(d(2025, 11, 17)), 17 * 60);
    // The center's own windows; its Saturday reception opens the desk, and
    // a Saturday receipt still counts from Monday.
    let center = cal.for_unit("26734");
    assert_eq!(center.windows_on(d(2026, 6, 1))[1].start_min, 13 * 60 + 30);
    assert_eq!(center.windows_on(d(2026, 6, 1))[0].end_min, 12 * 60);
    assert_eq!(center.saturday_reception(), Some(Window { start_min: 7 * 60 + 30, end_min: 11 * 60 + 30 }));
    assert_eq!(center.normalize_receipt(at(2025, 11, 22, 9, 0)), Ok(at(2025, 11, 24, 7, 30)));
    assert_eq!(cal.for_unit("99001").saturday_reception(), None, "a center the calendar does not name");
    // Bad seasons and centers are refused.
    let mut bad = f.clone();
    bad.seasons[0].from = "13-01".into();
    assert!(matches!(WorkingCalendar::from_file(&bad), Err(CalendarError::BadSeason(_))));
    let mut bad = f.clone();
    bad.seasons[1].from = "10-15".into();
    assert!(matches!(WorkingCalendar::from_file(&bad), Err(CalendarError::BadSeason(_))));
    let mut bad = f.clone();
    bad.seasons[0].windows = vec!["07:30-11:30".into()];
    assert_eq!(WorkingCalendar::from_file(&bad), Err(CalendarError::WindowsNotEightHours(240)));
    let mut bad = f.clone();
    bad.centers.get_mut("26734").unwrap().saturday_reception = Some("11:00-07:00".into());
    assert!(matches!(WorkingCalendar::from_file(&bad), Err(CalendarError::BadCenter(..))));
    let mut bad = f;
    bad.centers.insert("phòng A".into(), CenterFile::default());
    assert!(matches!(WorkingCalendar::from_file(&bad), Err(CalendarError::BadCenter(..))));
}
