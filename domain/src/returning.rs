//! The end of a dossier at the desk: the result as a document (what the
//! processing unit issued), how the citizen collects it (at the desk or by
//! post) and the citizen's rating of the service (đánh giá mức độ hài
//! lòng).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Longest text of a result document's field.
pub const RESULT_FIELD_LEN_MAX: usize = 300;

/// A result is a document, not a line of text (DOMAIN.md "Results"): its
/// type (loại văn bản: giấy phép, giấy chứng nhận, quyết định, bản sao…),
/// number and symbol (số ký hiệu, e.g. "125/GPXD"), signer (người ký),
/// issuing body (cơ quan ban hành) and date signed (ngày ký). The fields
/// are those of the Thanh Hóa center's system (`HoSo`:
/// `LoaiVanBanKetQua`, `SoKyHieuKetQua`, `NguoiKyKetQua`,
/// `CoQuanBanHanhKetQua`, `NgayKyKetQua`); its electronic file is an
/// attachment of kind `result` whose hash the same event names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultDocument {
    pub doc_type: String,
    pub number: String,
    pub signer: String,
    pub issuer: String,
    pub signed_on: NaiveDate,
}

/// The event keys a result document is stored under.
pub const RESULT_KEYS: [&str; 5] =
    ["result_type", "result_number", "result_signer", "result_issuer", "result_signed_on"];

impl ResultDocument {
    /// The document's fields, each checked: present, trimmed, at most
    /// [`RESULT_FIELD_LEN_MAX`] characters, one line. Errors name the
    /// field.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        for (field, value) in
            [("type", &self.doc_type), ("number", &self.number), ("signer", &self.signer), ("issuer", &self.issuer)]
        {
            let v = value.trim();
            if v.is_empty() {
                return Err((field, format!("the result's {field} is empty")));
            }
            if v.chars().count() > RESULT_FIELD_LEN_MAX || v.contains(['\n', '\r']) {
                return Err((
                    field,
                    format!("the result's {field} is one line of at most {RESULT_FIELD_LEN_MAX} characters"),
                ));
            }
        }
        if !(1900..3000).contains(&chrono::Datelike::year(&self.signed_on)) {
            return Err(("signed_on", "the date signed lies outside the years 1900 to 2999".into()));
        }
        Ok(())
    }

    /// Reads the document back from an event's fields: all of them or none.
    pub fn read(text: &dyn Fn(&str) -> Option<String>) -> Result<Option<ResultDocument>, String> {
        let values: Vec<Option<String>> = RESULT_KEYS.iter().map(|k| text(k)).collect();
        if values.iter().all(Option::is_none) {
            return Ok(None);
        }
        let [Some(t), Some(n), Some(s), Some(i), Some(d)] = <[Option<String>; 5]>::try_from(values).expect("five keys")
        else {
            return Err("an incomplete result document".into());
        };
        let signed_on = NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|_| "a malformed date signed".to_string())?;
        let doc = ResultDocument { doc_type: t, number: n, signer: s, issuer: i, signed_on };
        doc.check().map_err(|(_, m)| m)?;
        Ok(Some(doc))
    }

    /// The event fields, in [`RESULT_KEYS`] order.
    pub fn fields(&self) -> [(&'static str, String); 5] {
        [
            (RESULT_KEYS[0], self.doc_type.clone()),
            (RESULT_KEYS[1], self.number.clone()),
            (RESULT_KEYS[2], self.signer.clone()),
            (RESULT_KEYS[3], self.issuer.clone()),
            (RESULT_KEYS[4], self.signed_on.format("%Y-%m-%d").to_string()),
        ]
    }
}

/// How the citizen gets the result (hình thức nhận kết quả): at the desk
/// or by the public postal service (dịch vụ bưu chính công ích, Quyết
/// định 45/2016/QĐ-TTg); form 01 prints the choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    #[default]
    Desk,
    Post,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Desk => "desk",
            Delivery::Post => "post",
        }
    }

    pub fn parse(s: &str) -> Option<Delivery> {
        match s {
            "desk" => Some(Delivery::Desk),
            "post" => Some(Delivery::Post),
            _ => None,
        }
    }
}

/// Longest postal waybill number (mã vận đơn) kept with a return by post.
pub const WAYBILL_LEN_MAX: usize = 40;

/// Whether `s` is a waybill number: 4 to [`WAYBILL_LEN_MAX`] ASCII
/// letters, digits or dashes (VNPost's are 13 characters, e.g.
/// "EB123456789VN").
pub fn is_waybill(s: &str) -> bool {
    (4..=WAYBILL_LEN_MAX).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The citizen's rating of a dossier at return (Quyết định 766/QĐ-TTg,
/// satisfaction; the three levels of the Thanh Hóa system's
/// `DanhGiaHaiLong`: RẤT HÀI LÒNG, HÀI LÒNG, KHÔNG HÀI LÒNG). A
/// "not satisfied" rating gives its reasons; one rating per dossier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    VerySatisfied,
    Satisfied,
    NotSatisfied,
}

impl Rating {
    pub const ALL: [Rating; 3] = [Rating::VerySatisfied, Rating::Satisfied, Rating::NotSatisfied];

    pub fn as_str(self) -> &'static str {
        match self {
            Rating::VerySatisfied => "very_satisfied",
            Rating::Satisfied => "satisfied",
            Rating::NotSatisfied => "not_satisfied",
        }
    }

    pub fn parse(s: &str) -> Option<Rating> {
        Rating::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn name_vi(self) -> &'static str {
        match self {
            Rating::VerySatisfied => "Rất hài lòng",
            Rating::Satisfied => "Hài lòng",
            Rating::NotSatisfied => "Không hài lòng",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> ResultDocument {
        ResultDocument {
            doc_type: "Giấy phép xây dựng".into(),
            number: "125/GPXD".into(),
            signer: "Người Ký Thử".into(),
            issuer: "Sở Xây dựng".into(),
            signed_on: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
        }
    }

    #[test]
    fn a_result_document_reads_back_whole_or_not_at_all() {
        let d = doc();
        let fields = d.fields();
        let text = |k: &str| fields.iter().find(|(key, _)| *key == k).map(|(_, v)| v.clone());
        assert_eq!(ResultDocument::read(&text), Ok(Some(d.clone())));
        assert_eq!(ResultDocument::read(&|_| None), Ok(None));
        let partial = |k: &str| if k == "result_number" { None } else { text(k) };
        assert!(ResultDocument::read(&partial).is_err());
        let bad_date = |k: &str| if k == "result_signed_on" { Some("01/12/2026".into()) } else { text(k) };
        assert!(ResultDocument::read(&bad_date).is_err());
        let empty = ResultDocument { signer: "  ".into(), ..d };
        assert_eq!(empty.check().unwrap_err().0, "signer");
    }

    #[test]
    fn waybills_ratings_and_deliveries_parse() {
        assert!(is_waybill("EB123456789VN"));
        assert!(!is_waybill("EB 123"));
        assert!(!is_waybill("abc"));
        assert_eq!(Rating::parse("not_satisfied"), Some(Rating::NotSatisfied));
        assert_eq!(Rating::parse("ok"), None);
        assert_eq!(Delivery::parse("post"), Some(Delivery::Post));
        assert_eq!(Delivery::parse("mail"), None);
    }
}
