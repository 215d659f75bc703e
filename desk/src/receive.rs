//! Receiving a dossier (tiếp nhận hồ sơ): the request, its checks, the
//! code of the day, the first change of the document.

use std::sync::Arc;

use motcua_domain::codes::format_dossier_code;
use motcua_domain::dossier::{
    self, Applicant, ApplicantKind, Channel, Collection, DocumentEntry, DossierId, DossierRecord, IdKind, LogbookEntry,
    NewDossier, ProcedureSnapshot, Reception, Representative,
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
    pub applicant: ApplicantRequest,
    /// The person who submits for the applicant (người nộp hồ sơ); also
    /// taken inside `applicant`, never in both places.
    #[serde(default)]
    pub representative: Option<RepresentativeRequest>,
    #[serde(default)]
    pub documents: Option<Vec<DocumentRequest>>,
    pub channel: String,
    /// Number of sets (số bộ hồ sơ) handed in; 1 when absent.
    #[serde(default)]
    pub sets: Option<u32>,
    /// Where the result is collected: `desk` (the default) or `post`.
    #[serde(default)]
    pub collection: Option<String>,
}

/// The applicant as a request names them. `kind` and `id_kind` are text so
/// that an unknown one is answered with its field.
#[derive(Debug, Clone, Default, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicantRequest {
    /// `citizen` (the default) or `organization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub name: String,
    pub id_number: String,
    /// `cccd` or `passport` for a citizen (default `cccd`), `tax_code` for
    /// an organization (its default and only kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_kind: Option<String>,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub representative: Option<RepresentativeRequest>,
}

#[derive(Debug, Clone, Default, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepresentativeRequest {
    pub name: String,
    pub id_number: String,
    /// `cccd` (the default) or `passport`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_kind: Option<String>,
    #[serde(default)]
    pub phone: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentRequest {
    pub name: String,
    #[serde(default)]
    pub original: u32,
    #[serde(default)]
    pub copies: u32,
    /// Certified copies (bản chứng thực), counted apart from plain copies.
    #[serde(default)]
    pub certified: u32,
}

/// Checks an identity number of the kind `id_kind` names (or `default`),
/// reporting a bad kind at `{field}.id_kind` and a bad number at
/// `{field}.id_number`.
fn check_identity(
    field: &str,
    id_kind: Option<&str>,
    number: &str,
    kind: ApplicantKind,
) -> Result<(IdKind, String), DeskError> {
    let id_kind = match id_kind.map(str::trim) {
        None | Some("") => IdKind::default_for(kind),
        Some(k) => IdKind::parse(k).filter(|k| k.fits(kind)).ok_or_else(|| {
            let allowed = match kind {
                ApplicantKind::Citizen => "cccd or passport",
                ApplicantKind::Organization => "tax_code",
            };
            invalid(&format!("{field}.id_kind"), format!("'{k}' is not {allowed} (for a {})", kind.as_str()))
        })?,
    };
    let number = id_kind.normalize(number).map_err(|m| invalid(&format!("{field}.id_number"), m))?;
    Ok((id_kind, number))
}

/// The applicant (chủ hồ sơ) and the person who submits for them, checked.
/// `top` is a representative named beside the applicant rather than in it.
fn check_applicant(a: ApplicantRequest, top: Option<RepresentativeRequest>) -> Result<Applicant, DeskError> {
    let kind = match a.kind.as_deref().map(str::trim) {
        None | Some("") => ApplicantKind::Citizen,
        Some(k) => ApplicantKind::parse(k)
            .ok_or_else(|| invalid("applicant.kind", format!("'{k}' is not citizen or organization")))?,
    };
    let name = check_text("applicant.name", &a.name, NAME_LEN_MAX, true)?;
    let (id_kind, id_number) = check_identity("applicant", a.id_kind.as_deref(), &a.id_number, kind)?;
    let phone = check_phone("applicant.phone", &a.phone)?;
    let address = check_text("applicant.address", &a.address, TEXT_LEN_MAX, false)?;
    let email = match a.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) if e.len() <= NAME_LEN_MAX && e.contains('@') && !e.contains(char::is_whitespace) => {
            Some(e.to_string())
        }
        Some(_) => return Err(invalid("applicant.email", "not an e-mail address")),
        None => None,
    };
    let (field, rep) = match (a.representative, top) {
        (Some(_), Some(_)) => {
            return Err(invalid("representative", "name the representative once, beside the applicant or in it"));
        }
        (Some(r), None) => ("applicant.representative", Some(r)),
        (None, r) => ("representative", r),
    };
    let representative = match rep {
        None => None,
        Some(r) => {
            let name = check_text(&format!("{field}.name"), &r.name, NAME_LEN_MAX, true)?;
            let (id_kind, id_number) =
                check_identity(field, r.id_kind.as_deref(), &r.id_number, ApplicantKind::Citizen)?;
            let phone = check_phone(&format!("{field}.phone"), &r.phone)?;
            Some(Representative { name, id_number, id_kind, phone })
        }
    };
    Ok(Applicant { kind, name, id_number, id_kind, phone, address, email, representative })
}

pub(crate) fn check_phone(field: &str, phone: &str) -> Result<String, DeskError> {
    let p = phone.trim();
    if p.is_empty() {
        return Ok(String::new());
    }
    let digits = p.bytes().filter(u8::is_ascii_digit).count();
    let shape_ok =
        p.bytes().enumerate().all(|(i, b)| b.is_ascii_digit() || b == b' ' || b == b'.' || (b == b'+' && i == 0));
    if !shape_ok || !(8..=15).contains(&digits) {
        return Err(invalid(field, "a phone number has 8 to 15 digits"));
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
        let applicant = check_applicant(req.applicant, req.representative)?;
        let collection = match req.collection.as_deref().map(str::trim) {
            None | Some("") => Collection::Desk,
            Some(c) => {
                Collection::parse(c).ok_or_else(|| invalid("collection", format!("'{c}' is not desk or post")))?
            }
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
                    if d.original > 100
                        || d.copies > 100
                        || d.certified > 100
                        || d.original + d.copies + d.certified == 0
                    {
                        return Err(invalid(
                            &format!("documents[{i}]"),
                            "a document has 1 to 100 originals, certified copies or copies",
                        ));
                    }
                    out.push(DocumentEntry {
                        name,
                        originals: d.original,
                        certified: d.certified,
                        copies: d.copies,
                        received: true,
                    });
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
                    certified: 0,
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
        let duplicates = self.store().open_dossiers_of(&applicant.id_number, &procedure.code)?;
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
        let desk = self.clone();
        let (record, folded) = self.committer().run(move |w| {
            desk.receive_in(w, officer_name, applicant, channel, snapshot, due_at, documents, (sets, collection), now)
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
        (sets, collection): (u32, Collection),
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
        // The logbook line, allocated in the same transaction as the code:
        // one number per code, never reused (nothing marks a number taken
        // but the counter; [`crate::desk::logbook_key`]).
        let volume = chrono::Datelike::year(&local_day) as u32;
        let (lb_first, lb_last) = crate::config::logbook_range(first, last);
        let number = w
            .next_sequence_within(logbook_key(volume), lb_first, lb_last, |_, _| Ok(false))?
            .ok_or_else(|| DeskError::Conflict(format!("this node has used all its logbook numbers of {volume}")))?;
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
                collection,
                logbook: Some(LogbookEntry { volume, number }),
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
