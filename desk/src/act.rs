//! Officers' actions on a dossier (xử lý hồ sơ): the request, the
//! workflow's rules, the change appended and signed.

use std::sync::Arc;

use automerge::Automerge;
use motcua_domain::codes::is_unit_code;
use motcua_domain::dossier::{self, DossierRecord, Event, StepRecord, SupplementMode};
use motcua_domain::fold::{Folded, fold, next_step};
use motcua_domain::returning::{Delivery, ResultDocument, is_waybill};
use motcua_domain::workflow::{Action, Actor, ReasonRule, transition};
use serde::Deserialize;

use motcua_store::Write;

use crate::desk::*;
use crate::views::*;

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
    /// For `processed`: the hash (64 hex digits) of the electronic result
    /// file, already attached as a result; by default the one attached
    /// last, if any.
    #[serde(default)]
    pub result_file: Option<String>,
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
    /// For `resolve_conflict`: the `event_index` of one of the dossier's
    /// conflicts.
    #[serde(default)]
    pub event_index: Option<usize>,
    /// For `processed`: the result as a document (DOMAIN.md "Results").
    #[serde(default)]
    pub result_document: Option<ResultDocumentRequest>,
    /// For `return_result`: "desk" (default) or "post".
    #[serde(default)]
    pub delivery: Option<String>,
    /// For `return_result` by post: the postal waybill number (mã vận đơn).
    #[serde(default)]
    pub waybill: Option<String>,
    /// For `stop`: the legal basis (căn cứ pháp lý) that the stop notice
    /// (form 05) prints beside the reason.
    #[serde(default)]
    pub legal_basis: Option<String>,
}

/// The result as a document, as a `processed` request gives it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultDocumentRequest {
    #[serde(rename = "type")]
    pub doc_type: String,
    pub number: String,
    pub signer: String,
    pub issuer: String,
    /// Date signed, YYYY-MM-DD.
    pub signed_on: String,
}

impl Desk {
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
        // A file is attached with its bytes, through the attachments route.
        if action == Action::Attach {
            return Err(invalid("action", "a file is attached through the dossier's attachments, with its bytes"));
        }
        let desk = self.clone();
        let by = officer.clone();
        let code = code.to_string();
        let (record, folded) = self.committer().run(move |w| desk.act_in(w, &by, &code, action, req, now))?;
        tracing::info!(code = %record.code, action = %action, state = folded.state.code(), "dossier action recorded");
        Ok(self.view(officer, &record, &folded, now))
    }

    /// The write half of [`Desk::act`], run in the writer's transaction.
    pub(crate) fn act_in(
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
        let doc = Automerge::load(&bytes).map_err(dossier::DocError::from)?.with_actor(self.identity().actor());
        let record = dossier::read(&doc)?;
        let folded = fold(&record, self.offset());
        let actor = Actor {
            unit: &self.config().unit,
            roles: Some(&officer.roles),
            at_ms: now,
            utc_offset_minutes: self.offset(),
        };
        if req.result_file.is_some() && action != Action::Processed {
            return Err(invalid("result_file", "only a processed action names the result file"));
        }
        if req.result_document.is_some() && action != Action::Processed {
            return Err(invalid("result_document", "only a processed action records the result document"));
        }
        if (req.delivery.is_some() || req.waybill.is_some()) && action != Action::ReturnResult {
            return Err(invalid("delivery", "only return_result says how the result was delivered"));
        }
        if action == Action::RateSatisfaction {
            return Err(invalid("action", "the citizen rates the service on the rating page (POST /api/v1/rate)"));
        }
        if req.event_index.is_some() && !matches!(action, Action::ResolveConflict | Action::ApproveSupplement) {
            return Err(invalid("event_index", "only resolve_conflict and approve_supplement name an event_index"));
        }
        if req.legal_basis.is_some() && action != Action::Stop {
            return Err(invalid("legal_basis", "only a stop gives a legal basis (form 05)"));
        }
        transition(action, &folded.situation(&record), &actor)?;
        let note = check_text("note", req.note.as_deref().unwrap_or(""), TEXT_LEN_MAX, false)?;
        let mut event = Event {
            action: Some(action),
            at: now,
            unit: self.config().unit.clone(),
            node: self.identity().node_id().to_string(),
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
        // The desk issues the processing unit's approved draft as it stands
        // unless the officer restates it.
        let draft = folded
            .supplement_draft
            .filter(|_| action == Action::RequestSupplement)
            .map(|d| &record.events[d.event_index].event);
        // From state 4 the desk issues what the leader approved: to change
        // it, the processing unit drafts again.
        if let Some(d) = draft.filter(|_| folded.state == motcua_domain::workflow::Status::InProcess) {
            let items = |m: &Option<Missing>| match m {
                Some(Missing::One(s)) => vec![s.trim().to_string()],
                Some(Missing::Many(v)) => v.iter().map(|s| s.trim().to_string()).collect(),
                None => Vec::new(),
            };
            let drafted: Vec<String> = d.missing.as_deref().unwrap_or("").lines().map(str::to_string).collect();
            if req.reason.as_deref().is_some_and(|r| r.trim() != d.reason.as_deref().unwrap_or("")) {
                return Err(invalid(
                    "reason",
                    "the desk issues the approved draft as it stands; the processing unit drafts again to change it",
                ));
            }
            if req.missing.is_some() && items(&req.missing) != drafted {
                return Err(invalid(
                    "missing",
                    "the desk issues the approved draft as it stands; the processing unit drafts again to change it",
                ));
            }
        }
        let reason = req.reason.as_deref().or(draft.and_then(|d| d.reason.as_deref())).unwrap_or("");
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
            Action::RequestSupplement | Action::DraftSupplement => {
                let items = match req.missing {
                    Some(Missing::One(s)) => vec![s],
                    Some(Missing::Many(v)) => v,
                    None => draft
                        .and_then(|d| d.missing.as_deref())
                        .map(|m| m.lines().map(str::to_string).collect())
                        .unwrap_or_default(),
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
                // The deadline is the desk's to set when it issues form 02.
                if action == Action::DraftSupplement {
                    if req.deadline.is_some() {
                        return Err(invalid(
                            "deadline",
                            "the desk sets the supplement deadline when it issues form 02",
                        ));
                    }
                    return self.record_event(w, officer, doc, event, now);
                }
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
            Action::Stop => {
                let basis = check_text("legal_basis", req.legal_basis.as_deref().unwrap_or(""), TEXT_LEN_MAX, false)?;
                event.legal_basis = Some(basis).filter(|b| !b.is_empty());
            }
            // The leader approves the draft they saw: named by its
            // event_index when the page gives it, else the one waiting.
            Action::ApproveSupplement => {
                let waiting = folded.supplement_draft.map(|d| d.event_index);
                let n = req
                    .event_index
                    .or(waiting)
                    .ok_or_else(|| DeskError::Conflict("there is no supplement draft to approve".into()))?;
                if Some(n) != waiting {
                    return Err(DeskError::Conflict(format!(
                        "event {n} is not the supplement draft waiting for approval: reload the dossier"
                    )));
                }
                let named = &record.events[n];
                event.draft = Some(dossier::EventRef { author: named.author.clone(), counter: named.counter });
            }
            Action::ResolveConflict => {
                let n = req
                    .event_index
                    .ok_or_else(|| invalid("event_index", "name the conflict resolved by its event_index"))?;
                if !folded.conflicts.iter().any(|c| c.event_index == n) {
                    return Err(invalid("event_index", format!("event {n} is not one of the dossier's conflicts")));
                }
                // Named by author and counter: a merge may move it in the list.
                let named = &record.events[n];
                event.resolves = Some(dossier::EventRef { author: named.author.clone(), counter: named.counter });
            }
            Action::Processed => {
                event.result = Some(check_text("result", req.result.as_deref().unwrap_or(""), TEXT_LEN_MAX, true)?);
                event.result_hash = result_file(&folded, req.result_file.as_deref())?;
                event.result_doc = req.result_document.map(result_document).transpose()?;
            }
            Action::ReturnResult => {
                let delivery = match req.delivery.as_deref().map(str::trim) {
                    None => Delivery::Desk,
                    Some(d) => {
                        Delivery::parse(d).ok_or_else(|| invalid("delivery", "delivery is \"desk\" or \"post\""))?
                    }
                };
                // A return at the desk records nothing new, so a node of
                // before delivery existed still reads it.
                event.delivery = Some(delivery).filter(|d| *d == Delivery::Post);
                event.waybill = match (delivery, req.waybill.as_deref().map(str::trim)) {
                    (Delivery::Post, Some(w)) if is_waybill(w) => Some(w.to_string()),
                    (Delivery::Post, _) => {
                        return Err(invalid(
                            "waybill",
                            "a return by post names the postal waybill number (4 to 40 letters, digits or dashes)",
                        ));
                    }
                    (Delivery::Desk, Some(_)) => {
                        return Err(invalid("waybill", "only a return by post has a waybill number"));
                    }
                    (Delivery::Desk, None) => None,
                };
            }
            Action::Accept if !record.procedure.no_appointment => {
                event.due_at = Some(self.calendar().due_at(now, time)?);
            }
            // The clock runs again; a return to the previous step sent while
            // waiting for the financial obligation ends the pause as its
            // fulfilment would.
            Action::SupplementReceived
            | Action::FinancialObligationFulfilled
            | Action::ReturnToPrevious
            | Action::Recall => {
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
        self.record_event(w, officer, doc, event, now)
    }

    /// Appends `event` to the dossier, stores and audits it.
    fn record_event(
        &self,
        w: &mut Write,
        officer: &Officer,
        mut doc: Automerge,
        event: Event,
        now: i64,
    ) -> Result<(DossierRecord, Folded), DeskError> {
        let action = event.action.map_or("", |a| a.as_str());
        let hash = dossier::append_event(&mut doc, &event)?;
        let (record, folded) = self.store_doc(w, &doc, &hash.0)?;
        audit(w, now, &officer.username, action, &record.code)?;
        Ok((record, folded))
    }

    /// The workflow step a hand-off at `now` starts: step `asked` (from 1)
    /// or by default [`next_step`], with its deadline counted on the
    /// calendar. None when the case defines no steps.
    pub(crate) fn step_for(
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
}

/// The result document a `processed` request gives, checked.
fn result_document(r: ResultDocumentRequest) -> Result<ResultDocument, DeskError> {
    let signed_on = chrono::NaiveDate::parse_from_str(r.signed_on.trim(), "%Y-%m-%d")
        .map_err(|_| invalid("result_document.signed_on", "signed_on is a date YYYY-MM-DD"))?;
    let doc = ResultDocument {
        doc_type: r.doc_type.trim().to_string(),
        number: r.number.trim().to_string(),
        signer: r.signer.trim().to_string(),
        issuer: r.issuer.trim().to_string(),
        signed_on,
    };
    doc.check().map_err(|(field, m)| invalid(&format!("result_document.{field}"), m))?;
    Ok(doc)
}

/// The electronic result a `processed` event signs for (results are kept
/// electronically with the dossier, Nghị định 45/2020/NĐ-CP and DOMAIN.md
/// "Digitization"): the result file named, which must be attached as a
/// result, or else the result file attached last.
fn result_file(folded: &Folded, named: Option<&str>) -> Result<Option<[u8; 32]>, DeskError> {
    let results = || folded.attachments.iter().filter(|a| a.file.kind == motcua_domain::attachment::Kind::Result);
    let Some(named) = named.map(str::trim) else {
        return Ok(results().next_back().map(|a| a.file.hash));
    };
    let mut hash = [0u8; 32];
    if named.len() != 64 || hex::decode_to_slice(named, &mut hash).is_err() {
        return Err(invalid("result_file", "result_file is a file's hash: 64 hex digits"));
    }
    if !results().any(|a| a.file.hash == hash) {
        return Err(invalid("result_file", "attach the result file (kind=result) before naming it"));
    }
    Ok(Some(hash))
}
