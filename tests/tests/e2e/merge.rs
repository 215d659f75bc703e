//! Merged communes: old communes' dossiers brought into the nodes of the new
//! communes formed from them, by export file and by data directory, one old
//! commune split between two new ones by address.

use std::path::{Path, PathBuf};
use std::process::Command;

use motcua_tests::{Node, binary, dossier_request, enroll_as, init_province, provision};
use serde_json::{Value, json};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Receives one dossier for an applicant living at `address`; returns its code.
fn receive_at(node: &Node, n: u32, address: &str) -> String {
    let mut req = dossier_request("2.000720", n);
    req["applicant"]["address"] = json!(address);
    let d = node.receive(&req);
    assert_eq!(d.status, 201, "{d:?}");
    d.body["code"].as_str().unwrap().to_string()
}

fn merge(province: &Path, into: &Path, from: &[&Path], mapping: &Path, report: &Path) -> (i32, String, String) {
    let mut args = vec!["merge", "--province", path(province), "--into", path(into), "--mapping", path(mapping)];
    for f in from {
        args.extend(["--from", path(f)]);
    }
    args.extend(["--report", path(report)]);
    provision(&args)
}

fn codes(report: &Value, list: &str) -> Vec<String> {
    let mut v: Vec<String> =
        report[list].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap().to_string()).collect();
    v.sort();
    v
}

fn read_report(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

struct Old {
    dir: PathBuf,
    codes: Vec<String>,
}

#[test]
fn three_old_communes_merge_into_two_new_ones_by_address_with_histories_and_codes_intact() {
    let dir = tempfile::tempdir().unwrap();
    let province = dir.path().join("province");
    init_province(&province, "56");

    // Old communes 10001 and 10002 become 26800; 10003 is split by hamlet.
    let mut old = Vec::new();
    for (i, unit) in ["10001", "10002", "10003"].iter().enumerate() {
        let d = dir.path().join(format!("old-{unit}"));
        enroll_as(&province, "commune", unit, &format!("000.21.0{}.H56", i + 1), &d, &[]);
        old.push(Old { dir: d, codes: Vec::new() });
    }
    let hamlets = ["Thôn Bản Mế, xã Cũ", "Thôn Nà Lừa, xã Cũ", "THON BAN ME", "Thôn Không Rõ"];
    for (i, o) in old.iter_mut().enumerate() {
        let mut node = Node::start_logged_in(&o.dir);
        for n in 0..(2 + i as u32) {
            let address = if i == 2 { hamlets[n as usize] } else { "Thôn Thử Nghiệm" };
            o.codes.push(receive_at(&node, 100 * i as u32 + n, address));
        }
        // Some history beyond the receipt.
        let a = node.act(&o.codes[0], &json!({"action": "start_processing"}));
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(node.stop(), Some(0));
    }
    // Old commune 10001 is brought by export file; the others by data directory.
    let export = dir.path().join("10001.motcua-export");
    let out = Command::new(binary("motcua"))
        .args(["export", "--data", path(&old[0].dir), "--out", path(&export)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (c, shown, err) = provision(&["inspect", path(&export), "--province", path(&province)]);
    assert_eq!(c, 0, "{err}");
    assert!(shown.contains("2 dossiers") && shown.contains("signed by the province"), "{shown}");

    let mapping = dir.path().join("mapping.json");
    std::fs::write(
        &mapping,
        json!({"units": [
            {"old_unit": "10001", "new_unit": "26800"},
            {"old_unit": "10002", "new_unit": "26800"},
            {"old_unit": "10003", "split": [
                {"address_contains": "Thôn Bản Mế", "new_unit": "26800"},
                {"address_contains": "thon na lua", "new_unit": "26801"}
            ]}
        ]})
        .to_string(),
    )
    .unwrap();
    let new_a = dir.path().join("new-26800");
    let new_b = dir.path().join("new-26801");
    enroll_as(&province, "commune", "26800", "000.21.10.H56", &new_a, &[]);
    enroll_as(&province, "commune", "26801", "000.21.11.H56", &new_b, &[]);
    // Start each new node once (first start: admin account), then stop it for the merge.
    for d in [&new_a, &new_b] {
        assert_eq!(Node::start_logged_in(d).stop(), Some(0));
    }

    let sources: [&Path; 3] = [&export, &old[1].dir, &old[2].dir];
    let report_a = dir.path().join("report-a.json");
    let (c, out, err) = merge(&province, &new_a, &sources, &mapping, &report_a);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("unmapped: 1"), "{out}");
    let ra = read_report(&report_a);
    let (c3, split) = (&old[2].codes, |i: usize| old[2].codes[i].clone());
    let expected_a = sorted([old[0].codes.clone(), old[1].codes.clone(), vec![split(0), split(2)]].concat());
    assert_eq!(codes(&ra, "merged"), expected_a);
    assert_eq!(codes(&ra, "other_units"), vec![split(1)]);
    assert_eq!(codes(&ra, "unmapped"), vec![split(3)]);
    assert!(ra["unmapped"][0]["detail"].as_str().unwrap().contains("matches no rule"));
    assert_eq!(codes(&ra, "rejected"), Vec::<String>::new());
    let all: usize = old.iter().map(|o| o.codes.len()).sum();
    let listed: usize = ["merged", "already_merged", "other_units", "unmapped", "rejected"]
        .iter()
        .map(|l| ra[l].as_array().unwrap().len())
        .sum();
    assert_eq!(listed, all, "every dossier is accounted for");
    assert_eq!(c3.len(), 4);

    let report_b = dir.path().join("report-b.json");
    let (c, _, err) = merge(&province, &new_b, &sources, &mapping, &report_b);
    assert_eq!(c, 0, "{err}");
    let rb = read_report(&report_b);
    assert_eq!(codes(&rb, "merged"), vec![split(1)]);
    assert_eq!(codes(&rb, "unmapped"), vec![split(3)]);

    // A repeated merge hands nothing over twice.
    let again = dir.path().join("again.json");
    let (c, _, err) = merge(&province, &new_a, &sources, &mapping, &again);
    assert_eq!(c, 0, "{err}");
    let r = read_report(&again);
    assert_eq!(codes(&r, "merged"), Vec::<String>::new());
    assert_eq!(codes(&r, "already_merged"), expected_a);

    // The new commune serves the old dossiers under their original codes,
    // with their history, and takes them on.
    let node = Node::start_logged_in(&new_a);
    assert_eq!(node.total_dossiers(), expected_a.len() as u64);
    let first = node.get(&format!("/api/v1/dossiers/{}", old[0].codes[0]));
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.body["receiving_unit"], "26800");
    let actions: Vec<&str> =
        first.body["history"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["receive", "start_processing", "handover"]);
    assert_eq!(first.body["history"][0]["unit"], "10001");
    assert_eq!(first.body["state"], 4);
    assert_eq!(first.body["conflicts"].as_array().unwrap().len(), 0);
    let done = node.act(&old[0].codes[0], &json!({"action": "processed", "result": "Kết quả thử"}));
    assert_eq!(done.status, 200, "{done:?}");
    let back = node.act(&old[0].codes[0], &json!({"action": "return_result"}));
    assert_eq!(back.status, 200, "{back:?}");
    assert_eq!(node.get(&format!("/api/v1/dossiers/{}", split(1))).status, 404, "sent to 26801, not here");
    let fresh = receive_at(&node, 999, "Thôn Mới");
    assert!(fresh.starts_with("000.21.10.H56-"), "new codes are the new unit's: {fresh}");
    drop(node);

    let node_b = Node::start_logged_in(&new_b);
    assert_eq!(node_b.total_dossiers(), 1);
    assert_eq!(node_b.get(&format!("/api/v1/dossiers/{}", split(1))).body["receiving_unit"], "26801");
}

#[test]
fn damaged_and_foreign_exports_stop_the_merge_with_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let province = dir.path().join("province");
    let other = dir.path().join("other");
    init_province(&province, "56");
    init_province(&other, "57");
    let old = dir.path().join("old");
    enroll_as(&province, "commune", "10001", "000.21.01.H56", &old, &[]);
    let mut node = Node::start_logged_in(&old);
    let forged_code = receive_at(&node, 1, "Thôn Thử");
    let kept_code = receive_at(&node, 2, "Thôn Thử");
    assert_eq!(node.stop(), Some(0));
    let export = dir.path().join("old.export");
    let ok = Command::new(binary("motcua")).args(["export", "--data", path(&old), "--out", path(&export)]).output();
    assert!(ok.unwrap().status.success());
    let new = dir.path().join("new");
    enroll_as(&province, "commune", "26800", "000.21.10.H56", &new, &[]);
    let mapping = dir.path().join("mapping.json");
    std::fs::write(&mapping, r#"{"units":[{"old_unit":"10001","new_unit":"26800"}]}"#).unwrap();
    let report = dir.path().join("r.json");

    let mut bytes = std::fs::read(&export).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    let damaged = dir.path().join("damaged.export");
    std::fs::write(&damaged, &bytes).unwrap();
    let (c, _, err) = merge(&province, &new, &[&damaged], &mapping, &report);
    assert_eq!(c, 1);
    assert!(err.contains("checksum does not match"), "{err}");
    assert!(!new.join("motcua.redb").exists(), "nothing was written");

    // The new node of another province cannot take this province's dossiers.
    let foreign = dir.path().join("foreign");
    enroll_as(&other, "commune", "26800", "000.21.10.H57", &foreign, &[]);
    let (c, _, err) = merge(&other, &foreign, &[&export], &mapping, &report);
    assert_eq!(c, 1);
    assert!(err.contains("export of province 56"), "{err}");

    // A mapping that does not parse, or names no old unit for this node.
    std::fs::write(&mapping, r#"{"units":[{"old_unit":"10001"}]}"#).unwrap();
    let (c, _, err) = merge(&province, &new, &[&export], &mapping, &report);
    assert_eq!(c, 1);
    assert!(err.contains("needs either new_unit or split"), "{err}");
    std::fs::write(&mapping, r#"{"units":[{"old_unit":"10001","new_unit":"26899"}]}"#).unwrap();
    let (c, _, err) = merge(&province, &new, &[&export], &mapping, &report);
    assert_eq!(c, 1);
    assert!(err.contains("sends no old unit to 26800"), "{err}");
    assert!(!new.join("motcua.redb").exists(), "nothing was written");

    // An export whose file is whole but one dossier's signature forged:
    // that dossier is listed as rejected and leaves nothing behind; the
    // others are merged.
    std::fs::write(&mapping, r#"{"units":[{"old_unit":"10001","new_unit":"26800"}]}"#).unwrap();
    let mut decoded = motcua_sync::export::Export::decode(&std::fs::read(&export).unwrap()).unwrap();
    let code_of = |d: &motcua_sync::export::ExportedDossier| {
        motcua_domain::dossier::read(&automerge::Automerge::load(&d.document).unwrap()).unwrap().code
    };
    let forged = decoded.dossiers.iter_mut().find(|d| code_of(d) == forged_code).expect("exported");
    for (_, attestation) in &mut forged.attestations {
        // The signer's key, then the signature: a bit of the signature.
        let last = attestation.len() - 1;
        attestation[last] ^= 0x01;
    }
    let forged_export = dir.path().join("forged.export");
    std::fs::write(&forged_export, decoded.encode()).unwrap();
    let (c, _, err) = merge(&province, &new, &[&forged_export], &mapping, &report);
    assert_eq!(c, 0, "{err}");
    let r = read_report(&report);
    assert_eq!(codes(&r, "rejected"), vec![forged_code.clone()], "{r}");
    assert!(r["rejected"][0]["detail"].as_str().unwrap().contains("signature"), "{r}");
    assert_eq!(codes(&r, "merged"), vec![kept_code.clone()]);
    let node = Node::start_logged_in(&new);
    assert_eq!(node.total_dossiers(), 1);
    assert_eq!(node.get(&format!("/api/v1/dossiers/{forged_code}")).status, 404, "nothing of it was stored");
    assert_eq!(node.get(&format!("/api/v1/dossiers/{kept_code}")).status, 200);
}
