//! Dossiers crossing a node's boundary outside live sync: the export file
//! (`motcua export`), the admission of dossiers from outside (imports and
//! merges; sync uses the same gate), and the handover of an old unit's
//! dossier to the unit that succeeds it after a merger.
//!
//! Nothing from outside is stored before `motcua_sync::verify` admits it:
//! signed by the node that made each change, that node enrolled in this
//! province and not revoked, and every new event within its unit's
//! authority.

use std::collections::HashMap;

use std::path::Path;

use automerge::Automerge;
use motcua_domain::authority::latest_changes;
use motcua_domain::dossier::{self, DossierRecord, Event};
use motcua_domain::fold::fold;
use motcua_domain::workflow::Action;
use motcua_sync::attest::Attestation;
use motcua_sync::cert::SignedCertificate;
use motcua_sync::export::{Export, ExportedDossier};
use motcua_sync::recent::{self, RecentWrite};
use motcua_sync::reconcile::heads_digest;
use motcua_sync::routing;
use motcua_sync::session::{Admitted, latest_by_node};
use motcua_sync::verify::{Rejection, Trust, verify_document};

use crate::config::NodeConfig;
use crate::desk::{Desk, DeskError, audit};
use crate::entry::recent_writes_for;
use crate::error::OpenError;
use crate::identity::{Identity, KEY_FILE};
use crate::open::STORE_FILE;
use motcua_store::{DossierTables, Store, StoreError, SyncEntry, Write};

/// Why one dossier from outside was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("not a readable dossier document: {0}")]
    Malformed(String),
    #[error("refused: {0}")]
    Rejected(#[from] Rejection),
    #[error("code {0} already belongs to another dossier on this node")]
    CodeTaken(String),
    #[error("this demo node belongs to no province and admits no dossiers from outside")]
    NoProvince,
    #[error(transparent)]
    Desk(#[from] DeskError),
}

impl From<StoreError> for IngestError {
    fn from(e: StoreError) -> Self {
        IngestError::Desk(e.into())
    }
}

/// What admitting a dossier did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// The node did not hold it before.
    New,
    /// The node held it; new changes were added.
    Updated,
    /// The node already held every change.
    Unchanged,
}

/// The attestations another node needs to verify a whole document: the
/// one on each actor's latest change.
pub fn attestations_of(store: &Store, doc: &Automerge) -> Result<Vec<([u8; 32], Attestation)>, StoreError> {
    let mut out = Vec::new();
    for (_, hash) in latest_changes(doc, &[]) {
        if let Some(a) = store.attestation(&hash.0)? {
            out.push((hash.0, a));
        }
    }
    Ok(out)
}

/// Builds the export of every dossier in a (stopped) node's store.
pub fn export(
    store: &Store,
    province_code: &str,
    unit: &str,
    node_key: &str,
    now_ms: i64,
) -> Result<Export, DeskError> {
    let mut certificates = Vec::new();
    for bytes in store.certificates()? {
        let c: SignedCertificate = serde_json::from_slice(&bytes)
            .map_err(|e| DeskError::Store(StoreError::Corrupt(format!("stored certificate: {e}"))))?;
        certificates.push(c);
    }
    let mut dossiers = Vec::new();
    store.try_for_each_doc(|bytes| {
        let doc = Automerge::load(bytes).map_err(|e| DeskError::Document(e.into()))?;
        let attestations = attestations_of(store, &doc)?;
        dossiers.push(ExportedDossier {
            document: bytes.to_vec(),
            attestations: attestations.into_iter().map(|(h, a)| (h, a.to_bytes().to_vec())).collect(),
        });
        Ok::<(), DeskError>(())
    })?;
    Ok(Export {
        province_code: province_code.into(),
        unit: unit.into(),
        node_key: node_key.into(),
        exported_at_ms: now_ms,
        certificates,
        dossiers,
    })
}

/// Exports the node in a stopped data directory, never creating anything
/// in it. The read is audited (who: the operating-system user; what:
/// `purpose` and how many dossiers) and that line is durable before the
/// export is returned.
pub fn export_data_dir(dir: &Path, purpose: &str) -> Result<Export, OpenError> {
    let config =
        NodeConfig::load(dir)?.ok_or_else(|| OpenError::new(format!("{} holds no motcua node", dir.display())))?;
    let path = dir.join(STORE_FILE);
    if !path.exists() || !dir.join(KEY_FILE).exists() {
        return Err(OpenError::new(format!("{} holds no motcua store", dir.display())));
    }
    let identity = Identity::load_or_create(dir)?;
    let store =
        Store::open(&path, identity.applicant_key()).map_err(|e| OpenError::new(format!("{}: {e}", path.display())))?;
    let now = crate::now_ms();
    let export = export(&store, &config.province_code, &config.unit, identity.node_id(), now)
        .map_err(|e| OpenError::new(e.to_string()))?;
    let mut w = store.begin()?;
    audit(&mut w, now, &os_user(), "export", &format!("{purpose}: {} dossiers", export.dossiers.len()))?;
    w.commit_durable()?;
    Ok(export)
}

/// Who runs a command-line tool on a data directory, for its audit lines.
pub fn os_user() -> String {
    // SAFETY: getuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    let uid = unsafe { libc::getuid() };
    match std::env::var("USER") {
        Ok(name) if !name.is_empty() && name.len() <= 64 => format!("os user {name} (uid {uid})"),
        _ => format!("os user uid {uid}"),
    }
}

/// The day (yymmdd) and sequence number of a dossier code issued under
/// `agency_id`, e.g. `000.21.45.H56-251117-0012` → (251117, 12).
fn code_sequence(code: &str, agency_id: &str) -> Option<(u32, u32)> {
    let rest = code.strip_prefix(agency_id)?.strip_prefix('-')?;
    let (day, seq) = rest.split_once('-')?;
    if day.len() != 6 {
        return None;
    }
    Some((day.parse().ok()?, seq.parse().ok()?))
}

/// A dossier document to store, with what sync keeps of it.
struct StoredDossier<'a> {
    /// Saved uncompressed.
    bytes: &'a [u8],
    digest: [u8; 16],
    heads: Vec<[u8; 32]>,
    latest: Vec<([u8; 32], [u8; 32])>,
    record: &'a DossierRecord,
    signatures: &'a [([u8; 32], Attestation)],
    recent: Vec<RecentWrite>,
}

impl<'a> StoredDossier<'a> {
    /// A document as saved in `bytes`, its heads and latest changes read
    /// from the loaded `doc`, replacing the stored version of it.
    fn of(
        t: &DossierTables<'_>,
        doc: &Automerge,
        bytes: &'a [u8],
        record: &'a DossierRecord,
        signatures: &'a [([u8; 32], Attestation)],
    ) -> Result<Self, StoreError> {
        let heads: Vec<[u8; 32]> = doc.get_heads().iter().map(|h| h.0).collect();
        let recent = recent_writes_for(t, &record.id.0, doc)?;
        Ok(StoredDossier {
            bytes,
            digest: heads_digest(&heads),
            heads,
            latest: latest_by_node(doc),
            record,
            signatures,
            recent,
        })
    }
}

/// Refuses a dossier whose code another dossier of this node holds;
/// checked before anything of it is written.
fn check_code(t: &DossierTables<'_>, record: &DossierRecord) -> Result<(), IngestError> {
    match t.id_by_code(&record.code)? {
        Some(other) if other != record.id.0 => Err(IngestError::CodeTaken(record.code.clone())),
        _ => Ok(()),
    }
}

impl Desk {
    /// Admits certificates signed by this node's province (expired ones
    /// too: they vouch for what their nodes recorded while serving) and
    /// stores them. Returns the refused ones with the reason.
    pub fn admit_certificates(&self, certs: &[SignedCertificate]) -> Result<Vec<(String, Rejection)>, DeskError> {
        let mut refused = Vec::new();
        let mut admitted = Vec::new();
        self.with_trust_mut(|trust| {
            for c in certs {
                match trust.admit(c, None) {
                    // Only the newest certificate of a node is kept.
                    Ok(key) if trust.holds(c) => admitted.push((key, serde_json::to_vec(c).expect("serializes"))),
                    Ok(_) => {}
                    Err(e) => refused.push((c.certificate.node_key.clone(), e)),
                }
            }
        })
        .ok_or_else(|| DeskError::Forbidden("a demo node belongs to no province".into()))?;
        self.committer().run(move |w| {
            for (key, json) in &admitted {
                w.put_certificate(key, json)?;
            }
            Ok::<(), DeskError>(())
        })?;
        Ok(refused)
    }

    /// Verifies one dossier from outside and stores it (merged with the
    /// copy this node holds, if any) in the caller's transaction; returns
    /// the document as stored.
    pub fn ingest(
        &self,
        w: &mut Write,
        mut incoming: Automerge,
        attestations: &[([u8; 32], Attestation)],
    ) -> Result<(Automerge, Ingested), IngestError> {
        let id = dossier::read(&incoming).map_err(|e| IngestError::Malformed(e.to_string()))?.id;
        let (merged, known, existed) = match w.load_doc(&id.0)? {
            Some(bytes) => {
                let mut base = Automerge::load(&bytes).map_err(|e| DeskError::Document(e.into()))?;
                let known = base.get_heads();
                base.merge(&mut incoming).map_err(|e| IngestError::Malformed(e.to_string()))?;
                (base, known, true)
            }
            None => (incoming, Vec::new(), false),
        };
        if existed && merged.get_heads() == known {
            return Ok((merged, Ingested::Unchanged));
        }
        // Only changes this node lacked need signatures, so the offered
        // ones are all that is looked at.
        let offered: HashMap<[u8; 32], Attestation> = attestations.iter().copied().collect();
        let offset = self.offset();
        let additions = self.with_trust(|trust| {
            let trust: &Trust = trust.ok_or(IngestError::NoProvince)?;
            verify_document(trust, &merged, &known, |h| offered.get(h).copied(), offset).map_err(IngestError::from)
        })?;
        let signatures: Vec<([u8; 32], Attestation)> =
            additions.actors.iter().filter_map(|(_, h)| offered.get(&h.0).map(|a| (h.0, *a))).collect();
        self.put_admitted(w, &merged, &additions.record, &signatures)?;
        Ok((merged, if existed { Ingested::Updated } else { Ingested::New }))
    }

    /// Stores a dossier from outside that `motcua_sync::verify` admitted,
    /// with the signatures that vouch for its new changes. A code of this
    /// unit raises the day's sequence past it, so that a node restored
    /// from the province never issues a code again.
    pub fn put_admitted(
        &self,
        w: &mut Write,
        doc: &Automerge,
        record: &DossierRecord,
        signatures: &[([u8; 32], Attestation)],
    ) -> Result<(), IngestError> {
        let mut tables = w.dossier_tables()?;
        check_code(&tables, record)?;
        let bytes = doc.save_nocompress();
        let stored = StoredDossier::of(&tables, doc, &bytes, record, signatures)?;
        self.put_stored(&mut tables, stored)
    }

    /// [`Desk::put_admitted`] for documents the sync session verified,
    /// which come with their saved form, heads and latest changes; the
    /// tables are opened once for the batch.
    pub fn put_admitted_batch(&self, w: &mut Write, docs: &[Admitted]) -> Result<(), IngestError> {
        let mut tables = w.dossier_tables()?;
        // Every code is checked before anything is written, so that a
        // taken code refuses the batch alone. Any later failure leaves
        // the writer's whole transaction uncommitted (the committer drops
        // a batch in which an operation failed after writing): the batch
        // is stored whole or not at all.
        for a in docs {
            check_code(&tables, &a.record)?;
        }
        for a in docs {
            // Verified against one version, stored over another (a desk
            // action committed in between): merge, so that nothing the
            // desk saved is lost. What the desk added is this node's own.
            let old = tables.stored_entry(&a.id)?;
            let moved = old.as_ref().is_some_and(|e| !recent::same_heads(&e.heads, &a.verified_from));
            if moved && let Some(bytes) = tables.stored_doc(&a.id)? {
                let mut merged = Automerge::load(&bytes).map_err(|e| DeskError::Document(e.into()))?;
                let mut incoming = Automerge::load(&a.bytes).map_err(|e| DeskError::Document(e.into()))?;
                merged.merge(&mut incoming).map_err(|e| DeskError::Document(e.into()))?;
                // Verified as new, and meanwhile another dossier was stored
                // under its id (another connection's write): two creations
                // are two dossiers, never one. Nothing of it is stored; the
                // peer offers it again and meets the one held.
                if merged.get_changes_meta(&[]).iter().filter(|m| m.deps.is_empty()).count() != 1 {
                    tracing::warn!(dossier = %hex::encode(a.id), "a document verified as new met another one under its id: not stored");
                    continue;
                }
                let record = dossier::read(&merged).map_err(DeskError::Document)?;
                let saved = merged.save_nocompress();
                let stored = StoredDossier::of(&tables, &merged, &saved, &record, &a.signatures)?;
                self.put_stored(&mut tables, stored)?;
                continue;
            }
            // Verified against the stored version: the changes that came
            // are the write from it.
            let recent = match (old, &a.gained) {
                (Some(old), Some(changes)) if !moved => recent::after_write(old.recent, &old.heads, changes.clone()),
                _ => Vec::new(),
            };
            let stored = StoredDossier {
                recent,
                bytes: &a.bytes,
                digest: a.digest,
                heads: a.heads.clone(),
                latest: a.latest.clone(),
                record: &a.record,
                signatures: &a.signatures,
            };
            self.put_stored(&mut tables, stored)?;
        }
        Ok(())
    }

    /// Writes a dossier whose code [`check_code`] cleared.
    fn put_stored(&self, t: &mut DossierTables<'_>, d: StoredDossier<'_>) -> Result<(), IngestError> {
        let record = d.record;
        for (hash, a) in d.signatures {
            t.put_attestation(hash, a)?;
        }
        // Only a code this unit's own keys issued (admission checked that a
        // dossier's creator received it under its own agency identifier).
        if let Some((yymmdd, seq)) = code_sequence(&record.code, &self.config().agency_id)
            && record.reception.unit == self.config().unit
            && (self.config().sequence_first..=self.config().sequence_last).contains(&seq)
        {
            t.raise_sequence(yymmdd, seq)?;
        }
        // Likewise the year's logbook counter: a node that lost its data
        // and takes its unit's dossiers back from the province goes on
        // after the numbers it had issued.
        let (lb_first, lb_last) =
            crate::config::logbook_range(self.config().sequence_first, self.config().sequence_last);
        if let Some(l) = record.reception.logbook
            && record.reception.unit == self.config().unit
            && (lb_first..=lb_last).contains(&l.number)
        {
            t.raise_sequence(crate::desk::logbook_key(l.volume), l.number)?;
        }
        let folded = fold(record, self.offset());
        let summary = motcua_domain::stats::DossierSummary::new(record, &folded);
        let entry = SyncEntry {
            digest: d.digest,
            heads: d.heads,
            due_at: summary.due_at,
            units: routing::units_of(&record.participants),
            latest: d.latest,
            recent: d.recent,
        };
        t.put_dossier(d.bytes, &summary, &entry)?;
        t.put_attachment_refs(&record.id.0, &crate::desk::attachment_hashes(&folded))?;
        Ok(())
    }

    /// Records that this node's unit takes over a dossier of a unit it
    /// succeeds (bàn giao hồ sơ), under a succession the province signed.
    /// Returns `false` when the dossier already belongs to this unit.
    /// Whether this node takes over `doc` by handover: `Ok(false)` if its
    /// unit already receives it, an error if the succession does not let
    /// it. Checked before a merge stores anything of the dossier.
    pub fn check_handover(&self, doc: &Automerge, succession_json: &str) -> Result<bool, DeskError> {
        let record = dossier::read(doc)?;
        self.may_take_over(&fold(&record, self.offset()).receiving_unit, succession_json)
    }

    fn may_take_over(&self, receiving_unit: &str, succession_json: &str) -> Result<bool, DeskError> {
        let unit = &self.config().unit;
        if receiving_unit == unit {
            return Ok(false);
        }
        self.with_trust(|trust| {
            trust
                .ok_or_else(|| DeskError::Forbidden("a demo node takes over nothing".into()))?
                .check_succession(succession_json, receiving_unit, unit)
                .map_err(|e| DeskError::Forbidden(format!("succession refused: {e}")))
        })?;
        Ok(true)
    }

    pub fn handover(
        &self,
        w: &mut Write,
        doc: Automerge,
        succession_json: &str,
        officer: &str,
        now: i64,
    ) -> Result<bool, DeskError> {
        let mut doc = doc.with_actor(self.identity().actor());
        let record = dossier::read(&doc)?;
        let folded = fold(&record, self.offset());
        let unit = &self.config().unit;
        if !self.may_take_over(&folded.receiving_unit, succession_json)? {
            return Ok(false);
        }
        let event = Event {
            action: Some(Action::Handover),
            at: now,
            unit: unit.clone(),
            node: self.identity().node_id().to_string(),
            officer: officer.to_string(),
            note: format!("bàn giao từ đơn vị {}", folded.receiving_unit),
            to_unit: Some(unit.clone()),
            succession: Some(succession_json.to_string()),
            ..Event::default()
        };
        let hash = dossier::append_event(&mut doc, &event)?;
        // Checked before anything is written: a failed operation must leave
        // nothing in the writer's shared transaction.
        let after = dossier::read(&doc)?;
        if let Some(c) = fold(&after, self.offset()).conflicts.iter().find(|c| c.event_index == after.events.len() - 1)
        {
            return Err(DeskError::Conflict(format!("the handover cannot be recorded: {}", c.reason)));
        }
        let (record, _) = self.store_doc(w, &doc, &hash.0)?;
        audit(w, now, officer, "handover", &record.code)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use motcua_domain::dossier::Channel;
    use motcua_domain::fixtures::{COMMUNE, T0, event, new_dossier};

    /// A desk holding one new dossier: the desk, its node id as hex, the
    /// dossier's first version and its id.
    fn desk_with_dossier(dir: &Path) -> (Arc<Desk>, String, Automerge, [u8; 16]) {
        let desk = crate::open::open_desk(dir).unwrap();
        let me = desk.identity().node_id().to_string();
        let (doc, _) = dossier::create(desk.identity().actor(), &new_dossier(&me, Channel::Direct, false)).unwrap();
        let id = dossier::read(&doc).unwrap().id.0;
        put(&desk, &doc);
        (desk, me, doc, id)
    }

    fn put(desk: &Arc<Desk>, d: &Automerge) {
        let (d, desk2) = (d.clone(), desk.clone());
        desk.committer().run(move |w| desk2.put_admitted(w, &d, &dossier::read(&d).unwrap(), &[])).unwrap()
    }

    #[test]
    fn a_handover_is_checked_before_anything_of_the_dossier_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (desk, me, doc, _) = desk_with_dossier(dir.path());
        // A dossier of another unit, without a succession this node holds.
        let err = desk.check_handover(&doc, "{}").unwrap_err();
        assert!(matches!(&err, DeskError::Forbidden(m) if m.contains("takes over nothing")), "{err}");
        // One of its own unit needs no handover.
        let mut own = new_dossier(&me, Channel::Direct, false);
        own.reception.unit = desk.config().unit.clone();
        let (own, _) = dossier::create(desk.identity().actor(), &own).unwrap();
        assert!(!desk.check_handover(&own, "{}").unwrap());
    }

    /// `doc` as the sync session admits it, verified against `from`.
    fn admitted(id: [u8; 16], doc: &Automerge, from: &Automerge, gained: Option<Vec<u8>>) -> Admitted {
        let heads: Vec<[u8; 32]> = doc.get_heads().iter().map(|h| h.0).collect();
        Admitted {
            id,
            doc: None,
            bytes: doc.save_nocompress(),
            digest: heads_digest(&heads),
            heads,
            verified_from: from.get_heads().iter().map(|h| h.0).collect(),
            latest: latest_by_node(doc),
            record: dossier::read(doc).unwrap(),
            signatures: Vec::new(),
            gained,
            charged: Vec::new(),
        }
    }

    fn put_batch(desk: &Arc<Desk>, a: Admitted) {
        let desk2 = desk.clone();
        desk.committer().run(move |w| desk2.put_admitted_batch(w, &[a])).unwrap();
    }

    /// A peer holding any of `held` reaches `target` with the recent
    /// writes alone.
    fn assert_recent_writes_lead_to(recent: &[RecentWrite], held: &[&Automerge], target: &Automerge) {
        for h in held {
            let from: Vec<[u8; 32]> = h.get_heads().iter().map(|x| x.0).collect();
            let mut peer = (*h).clone();
            peer.load_incremental(&recent::since(recent, &from).expect("a recent write from there")).unwrap();
            assert_eq!(peer.get_heads(), target.get_heads());
        }
    }

    #[test]
    fn a_sync_write_over_a_newer_desk_version_keeps_both() {
        let dir = tempfile::tempdir().unwrap();
        let (desk, me, doc, id) = desk_with_dossier(dir.path());
        // The peer's version, verified against v1 ...
        let (other, other_hex) = motcua_domain::fixtures::node(7);
        let mut peer = doc.fork().with_actor(other);
        dossier::append_event(&mut peer, &event(Action::RequestWithdrawal, T0 + 2000, COMMUNE, &other_hex)).unwrap();
        // ... while the desk records an action on v1.
        let mut local = doc.fork().with_actor(desk.identity().actor());
        dossier::append_event(&mut local, &event(Action::StartProcessing, T0 + 1000, COMMUNE, &me)).unwrap();
        put(&desk, &local);
        put_batch(&desk, admitted(id, &peer, &doc, None));
        let stored = Automerge::load(&desk.store().load_doc(&id).unwrap().unwrap()).unwrap();
        let kinds: Vec<_> = dossier::read(&stored).unwrap().events.iter().map(|e| e.event.action).collect();
        assert_eq!(kinds.len(), 3, "the desk's action and the peer's both kept: {kinds:?}");
        assert!(kinds.contains(&Some(Action::StartProcessing)) && kinds.contains(&Some(Action::RequestWithdrawal)));
        let entry = desk.store().sync_entry(&id).unwrap().unwrap();
        assert_eq!(entry.heads.len(), 2, "the index names the merged heads");
        // The merge is a write from the desk's version: a peer holding v1
        // or the desk's version gets the rest from the recent writes.
        assert_eq!(entry.recent.len(), 2);
        assert_recent_writes_lead_to(&entry.recent, &[&doc, &local], &stored);
    }

    #[test]
    fn each_write_of_a_dossier_is_kept_as_a_recent_write_from_the_version_before() {
        let dir = tempfile::tempdir().unwrap();
        let (desk, me, v1, id) = desk_with_dossier(dir.path());
        assert!(desk.store().sync_entry(&id).unwrap().unwrap().recent.is_empty(), "a new dossier has no recent write");
        let mut v2 = v1.fork().with_actor(desk.identity().actor());
        dossier::append_event(&mut v2, &event(Action::StartProcessing, T0 + 1000, COMMUNE, &me)).unwrap();
        put(&desk, &v2);
        // A delta from a peer, verified against v2, becomes the next recent write.
        let (other, other_hex) = motcua_domain::fixtures::node(7);
        let mut v3 = v2.fork().with_actor(other);
        dossier::append_event(&mut v3, &event(Action::RequestWithdrawal, T0 + 2000, COMMUNE, &other_hex)).unwrap();
        let changes = v3.save_after(&v2.get_heads());
        put_batch(&desk, admitted(id, &v3, &v2, Some(changes.clone())));
        let entry = desk.store().sync_entry(&id).unwrap().unwrap();
        assert_eq!(entry.recent.len(), 2);
        assert_eq!(entry.recent[1].changes, changes);
        assert_recent_writes_lead_to(&entry.recent, &[&v1, &v2], &v3);
        // Storing the same version again keeps the recent writes as they are.
        put(&desk, &v3);
        assert_eq!(desk.store().sync_entry(&id).unwrap().unwrap().recent, entry.recent);
    }

    #[test]
    fn a_file_a_peer_attached_is_indexed_for_its_dossier() {
        let dir = tempfile::tempdir().unwrap();
        let (desk, _, doc, id) = desk_with_dossier(dir.path());
        let (other, other_hex) = motcua_domain::fixtures::node(7);
        let mut peer = doc.fork().with_actor(other);
        let mut attach = event(Action::Attach, T0 + 2000, COMMUNE, &other_hex);
        let hash = [9u8; 32];
        attach.file = Some(motcua_domain::attachment::File {
            hash,
            size: 250_000,
            media_type: motcua_domain::attachment::MediaType::Jpeg,
            name: "CCCD mặt trước.jpg".into(),
            kind: motcua_domain::attachment::Kind::Component,
            document_line: Some(1),
        });
        dossier::append_event(&mut peer, &attach).unwrap();
        assert!(desk.store().dossiers_with_attachment(&hash).unwrap().is_empty());
        put_batch(&desk, admitted(id, &peer, &doc, None));
        assert_eq!(desk.store().dossiers_with_attachment(&hash).unwrap(), vec![id]);
    }

    #[test]
    fn a_code_of_this_unit_yields_its_day_and_sequence() {
        assert_eq!(code_sequence("000.21.45.H56-251117-0012", "000.21.45.H56"), Some((251117, 12)));
        assert_eq!(code_sequence("000.21.45.H56-251117-0012", "000.21.46.H56"), None);
        assert_eq!(code_sequence("000.21.45.H56-2511-0012", "000.21.45.H56"), None);
    }
}
