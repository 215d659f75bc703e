//! The citizen's rating of the service at return (đánh giá mức độ hài
//! lòng, Quyết định 766/QĐ-TTg): given on a page made for the counter's
//! tablet or a phone, with no officer's login, for the dossier code and
//! the last four digits of the applicant's ID number (as the tracking
//! page asks), once per dossier, recorded and signed by the receiving
//! unit's node.

use std::sync::Arc;

use automerge::Automerge;
use motcua_domain::dossier::{self, Event};
use motcua_domain::fold::fold;
use motcua_domain::returning::Rating;
use motcua_domain::workflow::{Action, Actor, Role, Status, transition};
use serde::Deserialize;

use crate::desk::*;
use crate::read::TrackMiss;

/// The officer name a rating is recorded under: the citizen gave it.
pub const CITIZEN: &str = "citizen";

/// Reasons a citizen may tick when not satisfied, besides their own
/// words (the criteria of Quyết định 766/QĐ-TTg and the satisfaction
/// survey of Nghị định 61/2018/NĐ-CP: time, requests to come back,
/// officers' conduct, fees, information).
pub const REASONS: [&str; 5] = [
    "Giải quyết chậm, trễ hẹn",
    "Phải đi lại nhiều lần để bổ sung hồ sơ",
    "Thái độ, cách hướng dẫn của cán bộ chưa tốt",
    "Phí, lệ phí hoặc chi phí không rõ ràng",
    "Thông tin về thủ tục chưa đầy đủ",
];

/// Longest free text of a rating.
pub const COMMENT_LEN_MAX: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatingRequest {
    pub code: String,
    pub id_last4: String,
    /// "very_satisfied", "satisfied" or "not_satisfied".
    pub rating: String,
    /// Ticked from [`REASONS`].
    #[serde(default)]
    pub reasons: Vec<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// Why a rating was not taken (beyond a malformed request).
#[derive(Debug, PartialEq, Eq)]
pub enum RateMiss {
    /// Unknown code or wrong suffix: answered alike.
    NotFound(TrackMiss),
}

impl RatingRequest {
    /// The rating and its reasons, one per line, checked before any lookup
    /// (so a malformed request never counts as a guess of the ID suffix).
    pub fn check(&self) -> Result<(Rating, Vec<String>), DeskError> {
        let req = self;
        let rating = Rating::parse(req.rating.trim())
            .ok_or_else(|| invalid("rating", "rating is very_satisfied, satisfied or not_satisfied"))?;
        let mut lines = Vec::new();
        for (i, r) in req.reasons.iter().enumerate() {
            if !REASONS.contains(&r.as_str()) {
                return Err(invalid(&format!("reasons[{i}]"), "not one of the reasons offered"));
            }
            if !lines.contains(r) {
                lines.push(r.clone());
            }
        }
        let comment = check_text("comment", req.comment.as_deref().unwrap_or(""), COMMENT_LEN_MAX, false)?;
        if !comment.is_empty() {
            lines.push(comment.replace('\n', " "));
        }
        if rating != Rating::NotSatisfied && !req.reasons.is_empty() {
            return Err(invalid("reasons", "reasons are ticked only when not satisfied"));
        }
        if rating == Rating::NotSatisfied && lines.is_empty() {
            return Err(invalid("reasons", "say why you are not satisfied: tick a reason or write one"));
        }
        Ok((rating, lines))
    }
}

impl Desk {
    /// Records the citizen's rating of dossier `req.code`.
    pub fn rate(self: &Arc<Self>, req: RatingRequest, now: i64) -> Result<Result<(), RateMiss>, DeskError> {
        let (rating, lines) = req.check()?;
        if let Err(miss) = self.track(&req.code, &req.id_last4, now)? {
            return Ok(Err(RateMiss::NotFound(miss)));
        }
        let desk = self.clone();
        let code = req.code.clone();
        self.committer().run(move |w| {
            let id = w.id_by_code(&code)?.ok_or_else(|| DeskError::NotFound(format!("no dossier {code}")))?;
            let bytes = w.load_doc(&id)?.ok_or_else(|| DeskError::NotFound(format!("no dossier {code}")))?;
            let mut doc = Automerge::load(&bytes).map_err(dossier::DocError::from)?.with_actor(desk.identity().actor());
            let record = dossier::read(&doc)?;
            let folded = fold(&record, desk.offset());
            if folded.state != Status::Returned {
                return Err(DeskError::Conflict("the service is rated once the result has been returned".into()));
            }
            if folded.rating.is_some() {
                return Err(DeskError::Conflict("this dossier has already been rated".into()));
            }
            // The node's desk records it for the citizen.
            let actor = Actor {
                unit: &desk.config().unit,
                roles: Some(&[Role::Receptionist]),
                at_ms: now,
                utc_offset_minutes: desk.offset(),
            };
            transition(Action::RateSatisfaction, &folded.situation(&record), &actor)?;
            let event = Event {
                action: Some(Action::RateSatisfaction),
                at: now,
                unit: desk.config().unit.clone(),
                node: desk.identity().node_id().to_string(),
                officer: CITIZEN.into(),
                rating: Some(rating),
                reason: Some(lines.join("\n")).filter(|r| !r.is_empty()),
                ..Event::default()
            };
            let hash = dossier::append_event(&mut doc, &event)?;
            let (record, _) = desk.store_doc(w, &doc, &hash.0)?;
            audit(w, now, CITIZEN, Action::RateSatisfaction.as_str(), &record.code)?;
            Ok(())
        })?;
        tracing::info!(code = %req.code, rating = rating.as_str(), "citizen rating recorded");
        Ok(Ok(()))
    }
}
