//! The one-stop desk (bộ phận một cửa): receiving dossiers, recording
//! officers' actions, reading dossiers back. Each operation validates its
//! input, checks the workflow rules, appends to the dossier's Automerge
//! document, signs the change, updates the indexes and commits durably —
//! all in one redb write transaction, or not at all.

use std::sync::Arc;

use automerge::Automerge;
use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::catalog::Catalog;
use motcua_domain::dossier::{self, DossierRecord};
use motcua_domain::fold::{Folded, fold};
use motcua_domain::stats::DossierSummary;
use motcua_domain::workflow::{Refusal, Role};

use crate::config::NodeConfig;
use crate::identity::Identity;
use motcua_store::{Store, StoreError, Write};

/// Bounds on free-text fields, in characters.
pub const NAME_LEN_MAX: usize = 200;
pub const TEXT_LEN_MAX: usize = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("dossier document: {0}")]
    Document(#[from] dossier::DocError),
    #[error("{0}")]
    Unavailable(String),
    #[error("deadline: {0}")]
    Calendar(#[from] motcua_domain::calendar::CalendarError),
    /// More than a named limit allows (a dossier's files).
    #[error("{0}")]
    TooLarge(String),
}

pub(crate) fn invalid(field: &str, message: impl Into<String>) -> DeskError {
    DeskError::Invalid { field: field.into(), message: message.into() }
}

impl From<motcua_store::committer::CommitError<DeskError>> for DeskError {
    fn from(e: motcua_store::committer::CommitError<DeskError>) -> Self {
        match e {
            motcua_store::committer::CommitError::Operation(e) => e,
            motcua_store::committer::CommitError::Store(m) => DeskError::Unavailable(m),
        }
    }
}

impl From<Refusal> for DeskError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Forbidden(m) => DeskError::Forbidden(m),
            Refusal::InvalidState(m) => DeskError::Conflict(m),
        }
    }
}

/// The officer performing an operation.
#[derive(Debug, Clone)]
pub struct Officer {
    pub username: String,
    pub roles: Vec<Role>,
}

/// "Due soon" in the officers' queue: the appointment falls from the
/// start of today to two days from now ([`Desk::due_soon_window`]).
pub const DUE_SOON_MS: i64 = 2 * 24 * 3600 * 1000;

/// Bound on the entries of one logbook request: a busy ward receives
/// about 4,400 dossiers a month.
pub const LOGBOOK_ROWS_MAX: usize = 5_000;
/// Bound on the dossiers of all units one logbook request looks at: a
/// province receives about 160,000 a month.
pub const LOGBOOK_SCAN_MAX: usize = 200_000;

/// The node's desk: identity, configuration, rules and store together.
/// Its parts are reached through methods: reads of the store directly,
/// every write through a desk operation and the store's single writer.
pub struct Desk {
    store: Arc<Store>,
    committer: motcua_store::committer::Committer,
    /// The province of an enrolled node; `None` for a demo node.
    province: Option<motcua_sync::cert::ProvinceRecord>,
    identity: Identity,
    config: NodeConfig,
    calendar: std::sync::RwLock<Arc<WorkingCalendar>>,
    catalog: std::sync::RwLock<Arc<Catalog>>,
    /// The nodes of the province this node trusts (`None` on a demo node).
    trust: std::sync::RwLock<Option<motcua_sync::verify::Trust>>,
    /// What each node created or transferred today, of what came by sync.
    allowance: crate::allowance::DailyAllowance,
    /// Held by an import of a province document from its commit until it
    /// is in force in memory ([`crate::admin`]).
    admin: std::sync::Mutex<()>,
}

/// What a desk is made of, as [`crate::open`] assembles it.
pub struct DeskParts {
    pub store: Arc<Store>,
    pub province: Option<motcua_sync::cert::ProvinceRecord>,
    pub identity: Identity,
    pub config: NodeConfig,
    pub calendar: WorkingCalendar,
    pub catalog: Catalog,
    pub trust: Option<motcua_sync::verify::Trust>,
}

impl Desk {
    /// A desk over an open store; starts the store's single writer.
    pub fn new(parts: DeskParts) -> Desk {
        // This center's hours where the province's calendar sets them.
        let calendar = parts.calendar.for_unit(&parts.config.unit);
        Desk {
            committer: motcua_store::committer::Committer::start(parts.store.clone()),
            store: parts.store,
            province: parts.province,
            identity: parts.identity,
            config: parts.config,
            calendar: std::sync::RwLock::new(Arc::new(calendar)),
            catalog: std::sync::RwLock::new(Arc::new(parts.catalog)),
            trust: std::sync::RwLock::new(parts.trust),
            allowance: Default::default(),
            admin: std::sync::Mutex::new(()),
        }
    }

    /// One import of a province document at a time ([`crate::admin`]).
    pub(crate) fn admin_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.admin.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The store, for reads. Writes go through the desk's operations.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store's single writer: every write of this node goes through it.
    pub fn committer(&self) -> &motcua_store::committer::Committer {
        &self.committer
    }

    /// The province of an enrolled node; `None` for a demo node.
    pub fn province(&self) -> Option<&motcua_sync::cert::ProvinceRecord> {
        self.province.as_ref()
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// What each node created or transferred today, of what came by sync.
    pub fn allowance(&self) -> &crate::allowance::DailyAllowance {
        &self.allowance
    }

    /// Whether this node belongs to a province (it holds a trust).
    pub fn is_enrolled(&self) -> bool {
        self.trust.read().expect("trust lock").is_some()
    }

    /// Runs `f` on the province trust in force (`None` on a demo node).
    pub fn with_trust<R>(&self, f: impl FnOnce(Option<&motcua_sync::verify::Trust>) -> R) -> R {
        f(self.trust.read().expect("trust lock").as_ref())
    }

    /// Runs `f` on the province trust in force, to change it (`None` on a
    /// demo node, where `f` does not run).
    pub fn with_trust_mut<R>(&self, f: impl FnOnce(&mut motcua_sync::verify::Trust) -> R) -> Option<R> {
        self.trust.write().expect("trust lock").as_mut().map(f)
    }

    pub(crate) fn set_catalog(&self, catalog: Arc<Catalog>) {
        *self.catalog.write().expect("catalog lock") = catalog;
    }

    pub(crate) fn set_calendar(&self, calendar: Arc<WorkingCalendar>) {
        let own = Arc::new(calendar.for_unit(&self.config.unit));
        *self.calendar.write().expect("calendar lock") = own;
    }
}

/// The hashes of the files a dossier keeps, as the store indexes them.
pub(crate) fn attachment_hashes(folded: &Folded) -> Vec<[u8; 32]> {
    folded.attachments.iter().map(|a| a.file.hash).collect()
}

/// The key of a day's code sequence: YYMMDD as a number.
pub fn day_number(local_day: NaiveDate) -> u32 {
    chrono::Datelike::year(&local_day).rem_euclid(100) as u32 * 10_000
        + chrono::Datelike::month(&local_day) * 100
        + chrono::Datelike::day(&local_day)
}

/// Where the sequences table keeps the logbook counter of a year (volume),
/// beside the daily code counters, whose `YYMMDD` keys stay below
/// 1,000,000: one table, one durable write with the code it goes with.
pub fn logbook_key(volume: u32) -> u32 {
    1_000_000u32.saturating_add(volume)
}

pub fn rfc3339(ms: i64, offset_minutes: i32) -> String {
    // Calendars are checked to offsets within a day; UTC otherwise.
    let tz = FixedOffset::east_opt(offset_minutes * 60).unwrap_or(FixedOffset::east_opt(0).expect("UTC"));
    match tz.timestamp_millis_opt(ms).single() {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        None => String::new(),
    }
}

/// Parses an RFC 3339 instant, or a local date (taken as the end of that
/// day's last working window, as the province's calendar sets it); none
/// outside the years a dossier may name
/// ([`motcua_domain::calendar::in_range`]).
pub fn parse_instant(s: &str, calendar: &WorkingCalendar) -> Option<i64> {
    let at = match DateTime::parse_from_rfc3339(s.trim()) {
        Ok(t) => t.timestamp_millis(),
        Err(_) => {
            let date = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
            calendar.instant(date, calendar.day_end_minute_on(date))
        }
    };
    motcua_domain::calendar::in_range(at).then_some(at)
}

pub fn check_text(field: &str, value: &str, max: usize, required: bool) -> Result<String, DeskError> {
    let v = value.trim();
    if required && v.is_empty() {
        return Err(invalid(field, format!("{field} is required")));
    }
    if v.chars().count() > max {
        return Err(invalid(field, format!("{field} is longer than {max} characters")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid(field, format!("{field} contains control characters")));
    }
    Ok(v.to_string())
}

impl Desk {
    /// The province's local time offset, from its calendar.
    pub fn offset(&self) -> i32 {
        self.calendar().utc_offset_minutes()
    }

    /// The working calendar in force (replaced when the province publishes
    /// a newer one; dossiers keep the appointments already computed).
    pub fn calendar(&self) -> Arc<WorkingCalendar> {
        self.calendar.read().expect("calendar lock").clone()
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read().expect("catalog lock").clone()
    }

    pub(crate) fn store_doc(
        &self,
        w: &mut Write,
        doc: &Automerge,
        change_hash: &[u8; 32],
    ) -> Result<(DossierRecord, Folded), DeskError> {
        let record = dossier::read(doc)?;
        let folded = fold(&record, self.offset());
        let summary = DossierSummary::new(&record, &folded);
        let mut t = w.dossier_tables()?;
        let recent = crate::entry::recent_writes_for(&t, &record.id.0, doc)?;
        t.put_attestation(change_hash, &self.identity.attest(change_hash))?;
        t.put_dossier(&doc.save_nocompress(), &summary, &crate::entry::sync_entry(doc, &record, &summary, recent))?;
        t.put_attachment_refs(&record.id.0, &attachment_hashes(&folded))?;
        Ok((record, folded))
    }
}

pub use motcua_store::AuditEntry;

pub fn audit(w: &mut Write, at: i64, officer: &str, action: &str, dossier: &str) -> Result<(), StoreError> {
    w.audit(at, officer, action, dossier)
}

#[cfg(test)]
mod tests {
    use motcua_domain::dossier::SupplementMode;
    use motcua_store::ListQuery;

    use super::*;
    use crate::receive::NewDossierRequest;

    fn request(n: u32) -> NewDossierRequest {
        serde_json::from_value(serde_json::json!({
            "procedure_code": "2.000720",
            "applicant": {"name": format!("Người Thử {n}"), "id_number": format!("{:012}", n)},
            "channel": "direct",
        }))
        .unwrap()
    }

    /// A dossier due at 10:00 is, at 15:00 the same day, not overdue (a
    /// return then is on time) but due soon; the next morning it is overdue.
    #[test]
    fn a_dossier_due_earlier_today_is_due_soon_and_overdue_only_the_next_day() {
        let dir = tempfile::tempdir().unwrap();
        let desk = crate::open::open_desk(dir.path()).unwrap();
        let admin = Officer { username: "admin".into(), roles: vec![Role::Admin] };
        let monday_0900 = 1_763_344_800_000; // 2025-11-17 09:00 +07
        let hour = 3_600_000;
        let view = desk.receive(&admin, request(1), monday_0900 - 2 * 24 * hour).unwrap();
        let correct = serde_json::json!({
            "action": "reset_appointment", "new_due_at": "2025-11-17T10:00:00+07:00", "reason": "x"
        });
        desk.act(&admin, &view.code, serde_json::from_value(correct).unwrap(), monday_0900).unwrap();
        let listed =
            |q: motcua_store::ListQuery| desk.store.list(&q).unwrap().0.into_iter().map(|s| s.code).collect::<Vec<_>>();
        let at_1500 = monday_0900 + 6 * hour;
        let due_soon = motcua_store::ListQuery {
            due_between: Some(desk.due_soon_window(at_1500)),
            limit: 50,
            ..Default::default()
        };
        assert_eq!(listed(due_soon), std::slice::from_ref(&view.code));
        let overdue =
            |at| motcua_store::ListQuery { overdue_at: Some((at, desk.offset())), limit: 50, ..Default::default() };
        assert!(listed(overdue(at_1500)).is_empty());
        assert_eq!(listed(overdue(monday_0900 + 16 * hour)), [view.code]);
    }

    /// A bulk read is audited before it returns, by kind, filters and
    /// size, never with the searched name or identity number.
    #[test]
    fn bulk_reads_are_audited_by_kind_before_they_return() {
        let dir = tempfile::tempdir().unwrap();
        let desk = crate::open::open_desk(dir.path()).unwrap();
        let admin = Officer { username: "admin".into(), roles: vec![Role::Admin] };
        let now = 1_763_344_800_000; // 2025-11-17 09:00 +07
        let view = desk.receive(&admin, request(7), now).unwrap();
        let query = |q: Option<&str>, state, unit: Option<&str>| ListQuery {
            q: q.map(str::to_string),
            state,
            unit: unit.map(str::to_string),
            limit: 50,
            ..Default::default()
        };
        let cases: Vec<(ListQuery, &str, String)> = vec![
            (query(Some("000000000007"), None, None), "search", "by id number offset=0 limit=50: 1 of 1 rows".into()),
            (query(Some("người thử"), None, None), "search", "by name offset=0 limit=50: 1 of 1 rows".into()),
            (
                query(Some(&view.code), None, None),
                "search",
                format!("by code {} offset=0 limit=50: 1 of 1 rows", view.code),
            ),
            (query(None, Some(4), Some("99001")), "list", "state=4 unit=99001 offset=0 limit=50: 0 of 0 rows".into()),
            (query(None, None, Some("Nguyen")), "list", "unit=(not a unit code) offset=0 limit=50: 0 of 0 rows".into()),
            (
                query(None, None, Some("000000000007")),
                "list",
                "unit=(not a unit code) offset=0 limit=50: 0 of 0 rows".into(),
            ),
        ];
        for (q, action, what) in cases {
            desk.list(&admin, &q, now).unwrap();
            let line = desk.store.audit_tail(1).unwrap().remove(0);
            assert_eq!(
                (line.officer.as_str(), line.action.as_str(), line.dossier.as_str()),
                ("admin", action, what.as_str())
            );
        }
        assert_eq!(desk.duplicates(&admin, "000000000007", "2.000720", now).unwrap().len(), 1);
        let line = desk.store.audit_tail(1).unwrap().remove(0);
        assert_eq!(
            (line.action.as_str(), line.dossier.as_str()),
            ("duplicates", "by id number, procedure 2.000720: 1 rows")
        );
        let day = NaiveDate::from_ymd_opt(2025, 11, 17).unwrap();
        assert_eq!(desk.logbook(&admin, (day, day), "99001", now).unwrap().len(), 1);
        let line = desk.store.audit_tail(1).unwrap().remove(0);
        assert_eq!(
            (line.action.as_str(), line.dossier.as_str()),
            ("logbook", "unit=99001 2025-11-17..2025-11-17: 1 rows")
        );
    }

    /// Every change the node makes is stored with an attestation by the
    /// node's key, and the change's actor is that key.
    #[test]
    fn every_change_is_signed_by_the_node() {
        let dir = tempfile::tempdir().unwrap();
        let desk = crate::open::open_desk(dir.path()).unwrap();
        let admin = Officer { username: "admin".into(), roles: vec![Role::Admin] };
        let now = 1_763_344_800_000;
        let view = desk.receive(&admin, request(1), now).unwrap();
        let act = |action: &str| serde_json::from_value(serde_json::json!({"action": action, "result": "x"})).unwrap();
        desk.act(&admin, &view.code, act("start_processing"), now + 1).unwrap();
        desk.act(&admin, &view.code, act("processed"), now + 2).unwrap();
        let id = desk.store.id_by_code(&view.code).unwrap().unwrap();
        let doc = Automerge::load(&desk.store.load_doc(&id).unwrap().unwrap()).unwrap();
        let changes = doc.get_changes(&[]);
        assert_eq!(changes.len(), 3);
        for change in changes {
            assert_eq!(change.actor_id(), &desk.identity.actor());
            assert_eq!(motcua_domain::actor::node_key_of(change.actor_id()), Some(desk.identity.public_key_bytes()));
            let a = desk.store.attestation(&change.hash().0).unwrap().expect("attestation stored");
            assert_eq!(hex::encode(a.signer), desk.identity.node_id());
            motcua_sync::attest::verify(&a, &change.hash().0).unwrap();
        }
    }

    #[test]
    fn codes_follow_the_daily_sequence_of_the_unit() {
        let dir = tempfile::tempdir().unwrap();
        let desk = crate::open::open_desk(dir.path()).unwrap();
        let admin = Officer { username: "admin".into(), roles: vec![Role::Admin] };
        let monday = 1_763_344_800_000; // 2025-11-17 09:00 +07
        let a = desk.receive(&admin, request(1), monday).unwrap();
        let b = desk.receive(&admin, request(2), monday + 60_000).unwrap();
        let c = desk.receive(&admin, request(3), monday + 86_400_000).unwrap();
        assert_eq!(a.code, "000.00.01.H99-251117-0001");
        assert_eq!(b.code, "000.00.01.H99-251117-0002");
        assert_eq!(c.code, "000.00.01.H99-251118-0001");
        assert_eq!(a.due_at.as_deref(), Some("2025-11-20T09:00:00+07:00"));
    }

    /// Applicants: citizens by card or passport, organizations by tax code,
    /// a representative by card or passport; each bad value is refused
    /// with its field and stores nothing.
    #[test]
    fn applicants_are_checked_by_kind_and_bad_ones_store_nothing() {
        use serde_json::json;
        let dir = tempfile::tempdir().unwrap();
        let desk = crate::open::open_desk(dir.path()).unwrap();
        let admin = Officer { username: "admin".into(), roles: vec![Role::Admin] };
        let now = 1_763_344_800_000;
        let with = |applicant: serde_json::Value, extra: serde_json::Value| {
            let mut req = json!({"procedure_code": "1.012753", "case_code": "to-chuc", "channel": "direct"});
            req["applicant"] = applicant;
            for (k, v) in extra.as_object().unwrap() {
                req[k] = v.clone();
            }
            serde_json::from_value::<NewDossierRequest>(req).unwrap()
        };
        let org = |id: &str| json!({"kind": "organization", "name": "Công ty Thử Mẫu 1", "id_number": id});
        let rep = |id: &str| json!({"name": "Người Thử Mẫu 2", "id_number": id, "phone": "0900000002"});
        let bad: Vec<(serde_json::Value, serde_json::Value, &str)> = vec![
            (org("90000000011"), json!({}), "applicant.id_number"),
            (org("900000000100"), json!({}), "applicant.id_number"),
            (json!({"kind": "company", "name": "X", "id_number": "9000000001"}), json!({}), "applicant.kind"),
            (
                json!({"kind": "organization", "id_kind": "cccd", "name": "X", "id_number": "900000000001"}),
                json!({}),
                "applicant.id_kind",
            ),
            (json!({"name": "X", "id_number": "9000000001"}), json!({}), "applicant.id_number"),
            (json!({"name": "X", "id_kind": "passport", "id_number": "X1"}), json!({}), "applicant.id_number"),
            (json!({"name": "X", "id_kind": "tax_code", "id_number": "9000000001"}), json!({}), "applicant.id_kind"),
            (org("9000000001"), json!({"representative": rep("90000000000")}), "representative.id_number"),
            (
                org("9000000001"),
                json!({"representative": {"name": "", "id_number": "900000000002"}}),
                "representative.name",
            ),
            (
                org("9000000001"),
                json!({"representative": {"name": "Y", "id_number": "900000000002", "phone": "12"}}),
                "representative.phone",
            ),
            (
                org("9000000001"),
                json!({"representative": {"name": "Y", "id_number": "900000000002", "id_kind": "tax_code"}}),
                "representative.id_kind",
            ),
            (
                {
                    let mut a = org("9000000001");
                    a["representative"] = rep("9000000002");
                    a
                },
                json!({}),
                "applicant.representative.id_number",
            ),
            (
                {
                    let mut a = org("9000000001");
                    a["representative"] = rep("900000000002");
                    a
                },
                json!({"representative": rep("900000000002")}),
                "representative",
            ),
            (org("9000000001"), json!({"collection": "home"}), "collection"),
            (
                org("9000000001"),
                json!({"documents": [{"name": "Đơn", "original": 0, "copies": 0, "certified": 101}]}),
                "documents[0]",
            ),
        ];
        for (applicant, extra, field) in bad {
            let err = desk.receive(&admin, with(applicant.clone(), extra.clone()), now).unwrap_err();
            assert!(matches!(&err, DeskError::Invalid { field: f, .. } if f == field), "{applicant} {extra}: {err:?}");
        }
        assert_eq!(desk.store.list(&ListQuery { limit: 50, ..Default::default() }).unwrap().1, 0, "nothing stored");

        let good: Vec<(serde_json::Value, serde_json::Value, (&str, &str, &str))> = vec![
            (org("9000000001-001"), json!({}), ("organization", "tax_code", "9000000001001")),
            (org("9000000001"), json!({}), ("organization", "tax_code", "9000000001")),
            (
                json!({"name": "Người Thử Mẫu 3", "id_kind": "passport", "id_number": "x9000003"}),
                json!({}),
                ("citizen", "passport", "X9000003"),
            ),
            (
                json!({"name": "Người Thử Mẫu 4", "id_number": "900000000004"}),
                json!({}),
                ("citizen", "cccd", "900000000004"),
            ),
        ];
        for (applicant, extra, (kind, id_kind, id)) in good {
            let view = desk.receive(&admin, with(applicant.clone(), extra), now).unwrap();
            let a = serde_json::to_value(&view.applicant).unwrap();
            assert_eq!((a["kind"].as_str(), a["id_kind"].as_str()), (Some(kind), Some(id_kind)), "{applicant}");
            assert_eq!(view.applicant.id_number, id);
        }
        let view = desk
            .receive(
                &admin,
                with(org("9000000005"), json!({"representative": rep("900000000006"), "collection": "post"})),
                now,
            )
            .unwrap();
        let rep = view.representative.as_ref().expect("the submitter is shown");
        assert_eq!((rep.name.as_str(), rep.id_number.as_str()), ("Người Thử Mẫu 2", "900000000006"));
        assert_eq!(view.applicant.representative.as_ref(), Some(rep));
        assert_eq!(view.collection, dossier::Collection::Post);
    }

    /// The logbook number (số thứ tự) runs through the calendar year, across
    /// days, and starts again at 1 in the next year's volume; a line of
    /// this unit come by sync moves the counter past it.
    #[test]
    fn logbook_numbers_run_through_the_year() {
        let dir = tempfile::tempdir().unwrap();
        let desk = crate::open::open_desk(dir.path()).unwrap();
        let admin = Officer { username: "admin".into(), roles: vec![Role::Admin] };
        let monday = 1_763_344_800_000; // 2025-11-17 09:00 +07
        let day = 86_400_000;
        let line = |v: &crate::views::DossierView| v.logbook.map(|l| (l.volume, l.number));
        let a = desk.receive(&admin, request(1), monday).unwrap();
        let b = desk.receive(&admin, request(2), monday + day).unwrap();
        let c = desk.receive(&admin, request(3), monday + 2 * day).unwrap();
        assert_eq!([line(&a), line(&b), line(&c)], [Some((2025, 1)), Some((2025, 2)), Some((2025, 3))]);
        assert_eq!(c.code, "000.00.01.H99-251119-0001", "the code's sequence is the day's");
        // Synced in: a line numbered 40 in this unit's 2025 book.
        let other = desk.clone();
        let mut synced = motcua_domain::fixtures::new_dossier(desk.identity.node_id(), dossier::Channel::Direct, false);
        synced.code = "000.00.01.H99-251117-0900".into();
        synced.reception.unit = "99001".into();
        synced.reception.agency_id = "000.00.01.H99".into();
        synced.reception.logbook = Some(dossier::LogbookEntry { volume: 2025, number: 40 });
        let (doc, _) = dossier::create(desk.identity.actor(), &synced).unwrap();
        let record = dossier::read(&doc).unwrap();
        desk.committer.run(move |w| other.put_admitted(w, &doc, &record, &[])).unwrap();
        let d = desk.receive(&admin, request(4), monday + 3 * day).unwrap();
        assert_eq!(line(&d), Some((2025, 41)));
        // 2026-01-02 09:00 +07: a new volume.
        let e = desk.receive(&admin, request(5), 1_767_319_200_000).unwrap();
        assert_eq!(line(&e), Some((2026, 1)));
        let got = desk.get(&admin, &e.code, 1_767_319_200_000).unwrap();
        assert_eq!(line(&got), Some((2026, 1)), "kept in the document");
    }

    #[test]
    fn a_node_issues_codes_only_from_its_own_range() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = NodeConfig::demo();
        (config.sequence_first, config.sequence_last) = (5_001, 5_002);
        config.save(dir.path()).unwrap();
        let desk = crate::open::open_desk(dir.path()).unwrap();
        let admin = Officer { username: "admin".into(), roles: vec![Role::Admin] };
        let monday = 1_763_344_800_000; // 2025-11-17 09:00 +07
        // A code of the unit's other node (its range starts at 5003), come
        // by sync, does not move this node's sequence.
        let other = desk.clone();
        let mut theirs = motcua_domain::fixtures::new_dossier(desk.identity.node_id(), dossier::Channel::Direct, false);
        theirs.code = "000.00.01.H99-251117-5003".into();
        theirs.reception.unit = "99001".into();
        theirs.reception.agency_id = "000.00.01.H99".into();
        let (doc, _) = dossier::create(desk.identity.actor(), &theirs).unwrap();
        let record = dossier::read(&doc).unwrap();
        desk.committer.run(move |w| other.put_admitted(w, &doc, &record, &[])).unwrap();
        let a = desk.receive(&admin, request(1), monday).unwrap();
        let b = desk.receive(&admin, request(2), monday + 1).unwrap();
        assert_eq!((a.code.as_str(), b.code.as_str()), ("000.00.01.H99-251117-5001", "000.00.01.H99-251117-5002"));
        // Its logbook numbers come from its own yearly range too.
        assert_eq!(a.logbook.map(|l| l.number), Some(500_001));
        assert_eq!(crate::config::logbook_range(1, 5_000), (1, 500_000), "the other node's range ends below");
        let full = desk.receive(&admin, request(3), monday + 2).unwrap_err();
        assert!(matches!(&full, DeskError::Conflict(m) if m.contains("all its dossier codes for today")), "{full}");
        assert_eq!(desk.receive(&admin, request(3), monday + 86_400_000).unwrap().code, "000.00.01.H99-251118-5001");
    }

    #[test]
    fn an_online_dossier_gets_the_cases_online_processing_time() {
        let dir = tempfile::tempdir().unwrap();
        let desk = crate::open::open_desk(dir.path()).unwrap();
        let mut catalog = (**desk.catalog.read().unwrap()).clone();
        let procedure = catalog.procedures.iter_mut().find(|p| p.code == "2.000720").unwrap();
        for case in &mut procedure.cases {
            case.online_processing_time = Some(2);
        }
        *desk.catalog.write().unwrap() = Arc::new(catalog);
        let admin = Officer { username: "admin".into(), roles: vec![Role::Admin] };
        let monday_9 = 1_763_344_800_000; // 2025-11-17 09:00 +07
        let mut online = request(1);
        online.channel = "online".into();
        let submitted = desk.receive(&admin, online, monday_9).unwrap();
        assert_eq!(submitted.due_at, None, "an online dossier gets its appointment on acceptance");
        let accept = serde_json::from_value(serde_json::json!({"action": "accept"})).unwrap();
        let accepted = desk.act(&admin, &submitted.code, accept, monday_9).unwrap();
        assert_eq!(accepted.due_at.as_deref(), Some("2025-11-19T09:00:00+07:00"), "2 working days, not 3");
        // At the counter the case's own time applies.
        let direct = desk.receive(&admin, request(2), monday_9).unwrap();
        assert_eq!(direct.due_at.as_deref(), Some("2025-11-20T09:00:00+07:00"));
    }

    fn supplement_round_trip(mode: SupplementMode) -> Option<String> {
        let dir = tempfile::tempdir().unwrap();
        let mut config = NodeConfig::demo();
        config.supplement_mode = mode;
        config.save(dir.path()).unwrap();
        let desk = crate::open::open_desk(dir.path()).unwrap();
        let admin = Officer { username: "admin".into(), roles: vec![Role::Admin] };
        let monday_9 = 1_763_344_800_000; // 2025-11-17 09:00 +07
        let hour = 3_600_000;
        let view = desk.receive(&admin, request(1), monday_9).unwrap();
        assert_eq!(view.due_at.as_deref(), Some("2025-11-20T09:00:00+07:00"));
        let req = serde_json::from_value(serde_json::json!({
            "action": "request_supplement", "reason": "thiếu", "missing": ["Giấy tờ"], "deadline": "2025-11-28"
        }))
        .unwrap();
        desk.act(&admin, &view.code, req, monday_9 + hour).unwrap();
        let back = serde_json::from_value(serde_json::json!({"action": "supplement_received"})).unwrap();
        // Back on Wednesday 09:00.
        desk.act(&admin, &view.code, back, monday_9 + 48 * hour).unwrap().due_at
    }

    /// Pause: the 15 working hours spent waiting (Mon 10:00 to Wed 09:00:
    /// 5 h Monday, 8 h Tuesday, 2 h Wednesday) move Thursday 09:00 by 15 h:
    /// 2.5 + 3.5 on Thursday, 8 on Friday, 1 on Monday, so Monday 08:00. Restart: 3 full working days
    /// from Wednesday 09:00 end on Monday 09:00.
    #[test]
    fn supplement_pause_and_restart_modes_move_the_appointment_differently() {
        assert_eq!(supplement_round_trip(SupplementMode::Pause).as_deref(), Some("2025-11-24T08:00:00+07:00"));
        assert_eq!(supplement_round_trip(SupplementMode::Restart).as_deref(), Some("2025-11-24T09:00:00+07:00"));
    }
}
