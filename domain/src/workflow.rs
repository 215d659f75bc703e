//! The one-stop workflow: national status codes, officer roles, the actions
//! that move a dossier between states and who may take them.
//!
//! [`transition`] is the single place that decides whether an action is
//! allowed; the HTTP API asks it before appending an event, and the fold
//! asks it again for every event after a merge, so a replica never derives
//! a state that the rules forbid.

use std::fmt;

use serde::{Deserialize, Serialize};

/// National status codes (mã trạng thái hồ sơ) reported to the National
/// Public Service Portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum Status {
    /// 1 — Mới đăng ký: submitted online, not yet checked.
    SubmittedOnline = 1,
    /// 2 — Được tiếp nhận: accepted at the desk.
    Accepted = 2,
    /// 3 — Không được tiếp nhận: not accepted / refused.
    NotAccepted = 3,
    /// 4 — Đang xử lý: in process.
    InProcess = 4,
    /// 5 — Yêu cầu bổ sung: supplement requested from the citizen.
    SupplementRequested = 5,
    /// 6 — Yêu cầu thực hiện nghĩa vụ tài chính.
    FinancialObligation = 6,
    /// 7 — Công dân yêu cầu rút hồ sơ.
    WithdrawalRequested = 7,
    /// 8 — Dừng xử lý.
    Stopped = 8,
    /// 9 — Đã xử lý xong: result ready.
    ResultReady = 9,
    /// 10 — Đã trả kết quả.
    Returned = 10,
}

impl From<Status> for u8 {
    fn from(s: Status) -> u8 {
        s as u8
    }
}

impl TryFrom<u8> for Status {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        Status::from_code(v).ok_or_else(|| format!("{v} is not a national status code (1-10)"))
    }
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::SubmittedOnline,
        Status::Accepted,
        Status::NotAccepted,
        Status::InProcess,
        Status::SupplementRequested,
        Status::FinancialObligation,
        Status::WithdrawalRequested,
        Status::Stopped,
        Status::ResultReady,
        Status::Returned,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Status::ALL.get(code.checked_sub(1)? as usize).copied()
    }

    /// Terminal states: nothing more happens to the dossier.
    pub fn is_closed(self) -> bool {
        matches!(self, Status::NotAccepted | Status::Stopped | Status::Returned)
    }

    /// States in which the clock is stopped because the office waits for the
    /// citizen.
    pub fn is_waiting_for_citizen(self) -> bool {
        matches!(self, Status::SupplementRequested | Status::FinancialObligation)
    }

    pub fn name_vi(self) -> &'static str {
        match self {
            Status::SubmittedOnline => "Mới đăng ký",
            Status::Accepted => "Được tiếp nhận",
            Status::NotAccepted => "Không được tiếp nhận",
            Status::InProcess => "Đang xử lý",
            Status::SupplementRequested => "Yêu cầu bổ sung",
            Status::FinancialObligation => "Yêu cầu thực hiện nghĩa vụ tài chính",
            Status::WithdrawalRequested => "Công dân yêu cầu rút hồ sơ",
            Status::Stopped => "Dừng xử lý",
            Status::ResultReady => "Đã xử lý xong",
            Status::Returned => "Đã trả kết quả",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.name_vi())
    }
}

/// Officer roles on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Quản trị: manages accounts and the catalog; holds every role.
    Admin,
    /// Cán bộ một cửa: receives and returns dossiers.
    Receptionist,
    /// Chuyên viên: processes dossiers.
    Specialist,
    /// Lãnh đạo: approves, stops, re-appoints.
    Leader,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Receptionist, Role::Specialist, Role::Leader];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Receptionist => "receptionist",
            Role::Specialist => "specialist",
            Role::Leader => "leader",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Every event kind of the dossier's history. The first event of every
/// dossier is `Receive`; the rest are the officer actions of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Receive,
    Accept,
    Refuse,
    StartProcessing,
    Transfer,
    RequestSupplement,
    SupplementReceived,
    RequestFinancialObligation,
    FinancialObligationFulfilled,
    Processed,
    ReturnResult,
    RequestWithdrawal,
    Stop,
    Reappoint,
    /// Bàn giao hồ sơ: the dossier passes to the unit that succeeds its
    /// receiving unit after an administrative merger. Recorded only by
    /// `motcua-provision merge`, under a succession the province signed.
    Handover,
    /// Trả lại bước trước: the unit holding the dossier sends it back to
    /// the unit that handed it over, with the reason (from 4, 6, 8 or 9).
    ReturnToPrevious,
    /// Thu hồi: the unit that transferred the dossier takes it back before
    /// the receiving unit has acted on it.
    Recall,
    /// Admin correction (điều chỉnh ngày hẹn): sets the appointment in force
    /// to a corrected one, with the reason; not a re-appointment (no
    /// apology, not limited to once).
    ResetAppointment,
    /// Admin correction (thu hồi kết quả đã trả): a return recorded in error
    /// is withdrawn; the result is ready again, not returned.
    RevokeResult,
    /// Đính kèm tệp: a scanned component or the electronic result is kept
    /// with the dossier (Nghị định 45/2020/NĐ-CP, Thông tư
    /// 01/2023/TT-VPCP; [`crate::attachment`]). It changes no state, and
    /// is recorded through a node's attachment route, never offered as an
    /// action button.
    Attach,
    /// Giải quyết xung đột: a leader of the unit holding the dossier records
    /// that a person has dealt with an event the fold could not apply
    /// (two nodes acted incompatibly while apart). It changes no state; any
    /// correction is then an ordinary action. The event names the conflict
    /// by [`crate::dossier::EventRef`] and gives the reason.
    ResolveConflict,
    /// Dự thảo yêu cầu bổ sung: the unit processing the dossier drafts a
    /// supplement request (reason and missing items); it changes no state.
    /// A supplement request after receipt goes through the one-stop desk:
    /// the processing unit drafts it, its leader approves, the desk issues
    /// form 02 (Nghị định 61/2018/NĐ-CP art. 19(1)(b)-(c), as amended by
    /// Nghị định 107/2021/NĐ-CP; the Thanh Hóa system's `DuThaoXuLyHoSo`).
    DraftSupplement,
    /// Duyệt dự thảo yêu cầu bổ sung: the leader of the processing unit
    /// approves the draft, which the one-stop desk may then issue.
    ApproveSupplement,
    /// Đánh giá mức độ hài lòng: the citizen rates the service once the
    /// result is returned (Quyết định 766/QĐ-TTg, satisfaction), at the
    /// counter's tablet or a phone; the receiving unit's node records it.
    /// Once per dossier; it changes no state.
    RateSatisfaction,
}

impl Action {
    pub const ALL: [Action; 24] = [
        Action::Receive,
        Action::Accept,
        Action::Refuse,
        Action::StartProcessing,
        Action::Transfer,
        Action::RequestSupplement,
        Action::SupplementReceived,
        Action::RequestFinancialObligation,
        Action::FinancialObligationFulfilled,
        Action::Processed,
        Action::ReturnResult,
        Action::RequestWithdrawal,
        Action::Stop,
        Action::Reappoint,
        Action::Handover,
        Action::ReturnToPrevious,
        Action::Recall,
        Action::ResetAppointment,
        Action::RevokeResult,
        Action::Attach,
        Action::ResolveConflict,
        Action::DraftSupplement,
        Action::ApproveSupplement,
        Action::RateSatisfaction,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Receive => "receive",
            Action::Accept => "accept",
            Action::Refuse => "refuse",
            Action::StartProcessing => "start_processing",
            Action::Transfer => "transfer",
            Action::RequestSupplement => "request_supplement",
            Action::SupplementReceived => "supplement_received",
            Action::RequestFinancialObligation => "request_financial_obligation",
            Action::FinancialObligationFulfilled => "financial_obligation_fulfilled",
            Action::Processed => "processed",
            Action::ReturnResult => "return_result",
            Action::RequestWithdrawal => "request_withdrawal",
            Action::Stop => "stop",
            Action::Reappoint => "reappoint",
            Action::Handover => "handover",
            Action::ReturnToPrevious => "return_to_previous",
            Action::Recall => "recall",
            Action::ResetAppointment => "reset_appointment",
            Action::RevokeResult => "revoke_result",
            Action::Attach => "attach",
            Action::ResolveConflict => "resolve_conflict",
            Action::DraftSupplement => "draft_supplement",
            Action::ApproveSupplement => "approve_supplement",
            Action::RateSatisfaction => "rate_satisfaction",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Whether an event of this kind gives its reason: the rule the desk
    /// applies to what it records and the fold to what comes by sync.
    pub fn reason(self) -> ReasonRule {
        match self {
            Action::RequestSupplement
            | Action::DraftSupplement
            | Action::Refuse
            | Action::Reappoint
            | Action::ReturnToPrevious
            | Action::ResetAppointment
            | Action::RevokeResult
            | Action::ResolveConflict => ReasonRule::Required,
            Action::Stop | Action::RequestWithdrawal | Action::Recall | Action::RateSatisfaction => {
                ReasonRule::Optional
            }
            _ => ReasonRule::None,
        }
    }
}

/// Whether an action carries a reason (lý do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasonRule {
    Required,
    Optional,
    None,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which unit may take an action on a dossier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitAuthority {
    /// The one-stop desk that received the dossier (and returns the result).
    Receiving,
    /// The unit currently holding the dossier for processing.
    Holder,
    /// Either of them.
    ReceivingOrHolder,
    /// The unit that handed the dossier to its current holder.
    PreviousHolder,
}

/// The facts of a dossier that the rules look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Situation<'a> {
    pub state: Status,
    /// State before a supplement request or withdrawal request.
    pub previous: Option<Status>,
    pub receiving_unit: &'a str,
    pub holder_unit: &'a str,
    pub same_day: bool,
    pub reappointed: bool,
    pub due_at: Option<i64>,
    pub supplement_deadline: Option<i64>,
    /// The unit that handed the dossier to its current holder (by a
    /// transfer, or by processing it, which hands the result to the
    /// receiving unit), and the state the dossier was in when it did.
    pub previous_holder: Option<(&'a str, Status)>,
    /// Whether the current holder recorded anything since it was handed
    /// the dossier.
    pub holder_acted: bool,
    /// How a stopped dossier was stopped: `true` when the citizen withdrew it.
    pub withdrawn: bool,
    /// Where the processing unit's supplement request stands.
    pub supplement_draft: DraftState,
}

/// A supplement request drafted by the unit processing a dossier, on its
/// way to the one-stop desk ([`Action::DraftSupplement`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DraftState {
    /// No draft is waiting.
    #[default]
    None,
    /// Drafted, waiting for the processing unit's leader.
    Drafted,
    /// Approved by the leader, waiting for the desk to issue form 02.
    Approved,
}

/// Who takes an action, and when.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub unit: &'a str,
    /// `None` when replaying a synced event: the officer's roles are
    /// vouched for by the signing node, only the unit is checked. `Some`
    /// for an officer acting now at this node's desk, where the rules that
    /// bind only new events apply too ([`Actor::acts_now`]).
    pub roles: Option<&'a [Role]>,
    pub at_ms: i64,
    pub utc_offset_minutes: i32,
}

impl Actor<'_> {
    /// Whether this is an officer recording a new event, not the fold
    /// replaying one already signed. A rule tightened after events were
    /// written under the looser one binds only new events: the fold keeps
    /// applying what every node of the province already applied, so nodes
    /// of either version derive the same state from the same history.
    pub fn acts_now(&self) -> bool {
        self.roles.is_some()
    }
}

/// Whether a dossier waiting for a supplement (5) was never accepted: it
/// came to 5 from an online submission (1). Only such a dossier may end as
/// not accepted (3); one accepted before ends as stopped (8).
pub fn never_accepted(situation: &Situation<'_>) -> bool {
    situation.previous == Some(SubmittedOnline)
}

/// Why an action was refused; `Forbidden` maps to 403, `InvalidState` to 409.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    InvalidState(String),
}

/// The outcome of an allowed action: the new state and who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub state: Status,
    pub previous: Option<Status>,
}

struct Rule {
    from: &'static [Status],
    roles: &'static [Role],
    unit: UnitAuthority,
}

use Role::{Leader, Receptionist, Specialist};
use Status::*;

fn rules(action: Action, state: Status) -> Option<Rule> {
    let r = |from, roles, unit| Some(Rule { from, roles, unit });
    match action {
        Action::Receive | Action::Handover => None,
        Action::Accept => r(&[SubmittedOnline], &[Receptionist], UnitAuthority::Receiving),
        Action::Refuse => r(&[SubmittedOnline, SupplementRequested], &[Receptionist], UnitAuthority::Receiving),
        Action::StartProcessing => r(&[Accepted], &[Specialist, Leader], UnitAuthority::Holder),
        Action::Transfer if state == Accepted => r(&[Accepted], &[Receptionist], UnitAuthority::Receiving),
        Action::Transfer => r(&[InProcess], &[Specialist, Leader], UnitAuthority::Holder),
        // The desk issues every supplement request; from state 4 only a
        // draft the processing unit's leader approved. The fold still takes
        // one recorded by the unit holding the dossier (histories written
        // before drafts existed), as it takes roles on the signing node's
        // word: see `transition`.
        Action::RequestSupplement => {
            r(&[SubmittedOnline, Accepted, InProcess], &[Receptionist], UnitAuthority::ReceivingOrHolder)
        }
        Action::DraftSupplement => r(&[InProcess], &[Specialist, Leader], UnitAuthority::Holder),
        Action::ApproveSupplement => r(&[InProcess], &[Leader], UnitAuthority::Holder),
        Action::RateSatisfaction => r(&[Returned], &[Receptionist], UnitAuthority::Receiving),
        Action::SupplementReceived => r(&[SupplementRequested], &[Receptionist], UnitAuthority::Receiving),
        Action::RequestFinancialObligation => r(&[InProcess], &[Specialist, Leader], UnitAuthority::Holder),
        Action::FinancialObligationFulfilled => {
            r(&[FinancialObligation], &[Receptionist, Specialist], UnitAuthority::ReceivingOrHolder)
        }
        Action::Processed if state == Accepted => {
            r(&[Accepted], &[Receptionist, Specialist, Leader], UnitAuthority::Holder)
        }
        Action::Processed => r(&[InProcess], &[Specialist, Leader], UnitAuthority::Holder),
        Action::ReturnResult => r(&[ResultReady], &[Receptionist], UnitAuthority::Receiving),
        Action::RequestWithdrawal => r(
            &[SubmittedOnline, Accepted, InProcess, SupplementRequested, FinancialObligation],
            &[Receptionist],
            UnitAuthority::Receiving,
        ),
        Action::Stop if state == WithdrawalRequested => {
            r(&[WithdrawalRequested], &[Receptionist, Leader], UnitAuthority::ReceivingOrHolder)
        }
        // An accepted dossier whose supplement never came is stopped, after
        // the supplement deadline, by the leader of the unit holding it or
        // of the one-stop desk that issued form 02 (checked below).
        Action::Stop if state == SupplementRequested => {
            r(&[SupplementRequested], &[Leader], UnitAuthority::ReceivingOrHolder)
        }
        Action::Stop => r(&[InProcess], &[Leader], UnitAuthority::Holder),
        // Form 04 (Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết,
        // Thông tư 03/2025/TT-VPCP) is issued by the unit that caused the
        // delay, often the specialized agency holding the dossier, with a
        // copy to the one-stop desk (Nghị định 61/2018/NĐ-CP art. 19 as
        // amended by 107/2021): the receiving desk or the holder, once,
        // before the appointment (checked below).
        Action::Reappoint => r(
            &[Accepted, InProcess, SupplementRequested, FinancialObligation],
            &[Receptionist, Leader],
            UnitAuthority::ReceivingOrHolder,
        ),
        // Reopening a stopped dossier undoes a leader's decision: a leader's.
        Action::ReturnToPrevious if state == Stopped => r(&[Stopped], &[Leader], UnitAuthority::Holder),
        Action::ReturnToPrevious => r(
            &[InProcess, FinancialObligation, ResultReady],
            &[Receptionist, Specialist, Leader],
            UnitAuthority::Holder,
        ),
        // Also from 6 and 8, as the Thanh Hóa system allows
        // (`ThuHoiHoSoCommandHandler`: states 4, 6 and 8).
        Action::Recall => r(
            &[InProcess, FinancialObligation, Stopped],
            &[Receptionist, Specialist, Leader],
            UnitAuthority::PreviousHolder,
        ),
        // Corrections: the admin role alone (no other role is listed).
        Action::ResetAppointment => r(
            &[Accepted, InProcess, SupplementRequested, FinancialObligation, WithdrawalRequested, ResultReady],
            &[],
            UnitAuthority::Receiving,
        ),
        Action::RevokeResult => r(&[Returned], &[], UnitAuthority::Receiving),
        // While the dossier is open: components at and after reception, the
        // result by the unit that processes it before it is returned.
        Action::Attach => r(
            &[
                SubmittedOnline,
                Accepted,
                InProcess,
                SupplementRequested,
                FinancialObligation,
                WithdrawalRequested,
                ResultReady,
            ],
            &[Receptionist, Specialist, Leader],
            UnitAuthority::ReceivingOrHolder,
        ),
        // A conflict may stand on a dossier in any state, closed ones
        // included; whether the event it names is a conflict is the fold's
        // and the desk's check, not the state table's.
        Action::ResolveConflict => r(&Status::ALL, &[Leader], UnitAuthority::Holder),
    }
}

/// A dossier waiting for a supplement ends (refused or stopped) only once
/// the deadline that form 02 gave the citizen has passed.
fn supplement_deadline_passed(situation: &Situation<'_>, actor: &Actor<'_>, ended: &str) -> Result<(), Refusal> {
    match situation.supplement_deadline {
        Some(deadline) if actor.at_ms > deadline => Ok(()),
        Some(_) => Err(Refusal::InvalidState(format!(
            "a dossier waiting for a supplement may be {ended} only after the supplement deadline has passed"
        ))),
        None => Err(Refusal::InvalidState(format!(
            "a dossier waiting for a supplement may be {ended} only after its supplement deadline, and none was set"
        ))),
    }
}

fn list_states(states: &[Status]) -> String {
    states.iter().map(|s| s.code().to_string()).collect::<Vec<_>>().join(", ")
}

/// Decides whether `actor` may take `action` on a dossier in `situation`.
///
/// Checks, in order: the state (409), the unit's authority and the officer's
/// role (403), then action-specific conditions (409).
pub fn transition(action: Action, situation: &Situation<'_>, actor: &Actor<'_>) -> Result<Outcome, Refusal> {
    let state = situation.state;
    let Some(rule) = rules(action, state) else {
        let when = if action == Action::Handover {
            "by a merger of administrative units"
        } else {
            "when a dossier is created"
        };
        return Err(Refusal::InvalidState(format!("'{action}' is recorded only {when}")));
    };
    if !rule.from.contains(&state) {
        return Err(Refusal::InvalidState(format!(
            "'{action}' is not allowed while the dossier is in state {state}; it is allowed from state {}",
            list_states(rule.from)
        )));
    }
    if rule.unit == UnitAuthority::PreviousHolder && situation.previous_holder.is_none() {
        return Err(Refusal::InvalidState(format!(
            "'{action}' takes back a dossier handed over to another unit, and this one was not"
        )));
    }
    let unit_ok = match rule.unit {
        UnitAuthority::Receiving => actor.unit == situation.receiving_unit,
        UnitAuthority::Holder => actor.unit == situation.holder_unit,
        UnitAuthority::ReceivingOrHolder => {
            actor.unit == situation.receiving_unit || actor.unit == situation.holder_unit
        }
        UnitAuthority::PreviousHolder => situation.previous_holder.is_some_and(|(u, _)| u == actor.unit),
    };
    if !unit_ok {
        let who = match rule.unit {
            UnitAuthority::Receiving => format!("the receiving unit {}", situation.receiving_unit),
            UnitAuthority::Holder => format!("the unit holding it, {}", situation.holder_unit),
            UnitAuthority::ReceivingOrHolder => format!(
                "the receiving unit {} or the unit holding it, {}",
                situation.receiving_unit, situation.holder_unit
            ),
            UnitAuthority::PreviousHolder => {
                format!("the unit that handed it over, {}", situation.previous_holder.map_or("", |(u, _)| u))
            }
        };
        return Err(Refusal::Forbidden(format!("unit {} may not '{action}' this dossier: only {who} may", actor.unit)));
    }
    if let Some(roles) = actor.roles {
        let allowed = roles.contains(&Role::Admin) || rule.roles.iter().any(|r| roles.contains(r));
        if !allowed {
            let names: Vec<_> = rule.roles.iter().map(|r| r.as_str()).collect();
            if names.is_empty() {
                return Err(Refusal::Forbidden(format!("'{action}' is a correction only an admin may make")));
            }
            return Err(Refusal::Forbidden(format!("'{action}' needs the role {}", names.join(" or "))));
        }
    }
    let mut outcome = Outcome { state, previous: situation.previous };
    match action {
        Action::Receive | Action::Handover => unreachable!("handled above"),
        Action::Accept => outcome.state = Accepted,
        Action::Refuse => {
            if state == SupplementRequested {
                // State 3 ends only a dossier never accepted (DOMAIN.md
                // "Counter work"; Nghị định 61/2018/NĐ-CP art. 19 as amended
                // by Nghị định 107/2021/NĐ-CP: once received, a dossier is
                // resolved, refused with a result or stopped, never "not
                // received"). Histories signed before this rule still fold
                // as they did ([`Actor::acts_now`]).
                if actor.acts_now() && !never_accepted(situation) {
                    return Err(Refusal::InvalidState(
                        "this dossier was accepted before the supplement request: it cannot become 'not accepted' (3); a leader stops it (8) once the supplement deadline has passed".into(),
                    ));
                }
                supplement_deadline_passed(situation, actor, "refused")?;
            }
            outcome.state = NotAccepted;
            outcome.previous = None;
        }
        Action::StartProcessing | Action::Transfer => outcome.state = InProcess,
        Action::RequestSupplement => {
            // An officer recording it now (roles known, not a replay) is
            // the desk issuing form 02: from state 4 only the receiving
            // unit's desk, and only a draft the processing unit's leader
            // approved (Nghị định 61/2018/NĐ-CP art. 19(1)(c)).
            if actor.roles.is_some() && state == InProcess {
                if actor.unit != situation.receiving_unit {
                    return Err(Refusal::Forbidden(format!(
                        "a supplement request reaches the citizen through the one-stop desk of {}; draft it with draft_supplement",
                        situation.receiving_unit
                    )));
                }
                if situation.supplement_draft != DraftState::Approved {
                    return Err(Refusal::InvalidState(
                        "the unit processing the dossier has no approved supplement draft: it drafts one (draft_supplement) and its leader approves it (approve_supplement)".into(),
                    ));
                }
            }
            outcome.previous = Some(state);
            outcome.state = SupplementRequested;
        }
        Action::DraftSupplement | Action::RateSatisfaction => {}
        Action::ApproveSupplement => match situation.supplement_draft {
            DraftState::Drafted => {}
            DraftState::None => {
                return Err(Refusal::InvalidState("there is no supplement draft to approve".into()));
            }
            DraftState::Approved => {
                return Err(Refusal::InvalidState("the supplement draft is already approved".into()));
            }
        },
        Action::SupplementReceived => {
            outcome.state = situation.previous.unwrap_or(Accepted);
            outcome.previous = None;
        }
        Action::RequestFinancialObligation => outcome.state = FinancialObligation,
        Action::FinancialObligationFulfilled => outcome.state = InProcess,
        Action::Processed => {
            if state == Accepted && !situation.same_day {
                return Err(Refusal::InvalidState(
                    "only a same-day procedure may go from accepted (2) straight to processed (9); start processing first".into(),
                ));
            }
            outcome.state = ResultReady;
        }
        Action::ReturnResult => outcome.state = Returned,
        Action::RequestWithdrawal => {
            outcome.previous = Some(state);
            outcome.state = WithdrawalRequested;
        }
        Action::Stop => {
            if state == SupplementRequested {
                if never_accepted(situation) {
                    return Err(Refusal::InvalidState(
                        "this dossier was never accepted: one whose supplement never came is refused (3), not stopped"
                            .into(),
                    ));
                }
                supplement_deadline_passed(situation, actor, "stopped")?;
            }
            outcome.state = Stopped;
        }
        Action::ReturnToPrevious => {
            let Some((_, handed_over_in)) = situation.previous_holder else {
                return Err(Refusal::InvalidState(
                    "the dossier was not handed over by another unit, so there is no previous step to return it to"
                        .into(),
                ));
            };
            if state == Stopped && situation.withdrawn {
                return Err(Refusal::InvalidState(
                    "a dossier the citizen withdrew is not returned for processing".into(),
                ));
            }
            // The previous unit takes it up as it handed it over.
            outcome.state = handed_over_in;
            outcome.previous = None;
        }
        Action::Attach | Action::ResolveConflict => {}
        Action::ResetAppointment => {
            if situation.due_at.is_none() {
                return Err(Refusal::InvalidState("this dossier has no appointment to correct".into()));
            }
        }
        Action::RevokeResult => {
            outcome.state = ResultReady;
            outcome.previous = None;
        }
        Action::Recall => {
            // In 6 or 8 the holder has acted by definition (it asked for
            // the fees, or stopped): the sender may still take the dossier
            // back, but not one the citizen withdrew.
            if state == Stopped && situation.withdrawn {
                return Err(Refusal::InvalidState(
                    "a dossier the citizen withdrew is not taken back for processing".into(),
                ));
            }
            if state == InProcess && situation.holder_acted {
                return Err(Refusal::InvalidState(format!(
                    "unit {} has already acted on the dossier; it can only return it",
                    situation.holder_unit
                )));
            }
            if let Some((_, handed_over_in)) = situation.previous_holder {
                outcome.state = handed_over_in;
            }
        }
        Action::Reappoint => {
            if situation.reappointed {
                return Err(Refusal::InvalidState(
                    "this dossier was already re-appointed once; a dossier may be re-appointed only once".into(),
                ));
            }
            let Some(due) = situation.due_at else {
                return Err(Refusal::InvalidState("this dossier has no appointment to move".into()));
            };
            let today = crate::calendar::local_date_at(actor.at_ms, actor.utc_offset_minutes);
            let due_day = crate::calendar::local_date_at(due, actor.utc_offset_minutes);
            if today >= due_day {
                return Err(Refusal::InvalidState(format!(
                    "the apology and new appointment must be issued at least one day before the appointment ({due_day})"
                )));
            }
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn situation(state: Status) -> Situation<'static> {
        Situation {
            state,
            previous: None,
            receiving_unit: "26734",
            holder_unit: "26734",
            same_day: false,
            reappointed: false,
            due_at: Some(10 * crate::calendar::DAY_MS),
            supplement_deadline: None,
            previous_holder: None,
            holder_acted: false,
            withdrawn: false,
            supplement_draft: DraftState::None,
        }
    }

    /// `situation(state)` of a dossier this unit holds and recalls alike:
    /// it handed the dossier over to itself in state 4 (the rules look at
    /// units, and the test's officer belongs to one).
    fn handed_over(state: Status) -> Situation<'static> {
        Situation { previous_holder: Some(("26734", InProcess)), ..situation(state) }
    }

    #[test]
    fn a_dossier_goes_back_only_to_the_unit_that_handed_it_over() {
        let admin = officer(&[Role::Admin]);
        let agency = Actor { unit: "000.00.12.H56", ..admin };
        // The commune transferred it from state 2; the agency holds it.
        let held = Situation {
            holder_unit: "000.00.12.H56",
            previous_holder: Some(("26734", Accepted)),
            ..situation(InProcess)
        };
        assert_eq!(transition(Action::Recall, &held, &admin).unwrap().state, Accepted, "recalled as it was sent");
        assert!(matches!(transition(Action::Recall, &held, &agency), Err(Refusal::Forbidden(_))));
        assert!(matches!(transition(Action::ReturnToPrevious, &held, &admin), Err(Refusal::Forbidden(_))));
        assert_eq!(transition(Action::ReturnToPrevious, &held, &agency).unwrap().state, Accepted);
        let acted = Situation { holder_acted: true, ..held.clone() };
        let err = transition(Action::Recall, &acted, &admin).unwrap_err();
        assert!(matches!(err, Refusal::InvalidState(ref m) if m.contains("already acted")), "{err:?}");
        // Nothing to go back to without a hand-over; a withdrawal stays closed.
        let own = situation(InProcess);
        assert!(matches!(transition(Action::ReturnToPrevious, &own, &admin), Err(Refusal::InvalidState(_))));
        assert!(matches!(transition(Action::Recall, &own, &admin), Err(Refusal::InvalidState(_))));
        let withdrawn = Situation { withdrawn: true, ..handed_over(Stopped) };
        assert!(matches!(transition(Action::ReturnToPrevious, &withdrawn, &admin), Err(Refusal::InvalidState(_))));
        assert!(matches!(transition(Action::Recall, &withdrawn, &admin), Err(Refusal::InvalidState(_))));
        // Asked for the fees (6) or stopped (8), the holder has acted, and
        // the sender may still take the dossier back (as sent).
        for state in [FinancialObligation, Stopped] {
            let acted = Situation { holder_acted: true, state, ..held.clone() };
            assert_eq!(transition(Action::Recall, &acted, &admin).unwrap().state, Accepted, "{state}");
            assert!(matches!(transition(Action::Recall, &acted, &agency), Err(Refusal::Forbidden(_))));
        }
    }

    fn officer(roles: &'static [Role]) -> Actor<'static> {
        Actor { unit: "26734", roles: Some(roles), at_ms: 0, utc_offset_minutes: 420 }
    }

    /// The full state table: every (action, state) pair that is allowed,
    /// and the state it leads to. Every pair not listed must be refused.
    #[test]
    fn state_table_allows_exactly_the_listed_transitions() {
        let allowed: &[(Action, Status, Status)] = &[
            (Action::Accept, SubmittedOnline, Accepted),
            (Action::Refuse, SubmittedOnline, NotAccepted),
            (Action::StartProcessing, Accepted, InProcess),
            (Action::Transfer, Accepted, InProcess),
            (Action::Transfer, InProcess, InProcess),
            (Action::RequestSupplement, SubmittedOnline, SupplementRequested),
            (Action::RequestSupplement, Accepted, SupplementRequested),
            (Action::RequestSupplement, InProcess, SupplementRequested),
            (Action::SupplementReceived, SupplementRequested, Accepted),
            (Action::RequestFinancialObligation, InProcess, FinancialObligation),
            (Action::FinancialObligationFulfilled, FinancialObligation, InProcess),
            (Action::Processed, InProcess, ResultReady),
            (Action::ReturnResult, ResultReady, Returned),
            (Action::RequestWithdrawal, SubmittedOnline, WithdrawalRequested),
            (Action::RequestWithdrawal, Accepted, WithdrawalRequested),
            (Action::RequestWithdrawal, InProcess, WithdrawalRequested),
            (Action::RequestWithdrawal, SupplementRequested, WithdrawalRequested),
            (Action::RequestWithdrawal, FinancialObligation, WithdrawalRequested),
            (Action::Stop, InProcess, Stopped),
            (Action::Stop, WithdrawalRequested, Stopped),
            (Action::Reappoint, Accepted, Accepted),
            (Action::Reappoint, InProcess, InProcess),
            (Action::Reappoint, SupplementRequested, SupplementRequested),
            (Action::Reappoint, FinancialObligation, FinancialObligation),
            // Handed over in state 4 by another unit, not acted on since.
            (Action::ReturnToPrevious, InProcess, InProcess),
            (Action::ReturnToPrevious, FinancialObligation, InProcess),
            (Action::ReturnToPrevious, Stopped, InProcess),
            (Action::ReturnToPrevious, ResultReady, InProcess),
            (Action::Recall, InProcess, InProcess),
            (Action::Recall, FinancialObligation, InProcess),
            (Action::Recall, Stopped, InProcess),
            (Action::ResetAppointment, Accepted, Accepted),
            (Action::ResetAppointment, InProcess, InProcess),
            (Action::ResetAppointment, SupplementRequested, SupplementRequested),
            (Action::ResetAppointment, FinancialObligation, FinancialObligation),
            (Action::ResetAppointment, WithdrawalRequested, WithdrawalRequested),
            (Action::ResetAppointment, ResultReady, ResultReady),
            (Action::RevokeResult, Returned, ResultReady),
            (Action::Attach, SubmittedOnline, SubmittedOnline),
            (Action::Attach, Accepted, Accepted),
            (Action::Attach, InProcess, InProcess),
            (Action::Attach, SupplementRequested, SupplementRequested),
            (Action::Attach, FinancialObligation, FinancialObligation),
            (Action::Attach, WithdrawalRequested, WithdrawalRequested),
            (Action::Attach, ResultReady, ResultReady),
            (Action::ResolveConflict, SubmittedOnline, SubmittedOnline),
            (Action::ResolveConflict, Accepted, Accepted),
            (Action::ResolveConflict, NotAccepted, NotAccepted),
            (Action::ResolveConflict, InProcess, InProcess),
            (Action::ResolveConflict, SupplementRequested, SupplementRequested),
            (Action::ResolveConflict, FinancialObligation, FinancialObligation),
            (Action::ResolveConflict, WithdrawalRequested, WithdrawalRequested),
            (Action::ResolveConflict, Stopped, Stopped),
            (Action::ResolveConflict, ResultReady, ResultReady),
            (Action::ResolveConflict, Returned, Returned),
            (Action::DraftSupplement, InProcess, InProcess),
            (Action::RateSatisfaction, Returned, Returned),
        ];
        let admin = officer(&[Role::Admin]);
        for action in Action::ALL {
            for state in Status::ALL {
                // With a supplement draft approved, which the desk issues
                // from state 4 (and which leaves nothing to approve).
                let situation = Situation { supplement_draft: DraftState::Approved, ..handed_over(state) };
                let got = transition(action, &situation, &admin);
                match allowed.iter().find(|(a, s, _)| *a == action && *s == state) {
                    Some((_, _, to)) => {
                        assert_eq!(got.map(|o| o.state), Ok(*to), "{action} from {state}")
                    }
                    None => assert!(
                        matches!(got, Err(Refusal::InvalidState(_))),
                        "{action} from {state} must be refused, got {got:?}"
                    ),
                }
            }
        }
    }

    #[test]
    fn a_supplement_request_after_receipt_is_drafted_approved_and_issued_by_the_desk() {
        let agency = "000.00.12.H56";
        let at = |unit, roles: &'static [Role]| Actor { unit, roles: Some(roles), at_ms: 0, utc_offset_minutes: 420 };
        let held = |draft| Situation {
            holder_unit: agency,
            previous_holder: Some(("26734", Accepted)),
            supplement_draft: draft,
            ..situation(InProcess)
        };
        // The agency's specialist drafts; the commune may not.
        let none = held(DraftState::None);
        assert_eq!(
            transition(Action::DraftSupplement, &none, &at(agency, &[Role::Specialist])).unwrap().state,
            InProcess
        );
        let err = transition(Action::DraftSupplement, &none, &at("26734", &[Role::Specialist])).unwrap_err();
        assert!(matches!(err, Refusal::Forbidden(_)), "{err:?}");
        // Only its leader approves, and only a draft that is waiting.
        let err = transition(Action::ApproveSupplement, &none, &at(agency, &[Role::Leader])).unwrap_err();
        assert!(matches!(err, Refusal::InvalidState(ref m) if m.contains("no supplement draft")), "{err:?}");
        let drafted = held(DraftState::Drafted);
        let err = transition(Action::ApproveSupplement, &drafted, &at(agency, &[Role::Specialist])).unwrap_err();
        assert!(matches!(err, Refusal::Forbidden(ref m) if m.contains("leader")), "{err:?}");
        assert!(transition(Action::ApproveSupplement, &drafted, &at(agency, &[Role::Leader])).is_ok());
        // The desk issues it only once approved; the agency never does.
        let desk = at("26734", &[Role::Receptionist]);
        let err = transition(Action::RequestSupplement, &drafted, &desk).unwrap_err();
        assert!(matches!(err, Refusal::InvalidState(ref m) if m.contains("approved")), "{err:?}");
        let approved = held(DraftState::Approved);
        let issued = transition(Action::RequestSupplement, &approved, &desk).unwrap();
        assert_eq!((issued.state, issued.previous), (SupplementRequested, Some(InProcess)));
        let err = transition(Action::RequestSupplement, &approved, &at(agency, &[Role::Receptionist])).unwrap_err();
        assert!(matches!(err, Refusal::Forbidden(ref m) if m.contains("one-stop desk")), "{err:?}");
        let err = transition(Action::RequestSupplement, &approved, &at("26734", &[Role::Specialist])).unwrap_err();
        assert!(matches!(err, Refusal::Forbidden(_)), "a specialist does not issue form 02: {err:?}");
        // A synced request recorded by the holder before drafts existed
        // still folds (roles unknown: a replay).
        let replay = Actor { roles: None, ..at(agency, &[]) };
        assert_eq!(transition(Action::RequestSupplement, &none, &replay).unwrap().state, SupplementRequested);
        assert_eq!(Action::parse("draft_supplement"), Some(Action::DraftSupplement));
        assert_eq!(Action::DraftSupplement.reason(), ReasonRule::Required);
    }

    #[test]
    fn only_a_leader_of_the_holding_unit_resolves_a_conflict() {
        let held = Situation { holder_unit: "000.00.12.H56", ..situation(Returned) };
        let leader_at = |unit| Actor { unit, roles: Some(&[Role::Leader]), at_ms: 0, utc_offset_minutes: 420 };
        assert_eq!(transition(Action::ResolveConflict, &held, &leader_at("000.00.12.H56")).unwrap().state, Returned);
        let err = transition(Action::ResolveConflict, &held, &leader_at("26734")).unwrap_err();
        assert!(matches!(err, Refusal::Forbidden(ref m) if m.contains("holding it")), "{err:?}");
        let specialist = Actor { roles: Some(&[Role::Specialist]), ..leader_at("000.00.12.H56") };
        let err = transition(Action::ResolveConflict, &held, &specialist).unwrap_err();
        assert!(matches!(err, Refusal::Forbidden(ref m) if m.contains("leader")), "{err:?}");
        assert_eq!(Action::parse("resolve_conflict"), Some(Action::ResolveConflict));
        assert_eq!(Action::ResolveConflict.reason(), ReasonRule::Required);
    }

    #[test]
    fn roles_are_enforced() {
        let receptionist = officer(&[Role::Receptionist]);
        let err = transition(Action::StartProcessing, &situation(Accepted), &receptionist).unwrap_err();
        assert!(matches!(err, Refusal::Forbidden(ref m) if m.contains("specialist or leader")), "{err:?}");
        let specialist = officer(&[Role::Specialist]);
        assert!(transition(Action::StartProcessing, &situation(Accepted), &specialist).is_ok());
        assert!(matches!(
            transition(Action::ReturnResult, &situation(ResultReady), &specialist),
            Err(Refusal::Forbidden(_))
        ));
        assert!(matches!(transition(Action::Stop, &situation(InProcess), &specialist), Err(Refusal::Forbidden(_))));
        let err = transition(Action::ReturnToPrevious, &handed_over(Stopped), &specialist).unwrap_err();
        assert!(matches!(err, Refusal::Forbidden(ref m) if m.contains("leader")), "only a leader reopens: {err:?}");
        assert!(transition(Action::ReturnToPrevious, &handed_over(Stopped), &officer(&[Role::Leader])).is_ok());
        // Corrections are the admin's alone.
        let leader_and_receptionist = officer(&[Role::Leader, Role::Receptionist]);
        for (action, state) in [(Action::ResetAppointment, InProcess), (Action::RevokeResult, Returned)] {
            let err = transition(action, &situation(state), &leader_and_receptionist).unwrap_err();
            assert!(matches!(err, Refusal::Forbidden(ref m) if m.contains("only an admin")), "{err:?}");
            assert!(transition(action, &situation(state), &officer(&[Role::Admin])).is_ok());
        }
    }

    #[test]
    fn only_the_holder_processes_and_only_the_receiver_returns() {
        let mut s = situation(InProcess);
        s.holder_unit = "000.00.12.H56";
        let commune = officer(&[Role::Admin]);
        assert!(matches!(transition(Action::Processed, &s, &commune), Err(Refusal::Forbidden(_))));
        let agency = Actor { unit: "000.00.12.H56", ..commune };
        assert!(transition(Action::Processed, &s, &agency).is_ok());
        let mut ready = situation(ResultReady);
        ready.holder_unit = "000.00.12.H56";
        assert!(matches!(transition(Action::ReturnResult, &ready, &agency), Err(Refusal::Forbidden(_))));
        // Replayed events carry no roles: only the unit is checked.
        let replay = Actor { roles: None, ..agency };
        assert!(transition(Action::Processed, &s, &replay).is_ok());
    }

    #[test]
    fn same_day_procedures_may_skip_processing() {
        let mut s = situation(Accepted);
        let admin = officer(&[Role::Admin]);
        assert!(matches!(transition(Action::Processed, &s, &admin), Err(Refusal::InvalidState(_))));
        s.same_day = true;
        assert_eq!(transition(Action::Processed, &s, &admin).unwrap().state, ResultReady);
    }

    #[test]
    fn supplement_returns_to_the_previous_state() {
        let admin = officer(&[Role::Admin]);
        let approved = Situation { supplement_draft: DraftState::Approved, ..situation(InProcess) };
        let out = transition(Action::RequestSupplement, &approved, &admin).unwrap();
        assert_eq!(out.previous, Some(InProcess));
        let mut s = situation(SupplementRequested);
        s.previous = out.previous;
        assert_eq!(transition(Action::SupplementReceived, &s, &admin).unwrap().state, InProcess);
    }

    #[test]
    fn refusal_after_supplement_needs_the_deadline_passed() {
        // Submitted online, asked for a supplement before it was accepted.
        let mut s = Situation { previous: Some(SubmittedOnline), ..situation(SupplementRequested) };
        let admin = officer(&[Role::Admin]);
        assert!(matches!(transition(Action::Refuse, &s, &admin), Err(Refusal::InvalidState(_))));
        s.supplement_deadline = Some(1_000);
        assert!(matches!(transition(Action::Refuse, &s, &admin), Err(Refusal::InvalidState(_))));
        let later = Actor { at_ms: 2_000, ..admin };
        assert_eq!(transition(Action::Refuse, &s, &later).unwrap().state, NotAccepted);
    }

    /// State 3 ends only a dossier never accepted: an accepted one (2 or 4
    /// before the supplement request) whose supplement never came is
    /// stopped (8) by a leader after the deadline. A refusal already signed
    /// under the old rule still folds (a replay carries no roles).
    #[test]
    fn an_accepted_dossier_waiting_for_a_supplement_is_stopped_not_refused() {
        let leader = officer(&[Role::Leader]);
        let receptionist = officer(&[Role::Receptionist]);
        let after = |a: Actor<'static>| Actor { at_ms: 2_000, ..a };
        for accepted in [Accepted, InProcess] {
            let s = Situation {
                previous: Some(accepted),
                supplement_deadline: Some(1_000),
                ..situation(SupplementRequested)
            };
            let err = transition(Action::Refuse, &s, &after(officer(&[Role::Admin]))).unwrap_err();
            assert!(matches!(err, Refusal::InvalidState(ref m) if m.contains("stops it (8)")), "{err:?}");
            let replay = Actor { roles: None, ..after(leader) };
            assert_eq!(transition(Action::Refuse, &s, &replay).unwrap().state, NotAccepted, "old histories fold");
            let err = transition(Action::Stop, &s, &leader).unwrap_err();
            assert!(matches!(err, Refusal::InvalidState(ref m) if m.contains("deadline has passed")), "{err:?}");
            assert_eq!(transition(Action::Stop, &s, &after(leader)).unwrap().state, Stopped);
            let err = transition(Action::Stop, &s, &after(receptionist)).unwrap_err();
            assert!(matches!(err, Refusal::Forbidden(ref m) if m.contains("leader")), "{err:?}");
            // The one-stop desk that issued form 02 may stop it too.
            let held = Situation { holder_unit: "000.00.12.H56", ..s.clone() };
            assert_eq!(transition(Action::Stop, &held, &after(leader)).unwrap().state, Stopped);
            let agency = Actor { unit: "000.00.12.H56", ..after(leader) };
            assert_eq!(transition(Action::Stop, &held, &agency).unwrap().state, Stopped);
        }
        // Never accepted: refused, not stopped.
        let online = Situation {
            previous: Some(SubmittedOnline),
            supplement_deadline: Some(1_000),
            ..situation(SupplementRequested)
        };
        let err = transition(Action::Stop, &online, &after(leader)).unwrap_err();
        assert!(matches!(err, Refusal::InvalidState(ref m) if m.contains("never accepted")), "{err:?}");
        assert_eq!(transition(Action::Refuse, &online, &after(receptionist)).unwrap().state, NotAccepted);
    }

    #[test]
    fn reappointment_only_once_and_a_day_ahead() {
        let admin = officer(&[Role::Admin]);
        let mut s = situation(InProcess);
        s.due_at = Some(3 * crate::calendar::DAY_MS);
        assert!(transition(Action::Reappoint, &s, &admin).is_ok());
        let on_due_day = Actor { at_ms: 3 * crate::calendar::DAY_MS - 3_600_000, ..admin };
        assert!(matches!(transition(Action::Reappoint, &s, &on_due_day), Err(Refusal::InvalidState(_))));
        s.reappointed = true;
        assert!(matches!(transition(Action::Reappoint, &s, &admin), Err(Refusal::InvalidState(_))));
    }

    /// Form 04 comes from the unit at fault: the agency holding the
    /// dossier issues it as the commune desk may; a third unit may not.
    #[test]
    fn the_holder_or_the_desk_reappoints_no_other_unit() {
        let at = |unit, roles: &'static [Role]| Actor { unit, roles: Some(roles), at_ms: 0, utc_offset_minutes: 420 };
        let agency = "000.00.12.H56";
        let held =
            Situation { holder_unit: agency, previous_holder: Some(("26734", Accepted)), ..situation(InProcess) };
        assert_eq!(transition(Action::Reappoint, &held, &at(agency, &[Role::Leader])).unwrap().state, InProcess);
        assert_eq!(transition(Action::Reappoint, &held, &at("26734", &[Role::Receptionist])).unwrap().state, InProcess);
        let err = transition(Action::Reappoint, &held, &at("000.00.13.H56", &[Role::Leader])).unwrap_err();
        assert!(
            matches!(err, Refusal::Forbidden(ref m) if m.contains("receiving unit 26734 or the unit holding it")),
            "{err:?}"
        );
        let err = transition(Action::Reappoint, &held, &at(agency, &[Role::Specialist])).unwrap_err();
        assert!(matches!(err, Refusal::Forbidden(_)), "a specialist does not sign form 04: {err:?}");
        // Once only, and before the appointment, whoever issues it.
        let again = Situation { reappointed: true, ..held.clone() };
        assert!(matches!(
            transition(Action::Reappoint, &again, &at(agency, &[Role::Leader])),
            Err(Refusal::InvalidState(_))
        ));
        let late = Actor { at_ms: 10 * crate::calendar::DAY_MS, ..at(agency, &[Role::Leader]) };
        assert!(matches!(transition(Action::Reappoint, &held, &late), Err(Refusal::InvalidState(_))));
    }

    #[test]
    fn status_codes_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::from_code(s.code()), Some(s));
        }
        assert_eq!(Status::from_code(0), None);
        assert_eq!(Status::from_code(11), None);
    }
}
