//! `merge`: bring the dossiers of old communes into the node of the new
//! commune formed from them (sắp xếp đơn vị hành chính).
//!
//! The technician gives the old units' exports (or their stopped data
//! directories) and a mapping file. Each dossier keeps its history and its
//! original code; a handover event signed by the new node, under a
//! succession the province root signs here, makes the new unit the one that
//! holds it and returns its result. A dossier of an old unit that was split
//! goes where its applicant's address places it; a dossier the mapping does
//! not place is listed, never guessed.
//!
//! Mapping file (JSON):
//!
//! ```json
//! {"units": [
//!   {"old_unit": "10001", "new_unit": "26800"},
//!   {"old_unit": "10003", "split": [
//!     {"address_contains": "Thôn Bản Mế", "new_unit": "26800"},
//!     {"address_contains": "Thôn Nà Lừa", "new_unit": "26801"}]}
//! ]}
//! ```
//!
//! Address rules match without regard to case or diacritics.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use automerge::Automerge;
use motcua_desk::config::NodeConfig;
use motcua_desk::desk::Desk;
use motcua_domain::codes::{fold_text, is_unit_code};
use motcua_domain::dossier;
use motcua_domain::fold::fold;
use motcua_sync::attest::Attestation;
use motcua_sync::cert::{DocumentKind, Succession};
use motcua_sync::export::{EXPORT_BYTES_MAX, Export};
use serde::{Deserialize, Serialize};

use crate::{ProvisionError, load_province, read_json, sign_document};

/// Dossiers committed per durable transaction during a merge.
const BATCH: usize = 256;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    pub units: Vec<UnitRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitRule {
    pub old_unit: String,
    #[serde(default)]
    pub new_unit: Option<String>,
    #[serde(default)]
    pub split: Vec<AddressRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressRule {
    pub address_contains: String,
    pub new_unit: String,
}

/// Where the mapping sends one dossier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Unit(String),
    Unmapped(String),
}

impl Mapping {
    pub fn load(path: &Path) -> Result<Mapping, ProvisionError> {
        let m: Mapping = read_json(path)?;
        m.check().map_err(|e| ProvisionError::Invalid(format!("{}: {e}", path.display())))?;
        Ok(m)
    }

    fn check(&self) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for (i, u) in self.units.iter().enumerate() {
            if !is_unit_code(&u.old_unit) {
                return Err(format!("units[{i}].old_unit '{}' is not a unit code", u.old_unit));
            }
            if !seen.insert(&u.old_unit) {
                return Err(format!("old unit {} is mapped twice", u.old_unit));
            }
            match (&u.new_unit, u.split.is_empty()) {
                (Some(n), true) if is_unit_code(n) => {}
                (Some(n), true) => return Err(format!("units[{i}].new_unit '{n}' is not a unit code")),
                (None, false) => {
                    for (j, r) in u.split.iter().enumerate() {
                        if !is_unit_code(&r.new_unit) {
                            return Err(format!("units[{i}].split[{j}].new_unit '{}' is not a unit code", r.new_unit));
                        }
                        if fold_text(&r.address_contains).is_empty() {
                            return Err(format!("units[{i}].split[{j}].address_contains is empty"));
                        }
                    }
                }
                _ => return Err(format!("units[{i}] needs either new_unit or split, not both or neither")),
            }
        }
        Ok(())
    }

    /// The new unit for a dossier of `old_unit` whose applicant lives at
    /// `address`.
    pub fn destination(&self, old_unit: &str, address: &str) -> Destination {
        let Some(rule) = self.units.iter().find(|u| u.old_unit == old_unit) else {
            return Destination::Unmapped(format!("old unit {old_unit} is not in the mapping"));
        };
        if let Some(n) = &rule.new_unit {
            return Destination::Unit(n.clone());
        }
        let address = fold_text(address);
        let targets: BTreeSet<&str> = rule
            .split
            .iter()
            .filter(|r| address.contains(&fold_text(&r.address_contains)))
            .map(|r| r.new_unit.as_str())
            .collect();
        match targets.len() {
            1 => Destination::Unit(targets.into_iter().next().expect("one").to_string()),
            0 => Destination::Unmapped(format!("the address matches no rule of split unit {old_unit}")),
            _ => Destination::Unmapped(format!(
                "the address matches rules of split unit {old_unit} for several units ({})",
                targets.into_iter().collect::<Vec<_>>().join(", ")
            )),
        }
    }

    /// Old units some of whose dossiers may go to `new_unit`.
    pub fn units_feeding(&self, new_unit: &str) -> Vec<String> {
        self.units
            .iter()
            .filter(|u| u.new_unit.as_deref() == Some(new_unit) || u.split.iter().any(|r| r.new_unit == new_unit))
            .map(|u| u.old_unit.clone())
            .collect()
    }
}

/// One dossier named in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub code: String,
    pub from_unit: String,
    /// The new unit, or why the dossier was not placed or not admitted.
    pub detail: String,
}

/// What a merge did with every dossier of every source.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MergeReport {
    pub into_unit: String,
    /// Handed over to the new unit now.
    pub merged: Vec<Entry>,
    /// Already the new unit's (a repeated merge): updated, not handed over twice.
    pub already_merged: Vec<Entry>,
    /// Placed by the mapping in another new unit: merge them there.
    pub other_units: Vec<Entry>,
    /// Not placed by the mapping.
    pub unmapped: Vec<Entry>,
    /// Not admitted (signature, authority, damage, code collision).
    pub rejected: Vec<Entry>,
    /// Certificates in the sources that this province did not sign.
    pub refused_certificates: Vec<String>,
    pub sources: Vec<String>,
}

/// Reads a source: an export file, or the data directory of a stopped node.
pub fn read_source(path: &Path) -> Result<Export, ProvisionError> {
    if path.is_dir() {
        return motcua_desk::exchange::export_data_dir(path, "read by motcua-provision merge")
            .map_err(|e| ProvisionError::Invalid(format!("{}: {e:#}", path.display())));
    }
    let len = std::fs::metadata(path).map_err(|e| ProvisionError::Io(format!("{}: {e}", path.display())))?.len();
    if len > EXPORT_BYTES_MAX {
        return Err(ProvisionError::Invalid(format!("{}: {len} bytes exceeds the export bound", path.display())));
    }
    let bytes = std::fs::read(path).map_err(|e| ProvisionError::Io(format!("{}: {e}", path.display())))?;
    Export::decode(&bytes).map_err(|e| ProvisionError::Invalid(format!("{}: {e}", path.display())))
}

/// A dossier of a source, read enough to place it.
struct Candidate {
    code: String,
    old_unit: String,
    address: String,
    doc: Automerge,
    attestations: Vec<([u8; 32], Attestation)>,
}

/// Merges the dossiers of `sources` that the mapping sends to the unit of
/// the (stopped) node in `into`.
pub fn merge(
    province_dir: &Path,
    into: &Path,
    sources: &[PathBuf],
    mapping: &Mapping,
    officer: &str,
    now_ms: i64,
) -> Result<MergeReport, ProvisionError> {
    let (province, root) = load_province(province_dir)?;
    let config = NodeConfig::load(into)
        .map_err(|e| ProvisionError::Invalid(format!("{}: {e}", into.display())))?
        .filter(|c| !c.demo)
        .ok_or_else(|| ProvisionError::Invalid(format!("{} holds no enrolled node bundle", into.display())))?;
    if config.province_code != province.code {
        return Err(ProvisionError::Invalid(format!(
            "{} is a node of province {}, not {}",
            into.display(),
            config.province_code,
            province.code
        )));
    }
    let unit = config.unit.clone();
    let from_units = mapping.units_feeding(&unit);
    if from_units.is_empty() {
        return Err(ProvisionError::Invalid(format!("the mapping sends no old unit to {unit}")));
    }
    let body = serde_json::to_string(&Succession { from_units, to_unit: unit.clone() }).expect("serializes");
    let succession = serde_json::to_string(&sign_document(
        &province,
        &root,
        DocumentKind::Succession,
        1,
        &format!("succession-{unit}"),
        now_ms,
        body,
    ))
    .expect("serializes");
    // Read every source before touching the new node: a damaged source
    // stops the merge with nothing written.
    let exports: Vec<(String, Export)> =
        sources.iter().map(|p| read_source(p).map(|e| (p.display().to_string(), e))).collect::<Result<_, _>>()?;
    for (name, e) in &exports {
        if e.province_code != province.code {
            return Err(ProvisionError::Invalid(format!("{name} is an export of province {}", e.province_code)));
        }
    }
    let desk = motcua_desk::open::open_desk(into).map_err(|e| ProvisionError::Invalid(format!("{e:#}")))?;
    let mut report = MergeReport { into_unit: unit.clone(), ..MergeReport::default() };
    for (name, export) in exports {
        report.sources.push(format!("{name}: unit {}, {} dossiers", export.unit, export.dossiers.len()));
        let refused =
            desk.admit_certificates(&export.certificates).map_err(|e| ProvisionError::Invalid(e.to_string()))?;
        report.refused_certificates.extend(refused.into_iter().map(|(k, e)| format!("{k}: {e}")));
        let mut batch = Vec::new();
        for d in export.dossiers {
            match candidate(&desk, d) {
                Ok(c) => match mapping.destination(&c.old_unit, &c.address) {
                    Destination::Unit(u) if u == unit => batch.push(c),
                    _ if c.old_unit == unit => batch.push(c),
                    Destination::Unit(u) => {
                        report.other_units.push(Entry { code: c.code, from_unit: c.old_unit, detail: u })
                    }
                    Destination::Unmapped(why) => {
                        report.unmapped.push(Entry { code: c.code, from_unit: c.old_unit, detail: why })
                    }
                },
                Err(e) => report.rejected.push(e),
            }
            if batch.len() == BATCH {
                admit(&desk, std::mem::take(&mut batch), &succession, officer, now_ms, &mut report)?;
            }
        }
        admit(&desk, batch, &succession, officer, now_ms, &mut report)?;
    }
    desk.committer().flush().map_err(ProvisionError::Io)?;
    Ok(report)
}

fn candidate(desk: &Desk, d: motcua_sync::export::ExportedDossier) -> Result<Candidate, Entry> {
    let unreadable = |detail: String| Entry { code: String::new(), from_unit: String::new(), detail };
    motcua_sync::guard::check_inflated_size(&d.document).map_err(|e| unreadable(format!("refused document: {e}")))?;
    let doc = Automerge::load(&d.document).map_err(|e| unreadable(format!("unreadable document: {e}")))?;
    let record = dossier::read(&doc).map_err(|e| unreadable(format!("unreadable dossier: {e}")))?;
    let folded = fold(&record, desk.offset());
    let mut attestations = Vec::new();
    for (hash, bytes) in &d.attestations {
        let a = Attestation::from_bytes(bytes).map_err(|e| Entry {
            code: record.code.clone(),
            from_unit: folded.receiving_unit.clone(),
            detail: format!("malformed signature: {e}"),
        })?;
        attestations.push((*hash, a));
    }
    Ok(Candidate {
        code: record.code,
        old_unit: folded.receiving_unit,
        address: record.applicant.address,
        doc,
        attestations,
    })
}

/// Verifies, stores and hands over one batch in one durable transaction.
/// A dossier refused (unverified, or its succession not covering it) is
/// listed and leaves nothing behind; one stored but whose handover then
/// failed to be recorded is listed with that reason, and a later run
/// hands it over.
fn admit(
    desk: &Arc<Desk>,
    batch: Vec<Candidate>,
    succession: &str,
    officer: &str,
    now_ms: i64,
    report: &mut MergeReport,
) -> Result<(), ProvisionError> {
    if batch.is_empty() {
        return Ok(());
    }
    let d = desk.clone();
    let succession = succession.to_string();
    let officer = officer.to_string();
    let outcomes = desk
        .committer()
        .run(move |w| {
            let mut out = Vec::new();
            for c in batch {
                // A succession that does not cover the dossier refuses it
                // before anything of it is stored.
                let result = d
                    .check_handover(&c.doc, &succession)
                    .map_err(|e| format!("not handed over: {e}"))
                    .and_then(|_| d.ingest(w, c.doc, &c.attestations).map_err(|e| e.to_string()))
                    .and_then(|(doc, how)| {
                        d.handover(w, doc, &succession, &officer, now_ms)
                            .map_err(|e| format!("admitted ({how:?}) but not handed over: {e}"))
                    });
                out.push((c.code, c.old_unit, result));
            }
            Ok::<_, motcua_desk::desk::DeskError>(out)
        })
        .map_err(|e| ProvisionError::Io(e.to_string()))?;
    for (code, from_unit, result) in outcomes {
        match result {
            Ok(true) => report.merged.push(Entry { code, from_unit, detail: report.into_unit.clone() }),
            Ok(false) => report.already_merged.push(Entry { code, from_unit, detail: report.into_unit.clone() }),
            Err(detail) => report.rejected.push(Entry { code, from_unit, detail }),
        }
    }
    Ok(())
}

/// Counts per old unit, for the summary a technician reads.
pub fn per_unit(entries: &[Entry]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in entries {
        *m.entry(e.from_unit.clone()).or_insert(0) += 1;
    }
    m
}
