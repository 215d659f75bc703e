//! The one-stop desk (bộ phận một cửa): receiving dossiers, recording
//! officers' actions, reading dossiers back. Each operation validates its
//! input, checks the workflow rules, appends to the dossier's Automerge
//! document, signs the change, updates the indexes and commits durably —
//! all in one redb write transaction, or not at all.

use std::sync::Arc;

use automerge::Automerge;
use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use motcua_domain::calendar::{ProcessingTime, WorkingCalendar};
use motcua_domain::catalog::Catalog;
use motcua_domain::codes::{check_id_number, format_dossier_code, is_unit_code};
use motcua_domain::dossier::{
    self, Applicant, Channel, DocumentEntry, DossierId, DossierRecord, Event, NewDossier, ProcedureSnapshot, Reception,
    StepRecord, SupplementMode,
};
use motcua_domain::fold::{Folded, fold, next_step, step_progress};
use motcua_domain::stats::DossierSummary;
use motcua_domain::workflow::{Action, Actor, ReasonRule, Refusal, Role, transition};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::config::NodeConfig;
use crate::identity::Identity;
use motcua_store::{ListQuery, Store, StoreError, Write};

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
}

fn invalid(field: &str, message: impl Into<String>) -> DeskError {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDossierRequest {
    pub procedure_code: String,
    #[serde(default)]
    pub case_code: Option<String>,
    pub applicant: Applicant,
    #[serde(default)]
    pub documents: Option<Vec<DocumentRequest>>,
    pub channel: String,
    /// Number of sets (số bộ hồ sơ) handed in; 1 when absent.
    #[serde(default)]
    pub sets: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentRequest {
    pub name: String,
    #[serde(default)]
    pub original: u32,
    #[serde(default)]
    pub copies: u32,
}

/// `missing` may be one text or a list of items.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Missing {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    pub action: String,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub to_unit: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub missing: Option<Missing>,
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub new_due_at: Option<String>,
    /// Supplement deadline (hạn bổ sung), RFC 3339 or a local date.
    #[serde(default)]
    pub deadline: Option<String>,
    /// For `start_processing` and `transfer`: the number (from 1) of the
    /// case's workflow step the hand-off starts; by default the step after
    /// the last one recorded.
    #[serde(default)]
    pub step: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct HistoryView {
    pub action: String,
    pub at: String,
    pub unit: String,
    pub officer: String,
    pub note: String,
    pub node: String,
    pub state: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// The workflow step this hand-off started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
}

/// A step of the case's workflow as the catalog defines it.
#[derive(Debug, Serialize)]
pub struct CaseStepView {
    pub number: u32,
    pub name: String,
    pub agency: String,
    pub time_limit: u32,
    pub time_unit: motcua_domain::calendar::TimeUnit,
}

/// A step the dossier went through (or is in), for the process control
/// sheet (form 5): who did it, from when, by when, and how it ended.
#[derive(Debug, Serialize)]
pub struct StepView {
    pub number: u32,
    pub name: String,
    pub time_limit: u32,
    pub time_unit: motcua_domain::calendar::TimeUnit,
    /// The unit carrying the step out, and its name as this node knows it.
    pub unit: String,
    pub unit_name: String,
    /// The officer who handed the dossier over.
    pub handed_over_by: String,
    /// The officer of the carrying unit who took it up, once known.
    pub received_by: Option<String>,
    pub started_at: String,
    pub deadline: String,
    pub ended_at: Option<String>,
    /// The action that ended the step (`recall` and `return_to_previous`
    /// undo it).
    pub ended_by: Option<&'static str>,
    /// early / on_time / late, once the step has ended (none when undone).
    pub result: Option<motcua_domain::fold::OnTime>,
    pub overdue: bool,
}

#[derive(Debug, Serialize)]
pub struct ConflictView {
    pub event_index: usize,
    pub action: String,
    pub at: String,
    pub unit: String,
    pub node: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct DocumentView {
    pub name: String,
    pub original: u32,
    pub copies: u32,
    pub received: bool,
}

#[derive(Debug, Serialize)]
pub struct Warning {
    pub code: String,
    pub message: String,
    pub dossier_code: String,
}

/// A dossier as the API shows it.
#[derive(Debug, Serialize)]
pub struct DossierView {
    pub code: String,
    pub id: String,
    pub procedure_code: String,
    pub procedure_name: String,
    pub case_code: String,
    pub applicant: Applicant,
    pub channel: Channel,
    pub state: u8,
    pub state_name: &'static str,
    pub receiving_unit: String,
    pub holder_unit: String,
    pub received_at: String,
    pub received_by: String,
    /// Number of sets (số bộ hồ sơ) handed in.
    pub sets: u32,
    pub due_at: Option<String>,
    pub returned_at: Option<String>,
    pub on_time: Option<motcua_domain::fold::OnTime>,
    pub overdue: bool,
    pub paused: bool,
    pub reappointed: bool,
    pub supplement_requests: u32,
    pub fee_vnd: u64,
    pub processing_time: u32,
    pub time_unit: motcua_domain::calendar::TimeUnit,
    pub documents: Vec<DocumentView>,
    pub result: Option<String>,
    pub history: Vec<HistoryView>,
    /// The workflow steps of the case as the catalog listed them when the
    /// dossier was received, and the one a hand-off starts by default.
    pub case_steps: Vec<CaseStepView>,
    pub next_step: Option<u32>,
    /// The steps recorded so far, each against its own deadline.
    pub steps: Vec<StepView>,
    pub conflicts: Vec<ConflictView>,
    pub replicated_to_province: bool,
    /// Peers that refused this node's version of the dossier, and why
    /// (the province's reason is why it is not safe there).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused_by_peers: Vec<PeerRefusalView>,
    /// The actions this officer may take on the dossier now (its state,
    /// the node's unit authority and the officer's roles, per
    /// `workflow::transition`); the web UI offers only these.
    pub allowed_actions: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

/// One entry of the dossier logbook (sổ theo dõi hồ sơ, form 6).
#[derive(Debug, Serialize)]
pub struct LogbookRow {
    pub code: String,
    pub id: String,
    pub procedure_code: String,
    pub procedure_name: String,
    pub sets: u32,
    pub applicant: LogbookApplicant,
    pub receiving_unit: String,
    pub received_at: String,
    /// The officer who received the dossier.
    pub received_by: String,
    pub due_at: Option<String>,
    pub returned_at: Option<String>,
    pub state: u8,
    pub state_name: &'static str,
}

/// "Due soon" in the officers' queue: the appointment falls from the
/// start of today to two days from now ([`Desk::due_soon_window`]).
pub const DUE_SOON_MS: i64 = 2 * 24 * 3600 * 1000;

/// The applicant as the logbook names them.
#[derive(Debug, Serialize)]
pub struct LogbookApplicant {
    pub name: String,
    pub address: String,
    pub phone: String,
}

/// Bound on the entries of one logbook request: a busy ward receives
/// about 4,400 dossiers a month.
pub const LOGBOOK_ROWS_MAX: usize = 5_000;
/// Bound on the dossiers of all units one logbook request looks at: a
/// province receives about 160,000 a month.
pub const LOGBOOK_SCAN_MAX: usize = 200_000;

/// Why a tracking lookup found nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackMiss {
    UnknownCode,
    WrongSuffix,
}

/// A dossier as the citizen tracking page shows it.
#[derive(Debug, Serialize)]
pub struct TrackView {
    pub code: String,
    pub procedure_name: String,
    pub state: u8,
    pub state_name: &'static str,
    pub received_at: String,
    pub due_at: Option<String>,
    pub returned_at: Option<String>,
    pub result_ready: bool,
    pub overdue: bool,
    /// Where the result is collected: the receiving center, in Vietnamese
    /// ("Bộ phận Một cửa — unit").
    pub collect_at: String,
    /// The receiving unit's name alone, for a page in another language.
    pub collect_unit: String,
}

/// A row of a dossier list.
#[derive(Debug, Serialize)]
pub struct SummaryView {
    pub code: String,
    pub id: String,
    pub procedure_code: String,
    pub procedure_name: String,
    pub applicant: SummaryApplicant,
    pub channel: Channel,
    pub state: u8,
    pub state_name: &'static str,
    pub receiving_unit: String,
    pub holder_unit: String,
    pub received_at: String,
    pub due_at: Option<String>,
    pub returned_at: Option<String>,
    pub on_time: Option<motcua_domain::fold::OnTime>,
    pub overdue: bool,
    pub conflicts: u32,
}

#[derive(Debug, Serialize)]
pub struct SummaryApplicant {
    pub name: String,
    pub id_number: String,
}

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
        Desk {
            committer: motcua_store::committer::Committer::start(parts.store.clone()),
            store: parts.store,
            province: parts.province,
            identity: parts.identity,
            config: parts.config,
            calendar: std::sync::RwLock::new(Arc::new(parts.calendar)),
            catalog: std::sync::RwLock::new(Arc::new(parts.catalog)),
            trust: std::sync::RwLock::new(parts.trust),
            allowance: Default::default(),
        }
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
        *self.calendar.write().expect("calendar lock") = calendar;
    }
}

/// The key of a day's code sequence: YYMMDD as a number.
pub fn day_number(local_day: NaiveDate) -> u32 {
    chrono::Datelike::year(&local_day).rem_euclid(100) as u32 * 10_000
        + chrono::Datelike::month(&local_day) * 100
        + chrono::Datelike::day(&local_day)
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
        Err(_) => calendar.instant(NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?, calendar.day_end_minute()),
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

fn check_phone(phone: &str) -> Result<String, DeskError> {
    let p = phone.trim();
    if p.is_empty() {
        return Ok(String::new());
    }
    let digits = p.bytes().filter(u8::is_ascii_digit).count();
    let shape_ok =
        p.bytes().enumerate().all(|(i, b)| b.is_ascii_digit() || b == b' ' || b == b'.' || (b == b'+' && i == 0));
    if !shape_ok || !(8..=15).contains(&digits) {
        return Err(invalid("applicant.phone", "a phone number has 8 to 15 digits"));
    }
    Ok(p.to_string())
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

    /// Receives a new dossier (tiếp nhận hồ sơ).
    pub fn receive(
        self: &Arc<Self>,
        officer: &Officer,
        req: NewDossierRequest,
        now: i64,
    ) -> Result<DossierView, DeskError> {
        let allowed = officer.roles.iter().any(|r| matches!(r, Role::Admin | Role::Receptionist));
        if !allowed {
            return Err(DeskError::Forbidden("receiving a dossier needs the role receptionist".into()));
        }
        let channel = Channel::parse(&req.channel)
            .ok_or_else(|| invalid("channel", format!("'{}' is not direct, online or post", req.channel)))?;
        let catalog = self.catalog();
        let procedure = catalog.get(req.procedure_code.trim()).ok_or_else(|| {
            invalid("procedure_code", format!("procedure '{}' is not in the catalog", req.procedure_code))
        })?;
        let case = procedure.case(req.case_code.as_deref()).ok_or_else(|| {
            invalid(
                "case_code",
                format!("procedure {} has no case '{}'", procedure.code, req.case_code.as_deref().unwrap_or("")),
            )
        })?;
        let name = check_text("applicant.name", &req.applicant.name, NAME_LEN_MAX, true)?;
        let id_number = req.applicant.id_number.trim().to_string();
        check_id_number(&id_number).map_err(|m| invalid("applicant.id_number", m))?;
        let phone = check_phone(&req.applicant.phone)?;
        let address = check_text("applicant.address", &req.applicant.address, TEXT_LEN_MAX, false)?;
        let email = match req.applicant.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) if e.len() <= NAME_LEN_MAX && e.contains('@') && !e.contains(char::is_whitespace) => {
                Some(e.to_string())
            }
            Some(_) => return Err(invalid("applicant.email", "not an e-mail address")),
            None => None,
        };
        let documents = match req.documents {
            Some(docs) => {
                if docs.len() > dossier::DOCUMENTS_MAX {
                    return Err(invalid("documents", format!("at most {} documents", dossier::DOCUMENTS_MAX)));
                }
                let mut out = Vec::new();
                for (i, d) in docs.iter().enumerate() {
                    let field = format!("documents[{i}].name");
                    let name = check_text(&field, &d.name, NAME_LEN_MAX, true)?;
                    if d.original > 100 || d.copies > 100 || d.original + d.copies == 0 {
                        return Err(invalid(&format!("documents[{i}]"), "a document has 1 to 100 originals or copies"));
                    }
                    out.push(DocumentEntry { name, originals: d.original, copies: d.copies, received: true });
                }
                out
            }
            None => case
                .documents
                .iter()
                .filter(|d| d.required)
                .map(|d| DocumentEntry {
                    name: d.name.clone(),
                    originals: d.originals,
                    copies: d.copies,
                    received: true,
                })
                .collect(),
        };
        let sets = req.sets.unwrap_or(1);
        if !(1..=dossier::SETS_MAX).contains(&sets) {
            return Err(invalid("sets", format!("a dossier has 1 to {} sets", dossier::SETS_MAX)));
        }
        // Online dossiers get their appointment when an officer accepts them.
        let due_at = match channel {
            Channel::Online => None,
            _ if case.no_appointment => None,
            _ => Some(self.calendar().due_at(now, processing_time(case.processing_time, case.unit, case.same_day))?),
        };
        let duplicates = self.store.open_dossiers_of(&id_number, &procedure.code)?;
        let snapshot = ProcedureSnapshot {
            code: procedure.code.clone(),
            name: procedure.name.clone(),
            case_code: case.code.clone(),
            catalog_version: catalog.version.clone(),
            // The time that applies to this dossier: a case may set a
            // shorter one for dossiers submitted online.
            processing_time: match channel {
                Channel::Online => case.online_processing_time.unwrap_or(case.processing_time),
                _ => case.processing_time,
            },
            time_unit: case.unit,
            same_day: case.same_day,
            no_appointment: case.no_appointment,
            fee_vnd: case.total_fee_vnd(),
            steps: case.steps.clone(),
        };
        let officer_name = officer.username.clone();
        let applicant = Applicant { name, id_number, phone, address, email };
        let desk = self.clone();
        let (record, folded) = self.committer.run(move |w| {
            desk.receive_in(w, officer_name, applicant, channel, snapshot, due_at, documents, sets, now)
        })?;
        tracing::info!(code = %record.code, procedure = %record.procedure.code, "dossier received");
        let mut view = self.view(officer, &record, &folded, now);
        view.warnings = duplicates
            .into_iter()
            .map(|d| Warning {
                code: "possible_duplicate".into(),
                message: format!(
                    "the applicant already has open dossier {} for this procedure (state {})",
                    d.code,
                    d.state.code()
                ),
                dossier_code: d.code,
            })
            .collect();
        Ok(view)
    }

    /// The write half of [`Desk::receive`], run in the writer's transaction.
    #[allow(clippy::too_many_arguments)]
    fn receive_in(
        &self,
        w: &mut Write,
        officer: String,
        applicant: Applicant,
        channel: Channel,
        snapshot: ProcedureSnapshot,
        due_at: Option<i64>,
        documents: Vec<DocumentEntry>,
        sets: u32,
        now: i64,
    ) -> Result<(DossierRecord, Folded), DeskError> {
        let local_day = self.calendar().local_date(now);
        let yymmdd = day_number(local_day);
        let (agency, first, last) = (&self.config.agency_id, self.config.sequence_first, self.config.sequence_last);
        // A number whose code exists already (come by sync) is skipped;
        // all is read before the sequence is written.
        let seq = w
            .next_sequence_within(yymmdd, first, last, |w, seq| {
                w.code_taken(&format_dossier_code(agency, local_day, seq))
            })?
            .ok_or_else(|| {
                DeskError::Conflict(format!("this node has issued all its dossier codes for today ({first} to {last})"))
            })?;
        let code = format_dossier_code(agency, local_day, seq);
        let new = NewDossier {
            id: DossierId(rand::rng().random()),
            code,
            procedure: snapshot,
            applicant,
            reception: Reception {
                unit: self.config.unit.clone(),
                agency_id: self.config.agency_id.clone(),
                node: self.identity.node_id().to_string(),
                officer: officer.clone(),
                at: now,
                channel,
                calendar_version: self.calendar().version().to_string(),
                supplement_mode: self.config.supplement_mode,
                sets,
            },
            due_at,
            documents,
        };
        let (doc, hash) = dossier::create(self.identity.actor(), &new)?;
        let (record, folded) = self.store_doc(w, &doc, &hash.0)?;
        audit(w, now, &officer, "receive", &record.code)?;
        Ok((record, folded))
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
        Ok((record, folded))
    }

    /// Records an officer's action on a dossier.
    pub fn act(
        self: &Arc<Self>,
        officer: &Officer,
        code: &str,
        req: ActionRequest,
        now: i64,
    ) -> Result<DossierView, DeskError> {
        let action = Action::parse(&req.action)
            .filter(|a| !matches!(a, Action::Receive | Action::Handover))
            .ok_or_else(|| invalid("action", format!("'{}' is not an action", req.action)))?;
        let desk = self.clone();
        let by = officer.clone();
        let code = code.to_string();
        let (record, folded) = self.committer.run(move |w| desk.act_in(w, &by, &code, action, req, now))?;
        tracing::info!(code = %record.code, action = %action, state = folded.state.code(), "dossier action recorded");
        Ok(self.view(officer, &record, &folded, now))
    }

    /// The write half of [`Desk::act`], run in the writer's transaction.
    fn act_in(
        &self,
        w: &mut Write,
        officer: &Officer,
        code: &str,
        action: Action,
        req: ActionRequest,
        now: i64,
    ) -> Result<(DossierRecord, Folded), DeskError> {
        let id = w.id_by_code(code)?.ok_or_else(|| DeskError::NotFound(format!("no dossier {code}")))?;
        let bytes = w.load_doc(&id)?.ok_or_else(|| DeskError::NotFound(format!("no dossier {code}")))?;
        let mut doc = Automerge::load(&bytes).map_err(dossier::DocError::from)?.with_actor(self.identity.actor());
        let record = dossier::read(&doc)?;
        let folded = fold(&record, self.offset());
        let actor = Actor {
            unit: &self.config.unit,
            roles: Some(&officer.roles),
            at_ms: now,
            utc_offset_minutes: self.offset(),
        };
        transition(action, &folded.situation(&record), &actor)?;
        let note = check_text("note", req.note.as_deref().unwrap_or(""), TEXT_LEN_MAX, false)?;
        let mut event = Event {
            action: Some(action),
            at: now,
            unit: self.config.unit.clone(),
            node: self.identity.node_id().to_string(),
            officer: officer.username.clone(),
            note,
            ..Event::default()
        };
        let time =
            processing_time(record.procedure.processing_time, record.procedure.time_unit, record.procedure.same_day);
        if matches!(action, Action::StartProcessing | Action::Transfer) {
            event.step = self.step_for(&record, &folded, req.step, now)?;
        } else if req.step.is_some() {
            return Err(invalid("step", "only start_processing and transfer start a workflow step"));
        }
        let reason = req.reason.as_deref().unwrap_or("");
        event.reason = match action.reason() {
            ReasonRule::Required => Some(check_text("reason", reason, TEXT_LEN_MAX, true)?),
            ReasonRule::Optional => Some(check_text("reason", reason, TEXT_LEN_MAX, false)?).filter(|r| !r.is_empty()),
            ReasonRule::None => None,
        };
        match action {
            Action::Transfer => {
                let to = req.to_unit.as_deref().map(str::trim).unwrap_or("");
                if !is_unit_code(to) {
                    return Err(invalid("to_unit", "to_unit must be a unit code or agency identifier"));
                }
                if to == folded.holder_unit {
                    return Err(DeskError::Conflict(format!("the dossier is already held by {to}")));
                }
                event.to_unit = Some(to.to_string());
            }
            Action::RequestSupplement => {
                let items = match req.missing {
                    Some(Missing::One(s)) => vec![s],
                    Some(Missing::Many(v)) => v,
                    None => Vec::new(),
                };
                let mut lines = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let line = check_text(&format!("missing[{i}]"), item, NAME_LEN_MAX, true)?;
                    lines.push(line.replace('\n', " "));
                }
                if lines.is_empty() {
                    return Err(invalid(
                        "missing",
                        "name the missing items (missing), so guidance is given once, in writing",
                    ));
                }
                event.missing = Some(lines.join("\n"));
                // Form 2 names the deadline, and a refusal for a supplement
                // never brought waits for it to pass.
                let d =
                    req.deadline.as_deref().filter(|d| !d.trim().is_empty()).ok_or_else(|| {
                        invalid("deadline", "a supplement request needs its deadline (form 2 names it)")
                    })?;
                let at = parse_instant(d, &self.calendar()).ok_or_else(|| {
                    invalid("deadline", "deadline is not an RFC 3339 time or a YYYY-MM-DD date between 1900 and 2999")
                })?;
                if at <= now {
                    return Err(invalid("deadline", "the supplement deadline must lie in the future"));
                }
                event.deadline = Some(at);
            }
            Action::Processed => {
                event.result = Some(check_text("result", req.result.as_deref().unwrap_or(""), TEXT_LEN_MAX, true)?);
            }
            Action::Accept if !record.procedure.no_appointment => {
                event.due_at = Some(self.calendar().due_at(now, time)?);
            }
            // The clock runs again; a return to the previous step sent while
            // waiting for the financial obligation ends the pause as its
            // fulfilment would.
            Action::SupplementReceived | Action::FinancialObligationFulfilled | Action::ReturnToPrevious => {
                if let (Some(due), Some(paused)) = (folded.due_at, folded.paused_since) {
                    let restart = action == Action::SupplementReceived
                        && record.reception.supplement_mode == SupplementMode::Restart;
                    event.due_at = Some(if restart {
                        self.calendar().due_at(now, time)?
                    } else {
                        self.calendar().shift_for_pause(due, time.unit, paused, now)?
                    });
                }
            }
            Action::Reappoint | Action::ResetAppointment => {
                let raw = req.new_due_at.as_deref().ok_or_else(|| invalid("new_due_at", "new_due_at is required"))?;
                let new_due = parse_instant(raw, &self.calendar()).ok_or_else(|| {
                    invalid(
                        "new_due_at",
                        "new_due_at is not an RFC 3339 time or a YYYY-MM-DD date between 1900 and 2999",
                    )
                })?;
                // A re-appointment only ever moves the appointment later; a
                // correction may move it either way, but not before receipt.
                if action == Action::Reappoint && folded.due_at.is_some_and(|due| new_due <= due) {
                    return Err(invalid("new_due_at", "the new appointment must be later than the current one"));
                }
                if new_due <= record.reception.at {
                    return Err(invalid("new_due_at", "the appointment must lie after the dossier was received"));
                }
                if !self.calendar().is_working_day(self.calendar().local_date(new_due)) {
                    return Err(invalid("new_due_at", "the new appointment falls on a day off"));
                }
                event.due_at = Some(new_due);
            }
            _ => {}
        }
        let hash = dossier::append_event(&mut doc, &event)?;
        let (record, folded) = self.store_doc(w, &doc, &hash.0)?;
        audit(w, now, &officer.username, action.as_str(), &record.code)?;
        Ok((record, folded))
    }

    /// The workflow step a hand-off at `now` starts: step `asked` (from 1)
    /// or by default [`next_step`], with its deadline counted on the
    /// calendar. None when the case defines no steps.
    fn step_for(
        &self,
        record: &DossierRecord,
        folded: &Folded,
        asked: Option<u32>,
        now: i64,
    ) -> Result<Option<StepRecord>, DeskError> {
        let steps = &record.procedure.steps;
        let Some(default) = next_step(folded, steps.len()) else {
            return match asked {
                Some(_) => Err(invalid("step", "this dossier's case defines no workflow steps")),
                None => Ok(None),
            };
        };
        let number = match asked {
            None => default,
            Some(n) if n >= 1 && n as usize <= steps.len() => n,
            Some(n) => return Err(invalid("step", format!("step {n} is not between 1 and {}", steps.len()))),
        };
        let s = &steps[number as usize - 1];
        let deadline = self.calendar().due_at(now, processing_time(s.time_limit, s.unit, false))?;
        Ok(Some(StepRecord { number, name: s.name.clone(), time_limit: s.time_limit, time_unit: s.unit, deadline }))
    }

    /// The appointments that are "due soon" at `now`: from the start of
    /// today, since one due earlier today is not overdue yet (that is judged
    /// by date), to [`DUE_SOON_MS`] from now.
    pub fn due_soon_window(&self, now: i64) -> (i64, i64) {
        let calendar = self.calendar();
        (calendar.instant(calendar.local_date(now), 0), now + DUE_SOON_MS)
    }

    /// Records, durably before the answer leaves, that `officer` read many
    /// dossiers at once (a list, search, queue, duplicate lookup or
    /// logbook): what kind of read, with which filters and how many rows,
    /// never a searched name or identity number. A read whose line cannot
    /// be committed is not answered.
    fn audit_bulk_read(
        &self,
        officer: &Officer,
        action: &'static str,
        what: String,
        now: i64,
    ) -> Result<(), DeskError> {
        let who = officer.username.clone();
        Ok(self.committer.record(move |w| audit(w, now, &who, action, &what).map_err(DeskError::from))?)
    }

    /// A page of dossiers (lists, queues and searches), newest first, and
    /// how many match in all; the read is audited durably.
    pub fn list(&self, officer: &Officer, q: &ListQuery, now: i64) -> Result<(Vec<DossierSummary>, u64), DeskError> {
        let (rows, total) = self.store.list(q)?;
        let text = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let mut what: Vec<String> = text.map(search_kind).into_iter().collect();
        if let Some(state) = q.state {
            what.push(format!("state={state}"));
        }
        if let Some(unit) = &q.unit {
            what.push(format!("unit={}", audit_unit(unit)));
        }
        if q.overdue_at.is_some() {
            what.push("overdue".into());
        }
        if q.due_between.is_some() {
            what.push("due_soon".into());
        }
        if q.conflicts {
            what.push("conflicts".into());
        }
        if let Some(from) = q.received_from {
            what.push(format!("received_from={}", rfc3339(from, self.offset())));
        }
        what.push(format!("offset={} limit={}: {} of {total} rows", q.offset, q.limit, rows.len()));
        self.audit_bulk_read(officer, if text.is_some() { "search" } else { "list" }, what.join(" "), now)?;
        Ok((rows, total))
    }

    /// The open dossiers of an applicant (by identity number) for a
    /// procedure, as reception checks for duplicates; audited durably.
    pub fn duplicates(
        &self,
        officer: &Officer,
        id_number: &str,
        procedure_code: &str,
        now: i64,
    ) -> Result<Vec<DossierSummary>, DeskError> {
        let rows = self.store.open_dossiers_of(id_number, procedure_code)?;
        let procedure = if motcua_domain::catalog::is_procedure_code(procedure_code) {
            procedure_code
        } else {
            "(not a procedure code)"
        };
        let what = format!("by id number, procedure {procedure}: {} rows", rows.len());
        self.audit_bulk_read(officer, "duplicates", what, now)?;
        Ok(rows)
    }

    /// The logbook (form 6) of the dossiers `unit` received between the
    /// local dates `from` and `to` (both included), in order of receipt:
    /// those whose receiving unit it is now (after a merger, the successor
    /// keeps the old units' book). For the one-stop desk and leaders; the
    /// read is audited once for the whole book, with its size.
    pub fn logbook(
        &self,
        officer: &Officer,
        (from, to): (NaiveDate, NaiveDate),
        unit: &str,
        now: i64,
    ) -> Result<Vec<LogbookRow>, DeskError> {
        if !officer.roles.iter().any(|r| matches!(r, Role::Admin | Role::Receptionist | Role::Leader)) {
            return Err(DeskError::Forbidden(
                "the logbook holds applicants' addresses and phones: it needs the role receptionist or leader".into(),
            ));
        }
        let calendar = self.calendar();
        let end = to.succ_opt().ok_or_else(|| invalid("to", "to is past the last date"))?;
        let (summaries, more) = self.store.received_between(
            (calendar.instant(from, 0), calendar.instant(end, 0)),
            |s| s.receiving_unit == unit,
            (LOGBOOK_ROWS_MAX, LOGBOOK_SCAN_MAX),
        )?;
        if more {
            return Err(invalid(
                "to",
                format!("the period holds more than {LOGBOOK_ROWS_MAX} dossiers: choose a shorter one"),
            ));
        }
        let o = self.offset();
        let mut rows = Vec::new();
        // The summary has the dates and state; the document adds what only
        // it holds (sets, address, phone, the receiving officer).
        for s in summaries {
            let Some(bytes) = self.store.load_doc(&s.id)? else { continue };
            let record = dossier::read(&Automerge::load(&bytes).map_err(dossier::DocError::from)?)?;
            rows.push(LogbookRow {
                code: s.code,
                id: record.id.to_hex(),
                procedure_code: s.procedure_code,
                procedure_name: s.procedure_name,
                sets: record.reception.sets,
                applicant: LogbookApplicant {
                    name: s.applicant_name,
                    address: record.applicant.address,
                    phone: record.applicant.phone,
                },
                receiving_unit: s.receiving_unit,
                received_at: rfc3339(s.received_at, o),
                received_by: record.reception.officer,
                due_at: s.due_at.map(|t| rfc3339(t, o)),
                returned_at: s.returned_at.map(|t| rfc3339(t, o)),
                state: s.state.code(),
                state_name: s.state.name_vi(),
            });
        }
        let what = format!("unit={} {from}..{to}: {} rows", audit_unit(unit), rows.len());
        self.audit_bulk_read(officer, "logbook", what, now)?;
        Ok(rows)
    }

    /// Reads a dossier; the read is audited.
    pub fn get(&self, officer: &Officer, code: &str, now: i64) -> Result<DossierView, DeskError> {
        let id = self.store.id_by_code(code)?.ok_or_else(|| DeskError::NotFound(format!("no dossier {code}")))?;
        let bytes = self.store.load_doc(&id)?.ok_or_else(|| DeskError::NotFound(format!("no dossier {code}")))?;
        let doc = Automerge::load(&bytes).map_err(dossier::DocError::from)?;
        let record = dossier::read(&doc)?;
        let folded = fold(&record, self.offset());
        let (who, what) = (officer.username.clone(), code.to_string());
        self.committer.submit_lazy(move |w| audit(w, now, &who, "read", &what));
        Ok(self.view(officer, &record, &folded, now))
    }

    /// The officer actions `officer` may take on the dossier at `now`, in
    /// the order of [`Action::ALL`]: the same rule [`Desk::act`] applies.
    pub fn allowed_actions(
        &self,
        officer: &Officer,
        record: &DossierRecord,
        folded: &Folded,
        now: i64,
    ) -> Vec<&'static str> {
        let actor = Actor {
            unit: &self.config.unit,
            roles: Some(&officer.roles),
            at_ms: now,
            utc_offset_minutes: self.offset(),
        };
        let situation = folded.situation(record);
        Action::ALL
            .into_iter()
            .filter(|a| !matches!(a, Action::Receive | Action::Handover))
            .filter(|&a| transition(a, &situation, &actor).is_ok())
            .map(Action::as_str)
            .collect()
    }

    /// What the citizen tracking page (tra cứu hồ sơ) shows: the state,
    /// the appointment and where to collect the result, for the dossier
    /// code and the last four digits of the applicant's id number, and
    /// nothing else. The API answers a wrong suffix and an unknown code
    /// alike; the rate limits tell them apart.
    pub fn track(&self, code: &str, id_last4: &str, now: i64) -> Result<Result<TrackView, TrackMiss>, DeskError> {
        let Some(s) = self.store.summary_by_code(code)? else { return Ok(Err(TrackMiss::UnknownCode)) };
        let digits = s.applicant_id_number.as_bytes();
        let suffix = &digits[digits.len().saturating_sub(4)..];
        if id_last4.len() != 4 || suffix != id_last4.as_bytes() {
            return Ok(Err(TrackMiss::WrongSuffix));
        }
        let o = self.offset();
        Ok(Ok(TrackView {
            code: s.code.clone(),
            procedure_name: s.procedure_name.clone(),
            state: s.state.code(),
            state_name: s.state.name_vi(),
            received_at: rfc3339(s.received_at, o),
            due_at: s.due_at.map(|t| rfc3339(t, o)),
            returned_at: s.returned_at.map(|t| rfc3339(t, o)),
            result_ready: s.state == motcua_domain::workflow::Status::ResultReady,
            overdue: s.is_overdue(now, self.offset()),
            collect_at: format!("Bộ phận Một cửa — {}", self.unit_name(&s.receiving_unit)),
            collect_unit: self.unit_name(&s.receiving_unit),
        }))
    }

    /// The name of a unit: this node's own, or an enrolled node's from the
    /// trust set; the code itself when neither knows it.
    pub fn unit_name(&self, unit: &str) -> String {
        if unit == self.config.unit {
            return self.config.unit_name.clone();
        }
        let trust = self.trust.read().expect("trust lock");
        trust
            .as_ref()
            .and_then(|t| t.nodes().find(|n| n.unit == unit).map(|n| n.unit_name.clone()))
            .unwrap_or_else(|| unit.to_string())
    }

    pub fn summary_view(&self, s: &DossierSummary, now: i64) -> SummaryView {
        let o = self.offset();
        SummaryView {
            code: s.code.clone(),
            id: DossierId(s.id).to_hex(),
            procedure_code: s.procedure_code.clone(),
            procedure_name: s.procedure_name.clone(),
            applicant: SummaryApplicant { name: s.applicant_name.clone(), id_number: s.applicant_id_number.clone() },
            channel: s.channel,
            state: s.state.code(),
            state_name: s.state.name_vi(),
            receiving_unit: s.receiving_unit.clone(),
            holder_unit: s.holder_unit.clone(),
            received_at: rfc3339(s.received_at, o),
            due_at: s.due_at.map(|t| rfc3339(t, o)),
            returned_at: s.returned_at.map(|t| rfc3339(t, o)),
            on_time: s.on_time,
            overdue: s.is_overdue(now, self.offset()),
            conflicts: s.conflicts,
        }
    }

    /// Whether the province holds this dossier's latest version (the node
    /// learned it from the province's acknowledgement or reconciliation).
    /// On the province node itself, every dossier it holds is there.
    /// Why peers refused this node's version of a dossier.
    pub fn refused_by_peers(&self, id: &[u8; 16]) -> Vec<PeerRefusalView> {
        let o = self.offset();
        let trust = self.trust.read().expect("trust lock");
        self.store
            .peer_refusals(id)
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                let cert = trust.as_ref().and_then(|t| t.node(&r.peer).ok());
                PeerRefusalView {
                    node_id: hex::encode(r.peer),
                    unit: cert.map(|c| c.unit.clone()),
                    role: cert.map(|c| c.role.as_str()),
                    reason: r.reason,
                    at: rfc3339(r.at, o),
                }
            })
            .collect()
    }

    /// Today as the key of [`Desk::allowance`], and the province's limit.
    pub fn allowance_day(&self, now: i64) -> (u32, u32) {
        let day = day_number(self.calendar().local_date(now));
        let limit = self
            .province
            .as_ref()
            .map_or(motcua_sync::cert::DOSSIERS_PER_NODE_PER_DAY, |p| p.daily_dossiers_per_node());
        (day, limit)
    }

    pub fn safe_at_province(&self, id: &[u8; 16]) -> bool {
        if self.config.role == crate::config::NodeRole::Province {
            return true;
        }
        let held = self.store.province_held(id).ok().flatten();
        let entry = self.store.sync_entry(id).ok().flatten();
        matches!((held, entry), (Some(h), Some(e)) if h == e.digest)
    }

    /// A dossier as `officer` sees it, with the actions open to them.
    pub fn view(&self, officer: &Officer, record: &DossierRecord, folded: &Folded, now: i64) -> DossierView {
        let o = self.offset();
        let case_steps = &record.procedure.steps;
        DossierView {
            code: record.code.clone(),
            id: record.id.to_hex(),
            procedure_code: record.procedure.code.clone(),
            procedure_name: record.procedure.name.clone(),
            case_code: record.procedure.case_code.clone(),
            applicant: record.applicant.clone(),
            channel: record.reception.channel,
            state: folded.state.code(),
            state_name: folded.state.name_vi(),
            receiving_unit: folded.receiving_unit.clone(),
            holder_unit: folded.holder_unit.clone(),
            received_at: rfc3339(record.reception.at, o),
            received_by: record.reception.officer.clone(),
            sets: record.reception.sets,
            due_at: folded.due_at.map(|t| rfc3339(t, o)),
            returned_at: folded.returned_at.map(|t| rfc3339(t, o)),
            on_time: folded.on_time,
            overdue: folded.is_overdue(now, self.offset()),
            paused: folded.paused_since.is_some(),
            reappointed: folded.reappointed,
            supplement_requests: folded.supplement_requests,
            fee_vnd: record.procedure.fee_vnd,
            processing_time: record.procedure.processing_time,
            time_unit: record.procedure.time_unit,
            documents: record
                .documents
                .iter()
                .map(|d| DocumentView {
                    name: d.name.clone(),
                    original: d.originals,
                    copies: d.copies,
                    received: d.received,
                })
                .collect(),
            result: folded.result.clone(),
            history: folded
                .history
                .iter()
                .map(|h| {
                    let e = &h.event;
                    HistoryView {
                        action: e.action.map(|a| a.as_str().to_string()).unwrap_or_default(),
                        at: rfc3339(e.at, o),
                        unit: e.unit.clone(),
                        officer: e.officer.clone(),
                        note: e.note.clone(),
                        node: e.node.clone(),
                        state: h.state_after.code(),
                        to_unit: e.to_unit.clone(),
                        reason: e.reason.clone(),
                        missing: e.missing.as_ref().map(|m| m.lines().map(str::to_string).collect()),
                        result: e.result.clone(),
                        due_at: e.due_at.map(|t| rfc3339(t, o)),
                        deadline: e.deadline.map(|t| rfc3339(t, o)),
                        step: e.step.as_ref().map(|s| s.number),
                    }
                })
                .collect(),
            case_steps: case_steps
                .iter()
                .zip(1..)
                .map(|(s, number)| CaseStepView {
                    number,
                    name: s.name.clone(),
                    agency: s.agency.clone(),
                    time_limit: s.time_limit,
                    time_unit: s.unit,
                })
                .collect(),
            next_step: next_step(folded, case_steps.len()),
            steps: step_progress(folded, now, o)
                .into_iter()
                .map(|p| StepView {
                    number: p.step.number,
                    name: p.step.name.clone(),
                    time_limit: p.step.time_limit,
                    time_unit: p.step.time_unit,
                    unit: p.unit.to_string(),
                    unit_name: self.unit_name(p.unit),
                    handed_over_by: p.event.officer.clone(),
                    received_by: p.received_by.map(str::to_string),
                    started_at: rfc3339(p.event.at, o),
                    deadline: rfc3339(p.step.deadline, o),
                    ended_at: p.ended_at.map(|t| rfc3339(t, o)),
                    ended_by: p.ended_by.map(Action::as_str),
                    result: p.result,
                    overdue: p.overdue,
                })
                .collect(),
            conflicts: folded
                .conflicts
                .iter()
                .map(|c| ConflictView {
                    event_index: c.event_index,
                    action: c.action.clone(),
                    at: rfc3339(c.at, o),
                    unit: c.unit.clone(),
                    node: c.node.clone(),
                    reason: c.reason.clone(),
                })
                .collect(),
            replicated_to_province: self.safe_at_province(&record.id.0),
            refused_by_peers: self.refused_by_peers(&record.id.0),
            allowed_actions: self.allowed_actions(officer, record, folded, now),
            warnings: Vec::new(),
        }
    }
}

fn processing_time(amount: u32, unit: motcua_domain::calendar::TimeUnit, same_day: bool) -> ProcessingTime {
    ProcessingTime { amount, unit, same_day }
}

pub use motcua_store::AuditEntry;

/// A peer's refusal of a dossier, as the dossier page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PeerRefusalView {
    pub node_id: String,
    pub unit: Option<String>,
    pub role: Option<&'static str>,
    pub reason: String,
    pub at: String,
}

/// What kind of search a free-text query is, for its audit line: the code
/// when it is a whole dossier code, otherwise only its kind (a searched
/// name or identity number is personal data).
fn search_kind(text: &str) -> String {
    if motcua_domain::codes::is_dossier_code(text) {
        format!("by code {text}")
    } else if text.bytes().all(|b| b.is_ascii_digit()) {
        "by id number".into()
    } else if text.contains('-') {
        "by code prefix".into()
    } else {
        "by name".into()
    }
}

/// A unit named in a query, as its audit line shows it: the text is the
/// officer's, unchecked, so it is shown only when shaped like a commune
/// (5 digits), province (2 digits) or agency code (dotted groups), never
/// a word or a longer number that could be a name or an identity number.
fn audit_unit(unit: &str) -> &str {
    let digits = unit.bytes().all(|b| b.is_ascii_digit());
    let shaped = (digits && matches!(unit.len(), 2 | 5)) || (unit.contains('.') && is_unit_code(unit));
    if shaped { unit } else { "(not a unit code)" }
}

pub fn audit(w: &mut Write, at: i64, officer: &str, action: &str, dossier: &str) -> Result<(), StoreError> {
    w.audit(at, officer, action, dossier)
}

#[cfg(test)]
mod tests {
    use super::*;

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
