//! The dossier (hồ sơ) as one Automerge document, and how it is read back.
//!
//! Root map, schema 1:
//!
//! | key | value |
//! |---|---|
//! | `schema` | 1 |
//! | `id` | 32 hex digits, random |
//! | `code` | dossier code (mã hồ sơ) |
//! | `procedure` | map: code, name, case_code, catalog_version, processing_time, time_unit, same_day, no_appointment, fee_vnd, steps (list of maps: name, agency, time_limit, time_unit; absent when none) |
//! | `applicant` | map: name, id_number, phone, address, email, kind (absent: citizen), id_kind (absent: cccd), representative (map: name, id_number, id_kind, phone; absent: none) |
//! | `received` | map: unit, agency_id, node, officer, at, channel, calendar_version, supplement_mode, sets (absent: 1), collection (absent: desk), logbook_volume and logbook_number (absent: none) |
//! | `due_at` | appointment at receipt (UTC ms), absent for no-appointment procedures |
//! | `documents` | list of maps: name, originals, certified (absent: 0), copies, received |
//! | `participants` | list of maps: unit, role (receiving / processing) |
//! | `events` | append-only list of maps, each written once by its creator |
//!
//! The workflow state is never stored: [`crate::fold`] derives it from
//! `events`. An event's author is the actor of the operation that created
//! the event's map; a field of an event written by any other actor marks the
//! event as tampered.

use automerge::{
    ActorId, Automerge, AutomergeError, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value,
    transaction::{CommitOptions, Transactable},
};

use serde::{Deserialize, Serialize};

use crate::calendar::{TimeUnit, in_range};
use crate::workflow::Action;

pub const SCHEMA_VERSION: u64 = 1;
/// Bound on the events one dossier may hold.
pub const EVENTS_MAX: usize = 1_000;
/// Bound on the checklist of documents of one dossier.
pub const DOCUMENTS_MAX: usize = 100;
/// Bound on the number of a workflow step (bước), and on the steps a
/// dossier's procedure lists: the catalog's bound on a case's steps.
pub use crate::catalog::STEP_NUMBER_MAX;
/// Bound on the sets (bộ hồ sơ) of one dossier.
pub const SETS_MAX: u32 = 99;

/// A dossier's random 128-bit identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DossierId(pub [u8; 16]);

impl DossierId {
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 32 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[i * 2..i * 2 + 2], 16).ok()?;
        }
        Some(DossierId(out))
    }
}

/// How the dossier reached the center.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Trực tiếp: at the desk.
    Direct,
    /// Trực tuyến: through the online portal.
    Online,
    /// Bưu chính: by post.
    Post,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Direct => "direct",
            Channel::Online => "online",
            Channel::Post => "post",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "direct" => Some(Channel::Direct),
            "online" => Some(Channel::Online),
            "post" => Some(Channel::Post),
            _ => None,
        }
    }
}

/// Province setting: what a supplement request does to the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupplementMode {
    /// The deadline moves by the working time spent waiting.
    Pause,
    /// The full processing time counts again from the complete dossier.
    Restart,
}

impl SupplementMode {
    /// What a node does unless its province set otherwise: restart. The
    /// decree counts the processing time from the complete and valid
    /// dossier (hồ sơ đầy đủ, hợp lệ: Nghị định 61/2018/NĐ-CP as amended
    /// by Nghị định 107/2021/NĐ-CP), so a supplemented dossier starts its
    /// time again; the Thanh Hóa center's system ships the same default
    /// (`SuDungYeuCauBoSungTheoNghiDinh: true`, which recomputes the
    /// appointment from the start in `HoanThanhBoSungHoSoCommandHandler`).
    pub const DEFAULT: SupplementMode = SupplementMode::Restart;

    pub fn as_str(self) -> &'static str {
        match self {
            SupplementMode::Pause => "pause",
            SupplementMode::Restart => "restart",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pause" => Some(SupplementMode::Pause),
            "restart" => Some(SupplementMode::Restart),
            _ => None,
        }
    }
}

/// The catalog entry as it stood at receipt: a later catalog change never
/// moves this dossier's deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcedureSnapshot {
    pub code: String,
    pub name: String,
    pub case_code: String,
    pub catalog_version: String,
    /// The processing time that applies to this dossier: the case's online
    /// time for a dossier submitted online, when the catalog sets one.
    pub processing_time: u32,
    pub time_unit: TimeUnit,
    pub same_day: bool,
    pub no_appointment: bool,
    pub fee_vnd: u64,
    /// The case's workflow steps (bước) as the catalog listed them at
    /// receipt, which hand-offs record with their deadlines; none for a
    /// case without steps (or a dossier written before steps were kept).
    #[serde(default)]
    pub steps: Vec<crate::catalog::Step>,
}

/// Who the applicant (chủ hồ sơ) is: the provincial systems' LoaiDoiTuong,
/// 1 for a citizen (công dân), 2 for an organization (tổ chức, doanh
/// nghiệp). Nghị định 61/2018/NĐ-CP, Điều 3 (as amended by Nghị định
/// 107/2021/NĐ-CP) names both as those who file dossiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ApplicantKind {
    #[default]
    Citizen,
    Organization,
}

impl ApplicantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicantKind::Citizen => "citizen",
            ApplicantKind::Organization => "organization",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "citizen" => Some(ApplicantKind::Citizen),
            "organization" => Some(ApplicantKind::Organization),
            _ => None,
        }
    }
    /// LoaiDoiTuong of the provincial systems and the national portal.
    pub fn code(self) -> u8 {
        match self {
            ApplicantKind::Citizen => 1,
            ApplicantKind::Organization => 2,
        }
    }
}

/// What an identity number is *(choice: one field beside `id_number`, so
/// that a number is never read by guessing its shape)*: a citizen's
/// identity card (`cccd`: 12-digit căn cước, or the old 9-digit CMND), a
/// foreigner's passport (`passport`), an organization's enterprise or tax
/// code (`tax_code`, 10 or 13 digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, Hash)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    #[default]
    Cccd,
    Passport,
    TaxCode,
}

impl IdKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdKind::Cccd => "cccd",
            IdKind::Passport => "passport",
            IdKind::TaxCode => "tax_code",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cccd" => Some(IdKind::Cccd),
            "passport" => Some(IdKind::Passport),
            "tax_code" => Some(IdKind::TaxCode),
            _ => None,
        }
    }
    /// The kind an applicant's number has when none is named: a citizen's
    /// identity card, an organization's tax code.
    pub fn default_for(kind: ApplicantKind) -> Self {
        match kind {
            ApplicantKind::Citizen => IdKind::Cccd,
            ApplicantKind::Organization => IdKind::TaxCode,
        }
    }
    /// Whether a number of this kind may identify an applicant of `kind`:
    /// a person by card or passport, an organization by its tax code only.
    pub fn fits(self, kind: ApplicantKind) -> bool {
        matches!(
            (kind, self),
            (ApplicantKind::Citizen, IdKind::Cccd | IdKind::Passport) | (ApplicantKind::Organization, IdKind::TaxCode)
        )
    }
    /// Checks a number of this kind and returns it as stored (trimmed; a
    /// passport upper case; a tax code as digits only).
    pub fn normalize(self, number: &str) -> Result<String, String> {
        match self {
            IdKind::Cccd => {
                let n = number.trim();
                crate::codes::check_id_number(n)?;
                Ok(n.to_string())
            }
            IdKind::Passport => crate::codes::normalize_passport(number),
            IdKind::TaxCode => crate::codes::normalize_tax_code(number),
        }
    }
}

/// The applicant (chủ hồ sơ): the citizen or organization the dossier is
/// for. Absent `kind` and `id_kind` (dossiers written before they were
/// kept) read as a citizen with an identity card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Applicant {
    #[serde(default)]
    pub kind: ApplicantKind,
    /// A citizen's full name or an organization's registered name.
    pub name: String,
    pub id_number: String,
    #[serde(default)]
    pub id_kind: IdKind,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The person who submits for the applicant (người nộp hồ sơ), when it
    /// is not the applicant: an organization's employee, or a person a
    /// citizen authorized (ủy quyền). Form 01 of Thông tư 03/2025/TT-VPCP
    /// names both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub representative: Option<Representative>,
}

/// The person who submits a dossier for its applicant (người nộp hồ sơ):
/// always a person, identified by card or passport.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Representative {
    pub name: String,
    pub id_number: String,
    #[serde(default)]
    pub id_kind: IdKind,
    #[serde(default)]
    pub phone: String,
}

/// One line of the checklist of documents received (thành phần hồ sơ), with
/// the three counts form 01 of Thông tư 03/2025/TT-VPCP prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentEntry {
    pub name: String,
    /// Number of originals (bản chính).
    pub originals: u32,
    /// Number of certified copies (bản chứng thực); 0 for a line written
    /// before they were counted apart.
    #[serde(default)]
    pub certified: u32,
    /// Number of plain copies (bản sao).
    pub copies: u32,
    pub received: bool,
}

/// Where the citizen collects the result (form 01, Thông tư
/// 03/2025/TT-VPCP: "nhận kết quả tại Bộ phận Một cửa / qua dịch vụ bưu
/// chính công ích").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Collection {
    /// At the one-stop desk (tại Bộ phận Một cửa).
    #[default]
    Desk,
    /// By public postal service (qua dịch vụ bưu chính công ích).
    Post,
}

impl Collection {
    pub fn as_str(self) -> &'static str {
        match self {
            Collection::Desk => "desk",
            Collection::Post => "post",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "desk" => Some(Collection::Desk),
            "post" => Some(Collection::Post),
            _ => None,
        }
    }
}

/// The dossier's line in the receiving unit's logbook (Sổ theo dõi hồ sơ,
/// form 07): "Quyển số `volume`, Số thứ tự `number`" on form 01. The
/// volume is the calendar year of receipt and the number runs through the
/// year, not the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogbookEntry {
    pub volume: u32,
    pub number: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reception {
    pub unit: String,
    pub agency_id: String,
    /// Node id (hex public key) of the node that received it.
    pub node: String,
    pub officer: String,
    pub at: i64,
    pub channel: Channel,
    pub calendar_version: String,
    pub supplement_mode: SupplementMode,
    /// Number of sets (số bộ hồ sơ) handed in, 1 to [`SETS_MAX`]; 1 for a
    /// dossier written before sets were recorded.
    pub sets: u32,
    /// Where the result is collected; the desk for a dossier written
    /// before it was recorded.
    pub collection: Collection,
    /// The logbook line; none for a dossier written before it was kept.
    pub logbook: Option<LogbookEntry>,
}

/// Everything a dossier holds when it is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDossier {
    pub id: DossierId,
    pub code: String,
    pub procedure: ProcedureSnapshot,
    pub applicant: Applicant,
    pub reception: Reception,
    pub due_at: Option<i64>,
    pub documents: Vec<DocumentEntry>,
}

/// One entry of the append-only history. Optional fields are kind-specific.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    pub action: Option<Action>,
    pub at: i64,
    pub unit: String,
    pub node: String,
    pub officer: String,
    pub note: String,
    pub to_unit: Option<String>,
    pub reason: Option<String>,
    /// Missing items of a supplement request, one per line.
    pub missing: Option<String>,
    pub result: Option<String>,
    /// The appointment that holds from this event on.
    pub due_at: Option<i64>,
    /// Supplement deadline (hạn bổ sung).
    pub deadline: Option<i64>,
    /// For a handover: the province's signed succession (JSON) naming the
    /// old units and the unit that takes their dossiers over.
    pub succession: Option<String>,
    /// For a hand-off (start of processing, transfer): the workflow step
    /// (bước) it starts, with the step's time limit and deadline.
    pub step: Option<StepRecord>,
    /// For an attachment: the file it keeps with the dossier. Stored as the
    /// event's `file_hash`, `file_size`, `file_type`, `file_name`,
    /// `file_kind` and (for a component) `file_line`.
    pub file: Option<crate::attachment::File>,
    /// For a result (processed): the BLAKE3 hash of the electronic result
    /// file, so that any node can check the file it holds is the one the
    /// processing unit signed for. Stored as the event's `result_hash`.
    pub result_hash: Option<[u8; 32]>,
    /// For a conflict's resolution: the event it resolves. Stored as the
    /// event's `resolves`, `COUNTER@AUTHOR` ([`EventRef::to_field`]).
    pub resolves: Option<EventRef>,
    /// For a result (processed): the result as a document. Stored as the
    /// event's `result_type`, `result_number`, `result_signer`,
    /// `result_issuer` and `result_signed_on` (YYYY-MM-DD).
    pub result_doc: Option<crate::returning::ResultDocument>,
    /// For a return: at the desk or by post (`delivery`), and for a
    /// return by post the postal waybill number (`waybill`).
    pub delivery: Option<crate::returning::Delivery>,
    pub waybill: Option<String>,
    /// For the citizen's rating (`rate_satisfaction`): the level
    /// (`rating`); its reasons are the event's `reason`.
    pub rating: Option<crate::returning::Rating>,
    /// For a stop (dừng giải quyết): the legal basis (căn cứ pháp lý) that
    /// form 05 prints beside the reasons (Thông tư 03/2025/TT-VPCP).
    pub legal_basis: Option<String>,
    /// For an approval of a supplement draft: the `draft_supplement` event
    /// it approves (`draft`, `COUNTER@AUTHOR`), so that a draft replaced
    /// meanwhile, here or on another node, is never approved unseen.
    pub draft: Option<EventRef>,
}

/// An event named by the change that recorded it: its author's actor and
/// the counter of the operation that made its map. Unlike its position in
/// the list, which a merge of events recorded apart may shift, this names
/// the same event on every replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRef {
    /// Hex of the author's actor.
    pub author: String,
    pub counter: u64,
}

impl EventRef {
    /// The event's reference as an event field stores it.
    pub fn to_field(&self) -> String {
        format!("{}@{}", self.counter, self.author)
    }

    /// A stored reference: a counter and a non-empty, even-length,
    /// lowercase hex actor of at most 64 bytes.
    pub fn parse(s: &str) -> Option<EventRef> {
        let (counter, author) = s.split_once('@')?;
        if counter.is_empty() || !counter.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let hex_ok = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if author.is_empty() || author.len() % 2 != 0 || author.len() > 128 || !author.bytes().all(hex_ok) {
            return None;
        }
        Some(EventRef { author: author.to_string(), counter: counter.parse().ok()? })
    }

    /// Whether `e` is the event this names.
    pub fn names(&self, e: &RecordedEvent) -> bool {
        e.counter == self.counter && e.author == self.author
    }
}

/// A step of the procedure case's internal workflow as a hand-off event
/// records it (DOMAIN: step, step time limit, step deadline). Its fields are
/// stored as the event's `step`, `step_name`, `step_time_limit`,
/// `step_time_unit` and `step_deadline`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    /// 1-based number of the step in the case's list of steps.
    pub number: u32,
    pub name: String,
    /// Thời hạn của bước.
    pub time_limit: u32,
    pub time_unit: TimeUnit,
    /// When the step is due (UTC ms): the time limit counted from the
    /// hand-off on the province's calendar.
    pub deadline: i64,
}

/// An event as read from a document, with who created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub event: Event,
    /// Hex of the actor that created the event's map.
    pub author: String,
    /// Counter of the operation that created the event's map: with
    /// `author`, it names the change that recorded the event.
    pub counter: u64,
    /// Why the event cannot be trusted, if it cannot: edited by another
    /// actor, malformed, or naming a node other than its author.
    pub defect: Option<String>,
}

/// A dossier document read back into plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DossierRecord {
    pub id: DossierId,
    pub code: String,
    pub procedure: ProcedureSnapshot,
    pub applicant: Applicant,
    pub reception: Reception,
    pub due_at: Option<i64>,
    pub documents: Vec<DocumentEntry>,
    pub participants: Vec<(String, String)>,
    pub events: Vec<RecordedEvent>,
}

#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("automerge: {0}")]
    Automerge(#[from] AutomergeError),
    #[error("dossier document is missing or has a bad field: {0}")]
    Schema(String),
    #[error("dossier document has schema {0}; this node reads schema {SCHEMA_VERSION}")]
    UnknownSchema(u64),
    #[error("a dossier holds at most {EVENTS_MAX} events")]
    TooManyEvents,
    #[error("the change made no operation")]
    EmptyChange,
}

/// An operation, by its counter and the index of its actor in the
/// document.
pub type OpRef = (u64, usize);

/// One operation a read looked at: it made a value or an object the
/// document holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visit {
    pub op: OpRef,
    /// The object it is in (`None`: the root).
    pub parent: Option<OpRef>,
    /// It made a map that is an element of a list.
    pub list_map: bool,
}

/// Every operation a read of a dossier looked at. When their number is the
/// number of operations of all the document's changes, the document holds
/// nothing but a dossier's fields: nothing deleted, overwritten, unknown
/// or out of bounds ([`crate::authority`] relies on it).
#[derive(Debug, Default, Clone)]
pub struct Census {
    pub visits: Vec<Visit>,
    /// The actor of each actor index met.
    pub actors: Vec<Option<ActorId>>,
    /// Fields or elements holding concurrent values.
    pub conflicts: usize,
}

impl Census {
    fn op(&mut self, id: &ObjId) -> Option<OpRef> {
        match id {
            ObjId::Id(counter, actor, index) => {
                if self.actors.len() <= *index {
                    self.actors.resize(*index + 1, None);
                }
                self.actors[*index].get_or_insert_with(|| actor.clone());
                Some((*counter, *index))
            }
            ObjId::Root => None,
        }
    }

    fn visit(&mut self, op: &ObjId, parent: &ObjId, list_map: bool, conflict: bool) {
        let parent = self.op(parent);
        if let Some(op) = self.op(op) {
            self.visits.push(Visit { op, parent, list_map });
        }
        if conflict {
            self.conflicts += 1;
        }
    }

    /// The actor of an actor index.
    pub fn actor(&self, index: usize) -> Option<&ActorId> {
        self.actors.get(index)?.as_ref()
    }
}

fn commit(tx: automerge::transaction::Transaction<'_>, message: &str, at_ms: i64) -> Result<ChangeHash, DocError> {
    let (hash, _) = tx.commit_with(CommitOptions::default().with_message(message).with_time(at_ms.div_euclid(1000)));
    hash.ok_or(DocError::EmptyChange)
}

/// Creates the document of a new dossier with its `receive` event, as one
/// change by `actor`.
pub fn create(actor: ActorId, new: &NewDossier) -> Result<(Automerge, ChangeHash), DocError> {
    let mut doc = Automerge::new().with_actor(actor);
    let mut tx = doc.transaction();
    tx.put(ROOT, "schema", SCHEMA_VERSION)?;
    tx.put(ROOT, "id", new.id.to_hex())?;
    tx.put(ROOT, "code", new.code.as_str())?;
    let p = tx.put_object(ROOT, "procedure", ObjType::Map)?;
    let snap = &new.procedure;
    tx.put(&p, "code", snap.code.as_str())?;
    tx.put(&p, "name", snap.name.as_str())?;
    tx.put(&p, "case_code", snap.case_code.as_str())?;
    tx.put(&p, "catalog_version", snap.catalog_version.as_str())?;
    tx.put(&p, "processing_time", snap.processing_time as u64)?;
    tx.put(&p, "time_unit", snap.time_unit.as_str())?;
    tx.put(&p, "same_day", snap.same_day)?;
    tx.put(&p, "no_appointment", snap.no_appointment)?;
    tx.put(&p, "fee_vnd", snap.fee_vnd)?;
    if !snap.steps.is_empty() {
        let list = tx.put_object(&p, "steps", ObjType::List)?;
        for (i, step) in snap.steps.iter().enumerate() {
            let m = tx.insert_object(&list, i, ObjType::Map)?;
            tx.put(&m, "name", step.name.as_str())?;
            tx.put(&m, "agency", step.agency.as_str())?;
            tx.put(&m, "time_limit", step.time_limit as u64)?;
            tx.put(&m, "time_unit", step.unit.as_str())?;
        }
    }
    let a = tx.put_object(ROOT, "applicant", ObjType::Map)?;
    tx.put(&a, "name", new.applicant.name.as_str())?;
    tx.put(&a, "id_number", new.applicant.id_number.as_str())?;
    tx.put(&a, "phone", new.applicant.phone.as_str())?;
    tx.put(&a, "address", new.applicant.address.as_str())?;
    if let Some(email) = &new.applicant.email {
        tx.put(&a, "email", email.as_str())?;
    }
    tx.put(&a, "kind", new.applicant.kind.as_str())?;
    tx.put(&a, "id_kind", new.applicant.id_kind.as_str())?;
    if let Some(rep) = &new.applicant.representative {
        let m = tx.put_object(&a, "representative", ObjType::Map)?;
        tx.put(&m, "name", rep.name.as_str())?;
        tx.put(&m, "id_number", rep.id_number.as_str())?;
        tx.put(&m, "id_kind", rep.id_kind.as_str())?;
        tx.put(&m, "phone", rep.phone.as_str())?;
    }
    let r = tx.put_object(ROOT, "received", ObjType::Map)?;
    let rec = &new.reception;
    tx.put(&r, "unit", rec.unit.as_str())?;
    tx.put(&r, "agency_id", rec.agency_id.as_str())?;
    tx.put(&r, "node", rec.node.as_str())?;
    tx.put(&r, "officer", rec.officer.as_str())?;
    tx.put(&r, "at", rec.at)?;
    tx.put(&r, "channel", rec.channel.as_str())?;
    tx.put(&r, "calendar_version", rec.calendar_version.as_str())?;
    tx.put(&r, "supplement_mode", rec.supplement_mode.as_str())?;
    tx.put(&r, "sets", rec.sets as u64)?;
    tx.put(&r, "collection", rec.collection.as_str())?;
    if let Some(l) = rec.logbook {
        tx.put(&r, "logbook_volume", l.volume as u64)?;
        tx.put(&r, "logbook_number", l.number as u64)?;
    }
    if let Some(due) = new.due_at {
        tx.put(ROOT, "due_at", due)?;
    }
    let docs = tx.put_object(ROOT, "documents", ObjType::List)?;
    for (i, d) in new.documents.iter().enumerate() {
        let m = tx.insert_object(&docs, i, ObjType::Map)?;
        tx.put(&m, "name", d.name.as_str())?;
        tx.put(&m, "originals", d.originals as u64)?;
        tx.put(&m, "certified", d.certified as u64)?;
        tx.put(&m, "copies", d.copies as u64)?;
        tx.put(&m, "received", d.received)?;
    }
    let parts = tx.put_object(ROOT, "participants", ObjType::List)?;
    let m = tx.insert_object(&parts, 0, ObjType::Map)?;
    tx.put(&m, "unit", rec.unit.as_str())?;
    tx.put(&m, "role", "receiving")?;
    let events = tx.put_object(ROOT, "events", ObjType::List)?;
    let receive = Event {
        action: Some(Action::Receive),
        at: rec.at,
        unit: rec.unit.clone(),
        node: rec.node.clone(),
        officer: rec.officer.clone(),
        due_at: new.due_at,
        ..Event::default()
    };
    write_event(&mut tx, &events, 0, &receive)?;
    let hash = commit(tx, Action::Receive.as_str(), rec.at)?;
    Ok((doc, hash))
}

fn write_event<T: Transactable>(tx: &mut T, list: &ObjId, index: usize, e: &Event) -> Result<(), AutomergeError> {
    let m = tx.insert_object(list, index, ObjType::Map)?;
    let action = e.action.map(|a| a.as_str()).unwrap_or("");
    tx.put(&m, "kind", action)?;
    tx.put(&m, "at", e.at)?;
    tx.put(&m, "unit", e.unit.as_str())?;
    tx.put(&m, "node", e.node.as_str())?;
    tx.put(&m, "officer", e.officer.as_str())?;
    tx.put(&m, "note", e.note.as_str())?;
    let opt = [
        ("to_unit", &e.to_unit),
        ("reason", &e.reason),
        ("missing", &e.missing),
        ("result", &e.result),
        ("succession", &e.succession),
        ("legal_basis", &e.legal_basis),
    ];
    for (key, value) in opt {
        if let Some(v) = value {
            tx.put(&m, key, v.as_str())?;
        }
    }
    if let Some(v) = e.due_at {
        tx.put(&m, "due_at", v)?;
    }
    if let Some(v) = e.deadline {
        tx.put(&m, "deadline", v)?;
    }
    if let Some(step) = &e.step {
        tx.put(&m, "step", step.number as i64)?;
        tx.put(&m, "step_name", step.name.as_str())?;
        tx.put(&m, "step_time_limit", step.time_limit as i64)?;
        tx.put(&m, "step_time_unit", step.time_unit.as_str())?;
        tx.put(&m, "step_deadline", step.deadline)?;
    }
    if let Some(h) = &e.result_hash {
        tx.put(&m, "result_hash", hex::encode(h))?;
    }
    if let Some(r) = &e.resolves {
        tx.put(&m, "resolves", r.to_field())?;
    }
    if let Some(r) = &e.draft {
        tx.put(&m, "draft", r.to_field())?;
    }
    if let Some(d) = &e.result_doc {
        for (key, value) in d.fields() {
            tx.put(&m, key, value)?;
        }
    }
    if let Some(d) = e.delivery {
        tx.put(&m, "delivery", d.as_str())?;
    }
    if let Some(w) = &e.waybill {
        tx.put(&m, "waybill", w.as_str())?;
    }
    if let Some(r) = e.rating {
        tx.put(&m, "rating", r.as_str())?;
    }
    if let Some(f) = &e.file {
        tx.put(&m, "file_hash", hex::encode(f.hash))?;
        tx.put(&m, "file_size", f.size)?;
        tx.put(&m, "file_type", f.media_type.as_str())?;
        tx.put(&m, "file_name", f.name.as_str())?;
        tx.put(&m, "file_kind", f.kind.as_str())?;
        if let Some(line) = f.document_line {
            tx.put(&m, "file_line", line as i64)?;
        }
    }
    Ok(())
}

/// Appends one event (and, for a transfer, the new participant) as one
/// change by the document's actor.
pub fn append_event(doc: &mut Automerge, event: &Event) -> Result<ChangeHash, DocError> {
    let (_, events) = doc.get(ROOT, "events")?.ok_or_else(|| DocError::Schema("events".into()))?;
    let len = doc.length(&events);
    if len >= EVENTS_MAX {
        return Err(DocError::TooManyEvents);
    }
    let participants = doc.get(ROOT, "participants")?.map(|(_, id)| id);
    let mut tx = doc.transaction();
    write_event(&mut tx, &events, len, event)?;
    let role = match event.action {
        Some(Action::Transfer) => Some("processing"),
        Some(Action::Handover) => Some("receiving"),
        _ => None,
    };
    if let (Some(role), Some(to), Some(parts)) = (role, &event.to_unit, participants) {
        let n = tx.length(&parts);
        let m = tx.insert_object(&parts, n, ObjType::Map)?;
        tx.put(&m, "unit", to.as_str())?;
        tx.put(&m, "role", role)?;
    }
    let action = event.action.map(|a| a.as_str()).unwrap_or("event");
    commit(tx, action, event.at)
}

fn actor_hex(actor: &ActorId) -> String {
    actor.to_hex_string()
}

/// Reads a dossier's maps and lists, one pass over each (a lookup per
/// field would cost a seek each), counting every operation met in the
/// census. Each object is read once: a second read would count its
/// operations twice.
struct Reader<'a> {
    doc: &'a Automerge,
    census: Census,
}

/// One map's fields as read: key, value and the operation that wrote it.
/// A map holds a dozen fields at most, so lookups scan.
struct Fields<'a>(Vec<(std::borrow::Cow<'a, str>, Value<'a>, ObjId)>);

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.0.iter().find(|(k, ..)| k == key).map(|(_, v, _)| v)
    }
    fn obj(&self, key: &str) -> Result<ObjId, DocError> {
        match self.0.iter().find(|(k, ..)| k == key) {
            Some((_, Value::Object(_), id)) => Ok(id.clone()),
            _ => Err(DocError::Schema(key.into())),
        }
    }
    fn scalar(&self, key: &str) -> Option<&ScalarValue> {
        match self.get(key) {
            Some(Value::Scalar(s)) => Some(s),
            _ => None,
        }
    }
    fn string(&self, key: &str) -> Result<String, DocError> {
        self.opt_string(key).ok_or_else(|| DocError::Schema(key.into()))
    }
    fn opt_string(&self, key: &str) -> Option<String> {
        self.scalar(key).and_then(|s| s.as_str().map(str::to_string))
    }
    fn int(&self, key: &str) -> Option<i64> {
        self.scalar(key).and_then(|s| s.as_i64().or_else(|| s.as_u64().map(|u| u as i64)))
    }
    fn uint(&self, key: &str) -> Result<u64, DocError> {
        self.scalar(key)
            .and_then(|s| s.as_u64().or_else(|| s.as_i64().and_then(|i| u64::try_from(i).ok())))
            .ok_or_else(|| DocError::Schema(key.into()))
    }
    fn boolean(&self, key: &str) -> Result<bool, DocError> {
        self.scalar(key).and_then(|s| s.as_bool()).ok_or_else(|| DocError::Schema(key.into()))
    }
}

impl<'a> Reader<'a> {
    fn new(doc: &'a Automerge) -> Self {
        Reader { doc, census: Census::default() }
    }
    /// The first `max` elements of a list, in one pass. Elements past
    /// `max` are only counted, with what their maps hold, so that the
    /// census still meets every operation.
    fn elements(&mut self, list: &ObjId, max: usize) -> Vec<(Value<'a>, ObjId)> {
        let mut out = Vec::new();
        let mut beyond = Vec::new();
        for (i, item) in self.doc.list_range(list, ..).enumerate() {
            let id = item.id();
            let value = item.value.into_value();
            let map = matches!(value, Value::Object(ObjType::Map));
            self.census.visit(&id, list, map, item.conflict);
            if i < max {
                out.push((value, id));
            } else if map {
                beyond.push(id);
            }
        }
        for obj in beyond {
            for item in self.doc.map_range(&obj, ..) {
                self.census.visit(&item.id(), &obj, false, item.conflict);
            }
        }
        out
    }
    fn fields(&mut self, obj: &ObjId) -> Fields<'a> {
        let census = &mut self.census;
        Fields(
            self.doc
                .map_range(obj, ..)
                .map(|i| {
                    let id = i.id();
                    census.visit(&id, obj, false, i.conflict);
                    (i.key, i.value.into_value(), id)
                })
                .collect(),
        )
    }
}

/// Reads a dossier document into plain data. Fails only when the fixed
/// parts (written once at creation) are missing; defects in events are
/// reported per event.
pub fn read(doc: &Automerge) -> Result<DossierRecord, DocError> {
    Ok(read_with_census(doc)?.0)
}

/// [`read`], with every operation the read looked at.
pub fn read_with_census(doc: &Automerge) -> Result<(DossierRecord, Census), DocError> {
    let mut r = Reader::new(doc);
    let record = read_record(&mut r)?;
    Ok((record, r.census))
}

fn read_record(r: &mut Reader<'_>) -> Result<DossierRecord, DocError> {
    let root = r.fields(&ROOT);
    let schema = root.uint("schema")?;
    if schema != SCHEMA_VERSION {
        return Err(DocError::UnknownSchema(schema));
    }
    let id_hex = root.string("id")?;
    let id = DossierId::from_hex(&id_hex).ok_or_else(|| DocError::Schema("id".into()))?;
    let p = r.fields(&root.obj("procedure")?);
    let mut procedure = ProcedureSnapshot {
        code: p.string("code")?,
        name: p.string("name")?,
        case_code: p.string("case_code")?,
        catalog_version: p.string("catalog_version")?,
        processing_time: u32::try_from(p.uint("processing_time")?)
            .map_err(|_| DocError::Schema("procedure.processing_time".into()))?,
        time_unit: TimeUnit::parse(&p.string("time_unit")?)
            .ok_or_else(|| DocError::Schema("procedure.time_unit".into()))?,
        same_day: p.boolean("same_day")?,
        no_appointment: p.boolean("no_appointment")?,
        fee_vnd: p.uint("fee_vnd")?,
        steps: Vec::new(),
    };
    if p.get("steps").is_some() {
        let list = p.obj("steps")?;
        if r.doc.length(&list) > STEP_NUMBER_MAX as usize {
            return Err(DocError::Schema(format!("procedure.steps: more than {STEP_NUMBER_MAX}")));
        }
        let bad = |i: usize| DocError::Schema(format!("procedure.steps[{i}]"));
        for (i, (value, m)) in r.elements(&list, STEP_NUMBER_MAX as usize).into_iter().enumerate() {
            if !matches!(value, Value::Object(ObjType::Map)) {
                return Err(bad(i));
            }
            let m = r.fields(&m);
            procedure.steps.push(crate::catalog::Step {
                name: m.string("name").map_err(|_| bad(i))?,
                agency: m.string("agency").map_err(|_| bad(i))?,
                time_limit: m.uint("time_limit").ok().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| bad(i))?,
                unit: m.opt_string("time_unit").as_deref().and_then(TimeUnit::parse).ok_or_else(|| bad(i))?,
            });
        }
    }
    let a = r.fields(&root.obj("applicant")?);
    let kind = match a.opt_string("kind") {
        None => ApplicantKind::Citizen,
        Some(k) => ApplicantKind::parse(&k).ok_or_else(|| DocError::Schema("applicant.kind".into()))?,
    };
    let id_kind = |f: &Fields<'_>, field: &str| match f.get("id_kind") {
        None => Ok(IdKind::default_for(ApplicantKind::Citizen)),
        Some(_) => f
            .opt_string("id_kind")
            .as_deref()
            .and_then(IdKind::parse)
            .ok_or_else(|| DocError::Schema(format!("{field}.id_kind"))),
    };
    let representative = match a.get("representative") {
        None => None,
        Some(_) => {
            let m = r.fields(&a.obj("representative")?);
            Some(Representative {
                name: m.string("name")?,
                id_number: m.string("id_number")?,
                id_kind: id_kind(&m, "applicant.representative")?,
                phone: m.opt_string("phone").unwrap_or_default(),
            })
        }
    };
    let applicant = Applicant {
        kind,
        name: a.string("name")?,
        id_number: a.string("id_number")?,
        id_kind: id_kind(&a, "applicant")?,
        phone: a.opt_string("phone").unwrap_or_default(),
        address: a.opt_string("address").unwrap_or_default(),
        email: a.opt_string("email"),
        representative,
    };
    let rc = r.fields(&root.obj("received")?);
    let reception = Reception {
        unit: rc.string("unit")?,
        agency_id: rc.string("agency_id")?,
        node: rc.string("node")?,
        officer: rc.string("officer")?,
        at: rc.int("at").filter(|at| in_range(*at)).ok_or_else(|| DocError::Schema("received.at".into()))?,
        channel: Channel::parse(&rc.string("channel")?).ok_or_else(|| DocError::Schema("received.channel".into()))?,
        calendar_version: rc.string("calendar_version")?,
        supplement_mode: SupplementMode::parse(&rc.string("supplement_mode")?)
            .ok_or_else(|| DocError::Schema("received.supplement_mode".into()))?,
        sets: match rc.get("sets") {
            None => 1,
            Some(_) => rc
                .uint("sets")
                .ok()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| (1..=SETS_MAX).contains(n))
                .ok_or_else(|| DocError::Schema(format!("received.sets must be 1 to {SETS_MAX}")))?,
        },
        collection: match rc.opt_string("collection") {
            None if rc.get("collection").is_none() => Collection::Desk,
            c => c
                .as_deref()
                .and_then(Collection::parse)
                .ok_or_else(|| DocError::Schema("received.collection".into()))?,
        },
        logbook: match (rc.get("logbook_volume"), rc.get("logbook_number")) {
            (None, None) => None,
            _ => {
                let n = |k: &str| rc.uint(k).ok().and_then(|n| u32::try_from(n).ok()).filter(|n| *n >= 1);
                match (n("logbook_volume").filter(|y| (1900..=2999).contains(y)), n("logbook_number")) {
                    (Some(volume), Some(number)) => Some(LogbookEntry { volume, number }),
                    _ => return Err(DocError::Schema("received.logbook_volume and logbook_number".into())),
                }
            }
        },
    };
    let due_at = root.int("due_at");
    if due_at.is_some_and(|d| !in_range(d)) {
        return Err(DocError::Schema("due_at out of range".into()));
    }
    let mut documents = Vec::new();
    let docs = root.obj("documents")?;
    for (i, (value, m)) in r.elements(&docs, DOCUMENTS_MAX).into_iter().enumerate() {
        if !matches!(value, Value::Object(_)) {
            return Err(DocError::Schema(format!("documents[{i}]")));
        }
        let m = r.fields(&m);
        documents.push(DocumentEntry {
            name: m.string("name")?,
            originals: m.uint("originals")? as u32,
            certified: match m.get("certified") {
                None => 0,
                Some(_) => m.uint("certified")? as u32,
            },
            copies: m.uint("copies")? as u32,
            received: m.boolean("received")?,
        });
    }
    let mut participants = Vec::new();
    let parts = root.obj("participants")?;
    for (value, m) in r.elements(&parts, usize::MAX) {
        if matches!(value, Value::Object(_)) {
            let m = r.fields(&m);
            participants.push((m.string("unit")?, m.string("role")?));
        }
    }
    let events_obj = root.obj("events")?;
    let mut events = Vec::new();
    for (i, element) in r.elements(&events_obj, EVENTS_MAX).into_iter().enumerate() {
        events.push(read_event(r, element, i)?);
    }
    Ok(DossierRecord {
        id,
        code: root.string("code")?,
        procedure,
        applicant,
        reception,
        due_at,
        documents,
        participants,
        events,
    })
}

const EVENT_KEYS: [&str; 36] = [
    "kind",
    "at",
    "unit",
    "node",
    "officer",
    "note",
    "to_unit",
    "reason",
    "missing",
    "result",
    "due_at",
    "deadline",
    "succession",
    "step",
    "step_name",
    "step_time_limit",
    "step_time_unit",
    "step_deadline",
    "file_hash",
    "file_size",
    "file_type",
    "file_name",
    "file_kind",
    "file_line",
    "result_hash",
    "resolves",
    "result_type",
    "result_number",
    "result_signer",
    "result_issuer",
    "result_signed_on",
    "delivery",
    "waybill",
    "rating",
    "legal_basis",
    "draft",
];

/// Reads a field that events of one kind alone carry, and must carry
/// (`kinds`: this event's and the owner's): parsed by `parse`, with a
/// defect worded by `why` (malformed, on another kind, missing) otherwise.
fn owned_field<T>(
    value: Option<&ScalarValue>,
    parse: impl Fn(&str) -> Option<T>,
    kinds: (Option<Action>, Action),
    why: [&str; 3],
    index: usize,
    defect: &mut Option<String>,
) -> Option<T> {
    let (action, owner) = kinds;
    let mut flag = |why: &str| {
        defect.get_or_insert_with(|| format!("event {index} {why}"));
    };
    let Some(value) = value else {
        if action == Some(owner) {
            flag(why[2]);
        }
        return None;
    };
    let parsed = value.as_str().and_then(parse);
    if parsed.is_none() {
        flag(why[0]);
    }
    if action != Some(owner) {
        flag(why[1]);
    }
    parsed
}

/// An attach event's file, if every field is there and well formed (the
/// same bounds a node checks before it takes a file).
fn read_file(
    text: &dyn Fn(&str) -> Option<String>,
    int: &dyn Fn(&str) -> Option<i64>,
) -> Option<crate::attachment::File> {
    use crate::attachment::{FILE_BYTES_MAX, File, Kind, MediaType, check_name};
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text("file_hash")?, &mut hash).ok()?;
    let size = int("file_size").and_then(|n| u64::try_from(n).ok()).filter(|n| (1..=FILE_BYTES_MAX).contains(n))?;
    let media_type = MediaType::parse(&text("file_type")?)?;
    let name = check_name(&text("file_name")?).ok()?;
    let kind = Kind::parse(&text("file_kind")?)?;
    let document_line = match int("file_line") {
        None => None,
        Some(n) => Some(u32::try_from(n).ok().filter(|n| (1..=DOCUMENTS_MAX as u32).contains(n))?),
    };
    Some(File { hash, size, media_type, name, kind, document_line })
}

fn read_event(r: &mut Reader<'_>, element: (Value<'_>, ObjId), index: usize) -> Result<RecordedEvent, DocError> {
    let doc = r.doc;
    let obj = match element {
        (Value::Object(ObjType::Map), id) => id,
        _ => {
            return Ok(RecordedEvent {
                event: Event::default(),
                author: String::new(),
                counter: 0,
                defect: Some(format!("event {index} is not a map")),
            });
        }
    };
    let (author, author_actor, counter) = match &obj {
        automerge::ObjId::Id(counter, actor, _) => (actor_hex(actor), Some(actor), *counter),
        automerge::ObjId::Root => (String::new(), None, 0),
    };
    // One pass over the event's fields; a field with concurrent values is
    // looked at in full.
    let mut defect = None;
    let mut fields: Vec<(std::borrow::Cow<'_, str>, ScalarValue)> = Vec::new();
    for item in doc.map_range(&obj, ..) {
        let id = item.id();
        r.census.visit(&id, &obj, false, item.conflict);
        let key = item.key;
        if !EVENT_KEYS.contains(&key.as_ref()) {
            defect = Some(format!("event {index} has an unknown field '{key}'"));
        }
        let writers: Vec<ObjId> = if item.conflict {
            doc.get_all(&obj, key.as_ref())?.into_iter().map(|(_, id)| id).collect()
        } else {
            vec![id]
        };
        for op in writers {
            let writer = match &op {
                automerge::ObjId::Id(_, actor, _) => Some(actor),
                automerge::ObjId::Root => None,
            };
            if writer != author_actor {
                let writer = writer.map(actor_hex).unwrap_or_default();
                defect =
                    Some(format!("field '{key}' of event {index} was written by actor {writer}, not by its author"));
            }
        }
        if let Value::Scalar(v) = item.value.into_value() {
            fields.push((key, v.into_owned()));
        }
    }
    let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let text = |k: &str| get(k).and_then(|v| v.as_str().map(str::to_string));
    let int = |k: &str| get(k).and_then(|v| v.as_i64().or_else(|| v.as_u64().map(|u| u as i64)));
    let kind = text("kind").unwrap_or_default();
    let action = Action::parse(&kind);
    if action.is_none() {
        defect.get_or_insert_with(|| format!("event {index} has unknown kind '{kind}'"));
    }
    let mut event = Event {
        action,
        at: int("at").unwrap_or(0),
        unit: text("unit").unwrap_or_default(),
        node: text("node").unwrap_or_default(),
        officer: text("officer").unwrap_or_default(),
        note: text("note").unwrap_or_default(),
        to_unit: text("to_unit"),
        reason: text("reason"),
        missing: text("missing"),
        result: text("result"),
        due_at: int("due_at"),
        deadline: int("deadline"),
        succession: text("succession"),
        legal_basis: text("legal_basis"),
        draft: None,
        step: None,
        file: None,
        result_hash: None,
        resolves: None,
        result_doc: None,
        delivery: None,
        waybill: None,
        rating: None,
    };
    let step_keys = ["step", "step_name", "step_time_limit", "step_time_unit", "step_deadline"];
    if step_keys.iter().any(|k| get(k).is_some()) {
        let number = int("step").and_then(|n| u32::try_from(n).ok()).filter(|n| (1..=STEP_NUMBER_MAX).contains(n));
        let limit = int("step_time_limit").and_then(|n| u32::try_from(n).ok());
        let unit = text("step_time_unit").as_deref().and_then(TimeUnit::parse);
        match (number, text("step_name"), limit, unit, int("step_deadline")) {
            (Some(number), Some(name), Some(time_limit), Some(time_unit), Some(deadline)) => {
                event.step = Some(StepRecord { number, name, time_limit, time_unit, deadline });
            }
            _ => {
                defect.get_or_insert_with(|| format!("event {index} has an incomplete or malformed step"));
            }
        }
        if !matches!(action, Some(Action::StartProcessing | Action::Transfer)) {
            defect.get_or_insert_with(|| format!("event {index} records a step, and only a hand-off starts one"));
        }
    }
    let file_keys = ["file_hash", "file_size", "file_type", "file_name", "file_kind", "file_line"];
    if file_keys.iter().any(|k| get(k).is_some()) {
        event.file = read_file(&text, &int);
        if event.file.is_none() {
            defect.get_or_insert_with(|| format!("event {index} has an incomplete or malformed file"));
        }
    }
    match (action, &event.file) {
        (Some(Action::Attach), None) => {
            defect.get_or_insert_with(|| format!("event {index} attaches no file"));
        }
        (Some(a), Some(_)) if a != Action::Attach => {
            defect.get_or_insert_with(|| format!("event {index} records a file, and only an attach event keeps one"));
        }
        _ => {}
    }
    if let Some(h) = text("result_hash").or_else(|| get("result_hash").map(|_| String::new())) {
        let mut hash = [0u8; 32];
        match hex::decode_to_slice(&h, &mut hash) {
            Ok(()) => event.result_hash = Some(hash),
            Err(_) => {
                defect.get_or_insert_with(|| format!("event {index} has a malformed result hash"));
            }
        }
        if action != Some(Action::Processed) {
            defect.get_or_insert_with(|| {
                format!("event {index} names a result file, and only a result (processed) does")
            });
        }
    }
    event.resolves = owned_field(
        get("resolves"),
        EventRef::parse,
        (action, Action::ResolveConflict),
        [
            "names the event it resolves in a malformed way",
            "names an event it resolves, and only a conflict's resolution does",
            "resolves a conflict but names no event",
        ],
        index,
        &mut defect,
    );
    event.draft = owned_field(
        get("draft"),
        EventRef::parse,
        (action, Action::ApproveSupplement),
        [
            "names the draft it approves in a malformed way",
            "names a draft, and only an approval does",
            "approves a draft but names none",
        ],
        index,
        &mut defect,
    );
    match crate::returning::ResultDocument::read(&text) {
        Ok(doc) => event.result_doc = doc,
        Err(why) => {
            defect.get_or_insert_with(|| format!("event {index} has {why}"));
        }
    }
    if event.result_doc.is_some() && action != Some(Action::Processed) {
        defect.get_or_insert_with(|| format!("event {index} records a result document, and only a result does"));
    }
    if let Some(d) = get("delivery") {
        event.delivery = d.as_str().and_then(crate::returning::Delivery::parse);
        if event.delivery.is_none() {
            defect.get_or_insert_with(|| format!("event {index} has a malformed delivery"));
        }
    }
    if let Some(w) = get("waybill") {
        event.waybill = w.as_str().filter(|w| crate::returning::is_waybill(w)).map(str::to_string);
        if event.waybill.is_none() {
            defect.get_or_insert_with(|| format!("event {index} has a malformed waybill number"));
        }
        if event.delivery != Some(crate::returning::Delivery::Post) {
            defect.get_or_insert_with(|| format!("event {index} names a waybill without a return by post"));
        }
    }
    if (event.delivery.is_some() || event.waybill.is_some()) && action != Some(Action::ReturnResult) {
        defect.get_or_insert_with(|| format!("event {index} records a delivery, and only a return does"));
    }
    event.rating = owned_field(
        get("rating"),
        crate::returning::Rating::parse,
        (action, Action::RateSatisfaction),
        [
            "has a malformed rating",
            "records a rating, and only a rating event does",
            "rates the service but records no rating",
        ],
        index,
        &mut defect,
    );
    let step_deadline = event.step.as_ref().map(|s| s.deadline);
    if [Some(event.at), event.due_at, event.deadline, step_deadline].into_iter().flatten().any(|t| !in_range(t)) {
        defect.get_or_insert_with(|| format!("event {index} names a time outside the years 1900 to 2999"));
    }
    if defect.is_none() && event.node != crate::actor::node_key_hex(&author) {
        defect = Some(format!("event {index} names node {} but was written by actor {author}", event.node));
    }
    Ok(RecordedEvent { event, author, counter, defect })
}
