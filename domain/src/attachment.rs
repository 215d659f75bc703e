//! Attachments of a dossier (số hóa hồ sơ): the scanned components of the
//! checklist (thành phần hồ sơ) and the electronic result (kết quả điện
//! tử), as rules a node checks before it keeps a file.
//!
//! Every component and every result is scanned or received electronically
//! and kept with its dossier (Nghị định 45/2020/NĐ-CP, Nghị định
//! 107/2021/NĐ-CP, Thông tư 01/2023/TT-VPCP); the national service index
//! counts the share of dossiers whose components are digitized at receipt
//! and of results digitized (Quyết định 766/QĐ-TTg, 22 of its 100 points).
//! The bytes live outside the dossier's document, addressed by their
//! BLAKE3 hash; the document records what this module describes
//! ([`Attachment`]).
//!
//! A file's type is judged by its bytes, not only by what the uploader
//! says: a file declared a PDF must start like one ([`check_media`]).

use serde::{Deserialize, Serialize};

/// Bound on one file, in bytes. A land dossier's scan runs to dozens of
/// pages at 0.2–0.5 MB a page (DOMAIN.md "Digitization"): 64 MiB holds
/// over a hundred such pages in one file.
pub const FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Bound on all the files of one dossier, in bytes.
pub const DOSSIER_BYTES_MAX: u64 = 512 * 1024 * 1024;
/// Bound on the files of one dossier.
pub const PER_DOSSIER_MAX: usize = 200;
/// Bound on a file's name, in characters.
pub const NAME_CHARS_MAX: usize = 200;
/// How many leading bytes [`sniff`] needs.
pub const SNIFF_BYTES: usize = 8;

/// What an attachment is to its dossier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A scanned component of the checklist (thành phần hồ sơ).
    Component,
    /// The electronic result of the dossier (kết quả điện tử).
    Result,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "component" => Some(Kind::Component),
            "result" => Some(Kind::Result),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Component => "component",
            Kind::Result => "result",
        }
    }
}

/// The file types a node takes: what scanners and signing software of the
/// one-stop desks produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MediaType {
    #[serde(rename = "application/pdf")]
    Pdf,
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/png")]
    Png,
}

impl MediaType {
    pub const ALL: [MediaType; 3] = [MediaType::Pdf, MediaType::Jpeg, MediaType::Png];

    /// The type named exactly as [`MediaType::as_str`] writes it.
    pub fn parse(s: &str) -> Option<MediaType> {
        MediaType::ALL.into_iter().find(|m| m.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Pdf => "application/pdf",
            MediaType::Jpeg => "image/jpeg",
            MediaType::Png => "image/png",
        }
    }

    /// The type a `Content-Type` header names (its parameters, such as a
    /// charset, and case ignored); `None` for one not taken.
    pub fn from_content_type(header: &str) -> Option<MediaType> {
        let essence = header.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/pdf" => Some(MediaType::Pdf),
            "image/jpeg" | "image/jpg" => Some(MediaType::Jpeg),
            "image/png" => Some(MediaType::Png),
            _ => None,
        }
    }

    /// Whether a file starting with `prefix` is of this type: the
    /// signatures of the formats' own specifications (PDF: ISO 32000-1
    /// §7.5.2 "%PDF-"; JPEG: ITU-T T.81 SOI marker FF D8 followed by a
    /// marker; PNG: ISO/IEC 15948 §5.2, the 8-byte signature).
    pub fn matches(self, prefix: &[u8]) -> bool {
        match self {
            MediaType::Pdf => prefix.starts_with(b"%PDF-"),
            MediaType::Jpeg => prefix.starts_with(&[0xFF, 0xD8, 0xFF]),
            MediaType::Png => prefix.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]),
        }
    }
}

/// The type of a file by its first bytes ([`SNIFF_BYTES`] are enough).
pub fn sniff(prefix: &[u8]) -> Option<MediaType> {
    MediaType::ALL.into_iter().find(|m| m.matches(prefix))
}

/// Why a file's type was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("files of type {0:?} are not taken (PDF, JPEG or PNG)")]
    NotTaken(String),
    #[error("the file is not a {declared}: its bytes {found}")]
    NotThatType { declared: &'static str, found: String },
}

/// The type of a file declared `content_type` whose first bytes are
/// `prefix`: the declared type, if it is taken and the bytes are of it.
pub fn check_media(content_type: &str, prefix: &[u8]) -> Result<MediaType, MediaError> {
    let declared =
        MediaType::from_content_type(content_type).ok_or_else(|| MediaError::NotTaken(content_type.to_string()))?;
    if declared.matches(prefix) {
        return Ok(declared);
    }
    let found = match sniff(prefix) {
        Some(other) => format!("are a {}", other.as_str()),
        None => "match no type taken".to_string(),
    };
    Err(MediaError::NotThatType { declared: declared.as_str(), found })
}

/// A file's name as a person gave it, trimmed: not empty, at most
/// [`NAME_CHARS_MAX`] characters, and no path or control characters (the
/// name is shown and offered for download, never used as a path).
pub fn check_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("a file needs a name".into());
    }
    if name.chars().count() > NAME_CHARS_MAX {
        return Err(format!("a file's name is at most {NAME_CHARS_MAX} characters"));
    }
    if name.chars().any(|c| c.is_control() || c == '/' || c == '\\') {
        return Err("a file's name holds no '/', '\\' or control characters".into());
    }
    Ok(name.to_string())
}

/// A file as an `attach` event of its dossier's document records it, in a
/// change signed by the node that took the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    /// BLAKE3 of the bytes.
    #[serde(with = "hex_hash")]
    pub hash: [u8; 32],
    pub size: u64,
    pub media_type: MediaType,
    pub name: String,
    pub kind: Kind,
    /// The checklist line (1-based) a scanned component belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_line: Option<u32>,
}

/// An attachment of a dossier, as the fold derives it from an `attach`
/// event: the file, the officer who attached it, their unit, and when
/// (UTC milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    #[serde(flatten)]
    pub file: File,
    pub by: String,
    pub unit: String,
    pub at: i64,
}

/// Whether checklist line `line` (1-based) is digitized: a scanned
/// component attached for it. Form 01 (giấy tiếp nhận hồ sơ và hẹn trả
/// kết quả) shows this per line, so the citizen sees which of the papers
/// handed in the desk kept as scans (Thông tư 01/2023/TT-VPCP: the desk
/// digitizes the components it receives).
pub fn line_digitized(attachments: &[Attachment], line: u32) -> bool {
    attachments.iter().any(|a| a.file.kind == Kind::Component && a.file.document_line == Some(line))
}

mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDF: &[u8] = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3";
    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F'];
    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

    #[test]
    fn each_type_is_known_by_its_signature() {
        assert_eq!(sniff(PDF), Some(MediaType::Pdf));
        assert_eq!(sniff(JPEG), Some(MediaType::Jpeg));
        assert_eq!(sniff(PNG), Some(MediaType::Png));
        assert_eq!(sniff(b"PK\x03\x04zip!"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"%PD"), None, "a cut signature is not the type");
    }

    #[test]
    fn a_declared_type_is_taken_only_with_bytes_of_that_type() {
        assert_eq!(check_media("application/pdf", PDF), Ok(MediaType::Pdf));
        assert_eq!(check_media("Image/JPEG; charset=binary", JPEG), Ok(MediaType::Jpeg));
        assert_eq!(
            check_media("application/pdf", PNG),
            Err(MediaError::NotThatType { declared: "application/pdf", found: "are a image/png".into() })
        );
        assert_eq!(
            check_media("application/pdf", b"<html>hi"),
            Err(MediaError::NotThatType { declared: "application/pdf", found: "match no type taken".into() })
        );
        assert_eq!(check_media("text/html", b"<html>hi"), Err(MediaError::NotTaken("text/html".into())));
        assert_eq!(check_media("", PDF), Err(MediaError::NotTaken(String::new())));
    }

    #[test]
    fn a_name_is_shown_never_used_as_a_path() {
        assert_eq!(check_name("  Giấy chứng nhận.pdf "), Ok("Giấy chứng nhận.pdf".into()));
        assert!(check_name("   ").is_err());
        assert!(check_name("../../etc/passwd").is_err());
        assert!(check_name("a\\b.pdf").is_err());
        assert!(check_name("a\u{0}b.pdf").is_err());
        assert!(check_name(&"ả".repeat(NAME_CHARS_MAX)).is_ok());
        assert!(check_name(&"ả".repeat(NAME_CHARS_MAX + 1)).is_err());
    }

    #[test]
    fn kinds_and_records_read_back_as_written() {
        for k in [Kind::Component, Kind::Result] {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Kind::parse("scan"), None);
        let a = Attachment {
            file: File {
                hash: [0xAB; 32],
                size: 5 * 1024 * 1024,
                media_type: MediaType::Pdf,
                name: "Sổ đỏ.pdf".into(),
                kind: Kind::Component,
                document_line: Some(2),
            },
            by: "tiepnhan".into(),
            unit: "26734".into(),
            at: 1_764_000_000_000,
        };
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["hash"], "ab".repeat(32));
        assert_eq!(json["media_type"], "application/pdf");
        assert_eq!(json["kind"], "component");
        assert_eq!(serde_json::from_value::<Attachment>(json).unwrap(), a);
        for m in MediaType::ALL {
            assert_eq!(MediaType::parse(m.as_str()), Some(m));
        }
        assert_eq!(MediaType::parse("image/jpg"), None, "the stored name is exact");
        let bad = serde_json::json!({"hash": "zz", "size": 1, "media_type": "image/png", "name": "a", "kind": "result", "by": "x", "unit": "u", "at": 0});
        assert!(serde_json::from_value::<Attachment>(bad).is_err());
    }

    #[test]
    fn a_line_is_digitized_by_a_scanned_component_for_it() {
        let kept = |kind, line| Attachment {
            file: File {
                hash: [1; 32],
                size: 1,
                media_type: MediaType::Png,
                name: "a.png".into(),
                kind,
                document_line: line,
            },
            by: "tiepnhan".into(),
            unit: "26734".into(),
            at: 0,
        };
        assert!(!line_digitized(&[], 1));
        let files = [kept(Kind::Component, Some(2)), kept(Kind::Component, None), kept(Kind::Result, Some(1))];
        assert!(line_digitized(&files, 2));
        assert!(!line_digitized(&files, 1), "a result file is not a scan of line 1");
        assert!(!line_digitized(&files, 3));
    }
}
