//! What the store keeps for sync beside a dossier's document
//! ([`SyncEntry`]): its heads and their digest, its deadline and units for
//! routing, and its last writes, so that a peer one write behind gets a
//! delta without the document being loaded. Every path that stores a
//! dossier (a desk action, a merger's handover, a document received by
//! sync) builds it here.

use automerge::{Automerge, ChangeHash};
use motcua_domain::dossier::DossierRecord;
use motcua_domain::stats::DossierSummary;
use motcua_store::{DossierTables, StoreError, SyncEntry};
use motcua_sync::recent::{self, RecentWrite};
use motcua_sync::reconcile::heads_digest;
use motcua_sync::routing;
use motcua_sync::session::latest_by_node;

/// The recent writes (`motcua_sync::recent`) of `doc` once it replaces the
/// stored version of dossier `id`: the stored ones and the changes `doc`
/// adds beyond the stored heads. None if `doc` does not contain the stored
/// version, which a dossier's own history always does.
pub fn recent_writes_for(
    t: &DossierTables<'_>,
    id: &[u8; 16],
    doc: &Automerge,
) -> Result<Vec<RecentWrite>, StoreError> {
    let Some(old) = t.stored_entry(id)? else { return Ok(Vec::new()) };
    let heads: Vec<[u8; 32]> = doc.get_heads().iter().map(|h| h.0).collect();
    if recent::same_heads(&heads, &old.heads) {
        return Ok(old.recent);
    }
    let from: Vec<ChangeHash> = old.heads.iter().map(|h| ChangeHash(*h)).collect();
    if !from.iter().all(|h| doc.get_change_meta_by_hash(h).is_some()) {
        return Ok(Vec::new());
    }
    Ok(recent::after_write(old.recent, &old.heads, doc.save_after(&from)))
}

/// What sync keeps of a dossier: its heads digest, deadline and units.
pub fn sync_entry(
    doc: &Automerge,
    record: &DossierRecord,
    summary: &DossierSummary,
    recent: Vec<RecentWrite>,
) -> SyncEntry {
    let heads: Vec<[u8; 32]> = doc.get_heads().iter().map(|h| h.0).collect();
    SyncEntry {
        digest: heads_digest(&heads),
        heads,
        due_at: summary.due_at,
        units: routing::units_of(&record.participants),
        latest: latest_by_node(doc),
        recent,
    }
}
