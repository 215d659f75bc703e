//! Dossier summaries (what the store's indexes hold) and the statistics a
//! province reports (mẫu II.06a): received, processed early / on time /
//! late, in process within deadline / overdue, refused, withdrawn, stopped.

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize};

use crate::attachment::Kind;
use crate::calendar::{WorkingCalendar, local_date_at};
use crate::dossier::{Channel, DossierRecord};
use crate::fold::{Closing, Folded, OnTime, after_date_of, is_overdue};
use crate::workflow::Status;

/// The derived facts of a dossier that lists, searches and statistics need
/// without loading the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DossierSummary {
    pub id: [u8; 16],
    pub code: String,
    pub procedure_code: String,
    pub procedure_name: String,
    pub applicant_name: String,
    pub applicant_id_number: String,
    pub receiving_unit: String,
    pub holder_unit: String,
    pub channel: Channel,
    pub state: Status,
    pub received_at: i64,
    pub due_at: Option<i64>,
    pub paused_since: Option<i64>,
    pub result_ready_at: Option<i64>,
    pub returned_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub closing: Option<Closing>,
    pub on_time: Option<OnTime>,
    pub supplement_requests: u32,
    pub conflicts: u32,
    /// Index 766's digitization facts of the dossier. Added after the
    /// fields above and read by [`added_last`], as every field after it.
    #[serde(default, deserialize_with = "added_last")]
    pub digitization: Digitization,
    /// The citizen's rating and when it was given (index 766,
    /// satisfaction). Added last, read by [`added_last`]: a summary
    /// written before ratings existed has none, rightly.
    #[serde(default, deserialize_with = "added_last")]
    pub rating: Option<(crate::returning::Rating, i64)>,
    /// An online submission the desk never accepted (no `accept` in its
    /// history), whatever state it is in now: asked for a supplement
    /// (1 → 5) or withdrawn before acceptance, it was never received.
    /// Added last; a summary written before it reads `false`, as the
    /// statistics counted such dossiers then.
    #[serde(default, deserialize_with = "added_last")]
    pub never_accepted: bool,
}

/// What the national service index counts of a dossier's digitization
/// (Quyết định 766/QĐ-TTg, "số hóa hồ sơ": the share of dossiers whose
/// components are digitized at receipt and the share of results
/// digitized).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Digitization {
    /// See [`components_digitized_at_receipt`].
    pub components_at_receipt: bool,
    /// See [`result_digitized`].
    pub result: bool,
}

impl Digitization {
    pub fn of(folded: &Folded) -> Digitization {
        Digitization {
            components_at_receipt: components_digitized_at_receipt(folded),
            result: result_digitized(folded),
        }
    }
}

/// Whether the dossier's components were digitized at receipt: at least
/// one scanned component (an attachment of kind `component`, for any
/// checklist line or none) was recorded while the dossier was still at
/// its reception, that is before any event took it out of states 1
/// (submitted online) and 2 (received): before the hand-off to processing,
/// a supplement request, a refusal or a stop.
///
/// Sources: Thông tư 01/2023/TT-VPCP and Nghị định 107/2021/NĐ-CP have
/// the one-stop desk digitize the components as it receives them, and
/// Quyết định 766/QĐ-TTg counts the share of dossiers digitized at
/// receipt. "At least one", not every line, follows the provincial system
/// of Thanh Hóa (`Statistics/QuyetDinh766/ChiTieuSoHoa`: a received
/// dossier counts as digitized when any component file (ThanhPhanHoSo)
/// exists). That system does not look at when the file was kept; the
/// index says "at receipt", so a scan made only after the dossier left
/// reception does not count here.
pub fn components_digitized_at_receipt(folded: &Folded) -> bool {
    folded.history.iter().take_while(|h| matches!(h.state_after, Status::SubmittedOnline | Status::Accepted)).any(|h| {
        h.event.action == Some(crate::workflow::Action::Attach)
            && h.event.file.as_ref().is_some_and(|f| f.kind == Kind::Component)
    })
}

/// Whether the dossier's result is digitized: it has a result (processed,
/// and not sent back since) and keeps the result's electronic file: the
/// attachment of kind `result` whose hash the result names, or, for a
/// result that names none, any attachment of kind `result`.
///
/// Source: Quyết định 766/QĐ-TTg (share of results digitized); the
/// Thanh Hóa system counts a resolved dossier as digitized when its result
/// attachment (DinhKemKetQua) is not empty. A result naming a file that is
/// not attached is not digitized: the file the processing unit signed for
/// is not kept.
pub fn result_digitized(folded: &Folded) -> bool {
    folded.result_ready_at.is_some()
        && folded
            .attachments
            .iter()
            .any(|a| a.file.kind == Kind::Result && folded.result_hash.is_none_or(|h| h == a.file.hash))
}

/// Reads a field added at the end of [`DossierSummary`]: a summary the
/// store wrote before the field existed ends where the field would start,
/// and postcard (the store's encoding, where `#[serde(default)]` alone
/// does not help: it reads a struct as a fixed sequence) then fails for
/// want of bytes. That reads as the default, which is right for the
/// digitization facts: no node recorded an attach event before they
/// existed (the desk refuses one as an action, and files come only
/// through the attachments route), so such a dossier had no files; and a
/// summary is written afresh with every write of its dossier.
fn added_last<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(T::deserialize(d).unwrap_or_default())
}

impl DossierSummary {
    pub fn new(record: &DossierRecord, folded: &Folded) -> Self {
        DossierSummary {
            id: record.id.0,
            code: record.code.clone(),
            procedure_code: record.procedure.code.clone(),
            procedure_name: record.procedure.name.clone(),
            applicant_name: record.applicant.name.clone(),
            applicant_id_number: record.applicant.id_number.clone(),
            receiving_unit: folded.receiving_unit.clone(),
            holder_unit: folded.holder_unit.clone(),
            channel: record.reception.channel,
            state: folded.state,
            received_at: record.reception.at,
            due_at: folded.due_at,
            paused_since: folded.paused_since,
            result_ready_at: folded.result_ready_at,
            returned_at: folded.returned_at,
            closed_at: folded.closed_at,
            closing: folded.closing,
            on_time: folded.on_time,
            supplement_requests: folded.supplement_requests,
            conflicts: folded.conflicts.len() as u32,
            digitization: Digitization::of(folded),
            rating: folded.rating,
            never_accepted: record.reception.channel == Channel::Online
                && !folded.history.iter().any(|h| h.event.action == Some(crate::workflow::Action::Accept)),
        }
    }

    pub fn is_overdue(&self, now_ms: i64, utc_offset_minutes: i32) -> bool {
        is_overdue(self.state, self.due_at, self.paused_since, self.result_ready_at, now_ms, utc_offset_minutes)
    }

    /// Open: not refused, stopped or returned.
    pub fn is_open(&self) -> bool {
        !self.state.is_closed()
    }
}

/// A reporting period in local dates, both ends inclusive; `None` is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Period {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Processed {
    pub early: u64,
    pub on_time: u64,
    pub late: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InProcess {
    pub within_deadline: u64,
    pub overdue: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReceivedDetail {
    /// Kỳ trước chuyển qua: received before the period, still open at its start.
    pub carried_over: u64,
    pub online: u64,
    /// Trực tiếp và bưu chính.
    pub direct_or_post: u64,
}

/// The report of one unit (or of a node's scope) for one period.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Received in the period (online + direct/post), carried-over excluded.
    pub received: u64,
    pub received_detail: ReceivedDetail,
    pub processed: Processed,
    pub in_process: InProcess,
    pub refused: u64,
    pub withdrawn: u64,
    pub stopped: u64,
    /// Share of resolved dossiers (`processed`) resolved on or before the
    /// appointment, from 0 to 1; `None` when nothing was resolved. (An
    /// earlier rule counted a dossier with more than one supplement request
    /// as late; no legal text was found for it, and the provincial systems'
    /// reports do not apply it.)
    pub on_time_rate: Option<f64>,
    /// Results ready and not yet collected by the citizen at the period's
    /// end (counted among `processed` too when resolved in the period).
    #[serde(default)]
    pub uncollected: u64,
    /// Share of the period's dossiers received online.
    pub online_share: Option<f64>,
    /// Of the dossiers received in the period, those whose components were
    /// digitized at receipt ([`components_digitized_at_receipt`];
    /// Quyết định 766/QĐ-TTg, digitization).
    #[serde(default)]
    pub received_digitized: u64,
    /// `received_digitized` over `received`; `None` when nothing was
    /// received.
    #[serde(default)]
    pub received_digitized_share: Option<f64>,
    /// Of the processed dossiers (early + on time + late), those whose
    /// result is digitized ([`result_digitized`]; Quyết định 766/QĐ-TTg,
    /// digitization).
    #[serde(default)]
    pub results_digitized: u64,
    /// `results_digitized` over the processed dossiers; `None` when
    /// nothing was processed.
    #[serde(default)]
    pub results_digitized_share: Option<f64>,
    /// Average processing time of each procedure over its dossiers returned
    /// in the period, by procedure code.
    pub by_procedure: Vec<ProcedureTime>,
    /// The citizens' ratings given in the period (index 766, satisfaction).
    #[serde(default)]
    pub satisfaction: Satisfaction,
    /// How often citizens had to come back to complete their dossiers
    /// (index 766: "số lần phải liên hệ để hoàn thiện hồ sơ").
    #[serde(default)]
    pub came_back: CameBack,
}

/// The ratings citizens gave in a period (Quyết định 766/QĐ-TTg; the
/// levels of the Thanh Hóa system's `DanhGiaHaiLong`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Satisfaction {
    pub very_satisfied: u64,
    pub satisfied: u64,
    pub not_satisfied: u64,
    /// Very satisfied and satisfied over all ratings; `None` without any.
    pub satisfied_share: Option<f64>,
}

/// Of the dossiers returned in the period: how many made the citizen come
/// back to complete them (one visit per supplement request issued) and
/// how many visits that was in all. Counted from the dossier's own
/// history, where the Thanh Hóa system has the officer type the number
/// into its survey form (`PhieuKhaoSat.TraLoi3`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct CameBack {
    pub returned: u64,
    pub dossiers: u64,
    pub visits: u64,
}

/// How long one procedure's dossiers took, from receipt to return.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProcedureTime {
    pub procedure_code: String,
    pub procedure_name: String,
    /// Dossiers of the procedure returned in the period.
    pub returned: u64,
    /// Their mean working time from receipt to return on the province's
    /// calendar, in working days of 8 hours (time waiting for the citizen
    /// included).
    pub average_working_days: f64,
}

fn in_period(at_ms: i64, period: &Period, offset: i32) -> bool {
    let d = local_date_at(at_ms, offset);
    period.from.is_none_or(|f| d >= f) && period.to.is_none_or(|t| d <= t)
}

fn before_period(at_ms: i64, period: &Period, offset: i32) -> bool {
    period.from.is_some_and(|f| local_date_at(at_ms, offset) < f)
}

fn after_period(at_ms: i64, period: &Period, offset: i32) -> bool {
    period.to.is_some_and(|t| local_date_at(at_ms, offset) > t)
}

/// How a resolution on `ready` stands against the appointment `due`, by
/// local date (DOMAIN.md "Statistics": classed by the date processing
/// finished); no appointment is on time.
fn resolution_class(ready: i64, due: Option<i64>, offset: i32) -> OnTime {
    let Some(due) = due else { return OnTime::OnTime };
    let (r, d) = (local_date_at(ready, offset), local_date_at(due, offset));
    match r.cmp(&d) {
        std::cmp::Ordering::Less => OnTime::Early,
        std::cmp::Ordering::Equal => OnTime::OnTime,
        std::cmp::Ordering::Greater => OnTime::Late,
    }
}

/// Computes the report over `summaries` as of `now_ms`, in local dates and
/// working time of `calendar`. A dossier counts as
/// in process when it was received by the end of the period and not closed
/// by then; it is overdue when its appointment passed before the end of the
/// period (or before `now`, for a period that has not ended).
pub fn compute<'a>(
    summaries: impl IntoIterator<Item = &'a DossierSummary>,
    period: Period,
    now_ms: i64,
    calendar: &WorkingCalendar,
) -> Stats {
    let mut report = Report::new(period, now_ms, calendar);
    for d in summaries {
        report.add(d);
    }
    report.finish()
}

/// Whether a dossier still open at `as_of` was overdue then, judged as it
/// stood at that moment: one returned, paused or made ready only later
/// (its state now says so) is judged by its deadline against `as_of`.
fn overdue_at(d: &DossierSummary, as_of: i64, offset: i32) -> bool {
    let Some(due) = d.due_at else { return false };
    if d.paused_since.is_some_and(|p| p <= as_of) {
        return false;
    }
    match d.result_ready_at {
        Some(ready) if ready <= as_of => after_date_of(ready, due, offset),
        _ => after_date_of(as_of, due, offset),
    }
}

/// A report being counted one summary at a time, so a node never holds all
/// its summaries at once.
pub struct Report<'c> {
    stats: Stats,
    period: Period,
    as_of: i64,
    offset: i32,
    calendar: &'c WorkingCalendar,
    /// Per procedure code: name, dossiers returned, working minutes summed.
    times: std::collections::BTreeMap<String, (String, u64, u64)>,
}

impl<'c> Report<'c> {
    pub fn new(period: Period, now_ms: i64, calendar: &'c WorkingCalendar) -> Report<'c> {
        let offset = calendar.utc_offset_minutes();
        let period_end_ms = period.to.map(|t| {
            let next = t.succ_opt().unwrap_or(t);
            let days = next.signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).expect("date")).num_days();
            days * crate::calendar::DAY_MS - offset as i64 * crate::calendar::MINUTE_MS - 1
        });
        let as_of = period_end_ms.map_or(now_ms, |end| end.min(now_ms));
        Report { stats: Stats::default(), period, as_of, offset, calendar, times: Default::default() }
    }

    /// Counts one dossier, as report II.06a counts it (DOMAIN.md
    /// "Statistics", following the provincial systems' report code):
    /// - an online submission never accepted (state 1, or asked for a
    ///   supplement or withdrawn before the desk accepted it) and a dossier
    ///   not accepted (state 3) were never received: the latter is counted
    ///   as refused only;
    /// - a dossier is resolved (đã giải quyết) in the period its processing
    ///   finished (its result made ready), classed by that local date
    ///   against the appointment's, whenever the citizen collects it; a
    ///   withdrawal the unit accepted counts as resolved on time;
    /// - results ready and not yet collected at the period's end are
    ///   counted apart (`uncollected`), besides being resolved;
    /// - the rest received by the period's end is in process, within its
    ///   deadline or overdue as it stood then (paused counts as within).
    pub fn add(&mut self, d: &DossierSummary) {
        let (period, offset, as_of) = (self.period, self.offset, self.as_of);
        let s = &mut self.stats;
        if let Some((rating, _)) = d.rating.filter(|(_, at)| in_period(*at, &period, offset)) {
            match rating {
                crate::returning::Rating::VerySatisfied => s.satisfaction.very_satisfied += 1,
                crate::returning::Rating::Satisfied => s.satisfaction.satisfied += 1,
                crate::returning::Rating::NotSatisfied => s.satisfaction.not_satisfied += 1,
            }
        }
        if d.returned_at.is_some_and(|r| in_period(r, &period, offset)) {
            s.came_back.returned += 1;
            if d.supplement_requests > 0 {
                s.came_back.dossiers += 1;
                s.came_back.visits += u64::from(d.supplement_requests);
            }
        }
        if after_period(d.received_at, &period, offset) {
            return;
        }
        if d.closing == Some(Closing::Refused) {
            if d.closed_at.is_some_and(|c| in_period(c, &period, offset)) {
                s.refused += 1;
            }
            return;
        }
        if d.state == Status::SubmittedOnline || d.never_accepted {
            return;
        }
        // When the dossier left the count of those in process, and how.
        let resolved = match (d.closing, d.result_ready_at) {
            (Some(Closing::Withdrawn), _) => d.closed_at.map(|at| (at, OnTime::OnTime)),
            (Some(Closing::Stopped), _) => None,
            (_, Some(ready)) => Some((ready, resolution_class(ready, d.due_at, offset))),
            _ => None,
        };
        let stopped = d.closed_at.filter(|_| d.closing == Some(Closing::Stopped));
        let ended = resolved.map(|(at, _)| at).or(stopped);
        if in_period(d.received_at, &period, offset) {
            s.received += 1;
            if d.channel == Channel::Online {
                s.received_detail.online += 1;
            } else {
                s.received_detail.direct_or_post += 1;
            }
            if d.digitization.components_at_receipt {
                s.received_digitized += 1;
            }
        } else if before_period(d.received_at, &period, offset) {
            if ended.is_some_and(|at| before_period(at, &period, offset)) {
                return;
            }
            s.received_detail.carried_over += 1;
        }
        let collected = d.returned_at.is_some_and(|r| r <= as_of);
        let closed_otherwise = matches!(d.closing, Some(Closing::Withdrawn | Closing::Stopped));
        if d.result_ready_at.is_some_and(|r| r <= as_of) && !collected && !closed_otherwise {
            s.uncollected += 1;
        }
        match (resolved, stopped) {
            (Some((at, class)), _) if !after_period(at, &period, offset) => {
                match class {
                    OnTime::Early => s.processed.early += 1,
                    OnTime::OnTime => s.processed.on_time += 1,
                    OnTime::Late => s.processed.late += 1,
                }
                if d.closing == Some(Closing::Withdrawn) {
                    s.withdrawn += 1;
                }
                if d.digitization.result {
                    s.results_digitized += 1;
                }
                self.average_time(d);
            }
            (_, Some(at)) if !after_period(at, &period, offset) => s.stopped += 1,
            _ => {
                if d.received_at > as_of && period.to.is_some() {
                    return;
                }
                if overdue_at(d, as_of, offset) {
                    s.in_process.overdue += 1;
                } else {
                    s.in_process.within_deadline += 1;
                }
            }
        }
    }

    /// Adds a dossier returned in the period to its procedure's average
    /// time from receipt to return.
    fn average_time(&mut self, d: &DossierSummary) {
        let Some(at) = d.returned_at.filter(|r| in_period(*r, &self.period, self.offset)) else { return };
        // A dossier open for longer than the calendar walks (ten years) has
        // no working time to average.
        if let Ok(minutes) = self.calendar.working_minutes_between(d.received_at, at) {
            let t = self.times.entry(d.procedure_code.clone()).or_insert_with(|| (d.procedure_name.clone(), 0, 0));
            t.1 += 1;
            t.2 += u64::from(minutes);
        }
    }

    pub fn finish(mut self) -> Stats {
        let s = &mut self.stats;
        let processed = s.processed.early + s.processed.on_time + s.processed.late;
        if processed > 0 {
            s.on_time_rate = Some((s.processed.early + s.processed.on_time) as f64 / processed as f64);
            s.results_digitized_share = Some(s.results_digitized as f64 / processed as f64);
        }
        if s.received > 0 {
            s.online_share = Some(s.received_detail.online as f64 / s.received as f64);
            s.received_digitized_share = Some(s.received_digitized as f64 / s.received as f64);
        }
        let r = &mut s.satisfaction;
        let rated = r.very_satisfied + r.satisfied + r.not_satisfied;
        if rated > 0 {
            r.satisfied_share = Some((r.very_satisfied + r.satisfied) as f64 / rated as f64);
        }
        s.by_procedure = std::mem::take(&mut self.times)
            .into_iter()
            .map(|(procedure_code, (procedure_name, returned, minutes))| ProcedureTime {
                procedure_code,
                procedure_name,
                returned,
                average_working_days: minutes as f64 / returned as f64 / crate::calendar::WORKING_DAY_MINUTES as f64,
            })
            .collect();
        self.stats
    }
}

#[cfg(test)]
mod tests;
