use automerge::{Automerge, ROOT, transaction::Transactable};

use super::*;
use crate::calendar::DAY_MS;
use crate::dossier::{self, Channel};
use crate::fixtures::{AGENCY, COMMUNE, T0, event, new_dossier, node};

const OFFSET: i32 = 420;

fn created() -> (Automerge, String) {
    let (actor, hex) = node(1);
    let (doc, _) = dossier::create(actor, &new_dossier(&hex, Channel::Direct, false)).unwrap();
    (doc, hex)
}

/// The receiving commune transfers the dossier to AGENCY.
fn transfer_to_agency(doc: &mut Automerge, commune: &str) {
    let mut transfer = event(Action::Transfer, T0 + 1000, COMMUNE, commune);
    transfer.to_unit = Some(AGENCY.into());
    dossier::append_event(doc, &transfer).unwrap();
}

fn as_actor(doc: &Automerge, n: u8) -> (Automerge, String) {
    let (actor, hex) = node(n);
    (doc.fork().with_actor(actor), hex)
}

#[test]
fn a_whole_document_lists_every_actor_and_event_as_new() {
    let (mut doc, commune) = created();
    transfer_to_agency(&mut doc, &commune);
    let (mut agency_doc, agency) = as_actor(&doc, 2);
    let mut processed = event(Action::Processed, T0 + DAY_MS, AGENCY, &agency);
    processed.result = Some("Kết quả thử".into());
    dossier::append_event(&mut agency_doc, &processed).unwrap();

    let all = check_additions(&agency_doc, &[], OFFSET).unwrap();
    assert_eq!(
        all.events.iter().map(|e| e.action).collect::<Vec<_>>(),
        [Action::Receive, Action::Transfer, Action::Processed]
    );
    assert_eq!(all.actors.len(), 2);
    let latest_agency = agency_doc.get_heads()[0];
    assert!(all.actors.iter().any(|(a, h)| a.to_hex_string() == agency && *h == latest_agency));

    // Only what lies beyond the known heads is new.
    let since = check_additions(&agency_doc, &doc.get_heads(), OFFSET).unwrap();
    assert_eq!(since.events.len(), 1);
    assert_eq!(since.events[0].author, agency);
    assert_eq!(since.actors.len(), 1);
}

#[test]
fn a_result_recorded_by_a_unit_that_does_not_hold_the_dossier_is_refused() {
    let (mut doc, commune) = created();
    transfer_to_agency(&mut doc, &commune);
    let known = doc.get_heads();
    // Another commune, never a participant, records a result.
    let (mut other, other_hex) = as_actor(&doc, 3);
    let mut processed = event(Action::Processed, T0 + DAY_MS, "26735", &other_hex);
    processed.result = Some("Kết quả giả".into());
    dossier::append_event(&mut other, &processed).unwrap();
    let err = check_additions(&other, &known, OFFSET).unwrap_err();
    assert!(
        matches!(&err, AuthorityError::Refused { action, reason, .. }
        if action == "processed" && reason.contains("only the unit holding it")),
        "{err}"
    );
    // The receiving commune itself, after handing the dossier to the agency.
    let mut processed = event(Action::Processed, T0 + DAY_MS, COMMUNE, &commune);
    processed.result = Some("Kết quả".into());
    let mut own = doc.fork();
    dossier::append_event(&mut own, &processed).unwrap();
    assert!(matches!(check_additions(&own, &known, OFFSET), Err(AuthorityError::Refused { .. })));
}

#[test]
fn concurrent_events_are_judged_in_their_authors_view() {
    let (mut doc, commune) = created();
    transfer_to_agency(&mut doc, &commune);
    let base = doc.get_heads();
    // The agency processes while, unseen, the commune records a withdrawal request.
    let (mut agency_doc, agency) = as_actor(&doc, 2);
    let mut processed = event(Action::Processed, T0 + DAY_MS, AGENCY, &agency);
    processed.result = Some("Kết quả".into());
    dossier::append_event(&mut agency_doc, &processed).unwrap();
    dossier::append_event(&mut doc, &event(Action::RequestWithdrawal, T0 + DAY_MS, COMMUNE, &commune)).unwrap();
    doc.merge(&mut agency_doc).unwrap();
    let merged = check_additions(&doc, &base, OFFSET).unwrap();
    assert_eq!(merged.events.len(), 2, "both concurrent events are authorized where they were made");
    // The fold still shows one of them as a conflict for a person to resolve.
    assert_eq!(fold(&merged.record, OFFSET).conflicts.len(), 1);
}

#[test]
fn changes_that_rewrite_the_document_are_refused() {
    let (doc, _) = created();
    let known = doc.get_heads();
    let (mut forged, _) = as_actor(&doc, 1);
    let mut tx = forged.transaction();
    let applicant = tx.get(ROOT, "applicant").unwrap().unwrap().1;
    tx.put(&applicant, "name", "Tên Khác").unwrap();
    tx.commit();
    let err = check_additions(&forged, &known, OFFSET).unwrap_err();
    assert!(matches!(&err, AuthorityError::Shape { what, .. } if what.contains("did not make")), "{err}");

    let (mut forged, _) = as_actor(&doc, 1);
    let mut tx = forged.transaction();
    tx.put(ROOT, "code", "000.21.45.H56-251117-9999").unwrap();
    tx.commit();
    let err = check_additions(&forged, &known, OFFSET).unwrap_err();
    assert!(matches!(&err, AuthorityError::Shape { what, .. } if what.contains("root")), "{err}");

    // Editing somebody's recorded event.
    let (mut doc, commune) = created();
    dossier::append_event(&mut doc, &event(Action::StartProcessing, T0 + 1000, COMMUNE, &commune)).unwrap();
    let known = doc.get_heads();
    let (mut forged, _) = as_actor(&doc, 2);
    let mut tx = forged.transaction();
    let events = tx.get(ROOT, "events").unwrap().unwrap().1;
    let last = tx.get(&events, 1).unwrap().unwrap().1;
    tx.put(&last, "at", T0 - DAY_MS).unwrap();
    tx.commit();
    assert!(matches!(check_additions(&forged, &known, OFFSET), Err(AuthorityError::Shape { .. })));
}

#[test]
fn a_second_creation_and_a_receipt_by_another_node_are_refused() {
    let (doc, _) = created();
    let (other_actor, other_hex) = node(9);
    let (other, _) = dossier::create(other_actor, &new_dossier(&other_hex, Channel::Direct, false)).unwrap();
    let mut both = doc.fork();
    both.merge(&mut other.fork()).unwrap();
    assert_eq!(check_additions(&both, &[], OFFSET), Err(AuthorityError::Creations(2)));

    // A creation whose receipt names another node than its author.
    let (actor, _) = node(4);
    let (_, someone) = node(5);
    let (lying, _) = dossier::create(actor, &new_dossier(&someone, Channel::Direct, false)).unwrap();
    assert!(matches!(check_additions(&lying, &[], OFFSET), Err(AuthorityError::Refused { index: 0, .. })));
}

#[test]
fn an_event_cannot_be_placed_before_one_its_author_had_seen() {
    let (mut doc, commune) = created();
    dossier::append_event(&mut doc, &event(Action::StartProcessing, T0 + 1000, COMMUNE, &commune)).unwrap();
    let known = doc.get_heads();
    // Insert a "processed" at index 1, ahead of the start it depends on.
    let (mut forged, _) = as_actor(&doc, 1);
    let mut tx = forged.transaction();
    let events = tx.get(ROOT, "events").unwrap().unwrap().1;
    let m = tx.insert_object(&events, 1, automerge::ObjType::Map).unwrap();
    for (k, v) in [("kind", "processed"), ("unit", COMMUNE), ("node", commune.as_str()), ("officer", "x"), ("note", "")]
    {
        tx.put(&m, k, v).unwrap();
    }
    tx.put(&m, "at", T0 + 2000).unwrap();
    tx.put(&m, "result", "r").unwrap();
    tx.commit();
    let err = check_additions(&forged, &known, OFFSET).unwrap_err();
    assert!(matches!(&err, AuthorityError::Refused { reason, .. } if reason.contains("already seen")), "{err}");
}

#[test]
fn a_handover_makes_the_successor_the_receiving_unit_and_holder() {
    let (doc, _) = created();
    let known = doc.get_heads();
    let (mut new_unit, hex) = as_actor(&doc, 6);
    let mut h = event(Action::Handover, T0 + DAY_MS, "26800", &hex);
    h.to_unit = Some("26800".into());
    h.succession = Some("{}".into());
    dossier::append_event(&mut new_unit, &h).unwrap();
    let added = check_additions(&new_unit, &known, OFFSET).unwrap();
    assert_eq!(added.events[0].receiving_unit_before, COMMUNE);
    let f = fold(&added.record, OFFSET);
    assert_eq!((f.receiving_unit.as_str(), f.holder_unit.as_str()), ("26800", "26800"));
    // The successor can now return the result; the old unit no longer can.
    let mut back = new_unit.fork();
    dossier::append_event(&mut back, &event(Action::RequestWithdrawal, T0 + 2 * DAY_MS, COMMUNE, &hex)).unwrap();
    assert!(check_additions(&back, &new_unit.get_heads(), OFFSET).is_err());
    // A handover recorded by a unit other than the one it names.
    let (mut third, third_hex) = as_actor(&doc, 7);
    let mut h = event(Action::Handover, T0 + DAY_MS, "26801", &third_hex);
    h.to_unit = Some("26800".into());
    dossier::append_event(&mut third, &h).unwrap();
    assert!(matches!(check_additions(&third, &known, OFFSET), Err(AuthorityError::Refused { .. })));
}

#[test]
fn deleting_or_hiding_anything_is_refused() {
    let (mut doc, commune) = created();
    dossier::append_event(&mut doc, &event(Action::StartProcessing, T0 + 1000, COMMUNE, &commune)).unwrap();
    let known = doc.get_heads();
    let altered =
        |err: &AuthorityError| matches!(err, AuthorityError::Altered(why) if why.contains("not a dossier's fields"));

    // Another node deletes the commune's recorded event.
    let (mut forged, _) = as_actor(&doc, 2);
    let mut tx = forged.transaction();
    let events = tx.get(ROOT, "events").unwrap().unwrap().1;
    tx.delete(&events, 1).unwrap();
    tx.commit();
    assert_eq!(dossier::read(&forged).unwrap().events.len(), 1, "the event is gone from the read");
    let err = check_additions(&forged, &known, OFFSET).unwrap_err();
    assert!(altered(&err), "{err}");

    // A field of the root deleted (the applicant's optional e-mail is not
    // there to miss, so the read alone would not notice a deleted key).
    let (mut forged, _) = as_actor(&doc, 1);
    let mut tx = forged.transaction();
    tx.delete(ROOT, "due_at").unwrap();
    tx.commit();
    let err = check_additions(&forged, &known, OFFSET).unwrap_err();
    assert!(altered(&err), "{err}");

    // An event that carries an object no dossier has.
    let (mut forged, hex) = as_actor(&doc, 1);
    let mut tx = forged.transaction();
    let events = tx.get(ROOT, "events").unwrap().unwrap().1;
    let m = tx.insert_object(&events, 2, automerge::ObjType::Map).unwrap();
    for (k, v) in
        [("kind", "request_withdrawal"), ("unit", COMMUNE), ("node", hex.as_str()), ("officer", "x"), ("note", "")]
    {
        tx.put(&m, k, v).unwrap();
    }
    tx.put(&m, "at", T0 + 2000).unwrap();
    let hidden = tx.put_object(&m, "extra", automerge::ObjType::Map).unwrap();
    tx.put(&hidden, "secret", "x").unwrap();
    tx.commit();
    let err = check_additions(&forged, &known, OFFSET).unwrap_err();
    assert!(altered(&err), "{err}");

    // The same event without the extra object is admitted.
    let (mut plain, _) = as_actor(&doc, 1);
    dossier::append_event(&mut plain, &event(Action::RequestWithdrawal, T0 + 2000, COMMUNE, &commune)).unwrap();
    check_additions(&plain, &known, OFFSET).unwrap();
}

#[test]
fn a_field_written_again_later_and_concurrently_is_refused() {
    let (doc, commune) = created();
    let known = doc.get_heads();
    // Two later changes, made concurrently by two nodes, put the same field
    // of an event another change made: an overwrite and a conflict no desk
    // produces.
    let mut a = doc.fork();
    dossier::append_event(&mut a, &event(Action::StartProcessing, T0 + 1000, COMMUNE, &commune)).unwrap();
    let b = a.fork();
    let events = a.get(ROOT, "events").unwrap().unwrap().1;
    let last = a.get(&events, 1).unwrap().unwrap().1;
    let (actor2, _) = node(2);
    let mut b = b.with_actor(actor2);
    let mut tx = a.transaction();
    tx.put(&last, "note", "một").unwrap();
    tx.commit();
    let mut tx = b.transaction();
    tx.put(&last, "note", "hai").unwrap();
    tx.commit();
    a.merge(&mut b).unwrap();
    assert!(check_additions(&a, &known, OFFSET).is_err());
}

/// `c` re-encoded with its operations starting at counter `start`, the
/// ids its own operations refer to moved with them: a change no automerge
/// makes, but a node could sign.
fn shifted(c: &automerge::Change, start: u64) -> automerge::Change {
    use automerge::legacy;
    let mut e = c.decode();
    let old = e.start_op.get();
    let n = e.operations.len() as u64;
    let actor = e.actor_id.clone();
    let fix = |id: &mut legacy::OpId| {
        if id.1 == actor && id.0 >= old && id.0 < old + n {
            id.0 = id.0 - old + start;
        }
    };
    for op in &mut e.operations {
        if let legacy::ObjectId::Id(id) = &mut op.obj {
            fix(id);
        }
        if let legacy::Key::Seq(legacy::ElementId::Id(id)) = &mut op.key {
            fix(id);
        }
        let mut pred: Vec<legacy::OpId> = op.pred.iter().cloned().collect();
        for id in &mut pred {
            fix(id);
        }
        op.pred = pred.into();
    }
    e.start_op = std::num::NonZeroU64::new(start).unwrap();
    e.hash = None;
    automerge::Change::from(e)
}

#[test]
fn a_change_reusing_operation_counters_is_refused() {
    // A change whose operations borrow the counters of an earlier change of
    // the same node would have them credited to that change and pass
    // unchecked: here it writes into the applicant and the root.
    let (mut doc, commune) = created();
    dossier::append_event(&mut doc, &event(Action::StartProcessing, T0 + 1000, COMMUNE, &commune)).unwrap();
    let known = doc.get_heads();
    let earlier = doc.get_change_by_hash(&known[0]).unwrap();
    let (mut scratch, _) = as_actor(&doc, 1);
    let mut tx = scratch.transaction();
    let applicant = tx.get(ROOT, "applicant").unwrap().unwrap().1;
    tx.put(&applicant, "email", "thu@example.invalid").unwrap();
    tx.put(ROOT, "extra", "x").unwrap();
    tx.commit();
    let honest = scratch.get_change_by_hash(&scratch.get_heads()[0]).unwrap();
    assert!(check_additions(&scratch, &known, OFFSET).is_err(), "as automerge made it, it is refused");
    let forged = shifted(&honest, earlier.start_op().get());
    let mut next = doc.clone();
    next.load_incremental(forged.raw_bytes()).unwrap();
    assert_ne!(next.get_heads(), known, "automerge applied it");
    let err = check_additions(&next, &known, OFFSET).unwrap_err();
    assert!(matches!(&err, AuthorityError::Altered(why) if why.contains("operation counters")), "{err}");
}

#[test]
fn more_events_than_a_dossier_keeps_are_still_counted() {
    // Two nodes append concurrently to a dossier near the bound; the merged
    // document holds more events than a read keeps, and is still admitted.
    let (mut doc, commune) = created();
    dossier::append_event(&mut doc, &event(Action::StartProcessing, T0 + 1000, COMMUNE, &commune)).unwrap();
    let pair = [Action::RequestFinancialObligation, Action::FinancialObligationFulfilled];
    for i in 0..(dossier::EVENTS_MAX - 4) {
        let e = event(pair[i % 2], T0 + 2000 + i as i64, COMMUNE, &commune);
        dossier::append_event(&mut doc, &e).unwrap();
    }
    let known = doc.get_heads();
    let (mut a, _) = as_actor(&doc, 1);
    let (mut b, other) = as_actor(&doc, 2);
    for (d, who) in [(&mut a, commune.as_str()), (&mut b, other.as_str())] {
        for (k, action) in pair.into_iter().enumerate() {
            dossier::append_event(d, &event(action, T0 + 10_000 + k as i64, COMMUNE, who)).unwrap();
        }
    }
    a.merge(&mut b).unwrap();
    assert!(a.length(a.get(ROOT, "events").unwrap().unwrap().1) > dossier::EVENTS_MAX);
    let added = check_additions(&a, &known, OFFSET);
    assert!(added.is_ok(), "events past the bound are counted, not taken for hidden operations: {added:?}");
}

#[test]
fn times_beyond_the_years_a_dossier_may_name_are_refused() {
    let (mut doc, commune) = created();
    transfer_to_agency(&mut doc, &commune);
    let known = doc.get_heads();
    // A result returned in the year 285,000 (or a deadline before 1900)
    // would break every date computed from it.
    let (agency_doc, agency) = as_actor(&doc, 2);
    for (at, deadline) in [(9_000_000_000_000_000, None), (T0 + DAY_MS, Some(-3_000_000_000_000))] {
        let mut far = agency_doc.fork();
        let mut processed = event(Action::Processed, at, AGENCY, &agency);
        processed.result = Some("Kết quả thử".into());
        processed.deadline = deadline;
        dossier::append_event(&mut far, &processed).unwrap();
        let err = check_additions(&far, &known, OFFSET).unwrap_err();
        assert!(err.to_string().contains("a time outside the years 1900 to 2999"), "{err}");
    }
    // A document received at such a time does not read at all.
    let (actor, hex) = node(4);
    let mut new = new_dossier(&hex, Channel::Direct, false);
    new.reception.at = i64::MAX / 2;
    let (far, _) = dossier::create(actor, &new).unwrap();
    assert!(matches!(dossier::read(&far), Err(dossier::DocError::Schema(f)) if f == "received.at"));
    assert!(check_additions(&far, &[], OFFSET).is_err());
}

/// Appends a participant map to `doc` in a change of its own.
fn add_participant(doc: &mut Automerge, unit: &str, role: &str) {
    let (_, parts) = doc.get(ROOT, "participants").unwrap().unwrap();
    let n = doc.length(&parts);
    let mut tx = doc.transaction();
    let m = tx.insert_object(&parts, n, automerge::ObjType::Map).unwrap();
    tx.put(&m, "unit", unit).unwrap();
    tx.put(&m, "role", role).unwrap();
    tx.commit();
}

#[test]
fn a_participant_comes_only_with_the_event_that_hands_the_dossier_over() {
    let (mut doc, commune) = created();
    let known = doc.get_heads();
    // A node of the receiving commune names another unit a participant
    // (which would route the applicant's data there) without a transfer.
    let mut forged = doc.fork();
    add_participant(&mut forged, "26735", "processing");
    let err = check_additions(&forged, &known, OFFSET).unwrap_err();
    assert!(err.to_string().contains("without an event of its own handing it the dossier"), "{err}");
    // Nor with a unit that is no unit code (an overlong one breaks indexes).
    let mut long = doc.fork();
    add_participant(&mut long, &format!("{}é", "a".repeat(65_534)), "processing");
    assert!(check_additions(&long, &known, OFFSET).unwrap_err().to_string().contains("not a unit code"));
    // A whole document whose creation names an extra participant.
    let mut extra = doc.fork();
    add_participant(&mut extra, "26735", "receiving");
    assert!(check_additions(&extra, &[], OFFSET).is_err());
    // A transfer adds its recipient in the same change: admitted.
    transfer_to_agency(&mut doc, &commune);
    let additions = check_additions(&doc, &known, OFFSET).unwrap();
    assert_eq!(additions.record.participants.len(), 2);
    assert!(check_additions(&doc, &[], OFFSET).is_ok(), "and the whole document too");
}
