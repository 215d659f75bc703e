//! What the desk shows of a dossier: the dossier page, a list row, the
//! actions an officer may take.

use motcua_domain::calendar::ProcessingTime;
use motcua_domain::dossier::{Applicant, Channel, Collection, DossierId, DossierRecord, LogbookEntry, Representative};
use motcua_domain::fold::{Folded, next_step, step_progress};
use motcua_domain::stats::DossierSummary;
use motcua_domain::workflow::{Action, Actor, transition};
use serde::Serialize;

use crate::desk::*;

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
    /// A stop's legal basis, for the stop notice (form 05).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<String>,
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
/// sheet (form 06): who did it, from when, by when, and how it ended.
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
    /// Certified copies (bản chứng thực).
    pub certified: u32,
    pub copies: u32,
    pub received: bool,
    /// A scan of this line is kept with the dossier
    /// ([`motcua_domain::attachment::line_digitized`]); form 1 prints it.
    pub digitized: bool,
}

#[derive(Debug, Serialize)]
pub struct Warning {
    pub code: String,
    pub message: String,
    pub dossier_code: String,
}

/// A dossier as the API shows it.
/// A file of a dossier, as its page shows it.
#[derive(Debug, Serialize)]
pub struct AttachmentView {
    #[serde(flatten)]
    pub file: motcua_domain::attachment::File,
    pub by: String,
    pub unit: String,
    /// When it was attached, RFC 3339 in the province's offset.
    pub at: String,
}

/// A result as a document.
#[derive(Debug, Serialize)]
pub struct ResultDocumentView {
    #[serde(rename = "type")]
    pub doc_type: String,
    pub number: String,
    pub signer: String,
    pub issuer: String,
    pub signed_on: String,
}

/// The citizen's rating.
#[derive(Debug, Serialize)]
pub struct RatingView {
    pub rating: motcua_domain::returning::Rating,
    pub at: String,
}

/// A processing unit's draft supplement request, as the desk sees it.
#[derive(Debug, Serialize)]
pub struct SupplementDraftView {
    /// The draft event's index in the history: what an approval names.
    pub event_index: usize,
    pub reason: String,
    pub missing: Vec<String>,
    pub unit: String,
    pub officer: String,
    pub at: String,
    pub approved: bool,
}

#[derive(Debug, Serialize)]
pub struct DossierView {
    pub code: String,
    pub id: String,
    pub procedure_code: String,
    pub procedure_name: String,
    pub case_code: String,
    /// The applicant (chủ hồ sơ), with its `kind`, `id_kind` and the
    /// `representative` who submitted for it, if any.
    pub applicant: Applicant,
    /// The person who submitted for the applicant (người nộp hồ sơ), or
    /// null when the applicant submitted in person: the same as
    /// `applicant.representative`, named beside it as requests may.
    pub representative: Option<Representative>,
    pub channel: Channel,
    pub state: u8,
    pub state_name: &'static str,
    pub receiving_unit: String,
    pub holder_unit: String,
    pub received_at: String,
    pub received_by: String,
    /// Number of sets (số bộ hồ sơ) handed in.
    pub sets: u32,
    /// Where the result is collected: `desk` or `post`.
    pub collection: Collection,
    /// Quyển số (the year) and số thứ tự of the dossier's line in the
    /// logbook; null for a dossier received before lines were numbered.
    pub logbook: Option<LogbookEntry>,
    pub due_at: Option<String>,
    pub returned_at: Option<String>,
    pub on_time: Option<motcua_domain::fold::OnTime>,
    pub overdue: bool,
    pub paused: bool,
    pub reappointed: bool,
    pub supplement_requests: u32,
    /// The processing unit's supplement request on its way to the desk
    /// (drafted, then approved by its leader), until the desk issues it.
    pub supplement_draft: Option<SupplementDraftView>,
    /// The result as a document (its type, number and symbol, signer,
    /// issuing body, date signed), when the `processed` event gave one.
    pub result_document: Option<ResultDocumentView>,
    /// How the result was handed over: "desk" or "post", and the waybill.
    pub delivery: Option<&'static str>,
    pub waybill: Option<String>,
    /// The citizen's rating at return, once given.
    pub rating: Option<RatingView>,
    pub fee_vnd: u64,
    pub processing_time: u32,
    pub time_unit: motcua_domain::calendar::TimeUnit,
    pub documents: Vec<DocumentView>,
    pub result: Option<String>,
    /// The hash of the electronic result file the `processed` event signed
    /// for, 64 hex digits.
    pub result_file: Option<String>,
    /// The files the dossier keeps, in the order they were attached (their
    /// bytes: `GET .../attachments`).
    pub attachments: Vec<AttachmentView>,
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

pub(crate) fn processing_time(amount: u32, unit: motcua_domain::calendar::TimeUnit, same_day: bool) -> ProcessingTime {
    ProcessingTime { amount, unit, same_day }
}

/// A peer's refusal of a dossier, as the dossier page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PeerRefusalView {
    pub node_id: String,
    pub unit: Option<String>,
    pub role: Option<&'static str>,
    pub reason: String,
    pub at: String,
}

impl Desk {
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
            unit: &self.config().unit,
            roles: Some(&officer.roles),
            at_ms: now,
            utc_offset_minutes: self.offset(),
        };
        let situation = folded.situation(record);
        Action::ALL
            .into_iter()
            .filter(|a| !matches!(a, Action::Receive | Action::Handover | Action::Attach))
            // Offered only while there is a conflict to resolve.
            .filter(|&a| a != Action::ResolveConflict || !folded.conflicts.is_empty())
            .filter(|&a| transition(a, &situation, &actor).is_ok())
            .map(Action::as_str)
            .collect()
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
            representative: record.applicant.representative.clone(),
            channel: record.reception.channel,
            state: folded.state.code(),
            state_name: folded.state.name_vi(),
            receiving_unit: folded.receiving_unit.clone(),
            holder_unit: folded.holder_unit.clone(),
            received_at: rfc3339(record.reception.at, o),
            received_by: record.reception.officer.clone(),
            sets: record.reception.sets,
            collection: record.reception.collection,
            logbook: record.reception.logbook,
            due_at: folded.due_at.map(|t| rfc3339(t, o)),
            returned_at: folded.returned_at.map(|t| rfc3339(t, o)),
            on_time: folded.on_time,
            overdue: folded.is_overdue(now, self.offset()),
            paused: folded.paused_since.is_some(),
            reappointed: folded.reappointed,
            supplement_requests: folded.supplement_requests,
            supplement_draft: folded.supplement_draft.map(|d| {
                let e = &record.events[d.event_index].event;
                SupplementDraftView {
                    event_index: d.event_index,
                    reason: e.reason.clone().unwrap_or_default(),
                    missing: e.missing.as_deref().unwrap_or("").lines().map(str::to_string).collect(),
                    unit: e.unit.clone(),
                    officer: e.officer.clone(),
                    at: rfc3339(e.at, o),
                    approved: d.approved,
                }
            }),
            result_document: folded.result_doc.as_ref().map(|d| ResultDocumentView {
                doc_type: d.doc_type.clone(),
                number: d.number.clone(),
                signer: d.signer.clone(),
                issuer: d.issuer.clone(),
                signed_on: d.signed_on.format("%Y-%m-%d").to_string(),
            }),
            delivery: folded.delivery.as_ref().map(|(d, _)| d.as_str()),
            waybill: folded.delivery.as_ref().and_then(|(_, w)| w.clone()),
            rating: folded.rating.map(|(rating, at)| RatingView { rating, at: rfc3339(at, o) }),
            fee_vnd: record.procedure.fee_vnd,
            processing_time: record.procedure.processing_time,
            time_unit: record.procedure.time_unit,
            documents: record
                .documents
                .iter()
                .zip(1..)
                .map(|(d, line)| DocumentView {
                    name: d.name.clone(),
                    original: d.originals,
                    certified: d.certified,
                    copies: d.copies,
                    received: d.received,
                    digitized: motcua_domain::attachment::line_digitized(&folded.attachments, line),
                })
                .collect(),
            result: folded.result.clone(),
            result_file: folded.result_hash.map(hex::encode),
            attachments: folded
                .attachments
                .iter()
                .map(|a| AttachmentView {
                    file: a.file.clone(),
                    by: a.by.clone(),
                    unit: a.unit.clone(),
                    at: rfc3339(a.at, self.offset()),
                })
                .collect(),
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
                        legal_basis: e.legal_basis.clone(),
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
