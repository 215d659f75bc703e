//! Admission of dossier documents that enter a node from outside (an
//! import, a merge of old communes, sync).
//!
//! A document's new changes are applied only when:
//! - each actor with new changes is a node key, and that node's signature
//!   on its latest change verifies (a change hash covers its dependencies,
//!   so one signature vouches for all of the actor's earlier changes);
//! - that node is enrolled in this province ([`Trust`]) and not revoked;
//! - the changes have the shape of a dossier and each new event is allowed
//!   by the workflow rules in its author's view
//!   ([`motcua_domain::authority`]);
//! - each new event names the unit its node is enrolled for, the province
//!   node records no dossier events, and a handover carries a succession
//!   the province signed for that unit and the dossier's old unit.
//!
//! Nothing here touches a clock, a socket or a file.

use automerge::{Automerge, ChangeHash};
use ed25519_dalek::VerifyingKey;
use motcua_domain::authority::{Additions, AuthorityError, NewEvent, check_additions, node_key_hex, node_key_of};
use motcua_domain::dossier::DossierRecord;
use motcua_domain::workflow::Action;

use crate::attest::{self, Attestation};
use crate::cert::{
    CertError, Certificate, DocumentKind, NodeRole, ProvinceRecord, RevocationList, SignedCertificate,
    SignedProvinceDocument, Succession,
};

/// Why an incoming document (or certificate) was not admitted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Rejection {
    #[error(transparent)]
    Authority(#[from] AuthorityError),
    #[error("actor {0} is not a node key (32 bytes)")]
    ActorNotAKey(String),
    #[error("no signature of node {actor} covers its change {change}")]
    Unsigned { actor: String, change: String },
    #[error("change {change} of node {actor} is signed by {signer}, not by the node that made it")]
    SignerNotActor { actor: String, change: String, signer: String },
    #[error("the signature of node {actor} on change {change} does not verify")]
    BadSignature { actor: String, change: String },
    #[error("node {0} is not enrolled in this province")]
    Unknown(String),
    #[error("node {key} (certificate {serial}) was revoked by the province")]
    Revoked { key: String, serial: String },
    #[error("event {index} names unit {claimed}, but its node is enrolled for unit {certified}")]
    UnitMismatch { index: usize, claimed: String, certified: String },
    #[error("event {index}: a {role} node does not record '{action}'")]
    RoleMayNot { index: usize, role: &'static str, action: &'static str },
    #[error("event {index}: the handover is not backed by a succession of the province: {reason}")]
    Succession { index: usize, reason: String },
    /// A node created a dossier of another unit, or under another unit's
    /// codes ([`check_creation`]); the text names both.
    #[error("{0}: a node creates dossiers of its own unit under its own codes only")]
    NotItsCode(String),
    #[error("certificate refused: {0}")]
    Certificate(#[from] CertError),
    #[error("the revocation list has sequence {offered}; this node already holds sequence {held}")]
    StaleRevocations { offered: u64, held: u64 },
    #[error("the revocation list is malformed: {0}")]
    MalformedRevocations(String),
}

/// The nodes this node trusts: every certificate the province signed that
/// it has seen, less the revoked ones.
#[derive(Debug, Clone)]
pub struct Trust {
    root: VerifyingKey,
    province_code: String,
    /// Per node key, the newest certificate seen (by `not_before_ms`);
    /// ordered, so that listing them gives the same order everywhere.
    nodes: std::collections::BTreeMap<[u8; 32], Certificate>,
    /// Keys of which some certificate is revoked: a revoked node stays
    /// revoked whichever of its certificates it, or a peer, presents.
    revoked_keys: std::collections::BTreeSet<[u8; 32]>,
    revocations: RevocationList,
    revocations_sequence: u64,
    /// (dossier id, node key) of each proven fork ([`crate::fork`]):
    /// nothing more that key signed is taken in that dossier, under any of
    /// its actors (a thief holding the key can draw a new incarnation).
    quarantined: std::collections::BTreeSet<([u8; 16], [u8; 32])>,
}

fn key_bytes(hex_key: &str) -> Option<[u8; 32]> {
    hex::decode(hex_key).ok()?.try_into().ok()
}

impl Trust {
    pub fn new(province: &ProvinceRecord) -> Option<Trust> {
        Some(Trust {
            root: province.verifying_key()?,
            province_code: province.code.clone(),
            nodes: std::collections::BTreeMap::new(),
            revoked_keys: std::collections::BTreeSet::new(),
            revocations: RevocationList::default(),
            revocations_sequence: 0,
            quarantined: std::collections::BTreeSet::new(),
        })
    }

    /// Admits a certificate signed by this province's root and returns its
    /// node key. With `now_ms`, it must also be inside its validity window
    /// (a live peer); without, an expired certificate still vouches for
    /// what its node recorded while it served (old records brought in by a
    /// merge).
    pub fn admit(&mut self, signed: &SignedCertificate, now_ms: Option<i64>) -> Result<[u8; 32], Rejection> {
        let c = match now_ms {
            Some(now) => signed.verify(&self.root, &self.province_code, now)?,
            None => signed.verify_issued(&self.root, &self.province_code)?,
        };
        let key = key_bytes(&c.node_key).ok_or_else(|| Rejection::ActorNotAKey(c.node_key.clone()))?;
        if self.revocations.is_revoked(&c.serial) {
            self.revoked_keys.insert(key);
            return Err(Rejection::Revoked { key: c.node_key.clone(), serial: c.serial.clone() });
        }
        if self.revoked_keys.contains(&key) {
            let serial = self.nodes.get(&key).map(|held| held.serial.clone()).unwrap_or_default();
            return Err(Rejection::Revoked { key: c.node_key.clone(), serial });
        }
        // An older certificate never replaces a newer one (a peer could
        // otherwise swap a node's current certificate for an old one).
        match self.nodes.get(&key) {
            Some(held) if held.not_before_ms >= c.not_before_ms => {}
            _ => {
                self.nodes.insert(key, c.clone());
            }
        }
        Ok(key)
    }

    /// Whether `signed` is the certificate this trust set holds for its
    /// node (the newest seen): only that one is worth storing.
    pub fn holds(&self, signed: &SignedCertificate) -> bool {
        let c = &signed.certificate;
        key_bytes(&c.node_key).and_then(|k| self.nodes.get(&k)).is_some_and(|held| held.serial == c.serial)
    }

    /// Installs a newer signed revocation list; an older or equal one is
    /// refused (a replay).
    pub fn set_revocations(&mut self, signed: &SignedProvinceDocument) -> Result<u64, Rejection> {
        let d = signed.verify(&self.root, &self.province_code, DocumentKind::Revocations)?;
        if d.sequence <= self.revocations_sequence {
            return Err(Rejection::StaleRevocations { offered: d.sequence, held: self.revocations_sequence });
        }
        let list: RevocationList =
            serde_json::from_str(&d.body).map_err(|e| Rejection::MalformedRevocations(e.to_string()))?;
        for (key, c) in &self.nodes {
            if list.is_revoked(&c.serial) {
                self.revoked_keys.insert(*key);
            }
        }
        self.revoked_keys.extend(list.revoked.iter().filter_map(|r| r.node_key.as_deref().and_then(key_bytes)));
        self.revocations = list;
        self.revocations_sequence = d.sequence;
        Ok(d.sequence)
    }

    /// Takes no more changes signed by `node_key` in dossier `id`: it
    /// forked there.
    pub fn quarantine(&mut self, id: [u8; 16], node_key: [u8; 32]) {
        self.quarantined.insert((id, node_key));
    }

    pub fn is_quarantined(&self, id: &[u8; 16], node_key: &[u8; 32]) -> bool {
        self.quarantined.contains(&(*id, *node_key))
    }

    pub fn revocations(&self) -> (&RevocationList, u64) {
        (&self.revocations, self.revocations_sequence)
    }

    /// Every enrolled, unrevoked node this trust set holds.
    pub fn nodes(&self) -> impl Iterator<Item = &Certificate> {
        self.nodes.iter().filter(|(k, _)| !self.revoked_keys.contains(*k)).map(|(_, c)| c)
    }

    /// The certificate of an enrolled, unrevoked node.
    pub fn node(&self, key: &[u8; 32]) -> Result<&Certificate, Rejection> {
        let c = self.nodes.get(key).ok_or_else(|| Rejection::Unknown(hex::encode(key)))?;
        if self.revoked_keys.contains(key) || self.revocations.is_revoked(&c.serial) {
            return Err(Rejection::Revoked { key: c.node_key.clone(), serial: c.serial.clone() });
        }
        Ok(c)
    }

    /// Checks that a succession document signed by the province root lets
    /// `to_unit` take over the dossiers of `from_unit`.
    pub fn check_succession(&self, signed_json: &str, from_unit: &str, to_unit: &str) -> Result<(), String> {
        let signed: SignedProvinceDocument = serde_json::from_str(signed_json).map_err(|e| e.to_string())?;
        let d = signed.verify(&self.root, &self.province_code, DocumentKind::Succession).map_err(|e| e.to_string())?;
        let s: Succession = serde_json::from_str(&d.body).map_err(|e| e.to_string())?;
        if s.to_unit != to_unit {
            return Err(format!("it names unit {} as the successor, not {to_unit}", s.to_unit));
        }
        if !s.from_units.iter().any(|u| u == from_unit) {
            return Err(format!("unit {from_unit} is not among the units it succeeds"));
        }
        Ok(())
    }
}

/// Verifies the changes of `doc` beyond `known` (the heads this node held;
/// empty for a new document). `attestation` looks up the signature stored
/// or received for a change hash.
pub fn verify_document(
    trust: &Trust,
    doc: &Automerge,
    known: &[ChangeHash],
    attestation: impl Fn(&[u8; 32]) -> Option<Attestation>,
    utc_offset_minutes: i32,
) -> Result<Additions, Rejection> {
    let additions = check_additions(doc, known, utc_offset_minutes)?;
    for (actor, latest) in &additions.actors {
        let actor_hex = actor.to_hex_string();
        let key = node_key_of(actor).ok_or_else(|| Rejection::ActorNotAKey(actor_hex.clone()))?;
        let change = latest.to_string();
        let a = attestation(&latest.0)
            .ok_or_else(|| Rejection::Unsigned { actor: actor_hex.clone(), change: change.clone() })?;
        if a.signer != key {
            return Err(Rejection::SignerNotActor { actor: actor_hex, change, signer: hex::encode(a.signer) });
        }
        attest::verify(&a, &latest.0).map_err(|_| Rejection::BadSignature { actor: actor_hex, change })?;
        trust.node(&key)?;
    }
    if let Some(creator) = &additions.created_by {
        check_creation(trust, creator, &additions.record, utc_offset_minutes)?;
    }
    for e in &additions.events {
        check_event(trust, e)?;
    }
    Ok(additions)
}

/// A unit's dossier codes belong to that unit: a new dossier is received
/// by its creator's own unit, under a code that starts with the agency
/// identifier (mã định danh) in its creator's certificate (Quyết định
/// 870/QĐ-BTTTT codes, DOMAIN.md "Units and codes"). Otherwise a node could
/// take another unit's codes — its next number of the day, so that unit's
/// desk refuses every reception, or its low numbers before the unit's own
/// dossiers reach the province.
///
/// The code's day is the local day of the reception, and the reception is
/// no later than the end of the creator's newest certificate (a day's
/// slack for clocks): an expired node's key cannot issue today's codes.
/// A key retired by a rotation is revoked to stop it sooner.
fn check_creation(
    trust: &Trust,
    creator: &automerge::ActorId,
    record: &DossierRecord,
    utc_offset_minutes: i32,
) -> Result<(), Rejection> {
    let key = node_key_of(creator).ok_or_else(|| Rejection::ActorNotAKey(creator.to_hex_string()))?;
    let cert = trust.node(&key)?;
    let r = &record.reception;
    let day = motcua_domain::calendar::local_date_at(r.at, utc_offset_minutes);
    let dated = motcua_domain::codes::format_dossier_code(&cert.agency_id, day, 0);
    let dated = dated.rsplit_once('-').map_or("", |(head, _)| head);
    let owned = record.code.strip_prefix(dated).is_some_and(|rest| rest.starts_with('-'))
        && motcua_domain::codes::is_dossier_code(&record.code)
        && r.agency_id == cert.agency_id
        && r.unit == cert.unit;
    if !owned {
        return Err(Rejection::NotItsCode(format!(
            "dossier {} (unit {}, received {}) was created by node {} of unit {}, whose codes that day start with {dated}",
            record.code, r.unit, day, cert.node_key, cert.unit
        )));
    }
    // Only the end of the window: the trust keeps a key's newest
    // certificate, which a renewal starts after dossiers received before.
    const SLACK_MS: i64 = 24 * 60 * 60 * 1000;
    if r.at > cert.not_after_ms.saturating_add(SLACK_MS) {
        return Err(Rejection::NotItsCode(format!(
            "dossier {} was received at {} by node {}, after its certificate ended ({})",
            record.code, r.at, cert.node_key, cert.not_after_ms
        )));
    }
    Ok(())
}

fn check_event(trust: &Trust, e: &NewEvent) -> Result<(), Rejection> {
    let key = key_bytes(node_key_hex(&e.author)).ok_or_else(|| Rejection::ActorNotAKey(e.author.clone()))?;
    let cert = trust.node(&key)?;
    if e.unit != cert.unit {
        return Err(Rejection::UnitMismatch { index: e.index, claimed: e.unit.clone(), certified: cert.unit.clone() });
    }
    let may = !matches!((cert.role, e.action), (NodeRole::Province, _) | (NodeRole::Agency, Action::Handover));
    if !may {
        return Err(Rejection::RoleMayNot { index: e.index, role: cert.role.as_str(), action: e.action.as_str() });
    }
    if e.action == Action::Handover {
        let to_unit = e.to_unit.as_deref().unwrap_or("");
        trust
            .check_succession(e.succession.as_deref().unwrap_or(""), &e.receiving_unit_before, to_unit)
            .map_err(|reason| Rejection::Succession { index: e.index, reason })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
