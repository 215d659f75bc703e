//! Receiving a dossier (tiếp nhận hồ sơ): the request, its checks, the
//! code of the day, the first change of the document.

use std::sync::Arc;

use motcua_domain::codes::{check_id_number, format_dossier_code};
use motcua_domain::dossier::{
    self, Applicant, Channel, DocumentEntry, DossierId, DossierRecord, NewDossier, ProcedureSnapshot, Reception,
};
use motcua_domain::fold::Folded;
use motcua_domain::workflow::Role;
use rand::RngExt;
use serde::Deserialize;

use motcua_store::Write;

use crate::desk::*;
use crate::views::*;

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

pub(crate) fn check_phone(phone: &str) -> Result<String, DeskError> {
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
        let duplicates = self.store().open_dossiers_of(&id_number, &procedure.code)?;
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
        let (record, folded) = self.committer().run(move |w| {
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
    pub(crate) fn receive_in(
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
        let (agency, first, last) =
            (&self.config().agency_id, self.config().sequence_first, self.config().sequence_last);
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
                unit: self.config().unit.clone(),
                agency_id: self.config().agency_id.clone(),
                node: self.identity().node_id().to_string(),
                officer: officer.clone(),
                at: now,
                channel,
                calendar_version: self.calendar().version().to_string(),
                supplement_mode: self.config().supplement_mode,
                sets,
            },
            due_at,
            documents,
        };
        let (doc, hash) = dossier::create(self.identity().actor(), &new)?;
        let (record, folded) = self.store_doc(w, &doc, &hash.0)?;
        audit(w, now, &officer, "receive", &record.code)?;
        Ok((record, folded))
    }
}
