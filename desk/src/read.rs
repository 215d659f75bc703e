//! Reading dossiers back: lists and searches, duplicates, the logbook
//! (sổ theo dõi), one dossier, the citizens' tracking lookup; every bulk
//! read audited before it returns.

use automerge::Automerge;
use chrono::NaiveDate;
use motcua_domain::codes::is_unit_code;
use motcua_domain::dossier::{self};
use motcua_domain::fold::fold;
use motcua_domain::stats::DossierSummary;
use motcua_domain::workflow::Role;
use serde::Serialize;

use motcua_store::ListQuery;

use crate::desk::*;
use crate::views::*;

/// One entry of the dossier logbook (sổ theo dõi hồ sơ, form 07).
#[derive(Debug, Serialize)]
pub struct LogbookRow {
    /// Quyển số (the year) and số thứ tự (form 07's first column); null for
    /// a dossier received before lines were numbered.
    pub logbook: Option<motcua_domain::dossier::LogbookEntry>,
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
    /// When the desk first handed the dossier to a processing unit
    /// (chuyển cơ quan giải quyết).
    pub handed_over_at: Option<String>,
    /// When the result was made ready (có kết quả).
    pub result_ready_at: Option<String>,
    pub returned_at: Option<String>,
    pub state: u8,
    pub state_name: &'static str,
}

/// The applicant as the logbook names them.
#[derive(Debug, Serialize)]
pub struct LogbookApplicant {
    pub name: String,
    pub address: String,
    pub phone: String,
}

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

/// What kind of search a free-text query is, for its audit line: the code
/// when it is a whole dossier code, otherwise only its kind (a searched
/// name or identity number is personal data).
pub(crate) fn search_kind(text: &str) -> String {
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
pub(crate) fn audit_unit(unit: &str) -> &str {
    let digits = unit.bytes().all(|b| b.is_ascii_digit());
    let shaped = (digits && matches!(unit.len(), 2 | 5)) || (unit.contains('.') && is_unit_code(unit));
    if shaped { unit } else { "(not a unit code)" }
}

impl Desk {
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
    pub(crate) fn audit_bulk_read(
        &self,
        officer: &Officer,
        action: &'static str,
        what: String,
        now: i64,
    ) -> Result<(), DeskError> {
        let who = officer.username.clone();
        Ok(self.committer().record(move |w| audit(w, now, &who, action, &what).map_err(DeskError::from))?)
    }

    /// A page of dossiers (lists, queues and searches), newest first, and
    /// how many match in all; the read is audited durably.
    pub fn list(&self, officer: &Officer, q: &ListQuery, now: i64) -> Result<(Vec<DossierSummary>, u64), DeskError> {
        let (rows, total) = self.store().list(q)?;
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
        let rows = self.store().open_dossiers_of(id_number, procedure_code)?;
        let procedure = if motcua_domain::catalog::is_procedure_code(procedure_code) {
            procedure_code
        } else {
            "(not a procedure code)"
        };
        let what = format!("by id number, procedure {procedure}: {} rows", rows.len());
        self.audit_bulk_read(officer, "duplicates", what, now)?;
        Ok(rows)
    }

    /// The logbook (form 07) of the dossiers `unit` received between the
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
        let (summaries, more) = self.store().received_between(
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
            let Some(bytes) = self.store().load_doc(&s.id)? else { continue };
            let record = dossier::read(&Automerge::load(&bytes).map_err(dossier::DocError::from)?)?;
            let handed_over_at = record
                .events
                .iter()
                .find(|e| {
                    e.defect.is_none()
                        && matches!(
                            e.event.action,
                            Some(
                                motcua_domain::workflow::Action::StartProcessing
                                    | motcua_domain::workflow::Action::Transfer
                            )
                        )
                })
                .map(|e| rfc3339(e.event.at, o));
            rows.push(LogbookRow {
                logbook: record.reception.logbook,
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
                handed_over_at,
                result_ready_at: s.result_ready_at.map(|t| rfc3339(t, o)),
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
        let id = self.store().id_by_code(code)?.ok_or_else(|| DeskError::NotFound(format!("no dossier {code}")))?;
        let bytes = self.store().load_doc(&id)?.ok_or_else(|| DeskError::NotFound(format!("no dossier {code}")))?;
        let doc = Automerge::load(&bytes).map_err(dossier::DocError::from)?;
        let record = dossier::read(&doc)?;
        let folded = fold(&record, self.offset());
        let (who, what) = (officer.username.clone(), code.to_string());
        self.committer().submit_lazy(move |w| audit(w, now, &who, "read", &what));
        Ok(self.view(officer, &record, &folded, now))
    }

    /// What the citizen tracking page (tra cứu hồ sơ) shows: the state,
    /// the appointment and where to collect the result, for the dossier
    /// code and the last four digits of the applicant's id number, and
    /// nothing else. The API answers a wrong suffix and an unknown code
    /// alike; the rate limits tell them apart.
    pub fn track(&self, code: &str, id_last4: &str, now: i64) -> Result<Result<TrackView, TrackMiss>, DeskError> {
        let Some(s) = self.store().summary_by_code(code)? else { return Ok(Err(TrackMiss::UnknownCode)) };
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
        if unit == self.config().unit {
            return self.config().unit_name.clone();
        }
        self.with_trust(|trust| trust.and_then(|t| t.nodes().find(|n| n.unit == unit).map(|n| n.unit_name.clone())))
            .unwrap_or_else(|| unit.to_string())
    }

    /// Why peers refused this node's version of a dossier.
    pub fn refused_by_peers(&self, id: &[u8; 16]) -> Vec<PeerRefusalView> {
        let o = self.offset();
        let refusals = self.store().peer_refusals(id).unwrap_or_default();
        self.with_trust(|trust| {
            refusals
                .into_iter()
                .map(|r| {
                    let cert = trust.and_then(|t| t.node(&r.peer).ok());
                    PeerRefusalView {
                        node_id: hex::encode(r.peer),
                        unit: cert.map(|c| c.unit.clone()),
                        role: cert.map(|c| c.role.as_str()),
                        reason: r.reason,
                        at: rfc3339(r.at, o),
                    }
                })
                .collect()
        })
    }

    /// Today as the key of [`Desk::allowance`], and the province's limit.
    pub fn allowance_day(&self, now: i64) -> (u32, u32) {
        let day = day_number(self.calendar().local_date(now));
        let limit =
            self.province().map_or(motcua_sync::cert::DOSSIERS_PER_NODE_PER_DAY, |p| p.daily_dossiers_per_node());
        (day, limit)
    }

    /// Whether the province holds this dossier's latest version (the node
    /// learned it from the province's acknowledgement or reconciliation).
    /// On the province node itself, every dossier it holds is there.
    pub fn safe_at_province(&self, id: &[u8; 16]) -> bool {
        if self.config().role == crate::config::NodeRole::Province {
            return true;
        }
        let held = self.store().province_held(id).ok().flatten();
        let entry = self.store().sync_entry(id).ok().flatten();
        matches!((held, entry), (Some(h), Some(e)) if h == e.digest)
    }
}
