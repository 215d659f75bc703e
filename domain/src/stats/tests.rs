use super::*;
use crate::calendar::DAY_MS;

use crate::fixtures::{T0, summary};

fn calendar() -> WorkingCalendar {
    WorkingCalendar::builtin()
}

/// Returned the day its result was made ready: the 18th (early), the 20th
/// (the appointment's day) or the 21st (late); due the 20th.
fn returned(n: u8, on_time: OnTime, supplements: u32) -> DossierSummary {
    let ready = T0
        + match on_time {
            OnTime::Early => DAY_MS,
            OnTime::OnTime => 3 * DAY_MS,
            OnTime::Late => 4 * DAY_MS,
        };
    DossierSummary {
        state: Status::Returned,
        result_ready_at: Some(ready),
        returned_at: Some(ready),
        closed_at: Some(ready),
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
    // Neither the online submission never accepted nor the one refused at
    // the counter was received.
    assert_eq!(s.received, 8);
    assert_eq!(s.received_detail.online, 0);
    assert_eq!(s.received_detail.direct_or_post, 8);
    // The withdrawal the unit accepted is resolved on time; two supplement
    // requests do not make a dossier late.
    assert_eq!(s.processed, Processed { early: 1, on_time: 3, late: 1 });
    assert_eq!(s.in_process, InProcess { within_deadline: 2, overdue: 1 });
    assert_eq!((s.refused, s.withdrawn, s.stopped), (1, 1, 0));
    assert_eq!(s.on_time_rate, Some(0.8));
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

/// Report II.06a for Mon 17 – Fri 21 November, computed by hand (DOMAIN.md
/// "Statistics"): each dossier below says where it counts.
#[test]
fn the_ii06a_row_of_a_week_as_the_province_computes_it() {
    const H: i64 = 3_600_000;
    let day = |d: i64| T0 + d * DAY_MS;
    let open = |n, received: i64, due: i64| DossierSummary { received_at: received, due_at: Some(due), ..summary(n) };
    let resolved = |n, received: i64, due: i64, ready: i64, collected: Option<i64>| DossierSummary {
        state: if collected.is_some() { Status::Returned } else { Status::ResultReady },
        received_at: received,
        due_at: Some(due),
        result_ready_at: Some(ready),
        returned_at: collected,
        closed_at: collected,
        closing: collected.map(|_| Closing::Returned),
        ..summary(n)
    };
    let all = vec![
        // Carried over: received the 10th, due the 15th, resolved the 18th:
        // late.
        resolved(1, day(-7), day(-2), day(1), Some(day(2))),
        // Direct, due the 20th, resolved the 18th: early.
        resolved(2, T0, day(3), day(1), Some(day(1))),
        // Online, resolved on the appointment's day, collected only on the
        // 24th: on time, and uncollected at the period's end.
        DossierSummary { channel: Channel::Online, ..resolved(3, T0, day(3), day(3) + 7 * H, Some(day(7))) },
        // Due the 19th, resolved the 20th: late.
        resolved(4, T0, day(2), day(3), Some(day(3))),
        // A same-day procedure resolved at 16:00, collected the next
        // morning: on time, not late.
        resolved(5, T0, T0 + 8 * H, T0 + 7 * H, Some(day(1) - 2 * H + 30 * 60_000)),
        // In process within its deadline (due the 24th).
        open(6, day(2), day(7)),
        // In process, overdue by the end of the 21st (due the 20th).
        open(7, T0, day(3)),
        // Refused at the counter (form 3): never received.
        DossierSummary {
            state: Status::NotAccepted,
            received_at: day(1),
            closed_at: Some(day(1)),
            closing: Some(Closing::Refused),
            ..summary(8)
        },
        // Submitted online and never accepted: not received.
        DossierSummary { channel: Channel::Online, state: Status::SubmittedOnline, received_at: day(1), ..summary(9) },
        // Paused for a supplement before its deadline: within.
        DossierSummary { paused_since: Some(day(1)), ..open(10, T0, day(2)) },
        // Submitted online and asked for a supplement before the desk
        // accepted it (1 → 5): not received either.
        DossierSummary {
            channel: Channel::Online,
            state: Status::SupplementRequested,
            paused_since: Some(day(1)),
            never_accepted: true,
            ..open(11, day(1), day(4))
        },
    ];
    let week = Period { from: Some(date(17)), to: Some(date(21)) };
    let s = compute(&all, week, day(30), &calendar());
    assert_eq!(s.received, 7);
    assert_eq!(s.received_detail, ReceivedDetail { carried_over: 1, online: 1, direct_or_post: 6 });
    assert_eq!(s.processed, Processed { early: 1, on_time: 2, late: 2 });
    assert_eq!(s.uncollected, 1);
    assert_eq!(s.in_process, InProcess { within_deadline: 2, overdue: 1 });
    assert_eq!((s.refused, s.withdrawn, s.stopped), (1, 0, 0));
    assert_eq!(s.on_time_rate, Some(0.6));
    // The next week: the uncollected one was collected on the 24th; the
    // in-process ones carry over.
    let next = Period { from: Some(date(24)), to: Some(date(28)) };
    let s = compute(&all, next, day(30), &calendar());
    assert_eq!((s.received, s.received_detail.carried_over, s.uncollected), (0, 3, 0));
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

mod digitization {
    use automerge::Automerge;

    use super::*;
    use crate::attachment::{File, Kind, MediaType};
    use crate::dossier::{self, Event};
    use crate::fixtures::{COMMUNE, event, new_dossier, node};
    use crate::fold::fold;
    use crate::workflow::Action;

    fn file(n: u8, kind: Kind, line: Option<u32>) -> File {
        File {
            hash: [n; 32],
            size: 300 * 1024,
            media_type: MediaType::Pdf,
            name: format!("Tệp {n}.pdf"),
            kind,
            document_line: line,
        }
    }

    /// A dossier received at `T0` by the commune's node, and that node's
    /// hex id.
    fn received(channel: Channel) -> (Automerge, String) {
        let (actor, hex) = node(1);
        (dossier::create(actor, &new_dossier(&hex, channel, false)).unwrap().0, hex)
    }

    fn attach(doc: &mut Automerge, hex: &str, at: i64, f: File) {
        let mut e = event(Action::Attach, at, COMMUNE, hex);
        e.file = Some(f);
        dossier::append_event(doc, &e).unwrap();
    }

    fn act(doc: &mut Automerge, hex: &str, action: Action, at: i64, edit: impl FnOnce(&mut Event)) {
        let mut e = event(action, at, COMMUNE, hex);
        edit(&mut e);
        dossier::append_event(doc, &e).unwrap();
    }

    fn facts(doc: &Automerge) -> Digitization {
        let record = dossier::read(doc).unwrap();
        let folded = fold(&record, 420);
        assert!(folded.conflicts.is_empty(), "{:?}", folded.conflicts);
        DossierSummary::new(&record, &folded).digitization
    }

    /// Start, process (naming `hash` as the result file, if any) and return.
    fn process_and_return(doc: &mut Automerge, hex: &str, hash: Option<[u8; 32]>, attach_result: Option<File>) {
        act(doc, hex, Action::StartProcessing, T0 + 10_000, |_| {});
        if let Some(f) = attach_result {
            attach(doc, hex, T0 + 20_000, f);
        }
        act(doc, hex, Action::Processed, T0 + 30_000, |e| {
            e.result = Some("Giấy chứng nhận số 1".into());
            e.result_hash = hash;
        });
        act(doc, hex, Action::ReturnResult, T0 + 40_000, |_| {});
    }

    #[test]
    fn a_dossier_without_attachments_is_not_digitized() {
        let (mut doc, hex) = received(Channel::Direct);
        assert_eq!(facts(&doc), Digitization::default());
        process_and_return(&mut doc, &hex, None, None);
        assert_eq!(
            facts(&doc),
            Digitization { components_at_receipt: false, result: false },
            "a result without a file"
        );
    }

    #[test]
    fn a_component_counts_only_when_scanned_before_the_dossier_left_reception() {
        let (mut at_receipt, hex) = received(Channel::Direct);
        let mut later = at_receipt.fork().with_actor(node(1).0);
        // One line of several is enough, and a scan need not name its line.
        attach(&mut at_receipt, &hex, T0 + 1_000, file(1, Kind::Component, None));
        assert!(facts(&at_receipt).components_at_receipt);
        act(&mut at_receipt, &hex, Action::StartProcessing, T0 + 10_000, |_| {});
        assert!(facts(&at_receipt).components_at_receipt, "it stays digitized at receipt");

        // Scanned only after the hand-off to processing.
        act(&mut later, &hex, Action::StartProcessing, T0 + 10_000, |_| {});
        attach(&mut later, &hex, T0 + 20_000, file(1, Kind::Component, Some(1)));
        assert!(!facts(&later).components_at_receipt);

        // A result file kept at reception is no scanned component.
        let (mut result_only, hex) = received(Channel::Direct);
        attach(&mut result_only, &hex, T0 + 1_000, file(2, Kind::Result, None));
        assert!(!facts(&result_only).components_at_receipt);
    }

    #[test]
    fn an_online_dossier_is_digitized_at_receipt_by_files_kept_before_or_at_acceptance() {
        let (mut doc, hex) = received(Channel::Online);
        attach(&mut doc, &hex, T0 + 1_000, file(1, Kind::Component, Some(1)));
        act(&mut doc, &hex, Action::Accept, T0 + 2_000, |e| e.due_at = Some(T0 + 4 * DAY_MS));
        assert!(facts(&doc).components_at_receipt);
        // Kept after acceptance, still at the desk: at receipt too.
        let (mut accepted, hex) = received(Channel::Online);
        act(&mut accepted, &hex, Action::Accept, T0 + 2_000, |e| e.due_at = Some(T0 + 4 * DAY_MS));
        attach(&mut accepted, &hex, T0 + 3_000, file(1, Kind::Component, Some(1)));
        assert!(facts(&accepted).components_at_receipt);
    }

    #[test]
    fn a_result_is_digitized_when_its_file_is_attached() {
        // A result file, the result naming none.
        let (mut doc, hex) = received(Channel::Direct);
        process_and_return(&mut doc, &hex, None, Some(file(5, Kind::Result, None)));
        assert!(facts(&doc).result);
        // The result names the file attached.
        let (mut named, hex) = received(Channel::Direct);
        process_and_return(&mut named, &hex, Some([5; 32]), Some(file(5, Kind::Result, None)));
        assert!(facts(&named).result);
        // The result names a file that is not the one attached.
        let (mut other, hex) = received(Channel::Direct);
        process_and_return(&mut other, &hex, Some([6; 32]), Some(file(5, Kind::Result, None)));
        assert!(!facts(&other).result);
        // The named file attached, but as a component: not the result kept.
        let (mut as_component, hex) = received(Channel::Direct);
        process_and_return(&mut as_component, &hex, Some([5; 32]), Some(file(5, Kind::Component, None)));
        assert!(!facts(&as_component).result);
        // A result file but no result yet.
        let (mut unprocessed, hex) = received(Channel::Direct);
        act(&mut unprocessed, &hex, Action::StartProcessing, T0 + 10_000, |_| {});
        attach(&mut unprocessed, &hex, T0 + 20_000, file(5, Kind::Result, None));
        assert!(!facts(&unprocessed).result);
    }

    #[test]
    fn the_report_gives_both_shares_over_their_own_dossiers() {
        let at_receipt = Digitization { components_at_receipt: true, result: false };
        let both = Digitization { components_at_receipt: true, result: true };
        let all = vec![
            DossierSummary { digitization: at_receipt, ..summary(1) },
            summary(2),
            summary(3),
            DossierSummary { digitization: both, ..returned(4, OnTime::Early, 0) },
            returned(5, OnTime::OnTime, 0),
            // Received before the period: counts for its result only.
            DossierSummary {
                received_at: T0 - 7 * DAY_MS,
                digitization: Digitization { components_at_receipt: true, result: true },
                ..returned(6, OnTime::Late, 0)
            },
        ];
        let period = Period { from: Some(date(17)), to: Some(date(30)) };
        let s = compute(&all, period, T0 + 2 * DAY_MS, &calendar());
        assert_eq!(s.received, 5);
        assert_eq!((s.received_digitized, s.received_digitized_share), (2, Some(0.4)));
        assert_eq!((s.results_digitized, s.results_digitized_share), (2, Some(2.0 / 3.0)));
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["received_digitized_share"], 0.4);
        assert_eq!(json["results_digitized"], 2);
        // Nothing received or processed: no share at all, not 0.
        let s = compute(&[], Period::default(), T0, &calendar());
        assert_eq!((s.received_digitized_share, s.results_digitized_share), (None, None));
    }

    #[test]
    fn a_summary_written_before_digitization_reads_as_none() {
        let json = serde_json::to_value(DossierSummary {
            digitization: Digitization { components_at_receipt: true, result: true },
            ..summary(1)
        })
        .unwrap();
        let mut old = json.clone();
        old.as_object_mut().unwrap().remove("digitization");
        assert_eq!(serde_json::from_value::<DossierSummary>(old).unwrap(), summary(1));
        assert!(serde_json::from_value::<DossierSummary>(json).unwrap().digitization.result);
    }
}
