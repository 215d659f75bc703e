//! A technician's flow: a province, an enrolled commune node started from
//! its bundle, and the bundles a node must refuse.

use std::path::Path;
use std::process::Command;

use motcua_tests::{Node, binary, enroll_as, init_province as init, provision, serial};

fn enroll(province: &Path, unit: &str, out: &Path, extra: &[&str]) {
    enroll_as(province, "commune", unit, "000.21.45.H56", out, extra);
}

/// Runs `motcua serve` on a bundle that must be refused; returns stderr.
fn refused(bundle: &Path) -> String {
    let listing = |d: &Path| {
        let mut names: Vec<String> =
            std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    };
    let before = listing(bundle);
    let err = motcua_tests::refusal(bundle);
    assert_eq!(listing(bundle), before, "nothing was written into the refused bundle: {err}");
    err
}

#[test]
fn an_enrolled_commune_runs_from_its_bundle_and_issues_its_own_codes() {
    let dir = tempfile::tempdir().unwrap();
    let province = dir.path().join("province");
    init(&province, "56");
    let bundle = dir.path().join("xa-22015");
    enroll(&province, "22015", &bundle, &[]);
    let (c, out, _) = provision(&["inspect", bundle.to_str().unwrap()]);
    assert_eq!(c, 0);
    assert!(out.contains("\"unit\": \"22015\"") && out.contains("verifies against province 56"), "{out}");
    let node = Node::start_logged_in(&bundle);
    let h = node.get("/healthz").body;
    assert_eq!(h["unit"], "22015");
    assert_eq!(h["role"], "commune");
    assert_eq!(h["demo"], false);
    let d = node.receive(&motcua_tests::dossier_request("2.000720", 1));
    assert!(d.body["code"].as_str().unwrap().starts_with("000.21.45.H56-"), "{d:?}");
    assert_eq!(d.body["receiving_unit"], "22015");
}

#[test]
fn foreign_tampered_expired_and_incomplete_bundles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let province = dir.path().join("province");
    let other = dir.path().join("other-province");
    init(&province, "56");
    init(&other, "56");

    // Another province's root (same code, different key) signed nothing here.
    let foreign = dir.path().join("foreign");
    enroll(&province, "22015", &foreign, &[]);
    std::fs::copy(other.join("province.json"), foreign.join("province.json")).unwrap();
    assert!(refused(&foreign).contains("not signed by this province"));

    // A certificate edited after signing.
    let tampered = dir.path().join("tampered");
    enroll(&province, "22015", &tampered, &[]);
    let text = std::fs::read_to_string(tampered.join("certificate.json")).unwrap();
    std::fs::write(tampered.join("certificate.json"), text.replace("\"commune\"", "\"province\"")).unwrap();
    assert!(refused(&tampered).contains("not signed by this province"));

    // A certificate valid for 0 days has expired by the time the node starts.
    let expired = dir.path().join("expired");
    enroll(&province, "22015", &expired, &["--valid-days", "0"]);
    assert!(refused(&expired).contains("expired"));

    // node.json edited to another unit than the certificate names.
    let moved = dir.path().join("moved");
    enroll(&province, "22015", &moved, &[]);
    let text = std::fs::read_to_string(moved.join("node.json")).unwrap();
    std::fs::write(moved.join("node.json"), text.replace("22015", "22016")).unwrap();
    assert!(refused(&moved).contains("node.json says"));

    // Another node's key in the bundle.
    let swapped = dir.path().join("swapped");
    enroll(&province, "22015", &swapped, &[]);
    std::fs::copy(moved.join("node.key"), swapped.join("node.key")).unwrap();
    assert!(refused(&swapped).contains("not this node's key"));

    // A bundle without its certificate.
    let incomplete = dir.path().join("incomplete");
    enroll(&province, "22015", &incomplete, &[]);
    std::fs::remove_file(incomplete.join("certificate.json")).unwrap();
    assert!(refused(&incomplete).contains("incomplete"));
    // ... or without its key or its configuration: neither is made up.
    for missing in ["node.key", "node.json"] {
        let incomplete = dir.path().join(format!("without-{missing}"));
        enroll(&province, "22015", &incomplete, &[]);
        std::fs::remove_file(incomplete.join(missing)).unwrap();
        let err = refused(&incomplete);
        assert!(err.contains(&format!("no {missing}: the bundle is incomplete")), "{err}");
    }
}

fn publish(province: &Path, file: &Path, sequence: &str, out: &Path) {
    let (c, _, err) = provision(&[
        "publish-catalog",
        "--province",
        province.to_str().unwrap(),
        "--file",
        file.to_str().unwrap(),
        "--sequence",
        sequence,
        "--label",
        &format!("H56-{sequence}"),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{err}");
}

const CSV: &str = "procedure_code,provincial_code,procedure_name,level,field,agency,online_level,legal_basis,case_code,case_name,processing_time,unit,same_day,no_appointment,fee_vnd,fee_collected,documents\n\
    2.000720,,Đăng ký hộ kinh doanh,commune,Kinh doanh,UBND xã,full,,a,Mới,4,working_days,false,false,100000,at_receipt,Giấy đề nghị|1|0\n";

#[test]
fn an_enrolled_node_takes_only_newer_catalogs_signed_by_its_province() {
    let dir = tempfile::tempdir().unwrap();
    let province = dir.path().join("province");
    let other = dir.path().join("other");
    init(&province, "56");
    init(&other, "56");
    let bundle = dir.path().join("bundle");
    enroll(&province, "22015", &bundle, &[]);
    let csv = dir.path().join("catalog.csv");
    std::fs::write(&csv, CSV).unwrap();
    let (v1, v2, forged) = (dir.path().join("v1.json"), dir.path().join("v2.json"), dir.path().join("forged.json"));
    publish(&province, &csv, "1", &v1);
    publish(&province, &csv, "2", &v2);
    publish(&other, &csv, "3", &forged);
    let node = Node::start_logged_in(&bundle);
    let post = |path: &Path, ct: &str| node.post_raw("/api/v1/catalog", ct, &std::fs::read(path).unwrap());

    let a = post(&csv, "text/csv");
    assert_eq!((a.status, &a.body["error"]["code"]), (403, &serde_json::json!("unsigned_document")), "{a:?}");
    let a = post(&forged, "application/json");
    assert_eq!((a.status, &a.body["error"]["code"]), (422, &serde_json::json!("bad_signature")), "{a:?}");
    let text = std::fs::read_to_string(&v2).unwrap().replace("100000", "1");
    let a = node.post_raw("/api/v1/catalog", "application/json", text.as_bytes());
    assert_eq!(a.status, 422, "an edited body breaks the signature: {a:?}");
    assert!(node.get("/api/v1/procedures").body.as_array().unwrap().len() >= 8, "the sample still holds");

    let a = post(&v2, "application/json");
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["version"], "H56-2");
    assert_eq!(node.get("/api/v1/procedures").body.as_array().unwrap().len(), 1);
    let a = post(&v1, "application/json");
    assert_eq!(
        (a.status, &a.body["error"]["code"]),
        (409, &serde_json::json!("stale_document")),
        "a replayed older catalog"
    );
    let a = post(&v2, "application/json");
    assert_eq!(a.status, 409, "the same catalog again is not newer");
    let d = node.receive(&motcua_tests::dossier_request("2.000720", 1));
    assert_eq!(d.body["processing_time"], 4, "received under the signed catalog: {d:?}");
}

/// A calendar in which the next 40 days are all holidays.
fn long_holiday_calendar(version: &str) -> String {
    let today = (chrono::Utc::now() + chrono::Duration::hours(7)).date_naive();
    let holidays: Vec<_> = (0..40)
        .map(|i| serde_json::json!({"date": (today + chrono::Days::new(i)).to_string(), "name": "Nghỉ thử"}))
        .collect();
    serde_json::json!({
        "version": version,
        "windows": ["07:00-11:30", "13:30-17:00"],
        "holidays": holidays,
        "make_up_days": [],
    })
    .to_string()
}

#[test]
fn a_signed_calendar_replaces_the_holidays_and_moves_new_appointments_only() {
    let dir = tempfile::tempdir().unwrap();
    let province = dir.path().join("province");
    init(&province, "56");
    let bundle = dir.path().join("bundle");
    enroll(&province, "22015", &bundle, &[]);
    let file = dir.path().join("calendar.json");
    std::fs::write(&file, long_holiday_calendar("H56-lich-2")).unwrap();
    let signed = dir.path().join("calendar.signed.json");
    let (c, _, err) = provision(&[
        "publish-calendar",
        "--province",
        province.to_str().unwrap(),
        "--file",
        file.to_str().unwrap(),
        "--sequence",
        "2",
        "--label",
        "H56-lich-2",
        "--out",
        signed.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{err}");
    let node = Node::start_logged_in(&bundle);
    let before = node.receive(&motcua_tests::dossier_request("2.000720", 1)).body;
    let a = node.post_raw("/api/v1/calendar", "application/json", &std::fs::read(&file).unwrap());
    assert_eq!(a.status, 403, "unsigned: {a:?}");
    let whole = std::fs::read(&signed).unwrap();
    let a = node.post_raw("/api/v1/calendar", "application/json", &whole[..whole.len() / 2]);
    assert_eq!((a.status, &a.body["error"]["code"]), (400, &serde_json::json!("malformed_json")), "truncated: {a:?}");
    let a = node.post_raw("/api/v1/calendar", "application/json", &std::fs::read(&signed).unwrap());
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(node.get("/api/v1/calendar").body["version"], "H56-lich-2");
    let a = node.post_raw("/api/v1/calendar", "application/json", &std::fs::read(&signed).unwrap());
    assert_eq!(a.status, 409, "a replay: {a:?}");
    let after = node.receive(&motcua_tests::dossier_request("2.000720", 2)).body;
    let day = |d: &serde_json::Value| chrono::DateTime::parse_from_rfc3339(d["due_at"].as_str().unwrap()).unwrap();
    assert!((day(&after) - day(&before)).num_days() >= 35, "{} vs {}", after["due_at"], before["due_at"]);
    let code = before["code"].as_str().unwrap();
    assert_eq!(
        node.get(&format!("/api/v1/dossiers/{code}")).body["due_at"],
        before["due_at"],
        "received dossiers keep theirs"
    );
}

#[test]
fn a_revoked_certificate_is_refused_and_others_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let province = dir.path().join("province");
    init(&province, "56");
    let (stolen, kept) = (dir.path().join("stolen"), dir.path().join("kept"));
    enroll(&province, "22015", &stolen, &[]);
    enroll(&province, "22016", &kept, &[]);
    let list = dir.path().join("revocations.signed.json");
    let (c, _, err) = provision(&[
        "revoke",
        "--province",
        province.to_str().unwrap(),
        "--serial",
        &serial(&stolen),
        "--reason",
        "máy tính bị mất",
        "--out",
        list.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{err}");
    let (c, _, err) = provision(&[
        "revoke",
        "--province",
        province.to_str().unwrap(),
        "--serial",
        &serial(&stolen),
        "--out",
        list.to_str().unwrap(),
    ]);
    assert_ne!(c, 0, "revoked once only: {err}");
    std::fs::copy(&list, stolen.join("revocations.json")).unwrap();
    std::fs::copy(&list, kept.join("revocations.json")).unwrap();
    assert!(refused(&stolen).contains("revoked"));
    let node = Node::start(&kept);
    assert_eq!(node.get("/healthz").body["unit"], "22016", "another node's revocation does not stop this one");
    drop(node);
    // A revocation list edited to drop the entry no longer verifies.
    let text = std::fs::read_to_string(&list).unwrap();
    let edited = text.replacen(&serial(&stolen), &"0".repeat(32), 1);
    std::fs::write(stolen.join("revocations.json"), edited).unwrap();
    assert!(refused(&stolen).contains("revocations.json refused"));
}

/// A province, its provincial node, two communes (one of whose keys was
/// made on its own machine and never travelled) and an agency, all started
/// from their bundles.
#[test]
fn a_technician_sets_up_a_province_in_one_sitting() {
    let dir = tempfile::tempdir().unwrap();
    let province = dir.path().join("province");
    init(&province, "56");
    let tinh = dir.path().join("tinh");
    enroll_as(&province, "province", "56", "000.00.00.H56", &tinh, &[]);
    let province_id = node_id_of(&tinh);
    let peer = format!("{province_id}@127.0.0.1:7300");
    let xa1 = dir.path().join("xa1");
    enroll_as(&province, "commune", "22015", "000.21.45.H56", &xa1, &["--province-node", &peer]);
    // The second commune's key is made on its own PC; only the id travels.
    let xa2 = dir.path().join("xa2");
    let out = Command::new(binary("motcua")).args(["id", "--data", xa2.to_str().unwrap()]).output().unwrap();
    let xa2_id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let certified = dir.path().join("xa2-certificate");
    enroll_as(
        &province,
        "commune",
        "22016",
        "000.21.46.H56",
        &certified,
        &["--node-id", &xa2_id, "--province-node", &peer],
    );
    assert!(!certified.join("node.key").exists(), "no secret key in a bundle for a key made elsewhere");
    for f in ["certificate.json", "province.json", "node.json"] {
        std::fs::copy(certified.join(f), xa2.join(f)).unwrap();
    }
    let agency = dir.path().join("so-xay-dung");
    enroll_as(&province, "agency", "000.00.12.H56", "000.00.12.H56", &agency, &["--province-node", &peer]);
    let expected = [
        (&tinh, "56", "province"),
        (&xa1, "22015", "commune"),
        (&xa2, "22016", "commune"),
        (&agency, "000.00.12.H56", "agency"),
    ];
    let nodes: Vec<Node> = expected.iter().map(|(d, _, _)| Node::start_logged_in(d)).collect();
    for (node, (_, unit, role)) in nodes.iter().zip(expected.iter()) {
        let h = node.get("/healthz").body;
        assert_eq!((h["unit"].as_str().unwrap(), h["role"].as_str().unwrap()), (*unit, *role));
    }
    assert_eq!(nodes[2].get("/healthz").body["node_id"], xa2_id.as_str());
    let node_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(xa1.join("node.json")).unwrap()).unwrap();
    assert_eq!(node_json["peers"][0], peer.as_str());
    let peers = nodes[1].get("/api/v1/peers").body;
    assert_eq!(peers[0]["node_id"], province_id.as_str(), "the commune knows its provincial node: {peers}");
    assert_eq!(peers[0]["connected"], false, "no sync yet, so never claimed connected");
}

fn node_id_of(bundle: &Path) -> String {
    let cert: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("certificate.json")).unwrap()).unwrap();
    cert["certificate"]["node_key"].as_str().unwrap().to_string()
}
