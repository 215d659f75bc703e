//! The fold: walks a dossier's events in list order and derives its state.
//!
//! List order is identical on every replica after a merge, so every replica
//! derives the same state, holder, appointment and conflicts. An event that
//! the workflow rules refuse at its position (two officers on two nodes did
//! incompatible things while apart), or that is defective (edited by
//! another actor), is not applied: it is listed as a conflict for a person
//! to resolve. A leader of the holding unit resolves one with a
//! `resolve_conflict` event naming it; from that event on it is no longer
//! listed, on every replica alike.

use serde::{Deserialize, Serialize};

use crate::calendar::local_date_at;
use crate::dossier::{Channel, DossierRecord, Event, RecordedEvent, StepRecord};
use crate::workflow::{Action, Actor, DraftState, ReasonRule, Situation, Status, transition};

/// On-time class of a returned dossier, comparing local dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum OnTime {
    /// Trước hạn.
    Early,
    /// Đúng hạn.
    OnTime,
    /// Quá hạn.
    Late,
}

/// How a closed dossier ended, for statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Closing {
    Returned,
    Refused,
    Withdrawn,
    Stopped,
}

/// An event that could not be applied where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub event_index: usize,
    pub action: String,
    pub at: i64,
    pub unit: String,
    pub node: String,
    pub reason: String,
}

/// One applied event, as the history shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub index: usize,
    pub event: Event,
    pub state_after: Status,
    /// A recall or return to the previous step that undid a transfer (and
    /// so the workflow step the transfer started).
    pub undoes_transfer: bool,
}

/// A hand-over of the dossier, as a return or recall undoes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandOver {
    /// The unit that handed the dossier on.
    pub unit: String,
    /// The state it was in then.
    pub state: Status,
    /// A transfer, rather than a result processed away from the receiving
    /// unit and handed back to it.
    pub by_transfer: bool,
}

/// What the fold derives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folded {
    pub state: Status,
    pub previous: Option<Status>,
    /// The unit that returns the result: the one that received the
    /// dossier, or its successor after a handover.
    pub receiving_unit: String,
    pub holder_unit: String,
    /// The appointment in force (after pauses, restarts and re-appointment).
    pub due_at: Option<i64>,
    pub reappointed: bool,
    pub supplement_requests: u32,
    pub supplement_deadline: Option<i64>,
    /// Since when the clock is stopped waiting for the citizen.
    pub paused_since: Option<i64>,
    pub result: Option<String>,
    /// The BLAKE3 hash of the electronic result file the result names.
    pub result_hash: Option<[u8; 32]>,
    pub result_ready_at: Option<i64>,
    pub returned_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub closing: Option<Closing>,
    pub on_time: Option<OnTime>,
    /// The units that handed the dossier on, most recent last, with the
    /// state it was in when each did: where a return to the previous step
    /// or a recall sends it back.
    pub handed_from: Vec<HandOver>,
    /// Whether the holder recorded anything since it was handed the dossier.
    pub holder_acted: bool,
    pub history: Vec<HistoryEntry>,
    /// The conflicts no `resolve_conflict` event has resolved yet.
    pub conflicts: Vec<Conflict>,
    /// The conflicts resolved, in the order of their resolutions.
    pub resolved: Vec<Conflict>,
    /// The files kept with the dossier, in the order they were attached
    /// (each from an `attach` event the rules allowed).
    pub attachments: Vec<crate::attachment::Attachment>,
    /// The supplement request the processing unit drafted and the desk has
    /// not issued yet: the index of the draft event and whether its leader
    /// approved it. Any change of state or holder discards it.
    pub supplement_draft: Option<SupplementDraft>,
    /// The result as a document, when its `processed` event records one.
    pub result_doc: Option<crate::returning::ResultDocument>,
    /// How the result was returned: at the desk or by post, with the
    /// waybill of a return by post.
    pub delivery: Option<(crate::returning::Delivery, Option<String>)>,
    /// The citizen's rating, and when it was given.
    pub rating: Option<(crate::returning::Rating, i64)>,
}

/// A processing unit's draft supplement request ([`Action::DraftSupplement`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupplementDraft {
    /// The `draft_supplement` event's index in the history.
    pub event_index: usize,
    pub approved: bool,
}

impl Folded {
    /// The rules' view of the dossier, for deciding the next action.
    pub fn situation<'a>(&'a self, record: &'a DossierRecord) -> Situation<'a> {
        Situation {
            state: self.state,
            previous: self.previous,
            receiving_unit: &self.receiving_unit,
            holder_unit: &self.holder_unit,
            same_day: record.procedure.same_day,
            reappointed: self.reappointed,
            due_at: self.due_at,
            supplement_deadline: self.supplement_deadline,
            previous_holder: self.handed_from.last().map(|h| (h.unit.as_str(), h.state)),
            holder_acted: self.holder_acted,
            withdrawn: self.closing == Some(Closing::Withdrawn),
            supplement_draft: match self.supplement_draft {
                None => DraftState::None,
                Some(d) if d.approved => DraftState::Approved,
                Some(_) => DraftState::Drafted,
            },
        }
    }

    /// Overdue is not a state: an open dossier whose appointment date has
    /// passed and whose clock is running.
    pub fn is_overdue(&self, now_ms: i64, utc_offset_minutes: i32) -> bool {
        is_overdue(self.state, self.due_at, self.paused_since, self.result_ready_at, now_ms, utc_offset_minutes)
    }
}

/// Shared by the fold and the stored summaries. Like the on-time class of a
/// return ([`classify`]), it compares local dates: a dossier due at 10:00 is
/// not overdue at 15:00 the same day, since returning it then is on time.
/// One whose result was ready after its appointment date stays overdue until
/// it is returned.
pub fn is_overdue(
    state: Status,
    due_at: Option<i64>,
    paused_since: Option<i64>,
    result_ready_at: Option<i64>,
    now_ms: i64,
    utc_offset_minutes: i32,
) -> bool {
    let Some(due) = due_at else { return false };
    if state.is_closed() || paused_since.is_some() {
        return false;
    }
    match result_ready_at {
        Some(ready) if state == Status::ResultReady => after_date_of(ready, due, utc_offset_minutes),
        _ => after_date_of(now_ms, due, utc_offset_minutes),
    }
}

/// Whether `at_ms` falls on a later local date than `due_ms`.
pub fn after_date_of(at_ms: i64, due_ms: i64, utc_offset_minutes: i32) -> bool {
    local_date_at(at_ms, utc_offset_minutes) > local_date_at(due_ms, utc_offset_minutes)
}

/// How one workflow step (bước) went, for the process control sheet
/// (phiếu kiểm soát, form 06): one per hand-off that recorded a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepProgress<'a> {
    /// The hand-off event that started the step.
    pub event: &'a Event,
    pub step: &'a StepRecord,
    /// The unit that carries the step out: the receiver of a transfer, or
    /// the unit that started processing.
    pub unit: &'a str,
    /// The officer of the carrying unit who first acted on the dossier
    /// within the step: the receiver of the hand-over. For a step its own
    /// unit started, the officer who started it.
    pub received_by: Option<&'a str>,
    /// When the step ended: at the next hand-off, when the result was ready
    /// or the dossier refused or stopped, or when the step was undone.
    pub ended_at: Option<i64>,
    /// The action that ended it.
    pub ended_by: Option<Action>,
    /// The ended step against its deadline, by local date like a return;
    /// none for a step undone by a recall or a return to the previous step.
    pub result: Option<OnTime>,
    /// A step still running whose deadline date has passed.
    pub overdue: bool,
}

/// The steps of a dossier's history in order, each judged against its own
/// deadline.
pub fn step_progress(folded: &Folded, now_ms: i64, utc_offset_minutes: i32) -> Vec<StepProgress<'_>> {
    let ends = |a: Option<Action>| {
        matches!(
            a,
            Some(
                Action::StartProcessing
                    | Action::Transfer
                    | Action::Processed
                    | Action::Refuse
                    | Action::Stop
                    | Action::ReturnToPrevious
                    | Action::Recall
            )
        )
    };
    let history = &folded.history;
    let mut out = Vec::new();
    for (i, h) in history.iter().enumerate() {
        let Some(step) = &h.event.step else { continue };
        let end = history[i + 1..].iter().position(|n| ends(n.event.action)).map(|k| i + 1 + k);
        let unit = match h.event.action {
            Some(Action::Transfer) => h.event.to_unit.as_deref().unwrap_or(&h.event.unit),
            _ => &h.event.unit,
        };
        let span = &history[i + 1..end.map_or(history.len(), |e| e + 1)];
        let received_by = match h.event.action {
            Some(Action::Transfer) => span
                .iter()
                .find(|n| n.event.unit == unit && !n.event.action.is_some_and(is_bookkeeping))
                .map(|n| n.event.officer.as_str()),
            _ => Some(h.event.officer.as_str()),
        };
        let ended_at = end.map(|e| history[e].event.at);
        let undone = end.is_some_and(|e| history[e].undoes_transfer);
        out.push(StepProgress {
            event: &h.event,
            step,
            unit,
            received_by,
            ended_at,
            ended_by: end.and_then(|e| history[e].event.action),
            result: ended_at.filter(|_| !undone).map(|at| classify(at, step.deadline, utc_offset_minutes)),
            overdue: ended_at.is_none() && after_date_of(now_ms, step.deadline, utc_offset_minutes),
        });
    }
    out
}

/// The step a hand-off starts by default, for a case of `steps` steps: the
/// one after the last step still in force (a recalled or returned hand-off
/// no longer is), the last step once all were started, and none for a case
/// without steps.
pub fn next_step(folded: &Folded, steps: usize) -> Option<u32> {
    if steps == 0 {
        return None;
    }
    let mut in_force: Vec<Option<u32>> = Vec::new();
    for h in &folded.history {
        match h.event.action {
            Some(Action::StartProcessing | Action::Transfer) => in_force.push(h.event.step.as_ref().map(|s| s.number)),
            _ if h.undoes_transfer => {
                in_force.pop();
            }
            _ => {}
        }
    }
    let last = in_force.iter().rev().flatten().next().copied().unwrap_or(0);
    Some(last.saturating_add(1).min(steps.min(u32::MAX as usize) as u32))
}

/// Classifies a return against the appointment, by local date.
pub fn classify(returned_ms: i64, due_ms: i64, utc_offset_minutes: i32) -> OnTime {
    let returned = local_date_at(returned_ms, utc_offset_minutes);
    let due = local_date_at(due_ms, utc_offset_minutes);
    match returned.cmp(&due) {
        std::cmp::Ordering::Less => OnTime::Early,
        std::cmp::Ordering::Equal => OnTime::OnTime,
        std::cmp::Ordering::Greater => OnTime::Late,
    }
}

/// Derives the dossier's state from its events.
pub fn fold(record: &DossierRecord, utc_offset_minutes: i32) -> Folded {
    let initial = match record.reception.channel {
        Channel::Online => Status::SubmittedOnline,
        Channel::Direct | Channel::Post => Status::Accepted,
    };
    let mut f = Folded {
        state: initial,
        previous: None,
        receiving_unit: record.reception.unit.clone(),
        holder_unit: record.reception.unit.clone(),
        due_at: record.due_at,
        reappointed: false,
        supplement_requests: 0,
        supplement_deadline: None,
        paused_since: None,
        result: None,
        result_hash: None,
        result_ready_at: None,
        returned_at: None,
        closed_at: None,
        closing: None,
        on_time: None,
        handed_from: Vec::new(),
        holder_acted: false,
        history: Vec::new(),
        conflicts: Vec::new(),
        resolved: Vec::new(),
        attachments: Vec::new(),
        supplement_draft: None,
        result_doc: None,
        delivery: None,
        rating: None,
    };
    for (index, recorded) in record.events.iter().enumerate() {
        if let Err(reason) = apply(&mut f, record, index, recorded, utc_offset_minutes) {
            let e = &recorded.event;
            f.conflicts.push(Conflict {
                event_index: index,
                action: e.action.map(|a| a.as_str().to_string()).unwrap_or_default(),
                at: e.at,
                unit: e.unit.clone(),
                node: e.node.clone(),
                reason,
            });
        }
    }
    f
}

fn apply(
    f: &mut Folded,
    record: &DossierRecord,
    index: usize,
    recorded: &RecordedEvent,
    utc_offset_minutes: i32,
) -> Result<(), String> {
    if let Some(defect) = &recorded.defect {
        return Err(defect.clone());
    }
    let e = &recorded.event;
    let action = e.action.ok_or("event has no kind")?;
    let mut undoes_transfer = false;
    if (action == Action::Receive) != (index == 0) {
        return Err(if index == 0 {
            "the first event of a dossier must be its receipt".into()
        } else {
            "a dossier is received only once".into()
        });
    }
    if action == Action::Receive {
        if crate::actor::node_key_hex(&recorded.author) != record.reception.node {
            return Err("the receive event was not written by the receiving node".into());
        }
        if e.unit != record.reception.unit {
            return Err(format!("the receive event names unit {}, not the receiving unit", e.unit));
        }
    } else if action == Action::Handover {
        let to = e.to_unit.clone().ok_or("a handover names no unit")?;
        if e.unit != to {
            return Err(format!("a handover to {to} is recorded by {to} itself, not by {}", e.unit));
        }
        if to == f.receiving_unit {
            return Err(format!("the dossier already belongs to {to}"));
        }
        if f.holder_unit == f.receiving_unit {
            f.holder_unit = to.clone();
        }
        for h in &mut f.handed_from {
            if h.unit == f.receiving_unit {
                h.unit = to.clone();
            }
        }
        f.receiving_unit = to;
    } else {
        let actor = Actor { unit: &e.unit, roles: None, at_ms: e.at, utc_offset_minutes };
        let outcome = transition(action, &f.situation(record), &actor).map_err(|r| r.to_string())?;
        check_fields(action, e, f, record)?;
        let from = f.state;
        // A correction is the receiving unit's bookkeeping, not the holder
        // taking the dossier up.
        if e.unit == f.holder_unit && !is_bookkeeping(action) {
            f.holder_acted = true;
        }
        let holder = f.holder_unit.clone();
        f.state = outcome.state;
        f.previous = outcome.previous;
        match action {
            Action::Receive | Action::Handover => {}
            Action::Accept => f.due_at = e.due_at.or(f.due_at),
            Action::Transfer => {
                let to = e.to_unit.clone().unwrap_or_default();
                let unit = std::mem::replace(&mut f.holder_unit, to);
                f.handed_from.push(HandOver { unit, state: from, by_transfer: true });
                f.holder_acted = false;
            }
            Action::ReturnToPrevious | Action::Recall => {
                let back = f.handed_from.pop().ok_or("the dossier was not handed over")?;
                undoes_transfer = back.by_transfer;
                f.holder_unit = back.unit;
                // A dossier sent back is not recalled: only a fresh transfer is.
                f.holder_acted = true;
                match from {
                    Status::ResultReady => {
                        f.result = None;
                        f.result_doc = None;
                        f.result_hash = None;
                        f.result_ready_at = None;
                    }
                    Status::Stopped => {
                        f.closed_at = None;
                        f.closing = None;
                    }
                    Status::FinancialObligation => {
                        f.paused_since = None;
                        if e.due_at.is_some() {
                            f.due_at = e.due_at;
                        }
                    }
                    _ => {}
                }
            }
            Action::RequestSupplement => {
                f.supplement_requests += 1;
                f.supplement_deadline = e.deadline;
                f.paused_since = Some(e.at);
            }
            Action::RequestFinancialObligation => f.paused_since = Some(e.at),
            Action::SupplementReceived | Action::FinancialObligationFulfilled => {
                f.paused_since = None;
                if e.due_at.is_some() {
                    f.due_at = e.due_at;
                }
            }
            Action::Processed => {
                f.result = e.result.clone();
                f.result_doc = e.result_doc.clone();
                f.result_hash = e.result_hash;
                f.result_ready_at = Some(e.at);
                if f.holder_unit != f.receiving_unit {
                    let processor = std::mem::replace(&mut f.holder_unit, f.receiving_unit.clone());
                    f.handed_from.push(HandOver { unit: processor, state: from, by_transfer: false });
                    f.holder_acted = false;
                }
            }
            Action::ReturnResult => {
                f.returned_at = Some(e.at);
                f.delivery = Some((e.delivery.unwrap_or_default(), e.waybill.clone()));
                f.closed_at = Some(e.at);
                f.closing = Some(Closing::Returned);
                f.on_time = f.due_at.map(|due| classify(e.at, due, utc_offset_minutes));
            }
            Action::Refuse => {
                f.closed_at = Some(e.at);
                f.closing = Some(Closing::Refused);
                f.paused_since = None;
            }
            Action::Stop => {
                f.closed_at = Some(e.at);
                f.closing =
                    Some(if from == Status::WithdrawalRequested { Closing::Withdrawn } else { Closing::Stopped });
                f.paused_since = None;
            }
            Action::RequestWithdrawal | Action::StartProcessing => {}
            Action::ResetAppointment => f.due_at = e.due_at,
            Action::RevokeResult => {
                f.returned_at = None;
                f.delivery = None;
                f.closed_at = None;
                f.closing = None;
                f.on_time = None;
            }
            Action::Reappoint => {
                f.due_at = e.due_at;
                f.reappointed = true;
            }
            Action::ResolveConflict => {
                // check_fields found the conflict, listed or resolved already
                // (two leaders may resolve it concurrently: the second is a
                // no-op, not a new conflict).
                let named = e.resolves.as_ref().and_then(|r| record.events.iter().position(|x| r.names(x)));
                if let Some(k) = f.conflicts.iter().position(|c| Some(c.event_index) == named) {
                    let c = f.conflicts.remove(k);
                    f.resolved.push(c);
                }
            }
            Action::RateSatisfaction => f.rating = e.rating.map(|r| (r, e.at)),
            Action::DraftSupplement => {
                f.supplement_draft = Some(SupplementDraft { event_index: index, approved: false })
            }
            Action::ApproveSupplement => {
                if let Some(d) = &mut f.supplement_draft {
                    d.approved = true;
                }
            }
            Action::Attach => {
                if let Some(file) = &e.file {
                    f.attachments.push(crate::attachment::Attachment {
                        file: file.clone(),
                        by: e.officer.clone(),
                        unit: e.unit.clone(),
                        at: e.at,
                    });
                }
            }
        }
        // A draft lives while the dossier stays with the unit that drafted
        // it, in process: issued, sent on, returned or closed, it is gone.
        if f.state != from || f.holder_unit != holder {
            f.supplement_draft = None;
        }
    }
    f.history.push(HistoryEntry { index, event: e.clone(), state_after: f.state, undoes_transfer });
    Ok(())
}

fn is_correction(action: Action) -> bool {
    matches!(action, Action::ResetAppointment | Action::RevokeResult)
}

/// Events that keep the dossier's records rather than take it up: a
/// correction, a file kept with it, a conflict resolved.
fn is_bookkeeping(action: Action) -> bool {
    is_correction(action) || matches!(action, Action::Attach | Action::ResolveConflict | Action::RateSatisfaction)
}

/// What an event of `action` must carry, checked before the fold changes
/// anything, so that a refused event leaves no trace: the same rules the
/// desk applies to what it records (a reason per [`Action::reason`]), for
/// events that came by sync.
fn check_fields(action: Action, e: &Event, f: &Folded, record: &DossierRecord) -> Result<(), String> {
    if action.reason() == ReasonRule::Required && e.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(format!("'{action}' gives no reason"));
    }
    if e.legal_basis.is_some() && action != Action::Stop {
        return Err(format!("'{action}' gives a legal basis, which only a stop does"));
    }
    match action {
        Action::Transfer => match &e.to_unit {
            None => Err("a transfer names no unit".into()),
            Some(to) if *to == f.holder_unit => Err(format!("the dossier is already held by {to}")),
            Some(_) => Ok(()),
        },
        Action::Reappoint => match (e.due_at, f.due_at) {
            (None, _) => Err("a re-appointment names no new appointment".into()),
            (Some(new_due), Some(due)) if new_due <= due => {
                Err("the new appointment is not later than the one it replaces".into())
            }
            _ => Ok(()),
        },
        Action::Attach if e.file.is_none() => Err("an attach event keeps no file".into()),
        // The approval names the draft it approves: a draft replaced
        // meanwhile (a new draft here, or one made apart on another node
        // of the unit) is not approved unseen.
        Action::ApproveSupplement => {
            let named = e.draft.as_ref().and_then(|r| record.events.iter().position(|x| r.names(x)));
            match (named, f.supplement_draft) {
                (Some(i), Some(d)) if i == d.event_index => Ok(()),
                _ => Err("it approves a draft that is not the one waiting".into()),
            }
        }
        // Once per dossier (the Thanh Hóa system's `AddDanhGiaHaiLong`
        // refuses a second); "not satisfied" says why.
        Action::RateSatisfaction => match e.rating {
            None => Err("a rating event records no rating".into()),
            Some(_) if f.rating.is_some() => Err("the citizen already rated this dossier".into()),
            Some(crate::returning::Rating::NotSatisfied) if e.reason.as_deref().is_none_or(|r| r.trim().is_empty()) => {
                Err("a rating of not satisfied gives its reasons".into())
            }
            Some(_) => Ok(()),
        },
        Action::ResolveConflict => {
            let r = e.resolves.as_ref().ok_or("a conflict's resolution names no event")?;
            let index = record
                .events
                .iter()
                .position(|x| r.names(x))
                .ok_or_else(|| format!("the event {} it resolves is not in the dossier", r.to_field()))?;
            let listed = |c: &Conflict| c.event_index == index;
            if f.conflicts.iter().any(listed) || f.resolved.iter().any(listed) {
                Ok(())
            } else {
                Err(format!("event {index}, which it resolves, is not a conflict"))
            }
        }
        Action::ResetAppointment => match e.due_at {
            None => Err("a corrected appointment names no appointment".into()),
            Some(due) if due <= record.reception.at => {
                Err("a corrected appointment falls before the dossier was received".into())
            }
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
