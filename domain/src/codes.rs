//! Dossier codes (mã hồ sơ), applicant identity numbers and the text
//! folding used by search.

use chrono::{Datelike, NaiveDate};

/// `<agency identifier>-<YYMMDD>-<NNNN>`: receipt date (local) and the
/// receiving unit's daily sequence.
pub fn format_dossier_code(agency_id: &str, date: NaiveDate, sequence: u32) -> String {
    format!("{agency_id}-{:02}{:02}{:02}-{sequence:04}", date.year().rem_euclid(100), date.month(), date.day())
}

/// Checks the shape of a dossier code without looking it up.
pub fn is_dossier_code(code: &str) -> bool {
    let mut parts = code.rsplitn(3, '-');
    let (Some(seq), Some(date), Some(agency)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    (4..=6).contains(&seq.len())
        && seq.bytes().all(|b| b.is_ascii_digit())
        && date.len() == 6
        && date.bytes().all(|b| b.is_ascii_digit())
        && is_agency_id(agency)
}

/// Agency identifier (mã định danh) such as `000.00.00.H56`: dot-separated
/// ASCII alphanumeric groups.
pub fn is_agency_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.split('.').all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Unit codes: 5-digit commune codes, 2-digit province codes, or agency
/// identifiers.
pub fn is_unit_code(s: &str) -> bool {
    is_agency_id(s)
}

/// A citizen's identity number: 12-digit citizen identity card (căn cước)
/// or the older 9-digit identity card (CMND).
pub fn check_id_number(s: &str) -> Result<(), String> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("an identity number has digits only".into());
    }
    match s.len() {
        12 | 9 => Ok(()),
        n => Err(format!("an identity number has 12 digits (or 9 for an old card), not {n}")),
    }
}

/// A passport number (hộ chiếu), the identity of a foreigner who applies:
/// 6 to 12 ASCII letters or digits, stored upper case. *(choice)* ICAO Doc
/// 9303 prints up to 9 characters in the machine-readable zone and lets a
/// state write a longer number; Vietnamese passports are one letter and 7
/// digits. The bounds reject typing slips, not any state's format.
pub fn normalize_passport(s: &str) -> Result<String, String> {
    let p = s.trim().to_ascii_uppercase();
    if !p.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("a passport number has letters and digits only".into());
    }
    if !(6..=12).contains(&p.len()) {
        return Err(format!("a passport number has 6 to 12 letters or digits, not {}", p.len()));
    }
    Ok(p)
}

/// An organization's enterprise code (mã số doanh nghiệp), which is its tax
/// code (mã số thuế; Luật Doanh nghiệp 2020, Điều 29): 10 digits, or 13 for
/// a branch or dependent unit (Thông tư 105/2020/TT-BTC, Điều 5), which is
/// commonly written `NNNNNNNNNN-NNN`. Stored as digits only.
pub fn normalize_tax_code(s: &str) -> Result<String, String> {
    let t = s.trim();
    let digits: String = match t.split_once('-') {
        Some((head, tail)) if head.len() == 10 && tail.len() == 3 => format!("{head}{tail}"),
        _ => t.to_string(),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("an enterprise or tax code has digits only (13 digits may be written NNNNNNNNNN-NNN)".into());
    }
    match digits.len() {
        10 | 13 => Ok(digits),
        n => Err(format!("an enterprise or tax code has 10 or 13 digits, not {n}")),
    }
}

/// Lower-case ASCII with Vietnamese diacritics removed (`Đặng` → `dang`),
/// punctuation turned into spaces: what the search index stores and what a
/// query is folded to, so that accents are optional.
pub fn fold_text(s: &str) -> String {
    let ascii = deunicode::deunicode(s).to_lowercase();
    let mut out = String::with_capacity(ascii.len());
    let mut space = true;
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    out.trim_end().to_string()
}

/// Keyed digest of an identity number for the applicant index, so the index
/// can be scanned without holding the number itself. `key` is a secret of
/// the node (derived from its signing key): without it, a copy of the
/// index cannot be tested against candidate numbers (there are only 10^12
/// of them, so an unkeyed digest would hide none).
pub fn id_number_digest(key: &[u8; 32], id_number: &str) -> [u8; 32] {
    *blake3::keyed_hash(key, id_number.as_bytes()).as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dossier_codes() {
        let d = NaiveDate::from_ymd_opt(2025, 11, 22).unwrap();
        assert_eq!(format_dossier_code("000.21.45.H56", d, 1), "000.21.45.H56-251122-0001");
        assert_eq!(format_dossier_code("000.21.45.H56", d, 12345), "000.21.45.H56-251122-12345");
        assert!(is_dossier_code("000.21.45.H56-251122-0001"));
        assert!(!is_dossier_code("000.21.45.H56-2511-0001"));
        assert!(!is_dossier_code("-251122-0001"));
        assert!(!is_dossier_code("000.21.45.H56-251122-01"));
        assert!(!is_dossier_code("x y-251122-0001"));
    }

    #[test]
    fn id_numbers() {
        assert!(check_id_number("000000000042").is_ok());
        assert!(check_id_number("000000042").is_ok());
        assert!(check_id_number("00000000004").is_err());
        assert!(check_id_number("00000000004a").is_err());
        assert!(check_id_number("").is_err());
    }

    #[test]
    fn passports_and_tax_codes() {
        let cases: [(&str, Result<&str, ()>); 6] = [
            ("c1234567", Ok("C1234567")),
            (" X0000001 ", Ok("X0000001")),
            ("AB12", Err(())),
            ("AB1234567890123", Err(())),
            ("C 123 4567", Err(())),
            ("", Err(())),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_passport(input).map_err(|_| ()), want.map(str::to_string), "{input:?}");
        }
        let cases: [(&str, Result<&str, ()>); 7] = [
            ("9000000001", Ok("9000000001")),
            ("9000000001001", Ok("9000000001001")),
            ("9000000001-001", Ok("9000000001001")),
            ("90000000011", Err(())),
            ("900000000", Err(())),
            ("900000000-1001", Err(())),
            ("90000000a1", Err(())),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_tax_code(input).map_err(|_| ()), want.map(str::to_string), "{input:?}");
        }
    }

    #[test]
    fn an_id_number_digest_depends_on_the_key() {
        let n = "001099012345";
        assert_eq!(id_number_digest(&[1; 32], n), id_number_digest(&[1; 32], n));
        assert_ne!(id_number_digest(&[1; 32], n), id_number_digest(&[2; 32], n));
        assert_ne!(id_number_digest(&[1; 32], n), id_number_digest(&[1; 32], "001099012346"));
    }

    #[test]
    fn folding_makes_accents_optional() {
        assert_eq!(fold_text("Đặng Thị Mẫu"), "dang thi mau");
        assert_eq!(fold_text("  NGUYỄN  văn—Ấn "), "nguyen van an");
        assert_eq!(fold_text("Phường Bến Thành"), "phuong ben thanh");
    }
}
