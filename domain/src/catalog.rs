//! The procedure catalog (danh mục thủ tục hành chính): what a center may
//! receive, with cases, processing times, fees and required documents;
//! the built-in sample, and import of a province's catalog from JSON or CSV
//! with every row's errors reported at once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::calendar::TimeUnit;

/// Bound on the procedures of one catalog (a province publishes ~2,200).
pub const PROCEDURES_MAX: usize = 20_000;
/// Bound on the size of a catalog file accepted for import.
pub const IMPORT_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Bound on the number of a workflow step (bước), so on the steps of one
/// case (a real case lists far fewer).
pub const STEP_NUMBER_MAX: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Cấp tỉnh.
    Province,
    /// Cấp xã.
    Commune,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnlineLevel {
    /// Dịch vụ công trực tuyến toàn trình.
    Full,
    /// Một phần.
    Partial,
    /// Not online.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeeCollected {
    AtReceipt,
    AtSupplement,
    AtResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fee {
    pub name: String,
    pub amount_vnd: u64,
    pub collected: FeeCollected,
}

/// A document the citizen must bring (thành phần hồ sơ).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredDocument {
    pub name: String,
    #[serde(default = "yes")]
    pub required: bool,
    /// Số bản chính.
    pub originals: u32,
    /// Số bản sao.
    pub copies: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

fn yes() -> bool {
    true
}

/// A step of the internal workflow with its own time limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub name: String,
    pub agency: String,
    pub time_limit: u32,
    pub unit: TimeUnit,
}

/// A case (trường hợp) of a procedure, with its own time and fees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub code: String,
    pub name: String,
    pub processing_time: u32,
    pub unit: TimeUnit,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_processing_time: Option<u32>,
    #[serde(default)]
    pub no_appointment: bool,
    #[serde(default)]
    pub same_day: bool,
    #[serde(default)]
    pub fees: Vec<Fee>,
    #[serde(default)]
    pub documents: Vec<RequiredDocument>,
    #[serde(default)]
    pub steps: Vec<Step>,
}

impl Case {
    pub fn total_fee_vnd(&self) -> u64 {
        self.fees.iter().map(|f| f.amount_vnd).sum()
    }
}

/// One administrative procedure (thủ tục hành chính).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Procedure {
    /// National code (mã TTHC), e.g. `1.001193`.
    pub code: String,
    /// The province's published code, with its agency suffix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provincial_code: Option<String>,
    pub name: String,
    pub level: Level,
    /// Lĩnh vực.
    pub field: String,
    /// Cơ quan thực hiện.
    pub agency: String,
    #[serde(default)]
    pub applicants: String,
    #[serde(default)]
    pub result_document: String,
    #[serde(default)]
    pub legal_basis: String,
    pub online_level: OnlineLevel,
    pub cases: Vec<Case>,
}

impl Procedure {
    /// The case named by `code`, or the only/first case when none is named.
    pub fn case(&self, code: Option<&str>) -> Option<&Case> {
        match code {
            Some(c) => self.cases.iter().find(|k| k.code == c),
            None => self.cases.first(),
        }
    }
}

/// A versioned catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    pub version: String,
    pub procedures: Vec<Procedure>,
}

impl Catalog {
    pub fn sample() -> Catalog {
        serde_json::from_str(include_str!("../data/sample-catalog.json")).expect("sample catalog is valid")
    }

    pub fn get(&self, code: &str) -> Option<&Procedure> {
        self.procedures.iter().find(|p| p.code == code || p.provincial_code.as_deref() == Some(code))
    }
}

/// One problem found in an imported catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// 1-based row (CSV, counting the header as row 1) or procedure index
    /// (JSON, 1-based).
    pub row: usize,
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImportError {
    #[error("catalog file is {0} bytes; at most {IMPORT_BYTES_MAX} are accepted")]
    TooLarge(usize),
    #[error("catalog file is not readable: {0}")]
    Unreadable(String),
    #[error("catalog has {} error(s); nothing was imported", .0.len())]
    Rows(Vec<RowError>),
}

fn validate(procedures: &[Procedure], row_of: &dyn Fn(usize) -> usize) -> Vec<RowError> {
    let mut errors = Vec::new();
    let mut seen = BTreeMap::new();
    if procedures.len() > PROCEDURES_MAX {
        errors.push(RowError { row: 0, field: String::new(), message: format!("at most {PROCEDURES_MAX} procedures") });
    }
    for (i, p) in procedures.iter().enumerate() {
        let row = row_of(i);
        let mut err = |field: &str, message: String| errors.push(RowError { row, field: field.into(), message });
        if !is_procedure_code(&p.code) {
            err("code", format!("'{}' is not a national procedure code like 1.001193", p.code));
        }
        if let Some(first) = seen.insert(p.code.clone(), row) {
            err("code", format!("procedure {} is already defined at row {first}", p.code));
        }
        if p.name.trim().is_empty() {
            err("name", "procedure name is empty".into());
        }
        if p.cases.is_empty() {
            err("cases", "procedure has no case".into());
        }
        let mut case_codes = Vec::new();
        for (k, c) in p.cases.iter().enumerate() {
            if c.code.trim().is_empty() {
                err(&format!("cases[{k}].code"), "case code is empty".into());
            }
            if case_codes.contains(&c.code) {
                err(&format!("cases[{k}].code"), format!("case {} appears twice", c.code));
            }
            case_codes.push(c.code.clone());
            if c.processing_time == 0 && !c.same_day && !c.no_appointment {
                err(
                    &format!("cases[{k}].processing_time"),
                    "processing time is 0 but the case is neither same-day nor without appointment".into(),
                );
            }
            if c.processing_time > 3_650 {
                err(&format!("cases[{k}].processing_time"), "processing time is over ten years".into());
            }
            for (d, doc) in c.documents.iter().enumerate() {
                if doc.name.trim().is_empty() {
                    err(&format!("cases[{k}].documents[{d}].name"), "document name is empty".into());
                }
            }
            // A dossier keeps its case's steps; its reader takes at most
            // this many.
            if c.steps.len() > STEP_NUMBER_MAX as usize {
                let max = STEP_NUMBER_MAX;
                err(&format!("cases[{k}].steps"), format!("a case has at most {max} workflow steps"));
            }
            for (n, step) in c.steps.iter().enumerate() {
                if step.name.trim().is_empty() {
                    err(&format!("cases[{k}].steps[{n}].name"), "step name is empty".into());
                }
                if step.time_limit > 3_650 {
                    err(&format!("cases[{k}].steps[{n}].time_limit"), "step time limit is over ten years".into());
                }
            }
        }
    }
    errors
}

/// National procedure codes: `1.001193`, `2.000635`, optionally with a
/// provincial suffix `1.012753.H19`.
pub fn is_procedure_code(code: &str) -> bool {
    let mut parts = code.split('.');
    let (Some(a), Some(b)) = (parts.next(), parts.next()) else {
        return false;
    };
    let rest: Vec<_> = parts.collect();
    a.len() == 1
        && a.bytes().all(|c| c.is_ascii_digit())
        && b.len() == 6
        && b.bytes().all(|c| c.is_ascii_digit())
        && rest.len() <= 1
        && rest.iter().all(|s| !s.is_empty() && s.len() <= 8 && s.bytes().all(|c| c.is_ascii_alphanumeric()))
}

/// Imports a catalog from JSON: either `{"version", "procedures": [...]}` or
/// a bare array of procedures.
pub fn import_json(bytes: &[u8], version: &str) -> Result<Catalog, ImportError> {
    if bytes.len() > IMPORT_BYTES_MAX {
        return Err(ImportError::TooLarge(bytes.len()));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| ImportError::Unreadable(e.to_string()))?;
    let (version, items) = match value {
        serde_json::Value::Array(items) => (version.to_string(), items),
        serde_json::Value::Object(mut map) => {
            let v =
                map.get("version").and_then(|v| v.as_str()).map(str::to_string).unwrap_or_else(|| version.to_string());
            match map.remove("procedures") {
                Some(serde_json::Value::Array(items)) => (v, items),
                _ => {
                    return Err(ImportError::Unreadable("expected a 'procedures' array".into()));
                }
            }
        }
        _ => {
            return Err(ImportError::Unreadable("expected an array of procedures or an object".into()));
        }
    };
    let mut errors = Vec::new();
    let mut procedures = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match serde_json::from_value::<Procedure>(item) {
            Ok(p) => procedures.push((i + 1, p)),
            Err(e) => errors.push(RowError { row: i + 1, field: String::new(), message: e.to_string() }),
        }
    }
    let rows: Vec<usize> = procedures.iter().map(|(r, _)| *r).collect();
    let procedures: Vec<Procedure> = procedures.into_iter().map(|(_, p)| p).collect();
    errors.extend(validate(&procedures, &|i| rows[i]));
    finish(version, procedures, errors)
}

fn finish(version: String, procedures: Vec<Procedure>, mut errors: Vec<RowError>) -> Result<Catalog, ImportError> {
    if procedures.is_empty() && errors.is_empty() {
        errors.push(RowError { row: 0, field: String::new(), message: "the catalog holds no procedure".into() });
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.row);
        return Err(ImportError::Rows(errors));
    }
    Ok(Catalog { version, procedures })
}

/// Columns of the CSV import, one row per case; consecutive rows with the
/// same `procedure_code` are cases of one procedure.
pub const CSV_COLUMNS: [&str; 17] = [
    "procedure_code",
    "provincial_code",
    "procedure_name",
    "level",
    "field",
    "agency",
    "online_level",
    "legal_basis",
    "case_code",
    "case_name",
    "processing_time",
    "unit",
    "same_day",
    "no_appointment",
    "fee_vnd",
    "fee_collected",
    "documents",
];

/// Imports a catalog from CSV (UTF-8, header row with [`CSV_COLUMNS`]).
/// `documents` is a `;`-separated list of `name|originals|copies[|optional]`.
pub fn import_csv(bytes: &[u8], version: &str) -> Result<Catalog, ImportError> {
    if bytes.len() > IMPORT_BYTES_MAX {
        return Err(ImportError::TooLarge(bytes.len()));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
    let headers = reader.headers().map_err(|e| ImportError::Unreadable(e.to_string()))?.clone();
    let missing: Vec<_> = CSV_COLUMNS.iter().filter(|c| !headers.iter().any(|h| h.trim() == **c)).collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|s| **s).collect();
        return Err(ImportError::Rows(vec![RowError {
            row: 1,
            field: names.join(","),
            message: format!("missing column(s): {}", names.join(", ")),
        }]));
    }
    let col = |name: &str| headers.iter().position(|h| h.trim() == name).expect("checked above");
    let idx: BTreeMap<&str, usize> = CSV_COLUMNS.iter().map(|c| (*c, col(c))).collect();
    let mut errors = Vec::new();
    let mut procedures: Vec<Procedure> = Vec::new();
    let mut first_rows: Vec<usize> = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let row = n + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(RowError { row, field: String::new(), message: e.to_string() });
                continue;
            }
        };
        let get = |name: &str| record.get(idx[name]).unwrap_or("").trim().to_string();
        let mut row_errors = Vec::new();
        let mut bad = |field: &str, message: String| row_errors.push(RowError { row, field: field.into(), message });
        let level = match get("level").as_str() {
            "commune" | "xã" | "xa" => Some(Level::Commune),
            "province" | "tỉnh" | "tinh" => Some(Level::Province),
            other => {
                bad("level", format!("'{other}' is not commune or province"));
                None
            }
        };
        let online_level = match get("online_level").as_str() {
            "full" | "" => Some(OnlineLevel::Full),
            "partial" => Some(OnlineLevel::Partial),
            "none" => Some(OnlineLevel::None),
            other => {
                bad("online_level", format!("'{other}' is not full, partial or none"));
                None
            }
        };
        let processing_time = get("processing_time").parse::<u32>().map_err(|_| {
            bad("processing_time", format!("'{}' is not a whole number", get("processing_time")));
        });
        let unit = TimeUnit::parse(&get("unit"));
        if unit.is_none() {
            bad("unit", format!("'{}' is not working_days, working_hours or calendar_days", get("unit")));
        }
        let flag = |name: &str, bad: &mut dyn FnMut(&str, String)| match get(name).as_str() {
            "" | "0" | "false" | "no" => false,
            "1" | "true" | "yes" => true,
            other => {
                bad(name, format!("'{other}' is not true or false"));
                false
            }
        };
        let same_day = flag("same_day", &mut bad);
        let no_appointment = flag("no_appointment", &mut bad);
        let fee = get("fee_vnd");
        let fee_vnd = if fee.is_empty() {
            Some(0)
        } else {
            fee.replace(['.', ','], "")
                .parse::<u64>()
                .map_err(|_| bad("fee_vnd", format!("'{fee}' is not an amount")))
                .ok()
        };
        let collected = match get("fee_collected").as_str() {
            "" | "at_receipt" => Some(FeeCollected::AtReceipt),
            "at_supplement" => Some(FeeCollected::AtSupplement),
            "at_result" => Some(FeeCollected::AtResult),
            other => {
                bad("fee_collected", format!("'{other}' is not at_receipt, at_supplement or at_result"));
                None
            }
        };
        let mut documents = Vec::new();
        for item in get("documents").split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let parts: Vec<&str> = item.split('|').map(str::trim).collect();
            let parsed = match parts.as_slice() {
                [name, o, c] | [name, o, c, _] => match (o.parse::<u32>(), c.parse::<u32>()) {
                    (Ok(originals), Ok(copies)) => Some(RequiredDocument {
                        name: name.to_string(),
                        required: parts.get(3) != Some(&"optional"),
                        originals,
                        copies,
                        template: None,
                    }),
                    _ => None,
                },
                _ => None,
            };
            match parsed {
                Some(d) => documents.push(d),
                None => bad("documents", format!("'{item}' is not name|originals|copies[|optional]")),
            }
        }
        if !row_errors.is_empty() {
            errors.extend(row_errors);
            continue;
        }
        let (Some(level), Some(online_level), Ok(processing_time), Some(unit), Some(fee_vnd), Some(collected)) =
            (level, online_level, processing_time, unit, fee_vnd, collected)
        else {
            continue;
        };
        let case = Case {
            code: get("case_code"),
            name: get("case_name"),
            processing_time,
            unit,
            online_processing_time: None,
            no_appointment,
            same_day,
            fees: if fee_vnd > 0 {
                vec![Fee { name: "Lệ phí".into(), amount_vnd: fee_vnd, collected }]
            } else {
                Vec::new()
            },
            documents,
            steps: Vec::new(),
        };
        let code = get("procedure_code");
        match procedures.last_mut() {
            Some(p) if p.code == code => p.cases.push(case),
            _ => {
                let provincial = get("provincial_code");
                procedures.push(Procedure {
                    code,
                    provincial_code: (!provincial.is_empty()).then_some(provincial),
                    name: get("procedure_name"),
                    level,
                    field: get("field"),
                    agency: get("agency"),
                    applicants: String::new(),
                    result_document: String::new(),
                    legal_basis: get("legal_basis"),
                    online_level,
                    cases: vec![case],
                });
                first_rows.push(row);
            }
        }
    }
    errors.extend(validate(&procedures, &|i| first_rows[i]));
    finish(version.to_string(), procedures, errors)
}

#[cfg(test)]
mod tests;
