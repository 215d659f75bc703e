use super::*;
use crate::calendar::DAY_MS;

use crate::fixtures::{T0, summary};

fn calendar() -> WorkingCalendar {
    WorkingCalendar::builtin()
}

fn returned(n: u8, on_time: OnTime, supplements: u32) -> DossierSummary {
    DossierSummary {
        state: Status::Returned,
        returned_at: Some(T0 + DAY_MS),
        closed_at: Some(T0 + DAY_MS),
        closing: Some(Closing::Returned),
        on_time: Some(on_time),
        supplement_requests: supplements,
        ..summary(n)
    }
}

fn date(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 11, d).unwrap()
}

#[test]
fn report_counts_each_class() {
    let closed = |n, closing| DossierSummary {
        state: Status::Stopped,
        closed_at: Some(T0 + 1000),
        closing: Some(closing),
        ..summary(n)
    };
    let online = DossierSummary { channel: Channel::Online, state: Status::SubmittedOnline, ..summary(9) };
    let all = vec![
        returned(1, OnTime::Early, 0),
        returned(2, OnTime::OnTime, 0),
        returned(3, OnTime::Late, 0),
        returned(4, OnTime::OnTime, 2),
        summary(5),
        // Due the day before: overdue. (Due earlier the same day it would
        // not be: returned today it is still on time.)
        DossierSummary { due_at: Some(T0 - DAY_MS), ..summary(6) },
        DossierSummary { due_at: Some(T0 - 1), ..summary(10) },
        closed(7, Closing::Refused),
        closed(8, Closing::Withdrawn),
        online,
    ];
    let s = compute(&all, Period::default(), T0 + 1000, &calendar());
    assert_eq!(s.received, 10);
    assert_eq!(s.received_detail.online, 1);
    assert_eq!(s.received_detail.direct_or_post, 9);
    assert_eq!(s.processed, Processed { early: 1, on_time: 2, late: 1 });
    assert_eq!(s.in_process, InProcess { within_deadline: 3, overdue: 1 });
    assert_eq!((s.refused, s.withdrawn, s.stopped), (1, 1, 0));
    // Two of four on time: the late one and the one with two supplement requests are not.
    assert_eq!(s.on_time_rate, Some(0.5));
}

#[test]
fn periods_split_received_carried_over_and_processed() {
    let old = DossierSummary { received_at: T0 - 7 * DAY_MS, due_at: Some(T0 - 4 * DAY_MS), ..summary(1) };
    let old_returned = DossierSummary { received_at: T0 - 7 * DAY_MS, ..returned(2, OnTime::Early, 0) };
    let later = DossierSummary { received_at: T0 + 10 * DAY_MS, ..summary(3) };
    let all = vec![old, old_returned, later, summary(4)];
    let period = Period { from: Some(date(17)), to: Some(date(20)) };
    let s = compute(&all, period, T0 + 30 * DAY_MS, &calendar());
    assert_eq!(s.received, 1, "only the dossier received on the 17th");
    assert_eq!(s.received_detail.carried_over, 2);
    assert_eq!(s.processed.early, 1);
    // The old open one is overdue by the end of the period (due the 13th);
    // the new one is due the 20th, the period's last day, and could still be
    // returned on time that day: within its deadline.
    assert_eq!(s.in_process, InProcess { within_deadline: 1, overdue: 1 });
    let s = compute(&all, Period { from: Some(date(17)), to: Some(date(19)) }, T0 + 30 * DAY_MS, &calendar());
    assert_eq!(s.in_process, InProcess { within_deadline: 1, overdue: 1 });
    // By the end of the 21st it is overdue too.
    let s = compute(&all, Period { from: Some(date(17)), to: Some(date(21)) }, T0 + 30 * DAY_MS, &calendar());
    assert_eq!(s.in_process, InProcess { within_deadline: 0, overdue: 2 });
}

#[test]
fn nothing_processed_means_no_rate() {
    let s = compute(&[summary(1)], Period::default(), T0, &calendar());
    assert_eq!(s.on_time_rate, None);
}

#[test]
fn a_past_period_judges_an_open_dossier_as_it_stood_at_the_end() {
    // Received the 17th, due the 18th, returned late only on the 25th: in a
    // report on the 17th to the 20th it was open and overdue at the end.
    let late = DossierSummary {
        due_at: Some(T0 + DAY_MS),
        state: Status::Returned,
        returned_at: Some(T0 + 8 * DAY_MS),
        closed_at: Some(T0 + 8 * DAY_MS),
        closing: Some(Closing::Returned),
        on_time: Some(OnTime::Late),
        ..summary(1)
    };
    // Paused for a supplement only after the period: overdue then too.
    let paused_later = DossierSummary { due_at: Some(T0 + DAY_MS), paused_since: Some(T0 + 6 * DAY_MS), ..summary(2) };
    // Paused within the period, before its deadline passed: not overdue.
    let paused_in_time =
        DossierSummary { due_at: Some(T0 + 5 * DAY_MS), paused_since: Some(T0 + DAY_MS), ..summary(3) };
    let period = Period { from: Some(date(17)), to: Some(date(20)) };
    let s = compute(&[late, paused_later, paused_in_time], period, T0 + 30 * DAY_MS, &calendar());
    assert_eq!(s.in_process, InProcess { within_deadline: 1, overdue: 2 });
    assert_eq!(s.processed.late, 0, "returned after the period");
}

#[test]
fn each_procedure_reports_its_average_working_time_from_receipt_to_return() {
    // Received Mon 09:00; returned Tue 09:00 is one working day (8 hours:
    // 09:00-11:30, 13:30-17:00, 07:00-09:00), Wed 09:00 two.
    let two_days = |n| DossierSummary {
        returned_at: Some(T0 + 2 * DAY_MS),
        closed_at: Some(T0 + 2 * DAY_MS),
        ..returned(n, OnTime::OnTime, 0)
    };
    let other = DossierSummary {
        procedure_code: "1.001193".into(),
        procedure_name: "q".into(),
        ..returned(3, OnTime::Early, 0)
    };
    let all = vec![returned(1, OnTime::Early, 0), two_days(2), other, summary(4)];
    let s = compute(&all, Period::default(), T0 + 9 * DAY_MS, &calendar());
    let rows: Vec<(&str, u64, f64)> =
        s.by_procedure.iter().map(|p| (p.procedure_code.as_str(), p.returned, p.average_working_days)).collect();
    assert_eq!(rows, [("1.001193", 1, 1.0), ("2.000720", 2, 1.5)], "the open dossier counts in none");
    assert_eq!(s.by_procedure[1].procedure_name, "p");
    // A period in which nothing was returned has no averages.
    let later = Period { from: Some(date(24)), to: Some(date(28)) };
    assert!(compute(&all, later, T0 + 9 * DAY_MS, &calendar()).by_procedure.is_empty());
}
