use std::collections::HashMap;

use automerge::{ActorId, Automerge};
use ed25519_dalek::SigningKey;
use motcua_domain::dossier::{self, Channel};
use motcua_domain::fixtures::{AGENCY, COMMUNE, T0, event, new_dossier};

use super::*;
use crate::attest::attest;
use crate::cert::{ProvinceDocument, Revocation};

const OFFSET: i32 = 420;

struct World {
    root: SigningKey,
    trust: Trust,
    attestations: HashMap<[u8; 32], Attestation>,
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn hex_of(k: &SigningKey) -> String {
    hex::encode(k.verifying_key().to_bytes())
}

/// The agency identifier in a test node's certificate: the fixtures'
/// dossiers are received by COMMUNE under its codes.
fn agency_id_of(unit: &str) -> &'static str {
    if unit == COMMUNE { "000.21.45.H56" } else { "000.00.01.H56" }
}

fn cert(root: &SigningKey, node: &SigningKey, unit: &str, role: NodeRole, serial: u8) -> SignedCertificate {
    crate::fixtures::certificate(root, node, unit, agency_id_of(unit), role, serial, 2 * T0)
}

fn province_doc(root: &SigningKey, kind: DocumentKind, sequence: u64, body: String) -> SignedProvinceDocument {
    SignedProvinceDocument::sign(
        ProvinceDocument { kind, province_code: "56".into(), sequence, label: "t".into(), issued_at_ms: 0, body },
        root,
    )
}

impl World {
    /// Province 56 with commune 1 (COMMUNE), agency 2 (AGENCY), commune 3
    /// ("26735"), the province node 4 and commune 6 ("26800") enrolled.
    fn new() -> World {
        let root = key(100);
        let mut trust = empty_trust(&root);
        for (n, unit, role) in [
            (1, COMMUNE, NodeRole::Commune),
            (2, AGENCY, NodeRole::Agency),
            (3, "26735", NodeRole::Commune),
            (4, "56000", NodeRole::Province),
            (6, "26800", NodeRole::Commune),
        ] {
            trust.admit(&cert(&root, &key(n), unit, role, n), None).unwrap();
        }
        World { root, trust, attestations: HashMap::new() }
    }

    fn sign_heads(&mut self, doc: &Automerge, by: &SigningKey) {
        for h in doc.get_heads() {
            self.attestations.insert(h.0, attest(by, &h.0));
        }
    }

    fn verify(&self, doc: &Automerge, known: &[ChangeHash]) -> Result<Additions, Rejection> {
        verify_document(&self.trust, doc, known, |h| self.attestations.get(h).copied(), OFFSET)
    }
}

fn actor(k: &SigningKey) -> ActorId {
    ActorId::from(k.verifying_key().to_bytes())
}

fn received(w: &mut World) -> Automerge {
    let k = key(1);
    let (doc, _) = dossier::create(actor(&k), &new_dossier(&hex_of(&k), Channel::Direct, false)).unwrap();
    w.sign_heads(&doc, &k);
    doc
}

fn transferred(w: &mut World) -> Automerge {
    let mut doc = received(w);
    let mut t = event(Action::Transfer, T0 + 1000, COMMUNE, &hex_of(&key(1)));
    t.to_unit = Some(AGENCY.into());
    dossier::append_event(&mut doc, &t).unwrap();
    w.sign_heads(&doc, &key(1));
    doc
}

fn append_as(doc: &Automerge, k: &SigningKey, mut e: dossier::Event) -> Automerge {
    let mut d = doc.fork().with_actor(actor(k));
    e.node = hex_of(k);
    dossier::append_event(&mut d, &e).unwrap();
    d
}

fn result(unit: &str) -> dossier::Event {
    let mut e = event(Action::Processed, T0 + 2000, unit, "");
    e.result = Some("Kết quả thử".into());
    e
}

#[test]
fn a_signed_document_from_enrolled_nodes_is_admitted() {
    let mut w = World::new();
    let doc = transferred(&mut w);
    let processed = append_as(&doc, &key(2), result(AGENCY));
    w.sign_heads(&processed, &key(2));
    let whole = w.verify(&processed, &[]).unwrap();
    assert_eq!(whole.events.len(), 3);
    assert_eq!(w.verify(&processed, &doc.get_heads()).unwrap().events.len(), 1);
}

#[test]
fn unsigned_and_foreign_signed_changes_are_refused() {
    let mut w = World::new();
    let doc = transferred(&mut w);
    let processed = append_as(&doc, &key(2), result(AGENCY));
    let known = doc.get_heads();
    assert!(matches!(w.verify(&processed, &known), Err(Rejection::Unsigned { .. })));
    // Signed, validly, by a key other than the change's actor.
    w.sign_heads(&processed, &key(3));
    let err = w.verify(&processed, &known).unwrap_err();
    assert!(matches!(&err, Rejection::SignerNotActor { signer, .. } if *signer == hex_of(&key(3))), "{err}");
    // A signature bit flipped.
    let head = processed.get_heads()[0].0;
    let mut a = attest(&key(2), &head);
    a.signature[5] ^= 1;
    w.attestations.insert(head, a);
    assert!(matches!(w.verify(&processed, &known), Err(Rejection::BadSignature { .. })));
}

#[test]
fn unknown_and_revoked_nodes_are_refused() {
    let mut w = World::new();
    let doc = transferred(&mut w);
    let stranger = key(9);
    let mut e = result(AGENCY);
    e.unit = AGENCY.into();
    let by_stranger = append_as(&doc, &stranger, e);
    w.sign_heads(&by_stranger, &stranger);
    assert!(matches!(w.verify(&by_stranger, &doc.get_heads()), Err(Rejection::Unknown(_))));

    let processed = append_as(&doc, &key(2), result(AGENCY));
    w.sign_heads(&processed, &key(2));
    let list = RevocationList {
        revoked: vec![Revocation { serial: format!("{:032x}", 2), reason: "stolen".into(), at_ms: 5, node_key: None }],
    };
    let signed = province_doc(&w.root, DocumentKind::Revocations, 1, serde_json::to_string(&list).unwrap());
    assert_eq!(w.trust.set_revocations(&signed), Ok(1));
    assert!(matches!(w.verify(&processed, &doc.get_heads()), Err(Rejection::Revoked { .. })));
    assert!(matches!(w.trust.set_revocations(&signed), Err(Rejection::StaleRevocations { offered: 1, held: 1 })));
    let forged = province_doc(&key(50), DocumentKind::Revocations, 2, "{\"revoked\":[]}".into());
    assert!(matches!(w.trust.set_revocations(&forged), Err(Rejection::Certificate(CertError::BadSignature))));
    // A certificate another root signed is never admitted.
    let foreign = cert(&key(50), &key(8), COMMUNE, NodeRole::Commune, 8);
    assert!(matches!(w.trust.admit(&foreign, None), Err(Rejection::Certificate(CertError::BadSignature))));
}

#[test]
fn a_result_from_a_commune_without_authority_is_refused() {
    let mut w = World::new();
    let doc = transferred(&mut w);
    // Commune 3 is enrolled, but the dossier was never routed to it.
    let by_other = append_as(&doc, &key(3), result("26735"));
    w.sign_heads(&by_other, &key(3));
    let err = w.verify(&by_other, &doc.get_heads()).unwrap_err();
    assert!(matches!(&err, Rejection::Authority(AuthorityError::Refused { action, .. }) if action == "processed"));
    // Commune 3 claiming to speak for the agency that holds it.
    let posing = append_as(&doc, &key(3), result(AGENCY));
    w.sign_heads(&posing, &key(3));
    let err = w.verify(&posing, &doc.get_heads()).unwrap_err();
    assert!(matches!(&err, Rejection::UnitMismatch { certified, .. } if certified == "26735"), "{err}");
    // The province node relays; it records no dossier events.
    let by_province = append_as(&received(&mut w), &key(4), event(Action::StartProcessing, T0 + 5, "56000", ""));
    w.sign_heads(&by_province, &key(4));
    assert!(w.verify(&by_province, &[]).is_err());
}

#[test]
fn a_handover_needs_a_succession_the_province_signed() {
    let mut w = World::new();
    let doc = received(&mut w);
    let succession = |root: &SigningKey, from: &str| {
        let body = serde_json::to_string(&Succession { from_units: vec![from.into()], to_unit: "26800".into() });
        serde_json::to_string(&province_doc(root, DocumentKind::Succession, 1, body.unwrap())).unwrap()
    };
    let handover = |s: String| {
        let mut e = event(Action::Handover, T0 + 3000, "26800", "");
        e.to_unit = Some("26800".into());
        e.succession = Some(s);
        e
    };
    let good = append_as(&doc, &key(6), handover(succession(&w.root, COMMUNE)));
    w.sign_heads(&good, &key(6));
    assert_eq!(w.verify(&good, &doc.get_heads()).unwrap().events[0].action, Action::Handover);

    for (s, why) in [
        (succession(&key(50), COMMUNE), "not signed by this province"),
        (succession(&w.root, "26999"), "succeeds another unit"),
        ("{".to_string(), "malformed"),
    ] {
        let bad = append_as(&doc, &key(6), handover(s));
        w.sign_heads(&bad, &key(6));
        assert!(matches!(w.verify(&bad, &doc.get_heads()), Err(Rejection::Succession { .. })), "{why}");
    }
}

/// Province 56's trust set, with no node admitted yet.
fn empty_trust(root: &SigningKey) -> Trust {
    Trust::new(&ProvinceRecord {
        code: "56".into(),
        name: "Tỉnh Thử".into(),
        public_key: hex_of(root),
        daily_dossiers_per_node: None,
    })
    .unwrap()
}

/// A revocation list of province 56, signed by `root`, sequence 1.
fn revoking(root: &SigningKey, revoked: Vec<Revocation>) -> SignedProvinceDocument {
    let list = RevocationList { revoked };
    province_doc(root, DocumentKind::Revocations, 1, serde_json::to_string(&list).unwrap())
}

/// A renewal of `node`'s certificate: serial `serial`, valid from `from`.
fn renewal(root: &SigningKey, node: &SigningKey, serial: u8, from: i64) -> SignedCertificate {
    let mut c = cert(root, node, COMMUNE, NodeRole::Commune, serial).certificate;
    c.not_before_ms = from;
    c.not_after_ms = from + 1_000;
    SignedCertificate::sign(c, root)
}

#[test]
fn a_revoked_node_stays_revoked_whichever_of_its_certificates_it_presents() {
    let root = key(100);
    let mut trust = empty_trust(&root);
    let node = key(1);
    let (first, renewed) = (renewal(&root, &node, 31, 0), renewal(&root, &node, 32, 500));
    trust.admit(&first, None).unwrap();
    trust.admit(&renewed, None).unwrap();
    // The older certificate never replaces the newer one.
    trust.admit(&first, None).unwrap();
    assert!(trust.holds(&renewed) && !trust.holds(&first));
    assert_eq!(trust.node(&node.verifying_key().to_bytes()).unwrap().serial, format!("{:032x}", 32));
    // The renewed certificate is revoked: the node is, under either one.
    let revocation = Revocation { serial: format!("{:032x}", 32), reason: "stolen".into(), at_ms: 5, node_key: None };
    trust.set_revocations(&revoking(&root, vec![revocation])).unwrap();
    let key_bytes = node.verifying_key().to_bytes();
    assert!(matches!(trust.node(&key_bytes), Err(Rejection::Revoked { .. })));
    assert!(matches!(trust.admit(&first, None), Err(Rejection::Revoked { .. })), "the older one is no way back");
    assert!(matches!(trust.node(&key_bytes), Err(Rejection::Revoked { .. })));
    assert_eq!(trust.nodes().count(), 0);
}

#[test]
fn a_revocation_naming_the_key_revokes_the_node_under_a_newer_certificate() {
    let root = key(100);
    let mut trust = empty_trust(&root);
    let node = key(1);
    trust.admit(&renewal(&root, &node, 41, 500), None).unwrap();
    // The older certificate (never seen here) is revoked, with its key.
    let revocation = Revocation {
        serial: format!("{:032x}", 40),
        reason: "lộ khóa".into(),
        at_ms: 5,
        node_key: Some(hex_of(&node)),
    };
    let signed = revoking(&root, vec![revocation]);
    trust.set_revocations(&signed).unwrap();
    assert!(matches!(trust.node(&node.verifying_key().to_bytes()), Err(Rejection::Revoked { .. })));
    // A trust set built afresh (a restart) from the same list agrees.
    let mut again = empty_trust(&root);
    again.set_revocations(&signed).unwrap();
    assert!(again.admit(&renewal(&root, &node, 41, 500), None).is_err());
}

#[test]
fn a_node_creates_dossiers_of_its_own_unit_under_its_own_codes_only() {
    let mut w = World::new();
    // Commune 3 ("26735", codes 000.00.01.H56) creates a dossier under
    // COMMUNE's codes, received at COMMUNE: refused.
    let k = key(3);
    let taken = new_dossier(&hex_of(&k), Channel::Direct, false);
    let (doc, _) = dossier::create(actor(&k), &taken).unwrap();
    w.sign_heads(&doc, &k);
    assert!(matches!(w.verify(&doc, &[]), Err(Rejection::NotItsCode(_))));
    // Its own codes, but received at COMMUNE: refused.
    let mut elsewhere = new_dossier(&hex_of(&k), Channel::Direct, false);
    elsewhere.code = "000.00.01.H56-251117-0001".into();
    elsewhere.reception.agency_id = "000.00.01.H56".into();
    let (doc, _) = dossier::create(actor(&k), &elsewhere).unwrap();
    w.sign_heads(&doc, &k);
    assert!(matches!(w.verify(&doc, &[]), Err(Rejection::NotItsCode(_))));
    // A code sharing the prefix but of another agency: refused.
    let mut longer = elsewhere.clone();
    longer.reception.unit = "26735".into();
    longer.code = "000.00.01.H567-251117-0001".into();
    let (doc, _) = dossier::create(actor(&k), &longer).unwrap();
    w.sign_heads(&doc, &k);
    assert!(matches!(w.verify(&doc, &[]), Err(Rejection::NotItsCode(_))));
    // COMMUNE's own node, under a code of another day than the reception.
    let k1 = key(1);
    let mut other_day = new_dossier(&hex_of(&k1), Channel::Direct, false);
    other_day.code = "000.21.45.H56-251118-9999".into();
    let (doc, _) = dossier::create(actor(&k1), &other_day).unwrap();
    w.sign_heads(&doc, &k1);
    assert!(matches!(w.verify(&doc, &[]), Err(Rejection::NotItsCode(_))));
    // A key of COMMUNE whose certificate ended long before the reception.
    let old = key(7);
    w.trust
        .admit(&crate::fixtures::certificate(&w.root, &old, COMMUNE, "000.21.45.H56", NodeRole::Commune, 7, 10), None)
        .unwrap();
    let (doc, _) = dossier::create(actor(&old), &new_dossier(&hex_of(&old), Channel::Direct, false)).unwrap();
    w.sign_heads(&doc, &old);
    assert!(matches!(w.verify(&doc, &[]), Err(Rejection::NotItsCode(r)) if r.contains("after its certificate ended")));
    // A key renewed after it received a dossier: the trust holds only the
    // newest certificate, which starts later; the dossier still verifies.
    let renewed = key(8);
    let mut newer =
        crate::fixtures::certificate(&w.root, &renewed, COMMUNE, "000.21.45.H56", NodeRole::Commune, 8, 3 * T0);
    newer.certificate.not_before_ms = 2 * T0;
    let newer = SignedCertificate::sign(newer.certificate, &w.root);
    w.trust.admit(&newer, None).unwrap();
    let (doc, _) = dossier::create(actor(&renewed), &new_dossier(&hex_of(&renewed), Channel::Direct, false)).unwrap();
    w.sign_heads(&doc, &renewed);
    assert!(w.verify(&doc, &[]).is_ok(), "received before the renewal");
    // Its own unit and codes: admitted.
    let mut own = elsewhere;
    own.reception.unit = "26735".into();
    let (doc, _) = dossier::create(actor(&k), &own).unwrap();
    w.sign_heads(&doc, &k);
    assert!(w.verify(&doc, &[]).is_ok());
}

fn attach(unit: &str) -> dossier::Event {
    let mut e = event(Action::Attach, T0 + 2000, unit, "");
    e.file = Some(motcua_domain::attachment::File {
        hash: [7; 32],
        size: 300_000,
        media_type: motcua_domain::attachment::MediaType::Pdf,
        name: "Kết quả.pdf".into(),
        kind: motcua_domain::attachment::Kind::Result,
        document_line: None,
    });
    e
}

/// A file's record travels as any event does: the unit holding the dossier
/// may attach one, a unit with no part in it may not.
#[test]
fn an_attachment_is_admitted_from_the_holder_and_refused_from_an_outsider() {
    let mut w = World::new();
    let doc = transferred(&mut w);
    let attached = append_as(&doc, &key(2), attach(AGENCY));
    w.sign_heads(&attached, &key(2));
    let added = w.verify(&attached, &doc.get_heads()).unwrap();
    assert_eq!(added.events.len(), 1);
    assert_eq!(added.events[0].action, Action::Attach);
    // Commune 3 is enrolled, but the dossier was never routed to it.
    let outsider = append_as(&doc, &key(3), attach("26735"));
    w.sign_heads(&outsider, &key(3));
    let err = w.verify(&outsider, &doc.get_heads()).unwrap_err();
    assert!(
        matches!(&err, Rejection::Authority(AuthorityError::Refused { action, .. }) if action == "attach"),
        "{err}"
    );
}

/// A resolution of a conflict travels as any event does: a leader of the
/// unit holding the dossier may record one, a unit with no part in it may
/// not, and once admitted the conflict is gone.
#[test]
fn a_resolution_is_admitted_from_the_holder_and_refused_from_an_outsider() {
    let mut w = World::new();
    let doc = transferred(&mut w);
    // The commune recalls the dossier while the agency, apart, asks for the
    // financial obligation: whichever sorts second is a conflict.
    let recall = append_as(&doc, &key(1), event(Action::Recall, T0 + 2000, COMMUNE, ""));
    w.sign_heads(&recall, &key(1));
    let asked = append_as(&doc, &key(2), event(Action::RequestFinancialObligation, T0 + 2000, AGENCY, ""));
    w.sign_heads(&asked, &key(2));
    let mut merged = recall.fork();
    merged.merge(&mut asked.fork()).unwrap();
    w.verify(&merged, &doc.get_heads()).unwrap();
    let record = dossier::read(&merged).unwrap();
    let folded = motcua_domain::fold::fold(&record, OFFSET);
    assert_eq!(folded.conflicts.len(), 1, "{:?}", folded.conflicts);
    let named = &record.events[folded.conflicts[0].event_index];
    let resolution = |unit: &str| {
        let mut e = event(Action::ResolveConflict, T0 + 3000, unit, "");
        e.reason = Some("Đã thống nhất giữa hai đơn vị".into());
        e.resolves = Some(dossier::EventRef { author: named.author.clone(), counter: named.counter });
        e
    };
    let holder = if folded.holder_unit == COMMUNE { key(1) } else { key(2) };
    let resolved = append_as(&merged, &holder, resolution(&folded.holder_unit));
    w.sign_heads(&resolved, &holder);
    let added = w.verify(&resolved, &merged.get_heads()).unwrap();
    assert_eq!(added.events.iter().map(|e| e.action).collect::<Vec<_>>(), [Action::ResolveConflict]);
    assert!(motcua_domain::fold::fold(&added.record, OFFSET).conflicts.is_empty());
    // Commune 3 is enrolled, but the dossier was never routed to it.
    let outsider = append_as(&merged, &key(3), resolution("26735"));
    w.sign_heads(&outsider, &key(3));
    let err = w.verify(&outsider, &merged.get_heads()).unwrap_err();
    assert!(
        matches!(&err, Rejection::Authority(AuthorityError::Refused { action, .. }) if action == "resolve_conflict"),
        "{err}"
    );
}
