//! The benchmark dossier of `shared/bench/WORKLOAD.md`: an applicant from
//! the seeded reception workload, 3–6 document lines, and five signed
//! Automerge changes (receive, start processing, financial obligation
//! requested and fulfilled, processed), all made by one node.

use automerge::Automerge;
use motcua_desk::identity::Identity;
use motcua_domain::calendar::{DAY_MS, TimeUnit};
use motcua_domain::dossier::{
    self, Channel, DocError, DocumentEntry, DossierId, Event, NewDossier, ProcedureSnapshot, Reception, SupplementMode,
};
use motcua_domain::workflow::Action;
use rand::RngExt;
use rand::rngs::StdRng;

pub const UNIT: &str = "26734";
pub const AGENCY_ID: &str = "000.21.45.H56";
pub const T0: i64 = 1_763_344_800_000;

/// The code of benchmark dossier `n` (0-based).
pub fn code(n: usize) -> String {
    format!("{AGENCY_ID}-251117-{:06}", n + 1)
}

fn new_dossier(node: &Identity, n: usize, w: &motcua_sim::workload::ReceptionRequest, rng: &mut StdRng) -> NewDossier {
    let docs = ["Tờ khai", "Bản sao giấy chứng minh", "Giấy xác nhận cư trú", "Bản vẽ", "Hợp đồng", "Biên lai"];
    let k = rng.random_range(3..=6);
    NewDossier {
        id: DossierId(rng.random()),
        code: code(n),
        procedure: ProcedureSnapshot {
            code: w.procedure_code.clone(),
            name: "Thủ tục đăng ký (mô phỏng)".into(),
            case_code: "default".into(),
            catalog_version: "bench".into(),
            processing_time: 5,
            time_unit: TimeUnit::WorkingDays,
            same_day: false,
            no_appointment: false,
            fee_vnd: 50_000,
            steps: Vec::new(),
        },
        applicant: w.applicant.clone(),
        reception: Reception {
            unit: UNIT.into(),
            agency_id: AGENCY_ID.into(),
            node: node.node_id().into(),
            officer: "tiepnhan01".into(),
            at: T0 + n as i64 * 1000,
            channel: Channel::Direct,
            calendar_version: "bench".into(),
            supplement_mode: SupplementMode::Pause,
            sets: 1,
            collection: Default::default(),
            logbook: None,
        },
        due_at: Some(T0 + 7 * DAY_MS),
        documents: docs[..k]
            .iter()
            .map(|d| DocumentEntry {
                name: (*d).into(),
                originals: 1,
                certified: 0,
                copies: rng.random_range(0..3),
                received: true,
            })
            .collect(),
    }
}

/// An event of the benchmark's workflow, recorded by `node`.
pub fn event(node: &Identity, action: Action, at: i64) -> Event {
    let mut e = Event {
        action: Some(action),
        at,
        unit: UNIT.into(),
        node: node.node_id().into(),
        officer: "chuyenvien02".into(),
        note: "Cập nhật theo quy trình một cửa".into(),
        ..Event::default()
    };
    match action {
        Action::RequestFinancialObligation => e.reason = Some("Nộp lệ phí trước bạ".into()),
        Action::Processed => e.result = Some("Giấy chứng nhận đã ký".into()),
        _ => {}
    }
    e
}

/// Benchmark dossier `n`: created, then updated four times.
pub fn five_changes(
    node: &Identity,
    n: usize,
    w: &motcua_sim::workload::ReceptionRequest,
    rng: &mut StdRng,
) -> Result<Automerge, DocError> {
    let (mut doc, _) = dossier::create(node.actor(), &new_dossier(node, n, w, rng))?;
    let at = T0 + n as i64 * 1000;
    for (k, a) in [
        Action::StartProcessing,
        Action::RequestFinancialObligation,
        Action::FinancialObligationFulfilled,
        Action::Processed,
    ]
    .into_iter()
    .enumerate()
    {
        dossier::append_event(&mut doc, &event(node, a, at + (k as i64 + 1) * 3_600_000))?;
    }
    Ok(doc)
}
