use automerge::ActorId;
use motcua_domain::dossier::{self, Channel, DossierId};
use motcua_domain::fixtures::{AGENCY, COMMUNE, T0, event, new_dossier};
use motcua_domain::workflow::Action;

use super::*;
use crate::cert::{DocumentKind, ProvinceDocument, ProvinceRecord};
use crate::memory::MemoryReplica;
use crate::wire::{decode_message, encode_frame};

const NOW: i64 = T0;
const OTHER_COMMUNE: &str = "26735";

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

use ed25519_dalek::SigningKey;

fn hex_of(k: &SigningKey) -> String {
    hex::encode(k.verifying_key().to_bytes())
}

fn record_of(root: &SigningKey) -> ProvinceRecord {
    ProvinceRecord {
        code: "56".into(),
        name: "Tỉnh Thử".into(),
        public_key: hex_of(root),
        daily_dossiers_per_node: None,
    }
}

/// The agency identifier in every test node's certificate.
const AGENCY_ID: &str = "000.00.01.H56";

fn cert(root: &SigningKey, node: &SigningKey, unit: &str, role: NodeRole, serial: u8) -> Vec<u8> {
    let signed = crate::fixtures::certificate(root, node, unit, AGENCY_ID, role, serial, NOW * 2);
    serde_json::to_vec(&signed).unwrap()
}

/// A node of province 56 (root key 100): its certificate, and a trust that
/// knows only itself, as a freshly enrolled node does.
fn node_with_root(root: &SigningKey, n: u8, unit: &str, role: NodeRole) -> MemoryReplica {
    let k = key(n);
    let certificate = cert(root, &k, unit, role, n);
    let mut trust = Trust::new(&record_of(root)).unwrap();
    trust.admit(&serde_json::from_slice(&certificate).unwrap(), None).unwrap();
    let local =
        Local { key: k.verifying_key().to_bytes(), unit: unit.into(), role, certificate, utc_offset_minutes: 420 };
    MemoryReplica::new(local, k, trust)
}

fn node(n: u8, unit: &str, role: NodeRole) -> MemoryReplica {
    node_with_root(&key(100), n, unit, role)
}

fn commune() -> MemoryReplica {
    node(1, COMMUNE, NodeRole::Commune)
}
fn agency() -> MemoryReplica {
    node(2, AGENCY, NodeRole::Agency)
}
fn province() -> MemoryReplica {
    node(4, "56000", NodeRole::Province)
}

/// Receives dossier `n` at the replica's commune.
fn receive(r: &mut MemoryReplica, n: u8) -> [u8; 16] {
    let me = hex_of(r.signing_key());
    let mut new = new_dossier(&me, Channel::Direct, false);
    new.id = DossierId([n; 16]);
    new.code = format!("{AGENCY_ID}-251117-{n:04}");
    new.reception.unit = r.local.unit.clone();
    new.reception.agency_id = AGENCY_ID.into();
    let (doc, _) = dossier::create(ActorId::from(r.local.key), &new).unwrap();
    r.commit_local(doc).unwrap();
    [n; 16]
}

fn act(r: &mut MemoryReplica, id: &[u8; 16], mut e: dossier::Event) {
    let mut doc = r.doc(id).unwrap().fork().with_actor(ActorId::from(r.local.key));
    e.node = hex_of(r.signing_key());
    e.unit = r.local.unit.clone();
    dossier::append_event(&mut doc, &e).unwrap();
    r.commit_local(doc).unwrap();
}

fn transfer(r: &mut MemoryReplica, id: &[u8; 16], to: &str) {
    let mut t = event(Action::Transfer, T0 + 1000, "", "");
    t.to_unit = Some(to.into());
    act(r, id, t);
}

struct Link {
    a: Session,
    b: Session,
    bytes: usize,
    messages: usize,
}

impl Link {
    fn open(a: &MemoryReplica, b: &MemoryReplica) -> Link {
        let mut link = Link {
            a: Session::new(a.local.clone(), b.local.key, true),
            b: Session::new(b.local.clone(), a.local.key, false),
            bytes: 0,
            messages: 0,
        };
        link.a.start(a);
        link.b.start(b);
        link
    }

    /// Carries messages both ways, through the wire encoding, until both
    /// sides are quiet. Returns the first error and which side raised it.
    fn run(&mut self, a: &mut MemoryReplica, b: &mut MemoryReplica) -> Result<(), (bool, SessionError)> {
        for _ in 0..10_000 {
            let to_b = self.a.take_outgoing();
            let to_a = self.b.take_outgoing();
            if to_b.is_empty() && to_a.is_empty() {
                return Ok(());
            }
            if std::env::var("TRACE").is_ok() {
                eprintln!("a→b {:?}\nb→a {:?}", to_b, to_a);
            }
            for m in to_b {
                let frame = encode_frame(&m);
                self.bytes += frame.len();
                self.messages += 1;
                self.b.handle(b, decode_message(&frame[4..]).unwrap(), NOW).map_err(|e| (false, e))?;
            }
            for m in to_a {
                let frame = encode_frame(&m);
                self.bytes += frame.len();
                self.messages += 1;
                self.a.handle(a, decode_message(&frame[4..]).unwrap(), NOW).map_err(|e| (true, e))?;
            }
            self.a.check_invariants().unwrap();
            self.b.check_invariants().unwrap();
            // Commits a replica left in flight are durable now.
            for id in self.a.awaiting_commits() {
                a.durable(id);
                self.a.committed(id);
            }
            for id in self.b.awaiting_commits() {
                b.durable(id);
                self.b.committed(id);
            }
        }
        panic!("the sessions never went quiet");
    }

    /// Carries messages both ways until both sides are quiet, reporting
    /// no commit done.
    fn run_uncommitted(&mut self, a: &mut MemoryReplica, b: &mut MemoryReplica) {
        for _ in 0..10_000 {
            let to_b = self.a.take_outgoing();
            let to_a = self.b.take_outgoing();
            if to_b.is_empty() && to_a.is_empty() {
                return;
            }
            for m in to_b {
                self.b.handle(b, m, NOW).unwrap();
                self.b.check_invariants().unwrap();
            }
            for m in to_a {
                self.a.handle(a, m, NOW).unwrap();
                self.a.check_invariants().unwrap();
            }
        }
        panic!("the sessions never went quiet");
    }
}

fn sync(a: &mut MemoryReplica, b: &mut MemoryReplica) -> Link {
    let mut link = Link::open(a, b);
    link.run(a, b).unwrap();
    link
}

#[test]
fn a_commune_replicates_to_the_province_and_learns_it_is_safe_there() {
    let (mut c, mut p) = (commune(), province());
    let ids: Vec<_> = (1..=20).map(|n| receive(&mut c, n)).collect();
    let link = sync(&mut c, &mut p);
    assert_eq!(p.digests(), c.digests(), "identical heads on both sides");
    assert_eq!(p.verified_changes, 20);
    for id in &ids {
        assert_eq!(c.held_by(&p.local.key, id), Some(c.digests()[id]), "safe at the province");
    }
    assert!(link.a.is_idle() && link.b.is_idle() && link.a.caught_up_once());
    assert_eq!(link.a.progress().docs_sent, 20);
    assert_eq!(link.b.progress().docs_sent, 0);
}

#[test]
fn an_idle_reconnect_sends_no_document() {
    let (mut c, mut p) = (commune(), province());
    for n in 1..=50 {
        receive(&mut c, n);
    }
    sync(&mut c, &mut p);
    let again = sync(&mut c, &mut p);
    assert_eq!(again.a.progress().docs_sent + again.b.progress().docs_sent, 0);
    // Hellos (certificates), the accepting side's ready, and one
    // reconciliation round trip.
    assert_eq!(again.messages, 5, "{} messages", again.messages);
}

#[test]
fn changes_on_both_sides_converge_through_automerge_sync() {
    let (mut c, mut a, mut p) = (commune(), agency(), province());
    let id = receive(&mut c, 1);
    transfer(&mut c, &id, AGENCY);
    sync(&mut c, &mut p);
    sync(&mut a, &mut p);
    assert!(a.doc(&id).is_some(), "the agency receives the transferred dossier through the province");
    // The agency records its result while the commune asks for a supplement.
    let mut result = event(Action::Processed, T0 + 2000, "", "");
    result.result = Some("Giấy chứng nhận thử".into());
    act(&mut a, &id, result);
    let mut note = event(Action::RequestSupplement, T0 + 2500, "", "");
    note.reason = Some("thiếu giấy tờ".into());
    act(&mut c, &id, note);
    let link = sync(&mut c, &mut a);
    assert_eq!(c.digests()[&id], a.digests()[&id], "converged");
    assert_eq!(link.a.progress().docs_refused_by_peer + link.b.progress().docs_refused_by_peer, 0);
    let record = dossier::read(c.doc(&id).unwrap()).unwrap();
    assert_eq!(record.events.len(), 4);
    let folded = motcua_domain::fold::fold(&record, 420);
    assert_eq!(folded.conflicts.len(), 1, "concurrent, incompatible events surface as a conflict");
}

#[test]
fn live_push_sends_a_new_change_on_an_open_connection() {
    let (mut c, mut p) = (commune(), province());
    let id = receive(&mut c, 1);
    let mut link = Link::open(&c, &p);
    link.run(&mut c, &mut p).unwrap();
    act(&mut c, &id, event(Action::StartProcessing, T0 + 2000, "", ""));
    link.a.local_changed(&mut c).unwrap();
    link.run(&mut c, &mut p).unwrap();
    assert_eq!(p.digests()[&id], c.digests()[&id]);
    // And from the accepting side: it asks the dialer for a round.
    let id2 = receive(&mut c, 2);
    let mut back = Link::open(&p, &c);
    back.run(&mut p, &mut c).unwrap();
    act(&mut c, &id2, event(Action::StartProcessing, T0 + 2000, "", ""));
    back.b.local_changed(&mut c).unwrap();
    back.run(&mut p, &mut c).unwrap();
    assert_eq!(p.digests()[&id2], c.digests()[&id2]);
}

#[test]
fn a_commune_never_receives_another_communes_dossiers() {
    let (mut c, mut p) = (commune(), province());
    let mut other = node(3, OTHER_COMMUNE, NodeRole::Commune);
    receive(&mut c, 1);
    receive(&mut other, 2);
    sync(&mut c, &mut p);
    sync(&mut other, &mut p);
    assert_eq!(p.len(), 2);
    assert_eq!(other.ids().collect::<Vec<_>>(), vec![&[2; 16]]);
    assert_eq!(c.ids().collect::<Vec<_>>(), vec![&[1; 16]]);
}

#[test]
fn nearest_deadline_goes_first() {
    let (mut c, mut p) = (commune(), province());
    for n in 1..=5u8 {
        let me = hex_of(c.signing_key());
        let mut new = new_dossier(&me, Channel::Direct, false);
        new.id = DossierId([n; 16]);
        new.code = format!("{AGENCY_ID}-251117-{n:04}");
        new.reception.agency_id = AGENCY_ID.into();
        new.due_at = Some(T0 + (10 - n as i64) * 86_400_000);
        let (doc, _) = dossier::create(ActorId::from(c.local.key), &new).unwrap();
        c.commit_local(doc).unwrap();
    }
    let mut link = Link::open(&c, &p);
    // Run until the first batch of documents crosses, and read its order.
    let mut order = Vec::new();
    for _ in 0..10 {
        for m in link.a.take_outgoing() {
            if let Message::Docs(b) = &m {
                order.extend(decode_batch(b).unwrap().iter().map(|d| d.id[0]));
            }
            link.b.handle(&mut p, m, NOW).unwrap();
        }
        for m in link.b.take_outgoing() {
            link.a.handle(&mut c, m, NOW).unwrap();
        }
    }
    assert_eq!(order, vec![5, 4, 3, 2, 1]);
}

#[test]
fn an_unknown_node_is_refused_at_the_handshake() {
    let mut stranger = node_with_root(&key(99), 1, COMMUNE, NodeRole::Commune);
    let mut p = province();
    receive(&mut stranger, 1);
    let mut link = Link::open(&stranger, &p);
    let (on_a, err) = link.run(&mut stranger, &mut p).unwrap_err();
    assert!(!on_a, "the province refuses");
    assert!(matches!(err, SessionError::Refused(Rejection::Certificate(_))), "{err}");
    assert!(p.is_empty(), "no dossier byte moved");
}

#[test]
fn a_certificate_for_another_key_is_refused() {
    let (c, mut p) = (commune(), province());
    let mut thief = node(7, COMMUNE, NodeRole::Commune);
    // The thief presents the commune's certificate on its own connection.
    thief.local.certificate = c.local.certificate.clone();
    let mut link = Link::open(&thief, &p);
    let (_, err) = link.run(&mut thief, &mut p).unwrap_err();
    assert!(matches!(err, SessionError::KeyMismatch { .. }), "{err}");
}

fn revocation_list(root: &SigningKey, serial: u8, sequence: u64) -> Vec<u8> {
    let body =
        serde_json::json!({"revoked": [{"serial": format!("{serial:032x}"), "reason": "máy bị mất", "at_ms": 0}]});
    serde_json::to_vec(&SignedProvinceDocument::sign(
        ProvinceDocument {
            kind: DocumentKind::Revocations,
            province_code: "56".into(),
            sequence,
            label: "t".into(),
            issued_at_ms: 0,
            body: body.to_string(),
        },
        root,
    ))
    .unwrap()
}

#[test]
fn a_node_revoked_while_connected_is_refused_from_its_next_message_on() {
    let (mut c, mut p) = (commune(), province());
    receive(&mut c, 1);
    let mut link = sync(&mut c, &mut p);
    assert_eq!(p.len(), 1);
    // The administrator installs a list revoking the commune's node.
    let list = revocation_list(&key(100), 1, 1);
    p.with_trust(|t| t.set_revocations(&serde_json::from_slice(&list).unwrap())).unwrap();
    // The province pushes nothing more to it...
    let err = link.b.local_changed(&mut p).unwrap_err();
    assert!(matches!(err, SessionError::Refused(Rejection::Revoked { .. })), "{err}");
    assert!(link.b.take_outgoing().is_empty());
    // ... and refuses what it sends next.
    receive(&mut c, 2);
    link.a.local_changed(&mut c).unwrap();
    let (on_a, err) = link.run(&mut c, &mut p).unwrap_err();
    assert!(!on_a, "the province refuses");
    assert!(matches!(err, SessionError::Refused(Rejection::Revoked { .. })), "{err}");
    assert_eq!(p.len(), 1, "nothing the revoked node sent after is stored");
}

#[test]
fn a_revoked_node_is_refused_and_the_list_travels() {
    let (mut c, mut p, mut a) = (commune(), province(), agency());
    let list = revocation_list(&key(100), 1, 1);
    p.with_trust(|t| t.set_revocations(&serde_json::from_slice(&list).unwrap())).unwrap();
    p.set_revocations(list);
    receive(&mut c, 1);
    let mut link = Link::open(&c, &p);
    let (on_a, err) = link.run(&mut c, &mut p).unwrap_err();
    assert!(!on_a);
    assert!(matches!(err, SessionError::Refused(Rejection::Revoked { .. })), "{err}");
    assert!(p.is_empty());
    // The agency, which held no list, receives it from the province.
    sync(&mut a, &mut p);
    assert_eq!(a.with_trust(|t| t.revocations().1), 1);
}

#[test]
fn a_forged_change_is_refused_and_nothing_of_it_is_stored() {
    let (mut c, mut p) = (commune(), province());
    let id = receive(&mut c, 1);
    sync(&mut c, &mut p);
    // A change made under the commune's actor by someone without its key.
    let mut doc = c.doc(&id).unwrap().fork().with_actor(ActorId::from(c.local.key));
    let mut e = event(Action::StartProcessing, T0 + 2000, COMMUNE, &hex_of(c.signing_key()));
    e.officer = "x".into();
    dossier::append_event(&mut doc, &e).unwrap();
    let mut forger = node(1, COMMUNE, NodeRole::Commune);
    let wrong = key(9);
    forger.commit_local(c.doc(&id).unwrap().clone()).unwrap();
    // Store the forged document with a signature by another key.
    let head = doc.get_heads()[0].0;
    let before = p.digests();
    let mut link = Link::open(&forger, &p);
    link.run(&mut forger, &mut p).unwrap();
    let msg = DocMessage {
        id,
        body: DocBody::Whole(doc.save()),
        signatures: vec![ChangeSignature { change: head, signature: crate::attest::attest(&wrong, &head).signature }],
    };
    link.b.handle(&mut p, Message::Docs(encode_batch(&[msg])), NOW).unwrap();
    let out = link.b.take_outgoing();
    assert!(
        matches!(&out[..], [Message::Applied(a)] if matches!(&a[0].verdict, Verdict::Refused(r) if r.contains("does not verify"))),
        "{out:?}"
    );
    assert_eq!(p.digests(), before, "nothing stored");
}

#[test]
fn malformed_messages_close_the_session_without_storing_anything() {
    let (c, mut p) = (commune(), province());
    let mut link = Link::open(&c, &p);
    // Before the hello, nothing is accepted.
    let err = link.b.handle(&mut p, Message::Changed, NOW).unwrap_err();
    assert!(matches!(err, SessionError::Protocol(_)), "{err}");
    let mut link = Link::open(&c, &p);
    let hello = link.a.take_outgoing().remove(0);
    link.b.handle(&mut p, hello, NOW).unwrap();
    for bad in [
        Message::Docs(vec![1, 2, 3]),
        Message::Docs(zstd::bulk::compress(&[0xff; 64], 1).unwrap()),
        Message::Applied(vec![Applied { id: [1; 16], verdict: Verdict::Holds([0; 16]) }]),
        Message::Reconcile { round: 7, message: crate::reconcile::RangeMessage { ranges: vec![] } },
        Message::Certificates(vec![b"{".to_vec()]),
        Message::Revocations(b"[]".to_vec()),
        Message::Hello(Hello { version: 1, certificate: vec![], revocations_sequence: 0 }),
    ] {
        let mut s = Session::new(p.local.clone(), c.local.key, false);
        let hello = Link::open(&c, &p).a.take_outgoing().remove(0);
        s.handle(&mut p, hello, NOW).unwrap();
        assert!(s.handle(&mut p, bad.clone(), NOW).is_err(), "{bad:?} must be refused");
    }
    assert!(p.is_empty());
}

/// An id no fixture uses.
fn random_id(n: u8) -> [u8; 16] {
    let mut id = [0xEE; 16];
    id[0] = n;
    id
}

#[test]
fn empty_documents_under_random_ids_leave_no_state_behind() {
    let (mut c, mut p) = (commune(), province());
    receive(&mut c, 1);
    let mut link = sync(&mut c, &mut p);
    let (held, kept) = (p.digests(), p.sync_states_kept());
    let empty: Vec<DocMessage> = (0..=255u8)
        .map(|n| DocMessage { id: random_id(n), body: DocBody::Whole(Automerge::new().save()), signatures: vec![] })
        .collect();
    link.b.handle(&mut p, Message::Docs(encode_batch(&empty)), NOW).unwrap();
    let out = link.b.take_outgoing();
    let [Message::Applied(applied)] = &out[..] else { panic!("{out:?}") };
    assert_eq!(applied.len(), 256);
    assert!(
        applied.iter().all(|a| matches!(&a.verdict, Verdict::Refused(r) if r.contains("empty document"))),
        "{applied:?}"
    );
    // Changes with nothing to build on, for documents not held, neither.
    let loose: Vec<DocMessage> = (0..=255u8)
        .map(|n| DocMessage { id: random_id(n), body: DocBody::Changes(Vec::new()), signatures: vec![] })
        .collect();
    link.b.handle(&mut p, Message::Docs(encode_batch(&loose)), NOW).unwrap();
    link.b.take_outgoing();
    assert_eq!((p.digests(), p.sync_states_kept()), (held, kept), "nothing stored, no state kept");
}

#[test]
fn a_document_for_another_unit_is_refused() {
    let (mut c, mut p) = (commune(), province());
    let mut other = node(3, OTHER_COMMUNE, NodeRole::Commune);
    let id = receive(&mut c, 1);
    sync(&mut c, &mut p);
    // The province (wrongly) pushes commune 26734's dossier to 26735.
    let doc = p.doc(&id).unwrap().clone();
    let mut link = Link::open(&p, &other);
    link.run(&mut p, &mut other).unwrap();
    let signatures = p.signatures(&doc).unwrap();
    let commune_cert = p.certificate(&c.local.key).unwrap().unwrap();
    link.b.handle(&mut other, Message::Certificates(vec![commune_cert]), NOW).unwrap();
    let msg = DocMessage { id, body: DocBody::Whole(doc.save()), signatures };
    link.b.handle(&mut other, Message::Docs(encode_batch(&[msg])), NOW).unwrap();
    let out = link.b.take_outgoing();
    assert!(
        matches!(&out[..], [Message::Applied(a)] if matches!(&a[0].verdict, Verdict::Refused(r) if r.contains("no part"))),
        "{out:?}"
    );
    assert!(other.is_empty());
}

#[test]
fn a_refused_change_is_not_offered_again_and_again() {
    let (mut c, mut a, mut p) = (commune(), agency(), province());
    let id = receive(&mut c, 1);
    transfer(&mut c, &id, AGENCY);
    sync(&mut c, &mut p);
    sync(&mut a, &mut p);
    // Not allowed after a transfer: the commune refuses it.
    act(&mut a, &id, event(Action::StartProcessing, T0 + 2000, "", ""));
    let link = sync(&mut a, &mut c);
    assert_eq!(link.b.progress().docs_refused_from_peer, 1);
    assert!(link.a.progress().rounds <= 2, "{} rounds", link.a.progress().rounds);
    assert_ne!(c.digests()[&id], a.digests()[&id]);
}

#[test]
fn a_catch_up_sends_what_changed_since_the_checkpoint_once() {
    let (mut c, mut p) = (commune(), province());
    let ids: Vec<_> = (1..=60).map(|n| receive(&mut c, n)).collect();
    sync(&mut c, &mut p);
    // Apart: five actions recorded and three dossiers received.
    for id in &ids[..5] {
        act(&mut c, id, event(Action::StartProcessing, T0 + 2000, "", ""));
    }
    for n in 61..=63 {
        receive(&mut c, n);
    }
    let link = sync(&mut c, &mut p);
    assert_eq!(p.digests(), c.digests());
    assert_eq!(link.a.progress().docs_sent, 8, "each changed dossier exactly once");
    // The five updates went as deltas from the acknowledged heads, not as
    // whole documents: far fewer bytes than the first replication.
    assert!(link.bytes < 8 * 1500, "{} bytes", link.bytes);
}

/// The frames each side sent, in order, over a whole sync; `reversed`:
/// the replicas run the items of [`Replica::run_parallel`] last first, as
/// a driver's threads may finish them.
fn transcript(a: &mut MemoryReplica, b: &mut MemoryReplica, reversed: bool) -> Vec<Vec<u8>> {
    a.run_parallel_reversed(reversed);
    b.run_parallel_reversed(reversed);
    let mut link = Link::open(a, b);
    let mut frames = Vec::new();
    for _ in 0..10_000 {
        let to_b = link.a.take_outgoing();
        let to_a = link.b.take_outgoing();
        if to_b.is_empty() && to_a.is_empty() {
            return frames;
        }
        for m in to_b {
            let frame = encode_frame(&m);
            link.b.handle(b, decode_message(&frame[4..]).unwrap(), NOW).unwrap();
            frames.push(frame);
        }
        for m in to_a {
            let frame = encode_frame(&m);
            link.a.handle(a, decode_message(&frame[4..]).unwrap(), NOW).unwrap();
            frames.push(frame);
        }
    }
    panic!("the sessions never went quiet");
}

#[test]
fn the_order_a_driver_runs_parallel_work_in_changes_nothing() {
    // A commune with dossiers in several states, some the province holds
    // at an older version (deltas) and some it lacks (whole documents).
    let setup = || {
        let (mut c, mut p) = (commune(), province());
        let ids: Vec<_> = (1..=40).map(|n| receive(&mut c, n)).collect();
        for id in &ids[..10] {
            act(&mut c, id, event(Action::StartProcessing, T0 + 1000, "", ""));
        }
        sync(&mut c, &mut p);
        for id in &ids[5..15] {
            act(&mut c, id, event(Action::RequestWithdrawal, T0 + 2000, "", ""));
        }
        for n in 41..=60 {
            receive(&mut c, n);
        }
        (c, p)
    };
    let (mut c1, mut p1) = setup();
    let (mut c3, mut p3) = setup();
    let one = transcript(&mut c1, &mut p1, false);
    let three = transcript(&mut c3, &mut p3, true);
    assert_eq!(one, three, "the same messages in the same order");
    assert_eq!(p1.digests(), p3.digests());
    assert_eq!(p3.digests(), c3.digests(), "both converged");
    assert_eq!(p1.verified_changes, p3.verified_changes);
}

#[test]
fn a_round_started_while_documents_arrive_sends_none_of_them_twice() {
    // The accepting side holds the dossiers; the dialing side, empty, is
    // told of a local change after every message (an officer at its desk),
    // so it keeps starting rounds while documents are in flight.
    let (mut p, mut c) = (province(), commune());
    let n = 600;
    for i in 0..n {
        let me = hex_of(c.signing_key());
        let mut new = new_dossier(&me, Channel::Direct, false);
        let mut id = [7u8; 16];
        id[..2].copy_from_slice(&(i as u16).to_be_bytes());
        new.id = DossierId(id);
        new.code = format!("{AGENCY_ID}-251117-{i:04}");
        new.reception.unit = COMMUNE.into();
        new.reception.agency_id = AGENCY_ID.into();
        let (doc, _) = dossier::create(ActorId::from(c.local.key), &new).unwrap();
        c.commit_local(doc).unwrap();
    }
    // c holds them; p (dialer) is empty. c's messages reach p one at a
    // time, so that p's new rounds overtake documents still on the way.
    let mut link = Link::open(&p, &c);
    let mut to_p = std::collections::VecDeque::new();
    for _ in 0..100_000 {
        to_p.extend(link.b.take_outgoing());
        let to_c = link.a.take_outgoing();
        if to_c.is_empty() && to_p.is_empty() {
            break;
        }
        for m in to_c {
            link.b.handle(&mut c, m, NOW).unwrap();
        }
        if let Some(m) = to_p.pop_front() {
            link.a.handle(&mut p, m, NOW).unwrap();
            link.a.local_changed(&mut p).unwrap();
        }
    }
    assert_eq!(p.digests(), c.digests());
    assert!(link.a.progress().rounds > 1, "rounds ran while documents were in flight");
    assert_eq!(link.b.progress().docs_sent, n as u64, "each dossier sent once");
}

/// `count` workflow steps by the holder of a dossier in process:
/// financial obligations requested and fulfilled in turn.
fn writes(r: &mut MemoryReplica, id: &[u8; 16], count: usize, at: i64) {
    for n in 0..count {
        let action = if n % 2 == 0 { Action::RequestFinancialObligation } else { Action::FinancialObligationFulfilled };
        act(r, id, event(action, at + n as i64, "", ""));
    }
}

#[test]
fn a_delta_from_the_kept_recent_writes_needs_no_load() {
    let (mut c, mut p) = (commune(), province());
    let id = receive(&mut c, 1);
    sync(&mut c, &mut p);
    let held: Vec<ChangeHash> = p.doc(&id).unwrap().get_heads();
    act(&mut c, &id, event(Action::StartProcessing, T0 + 2000, "", ""));
    writes(&mut c, &id, 2, T0 + 2001);
    let mut whole = c.whole(&id).unwrap().unwrap();
    assert_eq!(whole.recent.len(), 3, "one recent write per write");
    // Bytes that cannot load: the delta must come from the recent writes alone.
    whole.bytes = vec![0xff; 8];
    let mut state = SyncState::new();
    state.shared_heads = held.clone();
    let d = delta(whole.clone(), state).expect("cut from the recent writes");
    let Some(DocBody::Changes(changes)) = d.body else { panic!("a delta of changes") };
    assert!(d.sent.delta);
    let mut peer = p.doc(&id).unwrap().clone();
    peer.load_incremental(&changes).unwrap();
    assert_eq!(peer.get_heads(), c.doc(&id).unwrap().get_heads());
    // Heads no recent write starts from: the document has to be loaded.
    let mut state = SyncState::new();
    state.shared_heads = vec![ChangeHash([9; 32])];
    assert!(delta(whole, state).is_err(), "the unloadable bytes were not read");
}

#[test]
fn a_peer_several_writes_behind_catches_up_and_the_province_relays_from_its_recent_writes() {
    let (mut c, mut p, mut a) = (commune(), province(), agency());
    let few = receive(&mut c, 1);
    let many = receive(&mut c, 2);
    transfer(&mut c, &few, AGENCY);
    // The transfer leaves the dossier in process at the agency.
    sync(&mut c, &mut p);
    sync(&mut a, &mut p);
    assert!(a.doc(&few).is_some());
    // Apart: the agency records three actions on the dossier it holds
    // (within the kept recent writes); the commune more than they keep on
    // the other (its delta is cut from the loaded document).
    writes(&mut a, &few, 3, T0 + 3000);
    act(&mut c, &many, event(Action::StartProcessing, T0 + 4000, "", ""));
    writes(&mut c, &many, crate::recent::RECENT_WRITES_MAX + 1, T0 + 4001);
    let link = sync(&mut c, &mut p);
    assert_eq!(p.digests()[&many], c.digests()[&many]);
    assert_eq!(link.a.progress().docs_sent, 1);
    let link = sync(&mut a, &mut p);
    assert_eq!(p.digests()[&few], a.digests()[&few]);
    assert_eq!(link.a.progress().docs_sent, 1, "three writes, one delta");
    // The province kept the delta it received as a recent write and relays from
    // it: the commune catches up without the province loading the dossier.
    assert_eq!(p.recent_writes(&few).unwrap().len(), 1);
    let link = sync(&mut c, &mut p);
    assert_eq!(c.digests(), p.digests());
    assert_eq!(link.b.progress().docs_sent, 1);
}

#[test]
fn a_recent_write_holds_what_was_applied_not_the_bytes_that_came() {
    let (mut c, mut p) = (commune(), province());
    let id = receive(&mut c, 1);
    sync(&mut c, &mut p);
    let v1 = p.doc(&id).unwrap().clone();
    act(&mut c, &id, event(Action::StartProcessing, T0 + 2000, "", ""));
    let v2 = c.doc(&id).unwrap().clone();
    let change = v2.save_after(&v1.get_heads());
    // The change, then a chunk Automerge skips with a warning.
    let mut bytes = change.clone();
    bytes.extend([0x85, 0x6f, 0x4a, 0x83, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x03, 1, 2, 3]);
    let signatures = c.signatures(&v2).unwrap();
    let stored = Some(v1.save_nocompress());
    let d = DocMessage { id, body: DocBody::Changes(bytes), signatures };
    let local = p.local.clone();
    let prepared = p.with_trust_shared(|t| prepare(t, &local, d, stored, true)).expect("the change verifies");
    let admitted = prepared.admission.expect("a new change");
    assert_eq!(admitted.heads, v2.get_heads().iter().map(|h| h.0).collect::<Vec<_>>());
    assert_eq!(admitted.gained, Some(change), "the recent write is the applied change alone");
}

#[test]
fn a_document_deflating_a_thousandfold_is_refused_before_it_is_inflated() {
    use automerge::transaction::Transactable;
    let (mut c, mut p) = (commune(), province());
    receive(&mut c, 1);
    let mut link = sync(&mut c, &mut p);
    let before = p.digests();
    let mut bomb = automerge::AutoCommit::new();
    bomb.put(automerge::ROOT, "text", "0".repeat(17 << 20)).unwrap();
    let msg = DocMessage { id: random_id(7), body: DocBody::Whole(bomb.save()), signatures: vec![] };
    link.b.handle(&mut p, Message::Docs(encode_batch(&[msg])), NOW).unwrap();
    let out = link.b.take_outgoing();
    assert!(
        matches!(&out[..], [Message::Applied(a)] if matches!(&a[0].verdict, Verdict::Refused(r) if r.contains("inflating beyond"))),
        "{:.300}",
        format!("{out:?}")
    );
    assert_eq!(p.digests(), before);
}

#[test]
fn a_certificate_is_kept_and_passed_on_as_this_node_writes_it() {
    let (mut c, mut p) = (commune(), province());
    let mut link = sync(&mut c, &mut p);
    let held = p.certificate(&c.local.key).unwrap().unwrap();
    let mut padded: serde_json::Value = serde_json::from_slice(&held).unwrap();
    padded["certificate"]["padding"] = serde_json::json!("x".repeat(3_000));
    let padded = serde_json::to_vec(&padded).unwrap();
    link.b.handle(&mut p, Message::Certificates(vec![padded]), NOW).unwrap();
    let kept = p.certificate(&c.local.key).unwrap().unwrap();
    assert!(!String::from_utf8_lossy(&kept).contains("padding"), "what the signature does not cover is dropped");
    assert!(kept.len() < 1_024, "{} bytes", kept.len());
}

#[test]
fn rounds_are_opened_one_at_a_time_and_in_order() {
    let (mut c, mut p) = (commune(), province());
    receive(&mut c, 1);
    let link = sync(&mut c, &mut p);
    let round = link.b.round;
    let empty = crate::reconcile::RangeMessage { ranges: vec![] };
    // A round number skipped ahead (each would cost a scan of the offers).
    let mut b = link.b;
    let err = b.handle(&mut p, Message::Reconcile { round: round + 5, message: empty.clone() }, NOW).unwrap_err();
    assert!(matches!(&err, SessionError::Protocol(m) if m.contains("was the last")), "{err}");
    // A new round while one is still going.
    let mut link = Link::open(&c, &p);
    let hello_a = link.a.take_outgoing();
    for m in hello_a {
        link.b.handle(&mut p, m, NOW).unwrap();
    }
    for m in link.b.take_outgoing() {
        link.a.handle(&mut c, m, NOW).unwrap();
    }
    let opened: Vec<Message> =
        link.a.take_outgoing().into_iter().filter(|m| matches!(m, Message::Reconcile { .. })).collect();
    let Some(Message::Reconcile { round, message }) = opened.into_iter().next() else {
        panic!("the dialer opens a round after the hellos")
    };
    link.b.handle(&mut p, Message::Reconcile { round, message }, NOW).unwrap();
    assert!(
        matches!(link.b.phase, Phase::Round { .. }),
        "the round goes on (the accepting side answered, not ended it)"
    );
    let err = link.b.handle(&mut p, Message::Reconcile { round: round + 1, message: empty }, NOW).unwrap_err();
    assert!(matches!(&err, SessionError::Protocol(m) if m.contains("is still going")), "{err}");
}

/// The Docs message `peer` would get from `p` for one document message
/// from it, and the outcome it would be told.
fn answer_to(link: &mut Link, p: &mut MemoryReplica, d: DocMessage) -> (Verdict, Vec<DocMessage>) {
    link.b.handle(p, Message::Docs(encode_batch(&[d])), NOW).unwrap();
    let mut outcome = None;
    let mut docs = Vec::new();
    for m in link.b.take_outgoing() {
        match m {
            Message::Applied(a) => outcome = Some(a[0].verdict.clone()),
            Message::Docs(batch) => docs.extend(decode_batch(&batch).unwrap()),
            _ => {}
        }
    }
    (outcome.expect("an acknowledgement"), docs)
}

/// `d` with its id replaced, so answers about two ids can be compared.
fn with_id(mut docs: Vec<DocMessage>, id: [u8; 16]) -> Vec<DocMessage> {
    for d in &mut docs {
        d.id = id;
    }
    docs
}

#[test]
fn a_peer_probing_for_a_dossier_it_has_no_part_in_gets_the_answer_of_an_unknown_id() {
    let (mut c, mut p) = (commune(), province());
    let mut other = node(3, OTHER_COMMUNE, NodeRole::Commune);
    let held = receive(&mut c, 1);
    sync(&mut c, &mut p);
    let unknown = random_id(9);
    // The other commune connects, then sends crafted messages about the
    // first commune's dossier and about an id nobody has.
    let mut link = Link::open(&other, &p);
    link.run(&mut other, &mut p).unwrap();
    let empty_sync = Automerge::new().generate_sync_message(&mut SyncState::new()).unwrap().encode();
    let probe = |id| DocMessage { id, body: DocBody::Sync(empty_sync.clone()), signatures: Vec::new() };
    let (o_held, r_held) = answer_to(&mut link, &mut p, probe(held));
    let (o_unknown, r_unknown) = answer_to(&mut link, &mut p, probe(unknown));
    assert_eq!(o_held, o_unknown);
    assert_eq!(with_id(r_held, unknown), r_unknown, "the same reply, and none of the dossier's changes");
    // A dossier of its own made under the held id, and one under the
    // unknown id, sent whole and as changes: both are answered as held
    // at the version sent, the held dossier is untouched, and only the
    // one under the unknown id is stored.
    let before = p.digests();
    let mut made = Vec::new();
    for (n, id) in [(2u8, held), (3u8, unknown)] {
        let me = hex_of(other.signing_key());
        let mut new = new_dossier(&me, Channel::Direct, false);
        new.id = DossierId(id);
        new.code = format!("{AGENCY_ID}-251117-{n:04}");
        new.reception.unit = OTHER_COMMUNE.into();
        new.reception.agency_id = AGENCY_ID.into();
        let (doc, _) = dossier::create(ActorId::from(other.local.key), &new).unwrap();
        let signatures = other.signatures(&doc).unwrap_or_default();
        let signatures = if signatures.is_empty() {
            doc.get_heads()
                .iter()
                .map(|h| ChangeSignature {
                    change: h.0,
                    signature: crate::attest::attest(other.signing_key(), &h.0).signature,
                })
                .collect()
        } else {
            signatures
        };
        made.push((id, doc, signatures));
    }
    let answers: Vec<(Verdict, Vec<DocMessage>)> = made
        .iter()
        .map(|(id, doc, signatures)| {
            let d = DocMessage { id: *id, body: DocBody::Whole(doc.save_nocompress()), signatures: signatures.clone() };
            answer_to(&mut link, &mut p, d)
        })
        .collect();
    assert_eq!(answers[0].0, Verdict::Holds(digest_of(&made[0].1)));
    assert_eq!(answers[1].0, Verdict::Holds(digest_of(&made[1].1)));
    assert!(answers.iter().all(|(_, r)| r.is_empty()));
    assert_eq!(p.digests().get(&held), before.get(&held), "the held dossier is untouched");
    assert_eq!(p.doc(&unknown).map(digest_of), Some(digest_of(&made[1].1)), "a new id is taken as before");
    let (held_doc, _) = (made[0].1.clone(), ());
    let changes = DocMessage { id: held, body: DocBody::Changes(held_doc.save()), signatures: made[0].2.clone() };
    let (o_changes, r_changes) = answer_to(&mut link, &mut p, changes);
    assert_eq!(o_changes, Verdict::Holds(digest_of(&held_doc)));
    assert!(r_changes.is_empty());
    assert_eq!(p.digests().get(&held), before.get(&held));
    assert_eq!(c.digests().get(&held), p.digests().get(&held));
}

#[test]
fn a_node_signing_two_changes_with_one_sequence_number_is_quarantined_in_that_dossier() {
    let (mut c, mut p) = (commune(), province());
    let id = receive(&mut c, 1);
    sync(&mut c, &mut p);
    // An old copy of the commune's data: the same key, the same actor.
    let mut restored = node(1, COMMUNE, NodeRole::Commune);
    restored.commit_local(c.doc(&id).unwrap().clone()).unwrap();
    let shared = c.doc(&id).unwrap().get_heads();
    act(&mut c, &id, event(Action::StartProcessing, T0 + 2000, "", ""));
    sync(&mut c, &mut p);
    let at_province = p.digests()[&id];
    // The copy records another change under the same sequence number.
    act(&mut restored, &id, event(Action::RequestWithdrawal, T0 + 3000, "", ""));
    let forked = restored.doc(&id).unwrap().clone();
    let head = forked.get_heads()[0].0;
    let signature = crate::attest::attest(restored.signing_key(), &head).signature;
    let mut link = Link::open(&restored, &p);
    link.run(&mut restored, &mut p).ok();
    link.b.take_forks();
    let msg = DocMessage {
        id,
        body: DocBody::Changes(forked.save_after(&shared)),
        signatures: vec![ChangeSignature { change: head, signature }],
    };
    link.b.handle(&mut p, Message::Docs(encode_batch(&[msg])), NOW).unwrap();
    let out = link.b.take_outgoing();
    assert!(
        matches!(&out[..], [Message::Applied(a)] if matches!(&a[0].verdict, Verdict::Refused(r) if r.contains("forked"))),
        "{out:?}"
    );
    let forks = link.b.take_forks();
    assert_eq!(forks.len(), 1);
    assert_eq!((forks[0].0, forks[0].1.node_key, forks[0].1.seq), (id, c.local.key, 2));
    assert!(link.b.take_refusals().iter().any(|r| r.id == id && !r.by_peer && r.reason.contains("forked")));
    assert_eq!(p.digests()[&id], at_province, "nothing of the fork stored");
    // The commune's later change in that dossier is refused too; its
    // other dossiers still pass.
    act(&mut c, &id, event(Action::Processed, T0 + 4000, "", ""));
    let other = receive(&mut c, 2);
    let mut link = Link::open(&c, &p);
    link.run(&mut c, &mut p).unwrap();
    assert_eq!(p.digests()[&id], at_province, "the quarantined actor's later change is refused");
    assert!(link.a.take_refusals().iter().any(|r| r.id == id && r.by_peer && r.reason.contains("quarantined")));
    assert!(p.digests().contains_key(&other));
    // A thief with the key writing under a new incarnation is refused too:
    // the quarantine is the key's, in that dossier.
    let mut incarnated = c.local.key.to_vec();
    incarnated.extend_from_slice(&[9; motcua_domain::actor::INCARNATION_BYTES]);
    let base = p.doc(&id).unwrap().clone();
    let mut doc = base.fork().with_actor(ActorId::from(incarnated));
    let mut e = event(Action::RequestWithdrawal, T0 + 5000, COMMUNE, &hex_of(c.signing_key()));
    e.officer = "x".into();
    dossier::append_event(&mut doc, &e).unwrap();
    let head = doc.get_heads()[0].0;
    let signature = crate::attest::attest(c.signing_key(), &head).signature;
    let mut link = Link::open(&c, &p);
    link.run(&mut c, &mut p).unwrap();
    let msg = DocMessage {
        id,
        body: DocBody::Changes(doc.save_after(&base.get_heads())),
        signatures: vec![ChangeSignature { change: head, signature }],
    };
    link.b.handle(&mut p, Message::Docs(encode_batch(&[msg])), NOW).unwrap();
    let out = link.b.take_outgoing();
    assert!(
        matches!(&out[..], [Message::Applied(a)] if matches!(&a[0].verdict, Verdict::Refused(r) if r.contains("quarantined"))),
        "{out:?}"
    );
    assert_eq!(p.digests()[&id], at_province);
    // A duplicate that is not signed proves nothing: no quarantine.
    let (mut c2, mut p2) = (commune(), province());
    let id2 = receive(&mut c2, 3);
    sync(&mut c2, &mut p2);
    let mut copy = node(1, COMMUNE, NodeRole::Commune);
    copy.commit_local(c2.doc(&id2).unwrap().clone()).unwrap();
    let base2 = c2.doc(&id2).unwrap().get_heads();
    act(&mut c2, &id2, event(Action::StartProcessing, T0 + 2000, "", ""));
    sync(&mut c2, &mut p2);
    act(&mut copy, &id2, event(Action::RequestWithdrawal, T0 + 3000, "", ""));
    let forged = copy.doc(&id2).unwrap().clone();
    let mut link = Link::open(&copy, &p2);
    link.run(&mut copy, &mut p2).ok();
    link.b.take_forks();
    let msg = DocMessage { id: id2, body: DocBody::Changes(forged.save_after(&base2)), signatures: Vec::new() };
    link.b.handle(&mut p2, Message::Docs(encode_batch(&[msg])), NOW).unwrap();
    assert!(link.b.take_forks().is_empty());
    assert!(!p2.with_trust(|t| t.is_quarantined(&id2, &c2.local.key)));
    assert!(!p.with_trust(|t| t.is_quarantined(&id2, &c.local.key)));
    assert!(p.with_trust(|t| t.is_quarantined(&id, &c.local.key)));
}

#[test]
fn acknowledgements_wait_for_the_commit_that_stores_what_they_acknowledge() {
    let (mut c, mut p) = (commune(), province());
    p.defer_commits(true);
    let ids: Vec<_> = (1..=3).map(|n| receive(&mut c, n)).collect();
    let mut link = Link::open(&c, &p);
    link.run_uncommitted(&mut c, &mut p);
    // The province verified and wrote the batch, and says nothing of it
    // (nor anything after it) until the commit is durable.
    assert_eq!(p.len(), 3);
    let awaited = link.b.awaiting_commits();
    assert_eq!(awaited, vec![p.last_commit().unwrap()]);
    assert!(link.b.held_back() > 0);
    assert_eq!(link.a.docs_pending(), 3, "nothing acknowledged");
    for id in &ids {
        assert_eq!(c.held_by(&p.local.key, id), None);
    }
    // Another session's commit changes nothing here.
    link.b.committed(CommitId(awaited[0].0 + 100));
    assert!(link.b.take_outgoing().is_empty());
    p.durable(awaited[0]);
    link.b.committed(awaited[0]);
    assert!(link.b.awaiting_commits().is_empty() && link.b.held_back() == 0);
    let released = link.b.take_outgoing();
    assert!(matches!(released.first(), Some(Message::Applied(a)) if a.len() == 3), "{released:?}");
    for m in released {
        link.a.handle(&mut c, m, NOW).unwrap();
    }
    link.run(&mut c, &mut p).unwrap();
    for id in &ids {
        assert_eq!(c.held_by(&p.local.key, id), Some(c.digests()[id]), "safe at the province once durable");
    }
    assert_eq!(p.commits_in_flight(), 0);
}

#[test]
fn a_failed_commit_ends_the_session_with_nothing_acknowledged() {
    let (mut c, mut p) = (commune(), province());
    p.defer_commits(true);
    let ids: Vec<_> = (1..=3).map(|n| receive(&mut c, n)).collect();
    let mut link = Link::open(&c, &p);
    link.run_uncommitted(&mut c, &mut p);
    let commit = link.b.awaiting_commits()[0];
    // A commit the session does not wait on is none of its business.
    link.b.commit_failed(CommitId(commit.0 + 100), "not ours".into()).unwrap();
    let err = link.b.commit_failed(commit, "the disk is full".into()).unwrap_err();
    assert!(matches!(&err, SessionError::CommitFailed(why) if why == "the disk is full"), "{err}");
    assert_eq!(err.to_string(), "received documents were not stored: the disk is full");
    assert!(link.b.take_outgoing().is_empty() && link.b.held_back() == 0, "no acknowledgement goes");
    assert_eq!(link.a.docs_pending(), 3);
    // The node stops with the write undone; the next connection sends
    // the documents again.
    assert_eq!(p.crash(), 1);
    assert!(p.is_empty());
    let again = sync(&mut c, &mut p);
    assert_eq!(p.digests(), c.digests());
    assert_eq!(again.a.progress().docs_sent, 3);
    for id in &ids {
        assert_eq!(c.held_by(&p.local.key, id), Some(c.digests()[id]));
    }
}

#[test]
fn the_invariants_hold_through_a_whole_exchange_and_catch_a_broken_state() {
    let (mut c, mut p) = (commune(), province());
    p.defer_commits(true);
    for n in 1..=30 {
        receive(&mut c, n);
    }
    let mut link = Link::open(&c, &p);
    link.a.check_invariants().unwrap();
    // Every message, and every commit reported, keeps them (Link::run
    // checks after each call).
    link.run(&mut c, &mut p).unwrap();
    assert_eq!(p.digests(), c.digests());
    link.a.check_invariants().unwrap();
    link.b.check_invariants().unwrap();

    let broken = |s: &mut Session, f: &dyn Fn(&mut Session)| {
        f(s);
        s.check_invariants().unwrap_err()
    };
    let mut s = Session::new(c.local.clone(), p.local.key, true);
    assert!(broken(&mut s, &|s| s.in_flight_count += 1).contains("counted in flight"));
    let mut s = Session::new(c.local.clone(), p.local.key, true);
    assert!(
        broken(&mut s, &|s| s.queue.push_back((Item { id: [1; 16], digest: [2; 16] }, false)))
            .contains("before the peer is admitted")
    );
    let mut s = Session::new(c.local.clone(), p.local.key, false);
    let peer = Peer { key: p.local.key, unit: "56000".into(), role: NodeRole::Province };
    assert!(
        broken(&mut s, &|s| s.phase = Phase::AwaitingReady { peer: peer.clone() })
            .contains("waits for its own Changed")
    );
    let mut s = Session::new(c.local.clone(), p.local.key, true);
    assert!(
        broken(&mut s, &|s| s.phase = Phase::Between { peer: peer.clone(), checkpoint_due: false, asked: true })
            .contains("dialing side asked")
    );
    let mut s = Session::new(c.local.clone(), p.local.key, true);
    let err = broken(&mut s, &|s| {
        s.phase = Phase::Between { peer: peer.clone(), checkpoint_due: false, asked: false };
        s.held.push_back(Held { commit: CommitId(1), done: true, messages: vec![Message::Changed] });
    });
    assert!(err.contains("already durable"), "{err}");
}

/// Two connections between the same pair: the second delivers documents
/// the first has written and not yet committed. What the second says of
/// them waits for that commit too.
#[test]
fn an_acknowledgement_waits_for_another_connections_commit_of_what_it_holds() {
    let (mut c, mut p) = (commune(), province());
    p.defer_commits(true);
    let ids: Vec<_> = (1..=3).map(|n| receive(&mut c, n)).collect();
    let mut first = Link::open(&c, &p);
    let mut second = Link::open(&c, &p);
    // The second connection gets as far as the commune sending its batch.
    let mut batch = Vec::new();
    for _ in 0..100 {
        let to_p = second.a.take_outgoing();
        let to_c = second.b.take_outgoing();
        if to_p.is_empty() && to_c.is_empty() {
            break;
        }
        for m in to_p {
            match m {
                Message::Docs(_) => batch.push(m),
                m => second.b.handle(&mut p, m, NOW).unwrap(),
            }
        }
        for m in to_c {
            second.a.handle(&mut c, m, NOW).unwrap();
        }
    }
    assert!(!batch.is_empty(), "the second connection sent the documents");
    // The first connection delivers the same documents; their commit stays
    // in flight.
    first.run_uncommitted(&mut c, &mut p);
    let commit = p.last_commit().expect("the first connection's commit");
    assert_eq!(p.commits_in_flight(), 1);
    for m in batch {
        second.b.handle(&mut p, m, NOW).unwrap();
        second.b.check_invariants().unwrap();
    }
    let awaited = second.b.awaiting_commits();
    assert!(matches!(awaited[..], [w] if w >= commit), "held for the first connection's commit: {awaited:?}");
    assert!(
        !second.b.take_outgoing().iter().any(|m| matches!(m, Message::Applied(_))),
        "nothing acknowledged before the commit is durable"
    );
    p.durable(awaited[0]);
    second.b.committed(awaited[0]);
    let released = second.b.take_outgoing();
    assert!(matches!(released.first(), Some(Message::Applied(a)) if a.len() == 3), "{released:?}");
    for id in &ids {
        assert!(p.digests().contains_key(id));
    }
}

/// Every session of a simulated node reads the same maps, commits in
/// flight included: a batch that stores nothing answers with the newest
/// commit in flight, so that what it says waits for it.
#[test]
fn a_batch_storing_nothing_waits_for_the_newest_commit_in_flight() {
    let (c, mut p) = (commune(), province());
    let peer = Peer { key: c.local.key, unit: COMMUNE.into(), role: NodeRole::Commune };
    p.defer_commits(true);
    assert_eq!(p.apply(&peer, vec![], vec![]).unwrap().commit, None, "nothing in flight: nothing to wait for");
    let first = p.apply(&peer, vec![], vec![([1; 16], vec![1])]).unwrap().commit.expect("a commit in flight");
    assert_eq!(p.apply(&peer, vec![], vec![]).unwrap().commit, Some(first));
    p.durable(first);
    assert_eq!(p.apply(&peer, vec![], vec![]).unwrap().commit, None);
}
