//! Seeded reception workloads: the dossiers a commune's desk receives,
//! with synthetic applicants that cannot be mistaken for real people
//! (identity numbers start with `000`, which no province code uses).

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

const FAMILY: [&str; 12] = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"];
const MIDDLE: [&str; 6] = ["Văn", "Thị", "Hữu", "Ngọc", "Minh", "Đức"];
const GIVEN: [&str; 24] = [
    "An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hòa", "Hùng", "Khánh", "Lan", "Linh", "Long", "Mai",
    "Nam", "Ngân", "Phúc", "Quang", "Sơn", "Tâm", "Thảo", "Trang", "Yến",
];
const HAMLETS: [&str; 6] = ["Thôn Thử Một", "Thôn Thử Hai", "Bản Mẫu", "Tổ dân phố Mẫu", "Xóm Thử", "Ấp Mẫu"];
/// Procedure codes of the sample catalog with how often a desk sees them.
const PROCEDURES: [(&str, u32); 7] = [
    ("2.000815", 30),
    ("1.001193", 15),
    ("1.012753", 15),
    ("1.009994", 10),
    ("2.000720", 10),
    ("1.000894", 10),
    ("2.000635", 10),
];

/// One reception request, shaped as the HTTP API takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceptionRequest {
    pub procedure_code: String,
    pub applicant: Applicant,
    pub channel: &'static str,
}

/// The applicant as a dossier records it.
pub use motcua_domain::dossier::Applicant;

/// An endless, seeded stream of receptions.
pub struct Workload {
    rng: StdRng,
    n: u64,
}

impl Workload {
    pub fn new(seed: u64) -> Self {
        Workload { rng: StdRng::seed_from_u64(seed), n: 0 }
    }
}

impl Iterator for Workload {
    type Item = ReceptionRequest;
    fn next(&mut self) -> Option<ReceptionRequest> {
        self.n += 1;
        let r = &mut self.rng;
        let name = format!(
            "{} {} {} Mẫu",
            FAMILY[r.random_range(0..FAMILY.len())],
            MIDDLE[r.random_range(0..MIDDLE.len())],
            GIVEN[r.random_range(0..GIVEN.len())]
        );
        let total: u32 = PROCEDURES.iter().map(|p| p.1).sum();
        let mut pick = r.random_range(0..total);
        let procedure = PROCEDURES
            .iter()
            .find(|(_, w)| {
                if pick < *w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })
            .map(|(c, _)| *c)
            .unwrap_or(PROCEDURES[0].0);
        let channel = match r.random_range(0..10) {
            0..=6 => "direct",
            7 | 8 => "online",
            _ => "post",
        };
        Some(ReceptionRequest {
            procedure_code: procedure.into(),
            applicant: Applicant {
                name,
                id_number: format!("000{:09}", r.random_range(0..1_000_000_000u64)),
                phone: format!("0900{:06}", r.random_range(0..1_000_000u32)),
                address: HAMLETS[r.random_range(0..HAMLETS.len())].into(),
                email: None,
                ..Applicant::default()
            },
            channel,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_reproduces_the_workload_and_another_seed_differs() {
        let a: Vec<_> = Workload::new(42).take(50).collect();
        assert_eq!(a, Workload::new(42).take(50).collect::<Vec<_>>());
        assert_ne!(a, Workload::new(43).take(50).collect::<Vec<_>>());
        assert!(a.iter().all(|r| r.applicant.id_number.len() == 12 && r.applicant.id_number.starts_with("000")));
        let procedures: std::collections::BTreeSet<_> = a.iter().map(|r| r.procedure_code.as_str()).collect();
        assert!(procedures.len() >= 4, "the mix covers several procedures");
    }
}
