//! Attaching a file to a dossier (đính kèm thành phần hồ sơ số hóa, kết
//! quả điện tử): the checks made before a byte is taken, and the signed
//! `attach` event recorded once the bytes are stored.
//!
//! The bytes themselves live in the node's content-addressed store, which
//! the desk does not see: the caller checks the whole request with
//! [`Desk::check_attach`] before it reads the body, stores the bytes, and
//! only then records the event with [`Desk::attach`], which checks again
//! inside the writer's transaction. A file is thus never recorded before
//! its bytes are durably held, and a refused request stores nothing.

use std::sync::Arc;

use automerge::Automerge;
use motcua_domain::attachment::{self, Attachment, DOSSIER_BYTES_MAX, File, Kind, MediaType, PER_DOSSIER_MAX};
use motcua_domain::dossier::{self, DossierRecord, Event};
use motcua_domain::fold::{Folded, fold};
use motcua_domain::workflow::{Action, Actor, transition};

use motcua_store::Write;

use crate::desk::*;

/// What an officer says of a file before sending its bytes.
#[derive(Debug, Clone)]
pub struct AttachRequest {
    pub name: String,
    pub kind: Kind,
    /// For a scanned component: the number (from 1) of the checklist line
    /// it digitizes.
    pub line: Option<u32>,
}

/// What the request may still bring: the bytes left under the dossier's
/// limit ([`DOSSIER_BYTES_MAX`]).
#[derive(Debug, Clone, Copy)]
pub struct AttachRoom {
    pub bytes_left: u64,
}

/// Bytes the node's file store now holds durably.
#[derive(Debug, Clone, Copy)]
pub struct HeldFile {
    /// BLAKE3 of the bytes.
    pub hash: [u8; 32],
    pub size: u64,
    /// As judged by the bytes ([`attachment::check_media`]).
    pub media_type: MediaType,
}

/// The outcome of [`Desk::attach`].
#[derive(Debug, Clone)]
pub struct Attached {
    pub attachment: Attachment,
    /// False when the dossier already kept this very file (same bytes and
    /// kind): nothing new was recorded.
    pub new: bool,
}

impl Desk {
    /// Everything [`Desk::attach`] will check that does not depend on the
    /// bytes: the dossier, the officer's right to attach in its state, the
    /// name, the checklist line, and the dossier's file count and total.
    pub fn check_attach(
        &self,
        officer: &Officer,
        code: &str,
        req: &AttachRequest,
        now: i64,
    ) -> Result<AttachRoom, DeskError> {
        let (record, folded) = self.read_dossier(code)?;
        self.attach_allowed(officer, &record, &folded, req, now)
    }

    /// Records, in a signed change, that the dossier keeps a file whose
    /// bytes this node now holds.
    pub fn attach(
        self: &Arc<Self>,
        officer: &Officer,
        code: &str,
        req: AttachRequest,
        held: HeldFile,
        now: i64,
    ) -> Result<Attached, DeskError> {
        let desk = self.clone();
        let by = officer.clone();
        let c = code.to_string();
        let done = self.committer().run(move |w| desk.attach_in(w, &by, &c, req, held, now))?;
        if done.new {
            tracing::info!(code, kind = done.attachment.file.kind.as_str(), size = held.size, "file attached");
        }
        Ok(done)
    }

    fn attach_in(
        &self,
        w: &mut Write,
        officer: &Officer,
        code: &str,
        req: AttachRequest,
        held: HeldFile,
        now: i64,
    ) -> Result<Attached, DeskError> {
        let HeldFile { hash, size, media_type } = held;
        let id = w.id_by_code(code)?.ok_or_else(|| DeskError::NotFound(format!("no dossier {code}")))?;
        let bytes = w.load_doc(&id)?.ok_or_else(|| DeskError::NotFound(format!("no dossier {code}")))?;
        let mut doc = Automerge::load(&bytes).map_err(dossier::DocError::from)?.with_actor(self.identity().actor());
        let record = dossier::read(&doc)?;
        let folded = fold(&record, self.offset());
        if let Some(a) = folded.attachments.iter().find(|a| a.file.hash == hash && a.file.kind == req.kind) {
            return Ok(Attached { attachment: a.clone(), new: false });
        }
        let room = self.attach_allowed(officer, &record, &folded, &req, now)?;
        if size == 0 || size > attachment::FILE_BYTES_MAX {
            return Err(invalid("size", format!("a file holds 1 to {} bytes", attachment::FILE_BYTES_MAX)));
        }
        if size > room.bytes_left {
            return Err(too_much(room.bytes_left));
        }
        let file = File { hash, size, media_type, name: req.name.clone(), kind: req.kind, document_line: req.line };
        let event = Event {
            action: Some(Action::Attach),
            at: now,
            unit: self.config().unit.clone(),
            node: self.identity().node_id().to_string(),
            officer: officer.username.clone(),
            file: Some(file.clone()),
            ..Event::default()
        };
        let change = dossier::append_event(&mut doc, &event)?;
        let (record, _) = self.store_doc(w, &doc, &change.0)?;
        audit(w, now, &officer.username, Action::Attach.as_str(), &record.code)?;
        let attachment = Attachment { file, by: officer.username.clone(), unit: event.unit, at: now };
        Ok(Attached { attachment, new: true })
    }

    fn attach_allowed(
        &self,
        officer: &Officer,
        record: &DossierRecord,
        folded: &Folded,
        req: &AttachRequest,
        now: i64,
    ) -> Result<AttachRoom, DeskError> {
        let actor = Actor {
            unit: &self.config().unit,
            roles: Some(&officer.roles),
            at_ms: now,
            utc_offset_minutes: self.offset(),
        };
        transition(Action::Attach, &folded.situation(record), &actor)?;
        attachment::check_name(&req.name).map_err(|m| invalid("name", m))?;
        match (req.kind, req.line) {
            (Kind::Result, Some(_)) => return Err(invalid("line", "a result file belongs to no checklist line")),
            (Kind::Component, Some(l)) if l == 0 || l as usize > record.documents.len() => {
                return Err(invalid(
                    "line",
                    format!("line {l} is not a line of this dossier's checklist (1 to {})", record.documents.len()),
                ));
            }
            _ => {}
        }
        if folded.attachments.len() >= PER_DOSSIER_MAX {
            return Err(DeskError::Conflict(format!("a dossier keeps at most {PER_DOSSIER_MAX} files")));
        }
        let used: u64 = folded.attachments.iter().map(|a| a.file.size).sum();
        let bytes_left = DOSSIER_BYTES_MAX.saturating_sub(used);
        if bytes_left == 0 {
            return Err(too_much(0));
        }
        Ok(AttachRoom { bytes_left })
    }

    /// The files a dossier keeps, by its id.
    pub fn attachments_of(&self, id: &[u8; 16]) -> Result<Vec<Attachment>, DeskError> {
        let bytes = self.store().load_doc(id)?.ok_or_else(|| DeskError::NotFound("no such dossier".into()))?;
        let doc = Automerge::load(&bytes).map_err(dossier::DocError::from)?;
        Ok(fold(&dossier::read(&doc)?, self.offset()).attachments)
    }

    fn read_dossier(&self, code: &str) -> Result<(DossierRecord, Folded), DeskError> {
        let id = self.store().id_by_code(code)?.ok_or_else(|| DeskError::NotFound(format!("no dossier {code}")))?;
        let bytes = self.store().load_doc(&id)?.ok_or_else(|| DeskError::NotFound(format!("no dossier {code}")))?;
        let doc = Automerge::load(&bytes).map_err(dossier::DocError::from)?;
        let record = dossier::read(&doc)?;
        let folded = fold(&record, self.offset());
        Ok((record, folded))
    }

    /// The files a dossier keeps, in the order they were attached; the
    /// same access as reading the dossier.
    pub fn attachments(&self, code: &str) -> Result<Vec<Attachment>, DeskError> {
        Ok(self.read_dossier(code)?.1.attachments)
    }
}

fn too_much(left: u64) -> DeskError {
    DeskError::TooLarge(format!(
        "a dossier keeps at most {DOSSIER_BYTES_MAX} bytes of files; {left} bytes are left for this one"
    ))
}
