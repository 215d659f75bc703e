//! HTTPS on the center's network: a node enrolled with LAN names serves its
//! API over TLS to a client that trusts only the province's LAN CA, with
//! `Secure` cookies under their `__Host-`/`__Secure-` names, and the
//! technician's and the node's bad input is refused precisely.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use motcua_tests::{ADMIN_PASSWORD, binary, enroll_as, free_port, init_province, provision, provision_env};
use serde_json::{Value, json};

fn enroll(province: &Path, out: &Path, extra: &[&str]) {
    enroll_as(province, "commune", "22015", "000.21.45.H56", out, extra);
}

/// `enroll` that must fail: its one-line reason; `out` stays absent.
fn enroll_refused(province: &Path, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> String {
    let mut args = vec![
        "enroll",
        "--province",
        province.to_str().unwrap(),
        "--role",
        "commune",
        "--unit",
        "22015",
        "--name",
        "Xã Thử",
        "--agency-id",
        "000.21.45.H56",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (code, _, err) = provision_env(&args, env);
    assert_eq!(code, 1, "refused: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(!out.exists(), "nothing written for a refused enrollment: {err}");
    err
}

/// An agent that trusts the province's LAN CA and nothing else.
fn trusting(ca_pem: &[u8]) -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
    let ca = Certificate::from_pem(ca_pem).expect("province-ca.crt is PEM");
    let tls = TlsConfig::builder().provider(TlsProvider::Rustls).root_certs(RootCerts::new_with_certs(&[ca])).build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .tls_config(tls)
        .build()
        .into()
}

/// A running `motcua serve --https`, stopped when dropped.
struct Https {
    child: Child,
    port: u16,
}

impl Drop for Https {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn serve_https(dir: &Path, agent: &ureq::Agent) -> Https {
    let port = free_port();
    let child = Command::new(binary("motcua"))
        .args(["serve", "--data"])
        .arg(dir)
        .args(["--https", &format!("127.0.0.1:{port}"), "--sync", "127.0.0.1:0"])
        .env("MOTCUA_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("MOTCUA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut node = Https { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = node.child.try_wait().unwrap() {
            panic!("motcua exited early with {status}");
        }
        let url = format!("https://localhost:{port}/healthz");
        if agent.get(&url).call().is_ok_and(|r| r.status() == 200) {
            return node;
        }
        assert!(Instant::now() < deadline, "the HTTPS node did not become ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `motcua serve --https` that must refuse to start: its one-line reason.
fn serve_refused(dir: &Path, extra: &[&str]) -> (i32, String) {
    let out = Command::new(binary("motcua"))
        .args(["serve", "--data"])
        .arg(dir)
        .args(["--https", &format!("127.0.0.1:{}", free_port()), "--sync", "127.0.0.1:0"])
        .args(extra)
        .env("MOTCUA_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("MOTCUA_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), err)
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn set_cookies(res: &ureq::http::Response<ureq::Body>) -> Vec<String> {
    res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect()
}

fn json_body(res: ureq::http::Response<ureq::Body>) -> Value {
    res.into_body().read_json().unwrap()
}

/// A province and a commune bundle enrolled for `localhost` and 127.0.0.1.
fn enrolled(dir: &Path) -> (PathBuf, PathBuf) {
    let province = dir.join("province");
    init_province(&province, "56");
    let bundle = dir.join("xa-22015");
    enroll(&province, &bundle, &["--lan-name", "127.0.0.1", "--lan-name", "localhost"]);
    (province, bundle)
}

#[test]
fn an_enrolled_node_serves_https_to_desks_that_trust_the_province_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (province, bundle) = enrolled(dir.path());
    assert_eq!(mode(&province.join("province-ca.key")), 0o600);
    assert_eq!(mode(&bundle.join("tls.key")), 0o600);
    let ca = std::fs::read(bundle.join("province-ca.crt")).unwrap();
    assert_eq!(ca, std::fs::read(province.join("province-ca.crt")).unwrap(), "the bundle carries the province's CA");

    let agent = trusting(&ca);
    let node = serve_https(&bundle, &agent);
    let url = |host: &str, path: &str| format!("https://{host}:{}{path}", node.port);

    // Both names verify against the province's CA alone.
    for host in ["localhost", "127.0.0.1"] {
        let res = agent.get(&url(host, "/healthz")).call().unwrap();
        assert_eq!(res.status(), 200);
        let hsts = res.headers().get("strict-transport-security").map(|v| v.to_str().unwrap().to_string());
        assert_eq!(hsts.as_deref(), Some("max-age=31536000"), "{host}");
        assert_eq!(json_body(res)["unit"], "22015");
    }

    // A browser's same-origin login over HTTPS.
    let res = agent
        .post(&url("localhost", "/api/v1/session"))
        .header("Origin", &format!("https://localhost:{}", node.port))
        .send_json(json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("strict-transport-security"), "API answers carry HSTS");
    let cookies = set_cookies(&res);
    let session = cookies.iter().find(|c| c.starts_with("__Host-motcua_session=")).expect("a __Host- session cookie");
    for attribute in ["; Secure", "; HttpOnly", "; SameSite=Strict", "; Path=/"] {
        assert!(session.contains(attribute), "{attribute} in {session}");
    }
    assert!(!session.to_ascii_lowercase().contains("domain="), "a __Host- cookie names no domain: {session}");
    let device = cookies.iter().find(|c| c.starts_with("__Secure-motcua_device=")).expect("a __Secure- device cookie");
    assert!(device.contains("; Secure") && device.contains("; Path=/api/v1/session"), "{device}");
    let body = json_body(res);
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    let cookie = session.split(';').next().unwrap().to_string();

    // The cookie authenticates API calls over HTTPS, reads and writes.
    let res = agent.get(&url("localhost", "/api/v1/session")).header("Cookie", &cookie).call().unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(json_body(res)["username"], "admin");
    let res = agent
        .post(&url("localhost", "/api/v1/dossiers"))
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .send_json(motcua_tests::dossier_request("2.000720", 1))
        .unwrap();
    assert_eq!(res.status(), 201);
    let code = json_body(res)["code"].as_str().unwrap().to_string();
    let res =
        agent.get(&url("127.0.0.1", &format!("/api/v1/dossiers/{code}"))).header("Cookie", &cookie).call().unwrap();
    assert_eq!(res.status(), 200);
    // Only the TLS names are read: the plain-HTTP name carries no session.
    let plain = cookie.replacen("__Host-", "", 1);
    let res = agent.get(&url("localhost", "/api/v1/session")).header("Cookie", &plain).call().unwrap();
    assert_eq!(res.status(), 401);
    // Logging out expires the cookie under the same name and attributes.
    let res = agent
        .delete(&url("localhost", "/api/v1/session"))
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .call()
        .unwrap();
    assert_eq!(res.status(), 204);
    let expired = set_cookies(&res);
    assert!(expired.iter().any(|c| c.starts_with("__Host-motcua_session=;") && c.contains("; Secure")), "{expired:?}");

    // A login from another site's page is still refused.
    let res = agent
        .post(&url("localhost", "/api/v1/session"))
        .header("Origin", "https://evil.example")
        .header("Sec-Fetch-Site", "cross-site")
        .send_json(json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .unwrap();
    assert_eq!(res.status(), 403);

    // A client that does not trust the province's CA gets no connection.
    let public_roots = ureq::Agent::config_builder()
        .tls_config(ureq::tls::TlsConfig::builder().provider(ureq::tls::TlsProvider::Rustls).build())
        .build();
    let stranger: ureq::Agent = public_roots.into();
    assert!(stranger.get(&url("localhost", "/healthz")).call().is_err());

    // Plain HTTP to the HTTPS port gets no HTTP answer.
    assert!(agent.get(&format!("http://127.0.0.1:{}/healthz", node.port)).call().is_err());
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", node.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut reply = Vec::new();
    let _ = tcp.read_to_end(&mut reply);
    assert!(!reply.starts_with(b"HTTP/"), "an HTTP answer: {}", String::from_utf8_lossy(&reply));
    assert!(!String::from_utf8_lossy(&reply).contains("22015"), "nothing of the node's data in clear");

    // SIGTERM stops an HTTPS node cleanly, as it does a plain one.
    let mut node = node;
    // SAFETY: signalling a child process this test started.
    unsafe { libc::kill(node.child.id() as i32, libc::SIGTERM) };
    assert_eq!(node.child.wait().unwrap().code(), Some(0));

    // Without --https the same node serves plain HTTP as before: no HSTS,
    // the plain cookie names, no Secure.
    let plain = motcua_tests::Node::start(&bundle);
    assert!(plain.get("/healthz").headers.get("strict-transport-security").is_none());
    let login = plain.login_from(&format!("http://127.0.0.1:{}", plain.port), Some("same-origin"));
    assert_eq!(login.status, 200);
    let cookie = login.set_cookie.unwrap();
    assert!(cookie.starts_with("motcua_session=") && !cookie.contains("Secure"), "{cookie}");
}

#[test]
fn bad_lan_names_and_provinces_without_a_lan_ca_are_refused_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let province = dir.path().join("province");
    init_province(&province, "56");
    let out = dir.path().join("bundle");
    for bad in ["bad name", "*.xa.lan", "192.168.1.300", "0.0.0.0", ""] {
        let err = enroll_refused(&province, &out, &["--lan-name", "localhost", "--lan-name", bad], &[]);
        assert!(err.contains(&format!("--lan-name '{bad}' is not a host name or an IP address")), "{err}");
    }

    // A province made before LAN CAs: told how to make one, then it works.
    std::fs::remove_file(province.join("province-ca.key")).unwrap();
    std::fs::remove_file(province.join("province-ca.crt")).unwrap();
    let err = enroll_refused(&province, &out, &["--lan-name", "localhost"], &[]);
    assert!(err.contains("no LAN certificate authority") && err.contains("init-lan-ca"), "{err}");
    enroll(&province, &dir.path().join("without-tls"), &[]);
    assert!(!dir.path().join("without-tls/province-ca.crt").exists());
    let (code, out_text, err) = provision(&["init-lan-ca", "--province", province.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out_text.contains("province-ca.crt"), "{out_text}");
    let (code, _, err) = provision(&["init-lan-ca", "--province", province.to_str().unwrap()]);
    assert_eq!(code, 1, "the CA is never replaced");
    assert!(err.contains("already exists"), "{err}");
    enroll(&province, &out, &["--lan-name", "motcua-xa.lan"]);
    assert!(out.join("tls.crt").exists() && out.join("tls.key").exists() && out.join("province-ca.crt").exists());

    // issue-tls renews the certificate for new names and keeps the key.
    let key = std::fs::read(out.join("tls.key")).unwrap();
    let cert = std::fs::read(out.join("tls.crt")).unwrap();
    let (code, text, err) = provision(&[
        "issue-tls",
        "--province",
        province.to_str().unwrap(),
        "--bundle",
        out.to_str().unwrap(),
        "--lan-name",
        "localhost",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("valid until"), "{text}");
    assert_eq!(std::fs::read(out.join("tls.key")).unwrap(), key);
    assert_ne!(std::fs::read(out.join("tls.crt")).unwrap(), cert);
    let agent = trusting(&std::fs::read(out.join("province-ca.crt")).unwrap());
    drop(serve_https(&out, &agent));
    let before = std::fs::read(out.join("tls.crt")).unwrap();
    let (code, _, err) = provision(&[
        "issue-tls",
        "--province",
        province.to_str().unwrap(),
        "--bundle",
        out.to_str().unwrap(),
        "--lan-name",
        "xa_lan",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("--lan-name 'xa_lan'"), "{err}");
    assert_eq!(std::fs::read(out.join("tls.crt")).unwrap(), before, "a refused renewal changes nothing");

    // An encrypted province seals its LAN CA key with the same passphrase.
    let sealed = dir.path().join("sealed");
    let pass = [("MOTCUA_PROVINCE_PASSPHRASE", "mat-khau-tinh-dai-du")];
    let (code, _, err) = provision_env(
        &["init-province", "--dir", sealed.to_str().unwrap(), "--code", "56", "--name", "Tỉnh", "--encrypt"],
        &pass,
    );
    assert_eq!(code, 0, "{err}");
    let key = std::fs::read_to_string(sealed.join("province-ca.key")).unwrap();
    assert!(key.starts_with('{') && !key.contains("PRIVATE KEY"), "sealed: {key}");
    let err = enroll_refused(&sealed, &out.with_file_name("s1"), &["--lan-name", "localhost"], &[]);
    assert!(err.contains("MOTCUA_PROVINCE_PASSPHRASE"), "{err}");
    let s2 = dir.path().join("s2");
    let mut args = vec![
        "enroll",
        "--province",
        sealed.to_str().unwrap(),
        "--role",
        "commune",
        "--unit",
        "22015",
        "--name",
        "Xã",
        "--agency-id",
        "000.21.45.H56",
        "--out",
        s2.to_str().unwrap(),
    ];
    args.extend(["--lan-name", "localhost"]);
    let (code, _, err) = provision_env(&args, &pass);
    assert_eq!(code, 0, "{err}");
    assert!(s2.join("tls.crt").exists());
}

#[test]
fn a_node_without_a_usable_tls_identity_refuses_to_start_with_https() {
    let dir = tempfile::tempdir().unwrap();
    let (province, bundle) = enrolled(dir.path());
    let before = listing(&bundle);

    std::fs::rename(bundle.join("tls.key"), dir.path().join("tls.key.aside")).unwrap();
    let (code, err) = serve_refused(&bundle, &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("tls.key") && err.contains("--lan-name"), "{err}");
    std::fs::rename(dir.path().join("tls.key.aside"), bundle.join("tls.key")).unwrap();
    assert_eq!(listing(&bundle), before, "the refused start wrote nothing");

    // Another node's key beside this node's certificate.
    let other = dir.path().join("other");
    enroll_as(&province, "commune", "22016", "000.21.45.H56", &other, &["--lan-name", "localhost"]);
    std::fs::copy(other.join("tls.key"), bundle.join("tls.key")).unwrap();
    let (code, err) = serve_refused(&bundle, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a usable pair"), "{err}");

    // A certificate file that holds no certificate.
    std::fs::copy(other.join("tls.key"), other.join("tls.crt")).unwrap();
    let (code, err) = serve_refused(&other, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("tls.crt"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");

    // A demo data directory has no TLS identity.
    let demo = dir.path().join("demo");
    let (code, err) = serve_refused(&demo, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("tls.crt"), "{err}");
    assert!(!demo.join("motcua.redb").exists(), "no demo node was provisioned");

    // --https serves only HTTPS: --http beside it is a flag error.
    let (code, err) = serve_refused(&bundle, &["--http", "127.0.0.1:0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--http"), "{err}");
}
