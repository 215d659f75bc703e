//! Keys over a node's life: renewal, rotation, the sealed province root key,
//! and revocation lists delivered to a running node.

use std::path::Path;

use motcua_tests::{Node, dossier_request, enroll_as, init_province, provision, provision_env, refusal, serial};
use serde_json::{Value, json};

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn certificate(bundle: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(bundle.join("certificate.json")).unwrap()).unwrap()
}

fn revoke(province: &Path, serial: &str, out: &Path) {
    let (c, _, err) = revoke_key(province, serial, None, out);
    assert_eq!(c, 0, "{err}");
}

/// `motcua-provision revoke`, naming the node key when given.
fn revoke_key(province: &Path, serial: &str, node_id: Option<&str>, out: &Path) -> (i32, String, String) {
    let mut args = vec!["revoke", "--province", p(province), "--serial", serial, "--out", p(out)];
    if let Some(id) = node_id {
        args.extend(["--node-id", id]);
    }
    provision(&args)
}

#[test]
fn certificates_are_renewed_and_a_rotated_key_keeps_the_units_dossiers() {
    let dir = tempfile::tempdir().unwrap();
    let province = dir.path().join("province");
    init_province(&province, "56");
    let bundle = dir.path().join("xa");
    enroll_as(&province, "commune", "22015", "000.21.45.H56", &bundle, &[]);
    let mut node = Node::start_logged_in(&bundle);
    let old_id = node.get("/healthz").body["node_id"].as_str().unwrap().to_string();
    let first = node.receive(&dossier_request("2.000720", 1)).body["code"].as_str().unwrap().to_string();
    assert_eq!(node.stop(), Some(0));

    // Renewal: same key, new serial; the old certificate is kept beside it.
    let old_serial = serial(&bundle);
    let (c, out, err) = provision(&["renew", "--province", p(&province), "--bundle", p(&bundle)]);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("certificate renewed"), "{out}");
    assert_ne!(serial(&bundle), old_serial);
    assert!(bundle.join(format!("certificate-{old_serial}.json")).exists());
    let mut node = Node::start_logged_in(&bundle);
    assert_eq!(node.get("/healthz").body["node_id"], old_id.as_str());
    assert_eq!(node.stop(), Some(0));

    // An expired certificate is refused until it is renewed.
    let expired = dir.path().join("expired");
    enroll_as(&province, "commune", "22016", "000.21.46.H56", &expired, &["--valid-days", "0"]);
    assert!(refusal(&expired).contains("expired"));
    let (c, _, err) = provision(&["renew", "--province", p(&province), "--bundle", p(&expired)]);
    assert_eq!(c, 0, "{err}");
    assert_eq!(Node::start(&expired).get("/healthz").body["unit"], "22016");

    // Rotation: a new key, certified as succeeding the old one.
    let old_key = std::fs::read(bundle.join("node.key")).unwrap();
    let (c, out, err) = provision(&["rotate", "--province", p(&province), "--bundle", p(&bundle)]);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("key rotated"), "{out}");
    let cert = certificate(&bundle);
    // A rotation cut short between its certificate and its key (the new
    // key still beside the old one) is finished by running it again, with
    // the key the certificate names rather than yet another one.
    let new_key = std::fs::read(bundle.join("node.key")).unwrap();
    std::fs::write(bundle.join("node.key.new"), &new_key).unwrap();
    std::fs::write(bundle.join("node.key"), &old_key).unwrap();
    let (c, _, err) = provision(&["rotate", "--province", p(&province), "--bundle", p(&bundle)]);
    assert_eq!(c, 0, "{err}");
    assert_eq!(std::fs::read(bundle.join("node.key")).unwrap(), new_key, "the certified key is in place");
    assert_eq!(certificate(&bundle), cert, "no second rotation");
    assert!(!bundle.join("node.key.new").exists());
    assert_eq!(cert["certificate"]["previous_key"], old_id.as_str());
    let (c, shown, _) = provision(&["inspect", p(&bundle)]);
    assert_eq!(c, 0);
    assert!(shown.contains(&old_id) && shown.contains("verifies against province 56"), "{shown}");
    let node = Node::start_logged_in(&bundle);
    let new_id = node.get("/healthz").body["node_id"].as_str().unwrap().to_string();
    assert_ne!(new_id, old_id);
    assert_eq!(cert["certificate"]["node_key"], new_id.as_str());
    let d = node.get(&format!("/api/v1/dossiers/{first}"));
    assert_eq!(d.status, 200, "the unit's dossiers stay");
    let a = node.act(&first, &json!({"action": "start_processing"}));
    assert_eq!(a.status, 200, "the new key signs the next steps: {a:?}");
    let next = node.receive(&dossier_request("2.000720", 2)).body["code"].as_str().unwrap().to_string();
    assert!(next.ends_with("-0002"), "the code sequence continues: {first} then {next}");

    // A revoked certificate is not renewed: the unit is enrolled anew.
    let list = dir.path().join("revocations.json");
    revoke(&province, &serial(&expired), &list);
    let (c, _, err) = provision(&["renew", "--province", p(&province), "--bundle", p(&expired)]);
    assert_eq!(c, 1);
    assert!(err.contains("was revoked"), "{err}");
}

#[test]
fn an_encrypted_root_key_needs_its_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let province = dir.path().join("province");
    let init = ["init-province", "--dir", p(&province), "--code", "56", "--name", "Tỉnh Thử", "--encrypt"];
    let (c, _, err) = provision(&init);
    assert_eq!(c, 1);
    assert!(err.contains("--encrypt needs the passphrase"), "{err}");
    let (c, _, err) = provision_env(&init, &[("MOTCUA_PROVINCE_PASSPHRASE", "short")]);
    assert_eq!(c, 1);
    assert!(err.contains("at least 12 characters"), "{err}");
    let passphrase = "mật khẩu thử nghiệm dài";
    let (c, out, err) = provision_env(&init, &[("MOTCUA_PROVINCE_PASSPHRASE", passphrase)]);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("root key encrypted"), "{out}");
    let sealed = std::fs::read_to_string(province.join("province.key")).unwrap();
    assert!(sealed.contains("argon2id"), "sealed, not plain hex");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(province.join("province.key")).unwrap().permissions().mode() & 0o777, 0o600);

    let bundle = dir.path().join("xa");
    let enroll = [
        "enroll",
        "--province",
        p(&province),
        "--role",
        "commune",
        "--unit",
        "22015",
        "--name",
        "Xã Thử",
        "--agency-id",
        "000.21.45.H56",
        "--out",
        p(&bundle),
    ];
    let (c, _, err) = provision(&enroll);
    assert_eq!(c, 1);
    assert!(err.contains("is encrypted: set MOTCUA_PROVINCE_PASSPHRASE"), "{err}");
    let (c, _, err) = provision_env(&enroll, &[("MOTCUA_PROVINCE_PASSPHRASE", "mật khẩu sai hoàn toàn")]);
    assert_eq!(c, 1);
    assert!(err.contains("wrong passphrase"), "{err}");
    assert!(!bundle.exists(), "nothing was written");
    let (c, _, err) = provision_env(&enroll, &[("MOTCUA_PROVINCE_PASSPHRASE", passphrase)]);
    assert_eq!(c, 0, "{err}");
    assert_eq!(Node::start(&bundle).get("/healthz").body["unit"], "22015");
}

#[test]
fn a_running_node_takes_newer_revocation_lists_signed_by_its_province() {
    let dir = tempfile::tempdir().unwrap();
    let province = dir.path().join("province");
    init_province(&province, "56");
    let (running, stolen) = (dir.path().join("running"), dir.path().join("stolen"));
    enroll_as(&province, "commune", "22015", "000.21.45.H56", &running, &[]);
    enroll_as(&province, "commune", "22016", "000.21.46.H56", &stolen, &[]);
    let mut node = Node::start_logged_in(&running);
    let list = dir.path().join("revocations-1.json");
    let bad = revoke_key(&province, &serial(&stolen), Some("abc"), &list);
    assert_eq!(bad.0, 1);
    assert!(bad.2.contains("not 64 hex digits"), "{}", bad.2);
    // The stolen node's key is named too, so none of its certificates vouches for it.
    let stolen_id = certificate(&stolen)["certificate"]["node_key"].as_str().unwrap().to_string();
    let (c, _, err) = revoke_key(&province, &serial(&stolen), Some(&stolen_id), &list);
    assert_eq!(c, 0, "{err}");
    let bytes = std::fs::read(&list).unwrap();
    assert!(String::from_utf8_lossy(&bytes).contains(&stolen_id), "the list names the key");

    let clerk = node.officer("tiepnhan", &["receptionist"]);
    let a = node.post_raw_as(Some(&clerk), "/api/v1/revocations", "application/json", &bytes);
    assert_eq!(a.status, 403, "admins only: {a:?}");
    let a = node.post_raw("/api/v1/revocations", "application/json", b"{not json");
    assert_eq!(a.status, 400, "{a:?}");
    let forged = String::from_utf8(bytes.clone()).unwrap().replacen("\"sequence\": 1", "\"sequence\": 7", 1);
    let a = node.post_raw("/api/v1/revocations", "application/json", forged.as_bytes());
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (422, Some("bad_signature")), "{a:?}");
    assert_eq!(node.get("/api/v1/revocations").body["sequence"], 0, "nothing changed");

    let a = node.post_raw("/api/v1/revocations", "application/json", &bytes);
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["revoked"], 1);
    let shown = node.get("/api/v1/revocations").body;
    assert_eq!(shown["sequence"], 1);
    assert_eq!(shown["revoked"][0]["serial"], serial(&stolen).as_str());
    let a = node.post_raw("/api/v1/revocations", "application/json", &bytes);
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (409, Some("stale_document")), "a replay: {a:?}");

    // The list is kept: after a restart it still holds, and once the
    // province revokes this node too, the node refuses to start.
    let second = dir.path().join("revocations-2.json");
    revoke(&province, &serial(&running), &second);
    let a = node.post_raw("/api/v1/revocations", "application/json", &std::fs::read(&second).unwrap());
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(node.stop(), Some(0));
    assert!(refusal(&running).contains("was revoked by the province"));
}
