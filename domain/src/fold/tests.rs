use automerge::Automerge;

use super::*;
use crate::calendar::DAY_MS;
use crate::dossier;
use crate::workflow::Action;

use crate::fixtures::{AGENCY, COMMUNE, T0, event, new_dossier, node};

fn folded(doc: &Automerge) -> Folded {
    fold(&dossier::read(doc).unwrap(), 420)
}

/// A dossier received at the commune, the agency's actor, and the hex ids
/// of the commune's and the agency's nodes.
fn at_commune() -> (Automerge, automerge::ActorId, String, String) {
    let (commune_actor, commune) = node(1);
    let (agency_actor, agency) = node(2);
    let (doc, _) = dossier::create(commune_actor, &new_dossier(&commune, Channel::Direct, false)).unwrap();
    (doc, agency_actor, commune, agency)
}

/// A transfer recorded by `unit` (node `hex`) to `to`.
fn transfer_to(at: i64, unit: &str, hex: &str, to: &str) -> dossier::Event {
    let mut e = event(Action::Transfer, at, unit, hex);
    e.to_unit = Some(to.into());
    e
}

#[test]
fn a_dossier_goes_from_reception_to_return() {
    let (actor, hex) = node(1);
    let (mut doc, _) = dossier::create(actor, &new_dossier(&hex, Channel::Direct, false)).unwrap();
    assert_eq!(folded(&doc).state, Status::Accepted);
    for (i, action) in [Action::StartProcessing, Action::Processed, Action::ReturnResult].into_iter().enumerate() {
        let mut e = event(action, T0 + (i as i64 + 1) * DAY_MS, COMMUNE, &hex);
        if action == Action::Processed {
            e.result = Some("Giấy chứng nhận số 12/GCN".into());
        }
        dossier::append_event(&mut doc, &e).unwrap();
    }
    let f = folded(&doc);
    assert_eq!(f.state, Status::Returned);
    assert_eq!(f.history.len(), 4);
    assert_eq!(f.result.as_deref(), Some("Giấy chứng nhận số 12/GCN"));
    assert_eq!(f.returned_at, Some(T0 + 3 * DAY_MS));
    assert_eq!(f.on_time, Some(OnTime::OnTime));
    assert_eq!(f.closing, Some(Closing::Returned));
    assert!(f.conflicts.is_empty());
}

#[test]
fn online_dossiers_start_as_submitted_and_are_accepted() {
    let (actor, hex) = node(1);
    let (mut doc, _) = dossier::create(actor, &new_dossier(&hex, Channel::Online, false)).unwrap();
    assert_eq!(folded(&doc).state, Status::SubmittedOnline);
    let mut accept = event(Action::Accept, T0 + 1000, COMMUNE, &hex);
    accept.due_at = Some(T0 + 4 * DAY_MS);
    dossier::append_event(&mut doc, &accept).unwrap();
    let f = folded(&doc);
    assert_eq!(f.state, Status::Accepted);
    assert_eq!(f.due_at, Some(T0 + 4 * DAY_MS));
}

#[test]
fn supplement_pauses_the_clock_and_the_new_appointment_holds() {
    let (actor, hex) = node(1);
    let (mut doc, _) = dossier::create(actor, &new_dossier(&hex, Channel::Direct, false)).unwrap();
    let mut req = event(Action::RequestSupplement, T0 + 1000, COMMUNE, &hex);
    req.deadline = Some(T0 + 10 * DAY_MS);
    req.reason = Some("Thiếu giấy tờ".into());
    dossier::append_event(&mut doc, &req).unwrap();
    let f = folded(&doc);
    assert_eq!(f.state, Status::SupplementRequested);
    assert_eq!(f.paused_since, Some(T0 + 1000));
    assert!(!f.is_overdue(T0 + 30 * DAY_MS, 420), "a paused dossier is never overdue");
    let mut back = event(Action::SupplementReceived, T0 + DAY_MS, COMMUNE, &hex);
    back.due_at = Some(T0 + 4 * DAY_MS);
    dossier::append_event(&mut doc, &back).unwrap();
    let f = folded(&doc);
    assert_eq!(f.state, Status::Accepted);
    assert_eq!(f.due_at, Some(T0 + 4 * DAY_MS));
    assert_eq!(f.paused_since, None);
    assert_eq!(f.supplement_requests, 1);
    assert!(f.is_overdue(T0 + 5 * DAY_MS, 420));
    assert!(!f.is_overdue(T0 + 3 * DAY_MS, 420));
}

#[test]
fn a_dossier_is_overdue_only_once_its_appointment_date_has_passed() {
    let (actor, hex) = node(1);
    // Due Thu 2025-11-20 09:00 +07 (T0 is Mon 09:00).
    let (mut doc, _) = dossier::create(actor, &new_dossier(&hex, Channel::Direct, false)).unwrap();
    let f = folded(&doc);
    let due = f.due_at.unwrap();
    let hour = 3_600_000;
    // Later the same day a return is on time, so the dossier is not overdue.
    assert!(!f.is_overdue(due + 8 * hour, 420), "16:00 on the appointment date");
    assert!(!f.is_overdue(due + 14 * hour + 59 * 60_000, 420), "23:59 local");
    assert!(f.is_overdue(due + 15 * hour, 420), "00:00 the next day");
    // The date is the local one: at UTC+0 09:00+07 is 02:00, and 23:00 the
    // same UTC day is still that date.
    assert!(!f.is_overdue(due + 21 * hour - 60_000, 0));
    assert!(f.is_overdue(due + 22 * hour, 0));
    // A result made ready later on the appointment date is on time and not
    // flagged; one made ready the next day stays overdue until returned.
    dossier::append_event(&mut doc, &event(Action::StartProcessing, T0 + 1000, COMMUNE, &hex)).unwrap();
    let ready_same_day = {
        let mut d = doc.clone();
        dossier::append_event(&mut d, &event(Action::Processed, due + 6 * hour, COMMUNE, &hex)).unwrap();
        folded(&d)
    };
    assert_eq!(ready_same_day.state, Status::ResultReady);
    assert!(!ready_same_day.is_overdue(due + 30 * DAY_MS, 420));
    dossier::append_event(&mut doc, &event(Action::Processed, due + 16 * hour, COMMUNE, &hex)).unwrap();
    let f = folded(&doc);
    assert_eq!(f.state, Status::ResultReady);
    assert!(f.is_overdue(due + 16 * hour, 420));
}

#[test]
fn late_return_after_reappointment_is_classified_against_the_new_date() {
    let (actor, hex) = node(1);
    let (mut doc, _) = dossier::create(actor, &new_dossier(&hex, Channel::Direct, false)).unwrap();
    dossier::append_event(&mut doc, &event(Action::StartProcessing, T0 + 1000, COMMUNE, &hex)).unwrap();
    let mut re = event(Action::Reappoint, T0 + DAY_MS, COMMUNE, &hex);
    re.due_at = Some(T0 + 6 * DAY_MS);
    re.reason = Some("Cần xác minh thêm".into());
    dossier::append_event(&mut doc, &re).unwrap();
    dossier::append_event(&mut doc, &event(Action::Processed, T0 + 7 * DAY_MS, COMMUNE, &hex)).unwrap();
    dossier::append_event(&mut doc, &event(Action::ReturnResult, T0 + 7 * DAY_MS, COMMUNE, &hex)).unwrap();
    let f = folded(&doc);
    assert!(f.reappointed);
    assert_eq!(f.on_time, Some(OnTime::Late));
}

/// The citizen withdraws at the commune while, on the agency's node, the
/// agency records the result. Both replicas merge to the same list order,
/// the same state and the same conflict, whichever merges first.
#[test]
fn concurrent_incompatible_events_merge_deterministically_into_a_conflict() {
    let (mut commune, agency_actor, commune_hex, agency_hex) = at_commune();
    dossier::append_event(&mut commune, &transfer_to(T0 + 1000, COMMUNE, &commune_hex, AGENCY)).unwrap();
    let mut agency = commune.fork().with_actor(agency_actor);

    dossier::append_event(&mut commune, &event(Action::RequestWithdrawal, T0 + DAY_MS, COMMUNE, &commune_hex)).unwrap();
    dossier::append_event(&mut agency, &event(Action::Processed, T0 + DAY_MS, AGENCY, &agency_hex)).unwrap();

    let mut a = commune.fork();
    a.merge(&mut agency.fork()).unwrap();
    let mut b = agency.fork();
    b.merge(&mut commune.fork()).unwrap();
    assert_eq!(a.get_heads(), b.get_heads());
    let (fa, fb) = (folded(&a), folded(&b));
    assert_eq!(fa, fb, "replicas derive the same state");
    assert_eq!(fa.conflicts.len(), 1, "{:?}", fa.conflicts);
    // Whichever of the two branches sorts first wins; the other is shown.
    let c = &fa.conflicts[0];
    assert!(c.action == "processed" || c.action == "request_withdrawal", "{c:?}");
    assert!(matches!(fa.state, Status::ResultReady | Status::Stopped | Status::WithdrawalRequested));
}

#[test]
fn an_event_edited_by_another_actor_is_ignored_and_flagged() {
    use automerge::{ROOT, ReadDoc, transaction::Transactable};
    let (actor, hex) = node(1);
    let (mut doc, _) = dossier::create(actor, &new_dossier(&hex, Channel::Direct, false)).unwrap();
    dossier::append_event(&mut doc, &event(Action::StartProcessing, T0 + 1000, COMMUNE, &hex)).unwrap();
    let mut e = event(Action::Processed, T0 + 2000, COMMUNE, &hex);
    e.result = Some("kết quả".into());
    dossier::append_event(&mut doc, &e).unwrap();
    // Another node rewrites the result of the commune's event.
    let (intruder, _) = node(9);
    let mut forged = doc.fork().with_actor(intruder);
    let (_, events) = forged.get(ROOT, "events").unwrap().unwrap();
    let (_, ev) = forged.get(&events, 2).unwrap().unwrap();
    let mut tx = forged.transaction();
    tx.put(&ev, "result", "giả mạo").unwrap();
    tx.commit();
    let f = folded(&forged);
    assert_eq!(f.state, Status::InProcess, "the tampered event is not applied");
    assert_eq!(f.conflicts.len(), 1);
    assert!(f.conflicts[0].reason.contains("not by its author"), "{:?}", f.conflicts[0]);
}

#[test]
fn an_event_naming_another_node_is_flagged() {
    let (actor, hex) = node(1);
    let (other, other_hex) = node(3);
    let (doc, _) = dossier::create(actor, &new_dossier(&hex, Channel::Direct, false)).unwrap();
    let mut forged = doc.fork().with_actor(other);
    dossier::append_event(&mut forged, &event(Action::StartProcessing, T0 + 1000, COMMUNE, &hex)).unwrap();
    let f = folded(&forged);
    assert_eq!(f.state, Status::Accepted);
    assert!(f.conflicts[0].reason.contains(&other_hex));
}

#[test]
fn withdrawal_then_stop_counts_as_withdrawn() {
    let (actor, hex) = node(1);
    let (mut doc, _) = dossier::create(actor, &new_dossier(&hex, Channel::Direct, false)).unwrap();
    dossier::append_event(&mut doc, &event(Action::RequestWithdrawal, T0 + 1000, COMMUNE, &hex)).unwrap();
    dossier::append_event(&mut doc, &event(Action::Stop, T0 + 2000, COMMUNE, &hex)).unwrap();
    let f = folded(&doc);
    assert_eq!(f.state, Status::Stopped);
    assert_eq!(f.closing, Some(Closing::Withdrawn));
}

#[test]
fn documents_survive_save_and_load() {
    let (actor, hex) = node(1);
    let mut new = new_dossier(&hex, Channel::Post, false);
    new.documents = vec![crate::dossier::DocumentEntry {
        name: "Giấy đề nghị".into(),
        originals: 1,
        certified: 1,
        copies: 2,
        received: true,
    }];
    let (doc, _) = dossier::create(actor, &new).unwrap();
    let loaded = Automerge::load(&doc.save()).unwrap();
    let record = dossier::read(&loaded).unwrap();
    assert_eq!(record.documents, new.documents);
    assert_eq!(record.applicant, new.applicant);
    assert_eq!(record.reception, new.reception);
    assert_eq!(record.procedure, new.procedure);
    assert_eq!(record.participants, vec![(COMMUNE.to_string(), "receiving".to_string())]);
}

fn step(number: u32, time_limit: u32, deadline: i64) -> dossier::StepRecord {
    dossier::StepRecord {
        number,
        name: format!("Bước {number}"),
        time_limit,
        time_unit: crate::calendar::TimeUnit::WorkingDays,
        deadline,
    }
}

#[test]
fn each_step_is_judged_against_its_own_deadline_by_local_date() {
    let (actor, hex) = node(1);
    let (mut doc, _) = dossier::create(actor, &new_dossier(&hex, Channel::Direct, false)).unwrap();
    let hour = 3_600_000;
    // Step 1 at the commune, due the next day 09:00; it ends that day at
    // 16:00 with the transfer: on time (same date). Step 2 at the agency,
    // due two days later; the result is ready a day after that: late.
    let mut start = event(Action::StartProcessing, T0, COMMUNE, &hex);
    start.step = Some(step(1, 1, T0 + DAY_MS));
    dossier::append_event(&mut doc, &start).unwrap();
    dossier::append_event(&mut doc, &event(Action::RequestFinancialObligation, T0 + hour, COMMUNE, &hex)).unwrap();
    dossier::append_event(&mut doc, &event(Action::FinancialObligationFulfilled, T0 + 2 * hour, COMMUNE, &hex))
        .unwrap();
    let mut transfer = event(Action::Transfer, T0 + DAY_MS + 7 * hour, COMMUNE, &hex);
    transfer.to_unit = Some(AGENCY.into());
    transfer.step = Some(step(2, 2, T0 + 3 * DAY_MS));
    dossier::append_event(&mut doc, &transfer).unwrap();
    let f = folded(&doc);
    assert_eq!(f.history[1].event.step, start.step, "the step reads back as written");
    let running = step_progress(&f, T0 + 2 * DAY_MS, 420);
    assert_eq!(running.len(), 2, "events without a step are not steps");
    assert_eq!(
        (running[0].unit, running[0].ended_at, running[0].result),
        (COMMUNE, Some(transfer.at), Some(OnTime::OnTime))
    );
    assert_eq!(
        (running[1].unit, running[1].ended_at, running[1].result, running[1].overdue),
        (AGENCY, None, None, false)
    );
    assert!(step_progress(&f, T0 + 4 * DAY_MS, 420)[1].overdue, "running past its deadline date");
    let (agency_actor, agency_hex) = node(2);
    let mut at_agency = doc.fork().with_actor(agency_actor);
    let mut processed = event(Action::Processed, T0 + 4 * DAY_MS, AGENCY, &agency_hex);
    processed.officer = "chuyenvien".into();
    dossier::append_event(&mut at_agency, &processed).unwrap();
    let f = folded(&at_agency);
    let done = step_progress(&f, T0 + 9 * DAY_MS, 420);
    assert_eq!(done[1].received_by, Some("chuyenvien"), "the agency's officer who took it up");
    assert_eq!((done[1].ended_at, done[1].result, done[1].overdue), (Some(T0 + 4 * DAY_MS), Some(OnTime::Late), false));
}

#[test]
fn an_event_with_a_partial_step_is_flagged() {
    use automerge::{ROOT, ReadDoc, transaction::Transactable};
    let (actor, hex) = node(1);
    let (mut doc, _) = dossier::create(actor, &new_dossier(&hex, Channel::Direct, false)).unwrap();
    dossier::append_event(&mut doc, &event(Action::StartProcessing, T0 + 1000, COMMUNE, &hex)).unwrap();
    let (_, events) = doc.get(ROOT, "events").unwrap().unwrap();
    let (_, ev) = doc.get(&events, 1).unwrap().unwrap();
    // Same author, but a step with no deadline and an unknown time unit.
    let mut tx = doc.transaction();
    tx.put(&ev, "step", 1).unwrap();
    tx.put(&ev, "step_time_unit", "fortnights").unwrap();
    tx.commit();
    let f = folded(&doc);
    assert_eq!(f.state, Status::Accepted, "the malformed event is not applied");
    assert!(f.conflicts[0].reason.contains("malformed step"), "{:?}", f.conflicts[0]);
}

#[test]
fn a_dossier_returns_to_the_previous_step_and_a_fresh_transfer_can_be_recalled() {
    let (mut doc, agency_actor, commune, agency) = at_commune();
    let transfer = |at| transfer_to(at, COMMUNE, &commune, AGENCY);
    // A transfer to the unit that holds it is refused at its position.
    let mut to_itself = doc.fork().with_actor(node(1).0);
    dossier::append_event(&mut to_itself, &transfer_to(T0 + 500, COMMUNE, &commune, COMMUNE)).unwrap();
    assert!(folded(&to_itself).conflicts[0].reason.contains("already held"));
    // Sent from state 2, recalled before the agency acted: back to 2 at the commune.
    dossier::append_event(&mut doc, &transfer(T0 + 1000)).unwrap();
    assert_eq!(
        folded(&doc).handed_from,
        [HandOver { unit: COMMUNE.into(), state: Status::Accepted, by_transfer: true }]
    );
    dossier::append_event(&mut doc, &event(Action::Recall, T0 + 2000, COMMUNE, &commune)).unwrap();
    let f = folded(&doc);
    assert_eq!((f.state, f.holder_unit.as_str(), f.conflicts.len()), (Status::Accepted, COMMUNE, 0));
    // Sent again; the agency works on it and processes it; the commune
    // finds the result wanting and returns it; the agency takes it up again.
    dossier::append_event(&mut doc, &transfer(T0 + 3000)).unwrap();
    let mut at_agency = doc.fork().with_actor(agency_actor);
    dossier::append_event(&mut at_agency, &event(Action::RequestFinancialObligation, T0 + 4000, AGENCY, &agency))
        .unwrap();
    dossier::append_event(&mut at_agency, &event(Action::FinancialObligationFulfilled, T0 + 5000, AGENCY, &agency))
        .unwrap();
    let mut processed = event(Action::Processed, T0 + 6000, AGENCY, &agency);
    processed.result = Some("kết quả".into());
    dossier::append_event(&mut at_agency, &processed).unwrap();
    doc.merge(&mut at_agency).unwrap();
    let f = folded(&doc);
    assert_eq!((f.state, f.holder_unit.as_str()), (Status::ResultReady, COMMUNE));
    // The agency acted: the commune can no longer recall the transfer.
    let mut late_recall = doc.fork().with_actor(node(1).0);
    dossier::append_event(&mut late_recall, &event(Action::Recall, T0 + 7000, COMMUNE, &commune)).unwrap();
    assert!(folded(&late_recall).conflicts[0].reason.contains("not allowed"), "{:?}", folded(&late_recall).conflicts);
    let mut back = event(Action::ReturnToPrevious, T0 + 7000, COMMUNE, &commune);
    back.reason = Some("Kết quả sai thông tin".into());
    dossier::append_event(&mut doc, &back).unwrap();
    let f = folded(&doc);
    assert_eq!((f.state, f.holder_unit.as_str()), (Status::InProcess, AGENCY));
    assert_eq!((f.result.clone(), f.result_ready_at), (None, None), "the returned result no longer stands");
    assert_eq!(f.handed_from, [HandOver { unit: COMMUNE.into(), state: Status::Accepted, by_transfer: true }]);
    // A return without its reason is refused and changes nothing.
    let mut no_reason = doc.fork().with_actor(node(2).0);
    dossier::append_event(&mut no_reason, &event(Action::ReturnToPrevious, T0 + 7500, AGENCY, &agency)).unwrap();
    let g = folded(&no_reason);
    assert!(g.conflicts[0].reason.contains("no reason"), "{:?}", g.conflicts);
    assert_eq!((g.state, g.holder_unit.as_str(), g.holder_acted), (f.state, f.holder_unit.as_str(), f.holder_acted));
    // The agency sends it back in turn: the commune holds it as it sent it.
    at_agency.merge(&mut doc).unwrap();
    let mut back_again = event(Action::ReturnToPrevious, T0 + 8000, AGENCY, &agency);
    back_again.reason = Some("Hồ sơ chưa đủ điều kiện".into());
    dossier::append_event(&mut at_agency, &back_again).unwrap();
    doc.merge(&mut at_agency).unwrap();
    let f = folded(&doc);
    assert_eq!((f.state, f.holder_unit.as_str(), f.conflicts.len()), (Status::Accepted, COMMUNE, 0));
    // With nobody left to return it to, a further return is refused.
    let mut last = event(Action::ReturnToPrevious, T0 + 9000, COMMUNE, &commune);
    last.reason = Some("x".into());
    dossier::append_event(&mut doc, &last).unwrap();
    assert_eq!(folded(&doc).conflicts.len(), 1);
}

#[test]
fn a_revoked_return_leaves_the_result_ready_and_uncounted() {
    let (actor, hex) = node(1);
    let (mut doc, _) = dossier::create(actor, &new_dossier(&hex, Channel::Direct, false)).unwrap();
    for (i, action) in [Action::StartProcessing, Action::Processed, Action::ReturnResult].into_iter().enumerate() {
        dossier::append_event(&mut doc, &event(action, T0 + (i as i64 + 1) * 1000, COMMUNE, &hex)).unwrap();
    }
    let mut correct = event(Action::ResetAppointment, T0 + 4000, COMMUNE, &hex);
    correct.due_at = Some(T0 + 9 * DAY_MS);
    correct.reason = Some("nhập sai".into());
    dossier::append_event(&mut doc, &correct).unwrap();
    assert_eq!(folded(&doc).conflicts.len(), 1, "a returned dossier's appointment is not corrected");
    let mut revoke = event(Action::RevokeResult, T0 + 5000, COMMUNE, &hex);
    revoke.reason = Some("trả nhầm".into());
    dossier::append_event(&mut doc, &revoke).unwrap();
    let f = folded(&doc);
    assert_eq!(f.state, Status::ResultReady);
    assert_eq!((f.returned_at, f.closed_at, f.closing, f.on_time), (None, None, None, None));
    assert!(f.result_ready_at.is_some(), "the result stays ready");
    dossier::append_event(&mut doc, &correct).unwrap();
    assert_eq!(folded(&doc).due_at, Some(T0 + 9 * DAY_MS), "an open dossier's appointment is corrected");
    // Synced corrections follow the desk's rules too: a reason, and an
    // appointment after receipt.
    for (due, reason) in [(Some(T0 - 1), Some("x")), (Some(T0 + DAY_MS), None), (None, Some("x"))] {
        let mut bad = doc.fork().with_actor(node(1).0);
        let mut e = event(Action::ResetAppointment, T0 + 6000, COMMUNE, &hex);
        (e.due_at, e.reason) = (due, reason.map(String::from));
        dossier::append_event(&mut bad, &e).unwrap();
        let f = folded(&bad);
        assert_eq!((f.conflicts.len(), f.due_at), (2, Some(T0 + 9 * DAY_MS)), "{due:?} {reason:?}: {:?}", f.conflicts);
    }
    let mut bare = doc.fork().with_actor(node(1).0);
    dossier::append_event(&mut bare, &event(Action::ReturnResult, T0 + 7000, COMMUNE, &hex)).unwrap();
    dossier::append_event(&mut bare, &event(Action::RevokeResult, T0 + 8000, COMMUNE, &hex)).unwrap();
    assert_eq!(folded(&bare).state, Status::Returned, "a revocation without its reason is refused");
}

#[test]
fn returns_from_6_and_8_reopen_and_a_recall_concurrent_with_the_receiver_is_a_conflict() {
    let (mut doc, agency_actor, commune, agency) = at_commune();
    let mut start = event(Action::StartProcessing, T0 + 1000, COMMUNE, &commune);
    start.step = Some(step(1, 1, T0 + DAY_MS));
    dossier::append_event(&mut doc, &start).unwrap();
    let mut transfer = transfer_to(T0 + 2000, COMMUNE, &commune, AGENCY);
    transfer.step = Some(step(2, 2, T0 + 3 * DAY_MS));
    dossier::append_event(&mut doc, &transfer).unwrap();
    // Apart: the commune recalls while the agency records its result.
    // Whichever the merged list puts first stands.
    let mut at_agency = doc.fork().with_actor(agency_actor);
    let mut done = at_agency.fork().with_actor(at_agency.get_actor().clone());
    let mut result = event(Action::Processed, T0 + 3000, AGENCY, &agency);
    result.result = Some("Giấy phép số 1/GP".into());
    dossier::append_event(&mut done, &result).unwrap();
    let mut recalled = doc.fork().with_actor(node(1).0);
    dossier::append_event(&mut recalled, &event(Action::Recall, T0 + 3000, COMMUNE, &commune)).unwrap();
    let mut merged = recalled.fork().with_actor(node(1).0);
    merged.merge(&mut done).unwrap();
    let f = folded(&merged);
    assert_eq!(f.conflicts.len(), 1, "one of the two is refused at its position: {:?}", f.conflicts);
    assert!(
        (f.state, f.holder_unit.as_str()) == (Status::InProcess, COMMUNE)
            || (f.state, f.holder_unit.as_str()) == (Status::ResultReady, COMMUNE),
        "{f:?}"
    );
    // Asked for the fees (6), the dossier may still be recalled (the
    // Thanh Hóa system's recall from 4, 6 and 8): no conflict.
    dossier::append_event(&mut at_agency, &event(Action::RequestFinancialObligation, T0 + 3000, AGENCY, &agency))
        .unwrap();
    let mut fees_then_recall = at_agency.fork().with_actor(node(1).0);
    dossier::append_event(&mut fees_then_recall, &event(Action::Recall, T0 + 3500, COMMUNE, &commune)).unwrap();
    let f = folded(&fees_then_recall);
    assert_eq!((f.state, f.holder_unit.as_str(), f.paused_since), (Status::InProcess, COMMUNE, None), "{f:?}");
    assert!(f.conflicts.is_empty(), "{:?}", f.conflicts);
    // Recalled alone: the step is undone, not judged, and offered again.
    let f = folded(&recalled);
    let steps = step_progress(&f, T0 + DAY_MS, 420);
    assert_eq!((steps[1].ended_by, steps[1].result, steps[1].received_by), (Some(Action::Recall), None, None));
    assert_eq!(next_step(&f, 3), Some(2), "the recalled step is the next one again");
    // From 6 the agency returns it: the clock runs again at the new appointment.
    let mut back = event(Action::ReturnToPrevious, T0 + 4000, AGENCY, &agency);
    back.reason = Some("Không thuộc thẩm quyền".into());
    back.due_at = Some(T0 + 5 * DAY_MS);
    dossier::append_event(&mut at_agency, &back).unwrap();
    let f = folded(&at_agency);
    assert_eq!((f.state, f.holder_unit.as_str(), f.paused_since), (Status::InProcess, COMMUNE, None));
    assert_eq!(f.due_at, Some(T0 + 5 * DAY_MS));
    assert_eq!(step_progress(&f, T0, 420)[1].received_by, Some("officer"), "the agency's officer, within the step");
    // Sent again and stopped at the agency; the agency's leader reopens it.
    let mut doc = at_agency;
    let mut again = transfer.clone();
    again.at = T0 + 5000;
    let mut doc_commune = doc.fork().with_actor(node(1).0);
    dossier::append_event(&mut doc_commune, &again).unwrap();
    doc.merge(&mut doc_commune).unwrap();
    dossier::append_event(&mut doc, &event(Action::Stop, T0 + 6000, AGENCY, &agency)).unwrap();
    assert_eq!(folded(&doc).closing, Some(Closing::Stopped));
    let mut reopen = event(Action::ReturnToPrevious, T0 + 7000, AGENCY, &agency);
    reopen.reason = Some("Đủ điều kiện giải quyết tiếp".into());
    dossier::append_event(&mut doc, &reopen).unwrap();
    let f = folded(&doc);
    assert_eq!((f.state, f.closed_at, f.closing, f.holder_unit.as_str()), (Status::InProcess, None, None, COMMUNE));
}

#[test]
fn a_step_out_of_bounds_or_on_an_event_that_starts_none_is_flagged() {
    let (actor, hex) = node(1);
    let (mut doc, _) = dossier::create(actor, &new_dossier(&hex, Channel::Direct, false)).unwrap();
    let mut huge = event(Action::StartProcessing, T0 + 1000, COMMUNE, &hex);
    huge.step = Some(step(u32::MAX, 1, T0 + DAY_MS));
    dossier::append_event(&mut doc, &huge).unwrap();
    let mut note = event(Action::RequestWithdrawal, T0 + 2000, COMMUNE, &hex);
    note.step = Some(step(1, 1, T0 + DAY_MS));
    dossier::append_event(&mut doc, &note).unwrap();
    let f = folded(&doc);
    assert_eq!(f.state, Status::Accepted);
    assert!(f.conflicts[0].reason.contains("malformed step"), "{:?}", f.conflicts);
    assert!(f.conflicts[1].reason.contains("only a hand-off"), "{:?}", f.conflicts);
    assert_eq!(next_step(&f, 3), Some(1));
}

#[test]
fn sets_read_back_as_written_or_1_when_absent_and_a_bad_count_fails_the_read() {
    use automerge::{ROOT, ReadDoc, transaction::Transactable};
    let (actor, hex) = node(1);
    let mut new = new_dossier(&hex, Channel::Direct, false);
    new.reception.sets = 3;
    let (doc, _) = dossier::create(actor, &new).unwrap();
    assert_eq!(dossier::read(&doc).unwrap().reception.sets, 3);
    let (_, received) = doc.get(ROOT, "received").unwrap().unwrap();
    let mut old = doc.fork();
    let mut tx = old.transaction();
    tx.delete(&received, "sets").unwrap();
    tx.commit();
    assert_eq!(dossier::read(&old).unwrap().reception.sets, 1, "written before sets were recorded");
    let mut bad = doc.fork();
    let mut tx = bad.transaction();
    tx.put(&received, "sets", 0).unwrap();
    tx.commit();
    assert!(matches!(dossier::read(&bad), Err(dossier::DocError::Schema(m)) if m.contains("sets")));
}

#[test]
fn the_case_steps_at_receipt_read_back_and_a_malformed_list_fails_the_read() {
    use automerge::{ROOT, ReadDoc, transaction::Transactable};
    let (actor, hex) = node(1);
    let mut new = new_dossier(&hex, Channel::Direct, false);
    let step = |n: u32| crate::catalog::Step {
        name: format!("Bước {n}"),
        agency: "Phòng Kinh tế".into(),
        time_limit: n,
        unit: crate::calendar::TimeUnit::WorkingDays,
    };
    new.procedure.steps = vec![step(1), step(2)];
    let (doc, _) = dossier::create(actor, &new).unwrap();
    assert_eq!(dossier::read(&doc).unwrap().procedure.steps, new.procedure.steps);
    let (_, procedure) = doc.get(ROOT, "procedure").unwrap().unwrap();
    let (_, steps) = doc.get(&procedure, "steps").unwrap().unwrap();
    let (_, first) = doc.get(&steps, 0).unwrap().unwrap();
    let mut bad = doc.fork();
    let mut tx = bad.transaction();
    tx.put(&first, "time_unit", "fortnights").unwrap();
    tx.commit();
    assert!(matches!(dossier::read(&bad), Err(dossier::DocError::Schema(m)) if m == "procedure.steps[0]"));
    let mut long = doc.fork();
    let mut tx = long.transaction();
    for i in 2..=dossier::STEP_NUMBER_MAX as usize {
        tx.insert(&steps, i, "x").unwrap();
    }
    tx.commit();
    assert!(matches!(dossier::read(&long), Err(dossier::DocError::Schema(m)) if m.contains("more than")));
}

#[test]
fn a_return_from_9_undoes_the_step_only_when_it_undoes_a_transfer() {
    let (mut doc, agency_actor, commune, agency) = at_commune();
    let mut to_agency = transfer_to(T0 + 1000, COMMUNE, &commune, AGENCY);
    to_agency.step = Some(step(1, 1, T0 + DAY_MS));
    dossier::append_event(&mut doc, &to_agency).unwrap();
    // The agency sends it on, back to the commune, which processes it itself.
    let mut at_agency = doc.fork().with_actor(agency_actor);
    let mut to_commune = transfer_to(T0 + 2000, AGENCY, &agency, COMMUNE);
    to_commune.step = Some(step(2, 1, T0 + DAY_MS));
    dossier::append_event(&mut at_agency, &to_commune).unwrap();
    doc.merge(&mut at_agency).unwrap();
    dossier::append_event(&mut doc, &event(Action::Processed, T0 + 3000, COMMUNE, &commune)).unwrap();
    let mut back = event(Action::ReturnToPrevious, T0 + 4000, COMMUNE, &commune);
    back.reason = Some("x".into());
    dossier::append_event(&mut doc, &back).unwrap();
    let f = folded(&doc);
    assert_eq!((f.state, f.holder_unit.as_str()), (Status::InProcess, AGENCY), "back to the agency that sent it");
    assert!(f.history.last().unwrap().undoes_transfer);
    let steps = step_progress(&f, T0, 420);
    assert_eq!(steps[1].ended_by, Some(Action::Processed), "step 2 ended when the commune processed it");
    assert_eq!(next_step(&f, 3), Some(2), "the returned transfer's step is offered again");
}

fn scan(line: u32) -> crate::attachment::File {
    crate::attachment::File {
        hash: [line as u8; 32],
        size: 400 * 1024,
        media_type: crate::attachment::MediaType::Pdf,
        name: format!("Thành phần {line}.pdf"),
        kind: crate::attachment::Kind::Component,
        document_line: Some(line),
    }
}

#[test]
fn attached_files_are_derived_and_change_no_state() {
    let (mut doc, agency_actor, commune, agency) = at_commune();
    let mut attach = event(Action::Attach, T0 + 1000, COMMUNE, &commune);
    attach.file = Some(scan(1));
    dossier::append_event(&mut doc, &attach).unwrap();
    dossier::append_event(&mut doc, &transfer_to(T0 + 2000, COMMUNE, &commune, AGENCY)).unwrap();
    // The agency keeps a scan of its own: attaching is not acting on the
    // dossier, so the commune may still recall it.
    let mut doc = doc.with_actor(agency_actor);
    let mut by_agency = event(Action::Attach, T0 + 3000, AGENCY, &agency);
    by_agency.file = Some(scan(2));
    dossier::append_event(&mut doc, &by_agency).unwrap();
    let f = folded(&doc);
    assert_eq!(f.state, Status::InProcess);
    assert!(f.conflicts.is_empty(), "{:?}", f.conflicts);
    assert!(!f.holder_acted, "an attachment is not the holder taking the dossier up");
    let files: Vec<_> = f.attachments.iter().map(|a| (a.file.clone(), a.unit.as_str(), a.at)).collect();
    assert_eq!(files, vec![(scan(1), COMMUNE, T0 + 1000), (scan(2), AGENCY, T0 + 3000)]);
    // Read back from the document as written.
    let record = dossier::read(&doc).unwrap();
    assert_eq!(record.events[1].event.file, Some(scan(1)));
}

#[test]
fn a_file_only_an_attach_event_keeps_and_it_must_be_well_formed() {
    let (actor, hex) = node(1);
    let (mut doc, _) = dossier::create(actor, &new_dossier(&hex, Channel::Direct, false)).unwrap();
    let mut no_file = event(Action::Attach, T0 + 1000, COMMUNE, &hex);
    dossier::append_event(&mut doc, &no_file).unwrap();
    let mut start = event(Action::StartProcessing, T0 + 2000, COMMUNE, &hex);
    start.file = Some(scan(1));
    dossier::append_event(&mut doc, &start).unwrap();
    no_file.file = Some(crate::attachment::File { size: 0, ..scan(2) });
    dossier::append_event(&mut doc, &no_file).unwrap();
    let record = dossier::read(&doc).unwrap();
    let defects: Vec<_> = record.events[1..].iter().map(|e| e.defect.clone().unwrap_or_default()).collect();
    assert!(defects[0].contains("attaches no file"), "{defects:?}");
    assert!(defects[1].contains("only an attach event keeps one"), "{defects:?}");
    assert!(defects[2].contains("malformed file"), "{defects:?}");
    let f = folded(&doc);
    assert!(f.attachments.is_empty());
    assert_eq!(f.conflicts.len(), 3);
    assert_eq!(f.state, Status::Accepted, "none of them changed anything");
}

#[test]
fn a_result_names_its_file_and_only_a_result_does() {
    let (actor, hex) = node(1);
    let (mut doc, _) = dossier::create(actor, &new_dossier(&hex, Channel::Direct, false)).unwrap();
    dossier::append_event(&mut doc, &event(Action::StartProcessing, T0 + 1000, COMMUNE, &hex)).unwrap();
    let mut processed = event(Action::Processed, T0 + 2000, COMMUNE, &hex);
    processed.result = Some("Giấy phép số 7".into());
    processed.result_hash = Some([5; 32]);
    dossier::append_event(&mut doc, &processed).unwrap();
    assert_eq!(folded(&doc).result_hash, Some([5; 32]));
    assert_eq!(dossier::read(&doc).unwrap().events[2].event.result_hash, Some([5; 32]));
    // Only a result names a result file.
    let mut other = doc.fork();
    let mut note = event(Action::ReturnResult, T0 + 3000, COMMUNE, &hex);
    note.result_hash = Some([6; 32]);
    dossier::append_event(&mut other, &note).unwrap();
    let record = dossier::read(&other).unwrap();
    assert!(record.events[3].defect.as_deref().is_some_and(|d| d.contains("only a result")), "{:?}", record.events[3]);
    assert_eq!(fold(&record, 420).result_hash, Some([5; 32]));
}

/// A resolution of the conflict at `index` of `doc`, by the commune.
fn resolution(doc: &Automerge, index: usize, at: i64, hex: &str) -> dossier::Event {
    let record = dossier::read(doc).unwrap();
    let named = &record.events[index];
    let mut e = event(Action::ResolveConflict, at, COMMUNE, hex);
    e.reason = Some("Đã đối chiếu với hồ sơ giấy".into());
    e.resolves = Some(dossier::EventRef { author: named.author.clone(), counter: named.counter });
    e
}

#[test]
fn a_resolution_removes_exactly_the_conflict_it_names() {
    let (actor, hex) = node(1);
    let (mut doc, _) = dossier::create(actor, &new_dossier(&hex, Channel::Direct, false)).unwrap();
    dossier::append_event(&mut doc, &event(Action::StartProcessing, T0 + 1000, COMMUNE, &hex)).unwrap();
    // Two events refused where they stand: two conflicts, 2 and 3.
    dossier::append_event(&mut doc, &event(Action::StartProcessing, T0 + 2000, COMMUNE, &hex)).unwrap();
    dossier::append_event(&mut doc, &event(Action::Accept, T0 + 3000, COMMUNE, &hex)).unwrap();
    let before = folded(&doc);
    assert_eq!(before.conflicts.iter().map(|c| c.event_index).collect::<Vec<_>>(), [2, 3]);
    let r = resolution(&doc, 2, T0 + 4000, &hex);
    dossier::append_event(&mut doc, &r).unwrap();
    let f = folded(&doc);
    assert_eq!(f.conflicts.iter().map(|c| c.event_index).collect::<Vec<_>>(), [3], "{:?}", f.conflicts);
    assert_eq!(f.resolved.iter().map(|c| c.event_index).collect::<Vec<_>>(), [2]);
    assert_eq!((f.state, f.history.len()), (before.state, 3), "it changes no state and is in the history");
    assert_eq!(
        f.history[2].event.resolves.as_ref().map(|r| r.counter),
        Some(dossier::read(&doc).unwrap().events[2].counter)
    );
    // A second resolution of the same conflict (two leaders, apart) is no new conflict.
    let r = resolution(&doc, 2, T0 + 5000, &hex);
    dossier::append_event(&mut doc, &r).unwrap();
    assert_eq!(folded(&doc).conflicts.len(), 1);
    // A resolution naming an event that was applied, or giving no reason, is refused.
    let mut wrong = doc.fork().with_actor(node(1).0);
    dossier::append_event(&mut wrong, &resolution(&doc, 1, T0 + 6000, &hex)).unwrap();
    let g = folded(&wrong);
    assert!(g.conflicts[1].reason.contains("is not a conflict"), "{:?}", g.conflicts);
    let mut bare = resolution(&doc, 3, T0 + 6000, &hex);
    bare.reason = None;
    let mut unreasoned = doc.fork().with_actor(node(1).0);
    dossier::append_event(&mut unreasoned, &bare).unwrap();
    let g = folded(&unreasoned);
    assert_eq!(g.conflicts.len(), 2, "{:?}", g.conflicts);
    assert!(g.conflicts[1].reason.contains("no reason"), "{:?}", g.conflicts);
}

#[test]
fn a_resolution_names_its_event_well_formed_and_only_a_resolution_does() {
    let (actor, hex) = node(1);
    let (mut doc, _) = dossier::create(actor, &new_dossier(&hex, Channel::Direct, false)).unwrap();
    dossier::append_event(&mut doc, &event(Action::Accept, T0 + 1000, COMMUNE, &hex)).unwrap();
    let good = resolution(&doc, 1, T0 + 2000, &hex);
    let mut malformed = good.clone();
    malformed.resolves = Some(dossier::EventRef { author: "XYZ".into(), counter: 3 });
    dossier::append_event(&mut doc, &malformed).unwrap();
    let mut none = good.clone();
    none.resolves = None;
    dossier::append_event(&mut doc, &none).unwrap();
    let mut on_other = event(Action::StartProcessing, T0 + 3000, COMMUNE, &hex);
    on_other.resolves = good.resolves.clone();
    dossier::append_event(&mut doc, &on_other).unwrap();
    let record = dossier::read(&doc).unwrap();
    let defects: Vec<_> = record.events[2..].iter().map(|e| e.defect.clone().unwrap_or_default()).collect();
    assert!(defects[0].contains("malformed"), "{defects:?}");
    assert!(defects[1].contains("names no event"), "{defects:?}");
    assert!(defects[2].contains("only a conflict's resolution"), "{defects:?}");
    let f = folded(&doc);
    assert_eq!(f.conflicts.len(), 4, "the accept and the three defective events: {:?}", f.conflicts);
    assert_eq!(f.state, Status::Accepted);
    // Well formed, it reads back as written and resolves the accept.
    dossier::append_event(&mut doc, &good).unwrap();
    let record = dossier::read(&doc).unwrap();
    assert_eq!(record.events[5].event.resolves, good.resolves);
    assert_eq!(fold(&record, 420).conflicts.len(), 3);
    assert_eq!(dossier::EventRef::parse("12@ab01"), Some(dossier::EventRef { author: "ab01".into(), counter: 12 }));
    for bad in ["", "12", "@ab", "x@ab", "12@", "12@abc", "12@AB", "-1@ab"] {
        assert_eq!(dossier::EventRef::parse(bad), None, "{bad}");
    }
}

#[test]
fn a_supplement_draft_is_approved_issued_and_discarded_when_the_dossier_moves() {
    let (mut doc, agency_actor, commune, agency) = at_commune();
    let append = |doc: &mut Automerge, e: &dossier::Event| {
        dossier::append_event(doc, e).unwrap();
    };
    append(&mut doc, &transfer_to(T0 + 1000, COMMUNE, &commune, AGENCY));
    let mut at_agency = doc.fork().with_actor(agency_actor);
    let mut draft = event(Action::DraftSupplement, T0 + 3000, AGENCY, &agency);
    draft.reason = Some("Thiếu bản vẽ".into());
    draft.missing = Some("Bản vẽ hiện trạng".into());
    append(&mut at_agency, &draft);
    let f = folded(&at_agency);
    assert_eq!(
        (f.state, f.supplement_draft),
        (Status::InProcess, Some(SupplementDraft { event_index: 2, approved: false }))
    );
    // An approval names the draft it approves.
    let ref_of = |doc: &Automerge, i: usize| {
        let e = &dossier::read(doc).unwrap().events[i];
        dossier::EventRef { author: e.author.clone(), counter: e.counter }
    };
    let approve = |at: i64, draft: Option<dossier::EventRef>| {
        let mut e = event(Action::ApproveSupplement, at, AGENCY, &agency);
        e.draft = draft;
        e
    };
    // Unnamed, or naming another event, it approves nothing.
    let mut unnamed = at_agency.fork().with_actor(at_agency.get_actor().clone());
    append(&mut unnamed, &approve(T0 + 3500, None));
    let f = folded(&unnamed);
    assert_eq!((f.conflicts.len(), f.supplement_draft.map(|d| d.approved)), (1, Some(false)), "{:?}", f.conflicts);
    let mut wrong = at_agency.fork().with_actor(at_agency.get_actor().clone());
    append(&mut wrong, &approve(T0 + 3500, Some(ref_of(&at_agency, 1))));
    assert_eq!(folded(&wrong).supplement_draft.map(|d| d.approved), Some(false));
    let first = ref_of(&at_agency, 2);
    append(&mut at_agency, &approve(T0 + 4000, Some(first.clone())));
    let f = folded(&at_agency);
    assert_eq!(f.supplement_draft.map(|d| d.approved), Some(true));
    assert!(f.conflicts.is_empty(), "{:?}", f.conflicts);
    // A draft replaced meanwhile is not approved by an approval of the
    // first one.
    let mut redrafted = at_agency.fork().with_actor(at_agency.get_actor().clone());
    let mut again = draft.clone();
    again.at = T0 + 4200;
    again.missing = Some("Bản vẽ khác".into());
    append(&mut redrafted, &again);
    append(&mut redrafted, &approve(T0 + 4300, Some(first)));
    let f = folded(&redrafted);
    assert_eq!((f.conflicts.len(), f.supplement_draft.map(|d| d.approved)), (1, Some(false)), "{:?}", f.conflicts);
    // A second approval of the same draft is a conflict, not a change.
    let second = approve(T0 + 4500, Some(ref_of(&at_agency, 2)));
    append(&mut at_agency, &second);
    assert_eq!(folded(&at_agency).conflicts.len(), 1);
    // Issued by the commune's desk: the draft is gone, the clock paused.
    let mut issue = event(Action::RequestSupplement, T0 + 5000, COMMUNE, &commune);
    issue.reason = Some("Thiếu bản vẽ".into());
    issue.deadline = Some(T0 + 10 * DAY_MS);
    let mut issued = at_agency.fork().with_actor(doc.get_actor().clone());
    append(&mut issued, &issue);
    let f = folded(&issued);
    assert_eq!((f.state, f.supplement_draft, f.paused_since), (Status::SupplementRequested, None, Some(T0 + 5000)));
    // A draft the agency abandons by sending the dossier back is discarded.
    let mut back = at_agency.fork().with_actor(at_agency.get_actor().clone());
    let mut send_back = event(Action::ReturnToPrevious, T0 + 6000, AGENCY, &agency);
    send_back.reason = Some("Không thuộc thẩm quyền".into());
    append(&mut back, &send_back);
    let f = folded(&back);
    assert_eq!((f.state, f.supplement_draft), (Status::Accepted, None), "{:?}", f.conflicts);
}

#[test]
fn applicants_collection_and_logbook_read_back_and_default_when_absent() {
    use automerge::{ROOT, ReadDoc, transaction::Transactable};
    use dossier::{ApplicantKind, Collection, IdKind, LogbookEntry, Representative};
    let (actor, hex) = node(1);
    let mut new = new_dossier(&hex, Channel::Direct, false);
    new.applicant.kind = ApplicantKind::Organization;
    new.applicant.id_kind = IdKind::TaxCode;
    new.applicant.id_number = "9000000001001".into();
    new.applicant.representative = Some(Representative {
        name: "Người Thử Mẫu 2".into(),
        id_number: "X9000001".into(),
        id_kind: IdKind::Passport,
        phone: "0900000002".into(),
    });
    new.reception.collection = Collection::Post;
    new.reception.logbook = Some(LogbookEntry { volume: 2025, number: 17 });
    new.documents = vec![dossier::DocumentEntry {
        name: "Giấy đề nghị".into(),
        originals: 1,
        certified: 2,
        copies: 0,
        received: true,
    }];
    let (doc, _) = dossier::create(actor, &new).unwrap();
    let record = dossier::read(&Automerge::load(&doc.save()).unwrap()).unwrap();
    assert_eq!((record.applicant.clone(), record.reception.clone()), (new.applicant.clone(), new.reception.clone()));
    assert_eq!(record.documents, new.documents);

    // A dossier written before these fields: a citizen with a card, no
    // representative, collected at the desk, no logbook line, 0 certified.
    let (_, applicant) = doc.get(ROOT, "applicant").unwrap().unwrap();
    let (_, received) = doc.get(ROOT, "received").unwrap().unwrap();
    let (_, docs) = doc.get(ROOT, "documents").unwrap().unwrap();
    let (_, line) = doc.get(&docs, 0).unwrap().unwrap();
    let mut old = doc.fork();
    let mut tx = old.transaction();
    for key in ["kind", "id_kind", "representative"] {
        tx.delete(&applicant, key).unwrap();
    }
    for key in ["collection", "logbook_volume", "logbook_number"] {
        tx.delete(&received, key).unwrap();
    }
    tx.delete(&line, "certified").unwrap();
    tx.commit();
    let record = dossier::read(&old).unwrap();
    assert_eq!(record.applicant.kind, ApplicantKind::Citizen);
    assert_eq!(record.applicant.id_kind, IdKind::Cccd);
    assert_eq!(record.applicant.representative, None);
    assert_eq!(record.reception.collection, Collection::Desk);
    assert_eq!(record.reception.logbook, None);
    assert_eq!(record.documents[0].certified, 0);

    // Values no version writes fail the read, naming the field.
    let bad: [(&automerge::ObjId, &str, &str); 4] = [
        (&applicant, "kind", "applicant.kind"),
        (&applicant, "id_kind", "applicant.id_kind"),
        (&received, "collection", "received.collection"),
        (&received, "logbook_number", "logbook"),
    ];
    for (obj, key, named) in bad {
        let mut b = doc.fork();
        let mut tx = b.transaction();
        if key == "logbook_number" {
            tx.delete(obj, key).unwrap();
        } else {
            tx.put(obj, key, "unknown").unwrap();
        }
        tx.commit();
        assert!(matches!(dossier::read(&b), Err(dossier::DocError::Schema(m)) if m.contains(named)), "{key}");
    }
}

/// A refusal (3) recorded after the supplement deadline of a dossier
/// accepted at the counter, by a node of the version that allowed it,
/// still folds to 3 on every node; a stop (8) there folds as stopped.
#[test]
fn an_accepted_dossier_past_its_supplement_deadline_folds_refused_as_signed_or_stopped() {
    let ends = |action: Action| {
        let (actor, hex) = node(1);
        let (mut doc, _) = dossier::create(actor, &new_dossier(&hex, Channel::Direct, false)).unwrap();
        let mut req = event(Action::RequestSupplement, T0 + 1000, COMMUNE, &hex);
        req.deadline = Some(T0 + DAY_MS);
        req.reason = Some("Thiếu giấy tờ".into());
        dossier::append_event(&mut doc, &req).unwrap();
        let mut end = event(action, T0 + 2 * DAY_MS, COMMUNE, &hex);
        end.reason = Some("Quá hạn bổ sung".into());
        dossier::append_event(&mut doc, &end).unwrap();
        folded(&doc)
    };
    let refused = ends(Action::Refuse);
    assert_eq!((refused.state, refused.closing), (Status::NotAccepted, Some(Closing::Refused)));
    assert!(refused.conflicts.is_empty());
    let stopped = ends(Action::Stop);
    assert_eq!((stopped.state, stopped.closing), (Status::Stopped, Some(Closing::Stopped)));
    assert_eq!((stopped.paused_since, stopped.closed_at), (None, Some(T0 + 2 * DAY_MS)));
    assert!(stopped.conflicts.is_empty());
}

/// A stop's legal basis (form 05) reads back as written; any other event
/// giving one is refused where it stands.
#[test]
fn only_a_stop_gives_a_legal_basis() {
    let (actor, hex) = node(1);
    let (mut doc, _) = dossier::create(actor, &new_dossier(&hex, Channel::Direct, false)).unwrap();
    dossier::append_event(&mut doc, &event(Action::StartProcessing, T0 + 1000, COMMUNE, &hex)).unwrap();
    let mut reappoint = event(Action::Reappoint, T0 + 2000, COMMUNE, &hex);
    (reappoint.reason, reappoint.due_at) = (Some("Cần xác minh".into()), Some(T0 + 9 * DAY_MS));
    reappoint.legal_basis = Some("Điều 19".into());
    dossier::append_event(&mut doc, &reappoint).unwrap();
    let mut stop = event(Action::Stop, T0 + 3000, COMMUNE, &hex);
    stop.legal_basis = Some("Khoản 2 Điều 19 Nghị định 61/2018/NĐ-CP".into());
    dossier::append_event(&mut doc, &stop).unwrap();
    let f = folded(&doc);
    assert_eq!(f.state, Status::Stopped);
    assert_eq!(f.conflicts.iter().map(|c| c.event_index).collect::<Vec<_>>(), [2]);
    assert!(!f.reappointed, "the refused re-appointment changed nothing");
    let last = f.history.last().unwrap();
    assert_eq!(last.event.legal_basis.as_deref(), Some("Khoản 2 Điều 19 Nghị định 61/2018/NĐ-CP"));
}
