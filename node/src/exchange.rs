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

use automerge::Automerge;
use motcua_domain::dossier::{self, DossierRecord, Event};
use motcua_domain::fold::{Folded, fold};
use motcua_domain::workflow::Action;
use motcua_sync::attest::Attestation;
use motcua_sync::cert::SignedCertificate;
use motcua_sync::export::{Export, ExportedDossier};
use motcua_sync::verify::{Rejection, Trust, verify_document};

use crate::desk::{Desk, DeskError, audit};
use crate::store::{Store, StoreError, Write};

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

/// Each actor's latest change in a document, with its attestation from the
/// store: what another node needs to verify the whole document.
pub fn attestations_of(
    doc: &Automerge,
    lookup: impl Fn(&[u8; 32]) -> Result<Option<Attestation>, StoreError>,
) -> Result<Vec<([u8; 32], Attestation)>, StoreError> {
    let mut latest: HashMap<Vec<u8>, (u64, [u8; 32])> = HashMap::new();
    for m in doc.get_changes_meta(&[]) {
        let slot = latest.entry(m.actor.to_bytes().to_vec()).or_insert((0, m.hash.0));
        if m.seq >= slot.0 {
            *slot = (m.seq, m.hash.0);
        }
    }
    let mut out = Vec::new();
    for (_, hash) in latest.into_values() {
        if let Some(a) = lookup(&hash)? {
            out.push((hash, a));
        }
    }
    out.sort_by_key(|(h, _)| *h);
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
    let mut failure = None;
    store.for_each_doc(|_, bytes| {
        if failure.is_some() {
            return;
        }
        let exported = Automerge::load(bytes)
            .map_err(|e| DeskError::Document(e.into()))
            .and_then(|doc| attestations_of(&doc, |h| store.attestation(h)).map_err(DeskError::from));
        match exported {
            Ok(atts) => dossiers.push(ExportedDossier {
                document: bytes.to_vec(),
                attestations: atts.into_iter().map(|(h, a)| (h, a.to_bytes().to_vec())).collect(),
            }),
            Err(e) => failure = Some(e),
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(Export {
        province_code: province_code.into(),
        unit: unit.into(),
        node_key: node_key.into(),
        exported_at_ms: now_ms,
        certificates,
        dossiers,
    })
}

impl Desk {
    /// Admits certificates signed by this node's province (expired ones
    /// too: they vouch for what their nodes recorded while serving) and
    /// stores them. Returns the refused ones with the reason.
    pub fn admit_certificates(&self, certs: &[SignedCertificate]) -> Result<Vec<(String, Rejection)>, DeskError> {
        let mut refused = Vec::new();
        let mut admitted = Vec::new();
        {
            let mut guard = self.trust.write().expect("trust lock");
            let Some(trust) = guard.as_mut() else {
                return Err(DeskError::Forbidden("a demo node belongs to no province".into()));
            };
            for c in certs {
                match trust.admit(c, None) {
                    Ok(cert) => {
                        let key = hex::decode(&cert.node_key).ok().and_then(|k| <[u8; 32]>::try_from(k).ok());
                        if let Some(key) = key {
                            admitted.push((key, serde_json::to_vec(c).expect("serializes")));
                        }
                    }
                    Err(e) => refused.push((c.certificate.node_key.clone(), e)),
                }
            }
        }
        self.committer.run(move |w| {
            for (key, json) in &admitted {
                w.put_certificate(key, json)?;
            }
            Ok::<(), DeskError>(())
        })?;
        Ok(refused)
    }

    /// Verifies one dossier from outside and stores it (merged with the
    /// copy this node holds, if any) in the caller's transaction.
    pub fn ingest(
        &self,
        w: &mut Write,
        document: &[u8],
        attestations: &[([u8; 32], Attestation)],
    ) -> Result<(DossierRecord, Folded, Ingested), IngestError> {
        let mut incoming = Automerge::load(document).map_err(|e| IngestError::Malformed(e.to_string()))?;
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
            let record = dossier::read(&merged).map_err(DeskError::from)?;
            let folded = fold(&record, self.offset());
            return Ok((record, folded, Ingested::Unchanged));
        }
        let offered: HashMap<[u8; 32], Attestation> = attestations.iter().copied().collect();
        let lookup = |h: &[u8; 32]| offered.get(h).copied().or_else(|| w.attestation(h).ok().flatten());
        let additions = {
            let guard = self.trust.read().expect("trust lock");
            let trust: &Trust = guard.as_ref().ok_or(IngestError::NoProvince)?;
            verify_document(trust, &merged, &known, lookup, self.offset())?
        };
        let record = additions.record;
        if let Some(other) = w.id_by_code(&record.code)?
            && other != id.0
        {
            return Err(IngestError::CodeTaken(record.code.clone()));
        }
        for (_, hash) in &additions.actors {
            if let Some(a) = offered.get(&hash.0) {
                w.put_attestation(&hash.0, a)?;
            }
        }
        let folded = fold(&record, self.offset());
        let summary = motcua_domain::stats::DossierSummary::new(&record, &folded);
        w.put_dossier(&merged.save(), &summary)?;
        Ok((record, folded, if existed { Ingested::Updated } else { Ingested::New }))
    }

    /// Records that this node's unit takes over a dossier of a unit it
    /// succeeds (bàn giao hồ sơ), under a succession the province signed.
    /// Returns `false` when the dossier already belongs to this unit.
    pub fn handover(
        &self,
        w: &mut Write,
        id: &[u8; 16],
        succession_json: &str,
        officer: &str,
        now: i64,
    ) -> Result<bool, DeskError> {
        let bytes = w.load_doc(id)?.ok_or_else(|| DeskError::NotFound("no such dossier".into()))?;
        let mut doc = Automerge::load(&bytes).map_err(dossier::DocError::from)?.with_actor(self.identity.actor());
        let record = dossier::read(&doc)?;
        let folded = fold(&record, self.offset());
        let unit = &self.config.unit;
        if &folded.receiving_unit == unit {
            return Ok(false);
        }
        let succession = {
            let guard = self.trust.read().expect("trust lock");
            let trust = guard.as_ref().ok_or_else(|| DeskError::Forbidden("a demo node takes over nothing".into()))?;
            trust.succession(succession_json).map_err(|e| DeskError::Forbidden(format!("succession refused: {e}")))?
        };
        if &succession.to_unit != unit || !succession.from_units.contains(&folded.receiving_unit) {
            return Err(DeskError::Forbidden(format!(
                "the succession does not let unit {unit} take over dossiers of unit {}",
                folded.receiving_unit
            )));
        }
        let event = Event {
            action: Some(Action::Handover),
            at: now,
            unit: unit.clone(),
            node: self.identity.node_id().to_string(),
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
