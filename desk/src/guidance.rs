//! Counter work before receipt (hướng dẫn, từ chối tiếp nhận): a walk-in
//! whose dossier is incomplete gets written guidance on form 02 (Phiếu yêu
//! cầu bổ sung, hoàn thiện hồ sơ), one not eligible a refusal on form 03
//! (Phiếu từ chối tiếp nhận giải quyết hồ sơ), and neither is received
//! (Nghị định 61/2018/NĐ-CP art. 19 as amended by Nghị định
//! 107/2021/NĐ-CP; Thông tư 03/2025/TT-VPCP forms 02 and 03; DOMAIN.md
//! "Counter work"). No dossier is created: no dossier code, no state, no
//! logbook line, nothing in the statistics.
//!
//! What stays is a guidance record (hồ sơ hướng dẫn) so the desk finds the
//! citizen when they come back: the commune's own counter record, kept in
//! this node's store (`guidance` table) and never synced, since the
//! province reports received dossiers only and personal data travels no
//! further than it must. Its number, `<agency>-HD<YYYY>-<NNNNN>`, runs
//! through the year within the node's sequence range and is never shaped
//! like a dossier code. Creating, reading and searching records are
//! audited like reads of dossiers.

use motcua_domain::codes::{check_id_number, fold_text};
use motcua_domain::workflow::Role;
use serde::{Deserialize, Serialize};

use crate::desk::*;
use crate::receive::check_phone;

/// Bound on the missing items of form 02 and the reasons of form 03.
pub const GUIDANCE_ITEMS_MAX: usize = 50;
/// Bound on the count of one missing item.
pub const MISSING_COUNT_MAX: u32 = 100;
/// Bound on the records one search returns.
pub const GUIDANCE_LIST_MAX: usize = 200;
/// Bound on the records one search looks at (a busy ward gives a few
/// thousand guidance slips a year).
pub const GUIDANCE_SCAN_MAX: usize = 50_000;

/// Which form the counter issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuidanceKind {
    /// Form 02: the dossier is incomplete; what to bring.
    Supplement,
    /// Form 03: not eligible; why it is not received.
    Refusal,
}

/// Citizen or organization (LoaiDoiTuong 1/2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicantKind {
    #[default]
    Citizen,
    Organization,
}

/// The applicant as forms 02 and 03 name them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuidanceApplicant {
    #[serde(default)]
    pub kind: ApplicantKind,
    pub name: String,
    pub id_number: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub email: String,
}

/// One missing item of form 02 and how many copies to bring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MissingItem {
    pub name: String,
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// `POST /api/v1/guidance`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuidanceRequest {
    pub kind: String,
    pub procedure_code: String,
    pub applicant: GuidanceApplicant,
    #[serde(default)]
    pub missing: Vec<MissingItem>,
    #[serde(default)]
    pub reasons: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
    /// The phone the citizen calls about the guidance (form 02's contact);
    /// the contact officer is the one who gives it.
    #[serde(default)]
    pub contact_phone: Option<String>,
}

/// A guidance record as the store keeps it (postcard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuidanceRecord {
    pub number: String,
    pub kind: GuidanceKind,
    pub at: i64,
    pub unit: String,
    /// The guiding (form 02) or receiving (form 03) officer.
    pub officer: String,
    pub procedure_code: String,
    pub procedure_name: String,
    pub applicant: GuidanceApplicant,
    pub missing: Vec<MissingItem>,
    pub reasons: Vec<String>,
    pub note: String,
    pub contact_phone: String,
}

/// A guidance record as the API shows it.
#[derive(Debug, Serialize)]
pub struct GuidanceView {
    pub number: String,
    pub kind: GuidanceKind,
    pub at: String,
    pub unit: String,
    pub unit_name: String,
    pub officer: String,
    pub procedure_code: String,
    pub procedure_name: String,
    pub applicant: GuidanceApplicant,
    pub missing: Vec<MissingItem>,
    pub reasons: Vec<String>,
    pub note: String,
    pub contact_phone: String,
}

fn decode(bytes: &[u8]) -> Result<GuidanceRecord, DeskError> {
    postcard::from_bytes(bytes).map_err(|e| motcua_store::StoreError::Corrupt(format!("guidance record: {e}")).into())
}

/// An enterprise or tax code: 10 digits, or 13 (a branch, written
/// `NNNNNNNNNN-NNN` or as 13 digits).
fn check_organization_code(s: &str) -> Result<(), String> {
    let digits: String = s.chars().filter(|c| *c != '-').collect();
    let dash_ok = !s.contains('-') || (s.len() == 14 && s.as_bytes()[10] == b'-');
    if digits.bytes().all(|b| b.is_ascii_digit()) && matches!(digits.len(), 10 | 13) && dash_ok {
        Ok(())
    } else {
        Err("an enterprise or tax code has 10 or 13 digits".into())
    }
}

fn check_request(req: GuidanceRequest) -> Result<(GuidanceKind, GuidanceRequest), DeskError> {
    let kind = match req.kind.as_str() {
        "supplement" => GuidanceKind::Supplement,
        "refusal" => GuidanceKind::Refusal,
        other => return Err(invalid("kind", format!("'{other}' is not supplement (form 02) or refusal (form 03)"))),
    };
    Ok((kind, req))
}

/// Whether a record matches a search: its number, the identity number, or
/// every word of the applicant's name (accents optional, word prefixes).
fn matches(r: &GuidanceRecord, text: &str) -> bool {
    if r.number == text || r.applicant.id_number == text {
        return true;
    }
    let name = fold_text(&r.applicant.name);
    let words: Vec<&str> = name.split(' ').collect();
    let query = fold_text(text);
    !query.is_empty() && query.split(' ').all(|q| words.iter().any(|w| w.starts_with(q)))
}

/// What kind of guidance search a text is, for its audit line (never the
/// name or number searched).
fn search_kind(text: &str) -> &'static str {
    if text.contains("-HD") {
        "by guidance number"
    } else if text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        "by id number"
    } else {
        "by name"
    }
}

impl Desk {
    fn check_counter_officer(officer: &Officer, what: &str) -> Result<(), DeskError> {
        if officer.roles.iter().any(|r| matches!(r, Role::Admin | Role::Receptionist)) {
            Ok(())
        } else {
            Err(DeskError::Forbidden(format!("{what} needs the role receptionist")))
        }
    }

    /// Records the guidance (form 02) or refusal (form 03) given at the
    /// counter, without receiving anything; audited in the same
    /// transaction.
    pub fn give_guidance(&self, officer: &Officer, req: GuidanceRequest, now: i64) -> Result<GuidanceView, DeskError> {
        Self::check_counter_officer(officer, "guidance at the counter")?;
        let (kind, req) = check_request(req)?;
        let catalog = self.catalog();
        let procedure = catalog.get(req.procedure_code.trim()).ok_or_else(|| {
            invalid("procedure_code", format!("procedure '{}' is not in the catalog", req.procedure_code))
        })?;
        let a = &req.applicant;
        let name = check_text("applicant.name", &a.name, NAME_LEN_MAX, true)?;
        let id_number = a.id_number.trim().to_string();
        match a.kind {
            ApplicantKind::Citizen => check_id_number(&id_number),
            ApplicantKind::Organization => check_organization_code(&id_number),
        }
        .map_err(|m| invalid("applicant.id_number", m))?;
        let phone = check_phone("applicant.phone", &a.phone)?;
        let address = check_text("applicant.address", &a.address, TEXT_LEN_MAX, false)?;
        let email = a.email.trim().to_string();
        if !email.is_empty()
            && (email.len() > NAME_LEN_MAX || !email.contains('@') || email.contains(char::is_whitespace))
        {
            return Err(invalid("applicant.email", "not an e-mail address"));
        }
        if req.missing.len() > GUIDANCE_ITEMS_MAX {
            return Err(invalid("missing", format!("at most {GUIDANCE_ITEMS_MAX} missing items")));
        }
        if req.reasons.len() > GUIDANCE_ITEMS_MAX {
            return Err(invalid("reasons", format!("at most {GUIDANCE_ITEMS_MAX} reasons")));
        }
        let mut missing = Vec::new();
        for (i, m) in req.missing.iter().enumerate() {
            let name = check_text(&format!("missing[{i}].name"), &m.name, NAME_LEN_MAX, true)?;
            if !(1..=MISSING_COUNT_MAX).contains(&m.count) {
                return Err(invalid(&format!("missing[{i}].count"), format!("a count is 1 to {MISSING_COUNT_MAX}")));
            }
            missing.push(MissingItem { name: name.replace('\n', " "), count: m.count });
        }
        let mut reasons = Vec::new();
        for (i, r) in req.reasons.iter().enumerate() {
            reasons.push(check_text(&format!("reasons[{i}]"), r, TEXT_LEN_MAX, true)?);
        }
        match kind {
            // Form 02 lists each item to bring: guidance is given once, in writing.
            GuidanceKind::Supplement if missing.is_empty() => {
                return Err(invalid("missing", "form 02 names each missing item (missing: [{name, count}])"));
            }
            GuidanceKind::Refusal if reasons.is_empty() => {
                return Err(invalid("reasons", "form 03 states the reasons the dossier is not received"));
            }
            GuidanceKind::Refusal if !missing.is_empty() => {
                return Err(invalid("missing", "a refusal (form 03) lists reasons, not missing items"));
            }
            _ => {}
        }
        let note = check_text("note", req.note.as_deref().unwrap_or(""), TEXT_LEN_MAX, false)?;
        let contact_phone = match req.contact_phone.as_deref() {
            Some(p) => check_phone("contact_phone", p)
                .map_err(|_| invalid("contact_phone", "a phone number has 8 to 15 digits"))?,
            None => String::new(),
        };
        let calendar = self.calendar();
        let year = chrono::Datelike::year(&calendar.local_date(now));
        let (agency, first, last) =
            (self.config().agency_id.clone(), self.config().sequence_first, self.config().sequence_last);
        let mut record = GuidanceRecord {
            number: String::new(),
            kind,
            at: now,
            unit: self.config().unit.clone(),
            officer: officer.username.clone(),
            procedure_code: procedure.code.clone(),
            procedure_name: procedure.name.clone(),
            applicant: GuidanceApplicant { kind: a.kind, name, id_number, phone, address, email },
            missing,
            reasons,
            note,
            contact_phone,
        };
        let record = self.committer().run(move |w| {
            let seq = w.next_guidance_number(year as u32, first, last)?.ok_or_else(|| {
                DeskError::Conflict(format!("this node has issued all its guidance numbers for {year}"))
            })?;
            record.number = format!("{agency}-HD{year:04}-{seq:05}");
            let bytes = postcard::to_allocvec(&record)
                .map_err(|e| motcua_store::StoreError::Corrupt(format!("guidance record: {e}")))?;
            w.put_guidance(&record.number, &bytes)?;
            let action = match record.kind {
                GuidanceKind::Supplement => "guidance_supplement",
                GuidanceKind::Refusal => "guidance_refusal",
            };
            audit(w, now, &record.officer, action, &record.number)?;
            Ok::<_, DeskError>(record)
        })?;
        tracing::info!(number = %record.number, kind = ?record.kind, "guidance recorded at the counter");
        Ok(self.guidance_view(record))
    }

    /// One guidance record; the read is audited.
    pub fn guidance(&self, officer: &Officer, number: &str, now: i64) -> Result<GuidanceView, DeskError> {
        Self::check_counter_officer(officer, "reading guidance records")?;
        let bytes = self
            .store()
            .guidance(number)?
            .ok_or_else(|| DeskError::NotFound(format!("no guidance record {number}")))?;
        let record = decode(&bytes)?;
        let (who, what) = (officer.username.clone(), number.to_string());
        self.committer().submit_lazy(move |w| audit(w, now, &who, "guidance_read", &what));
        Ok(self.guidance_view(record))
    }

    /// Guidance records, newest first: those matching `q` (number, identity
    /// number or name) or the most recent; audited durably, by kind.
    pub fn guidance_list(
        &self,
        officer: &Officer,
        q: Option<&str>,
        limit: usize,
        now: i64,
    ) -> Result<Vec<GuidanceView>, DeskError> {
        Self::check_counter_officer(officer, "reading guidance records")?;
        let text = q.map(str::trim).filter(|t| !t.is_empty());
        let mut bad = None;
        let rows = self.store().guidance_records(
            |bytes| match decode(bytes) {
                Ok(r) => text.is_none_or(|t| matches(&r, t)),
                Err(e) => {
                    bad.get_or_insert(e);
                    false
                }
            },
            limit,
            GUIDANCE_SCAN_MAX,
        )?;
        if let Some(e) = bad {
            return Err(e);
        }
        let records = rows.iter().map(|b| decode(b)).collect::<Result<Vec<_>, _>>()?;
        let what = format!("{} limit={limit}: {} rows", text.map_or("recent", search_kind), records.len());
        self.audit_bulk_read(officer, "guidance_search", what, now)?;
        Ok(records.into_iter().map(|r| self.guidance_view(r)).collect())
    }

    fn guidance_view(&self, r: GuidanceRecord) -> GuidanceView {
        GuidanceView {
            at: rfc3339(r.at, self.offset()),
            unit_name: self.unit_name(&r.unit),
            number: r.number,
            kind: r.kind,
            unit: r.unit,
            officer: r.officer,
            procedure_code: r.procedure_code,
            procedure_name: r.procedure_name,
            applicant: r.applicant,
            missing: r.missing,
            reasons: r.reasons,
            note: r.note,
            contact_phone: r.contact_phone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organization_codes_have_10_or_13_digits() {
        for ok in ["0101234567", "0101234567001", "0101234567-001"] {
            assert!(check_organization_code(ok).is_ok(), "{ok}");
        }
        for bad in ["010123456", "01012345670", "0101234567-01", "010123456A", "0101-234567001"] {
            assert!(check_organization_code(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_guidance_number_is_not_a_dossier_code() {
        assert!(!motcua_domain::codes::is_dossier_code("000.00.01.H99-HD2025-00001"));
        assert_eq!(search_kind("000.00.01.H99-HD2025-00001"), "by guidance number");
        assert_eq!(search_kind("900000000031"), "by id number");
        assert_eq!(search_kind("Người Thử"), "by name");
    }
}
