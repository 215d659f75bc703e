//! The command line: defaults, one-line errors, exit codes, clean shutdown.

use std::process::{Command, Stdio};

use motcua_tests::{ADMIN_PASSWORD, Node, binary, free_port};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(binary("motcua")).args(args).env("MOTCUA_LOG", "warn").output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn id_prints_the_node_id_the_running_node_reports() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let (code, out, _) = run(&["id", "--data", data.to_str().unwrap()]);
    assert_eq!(code, 0);
    let id = out.trim().to_string();
    assert_eq!(id.len(), 64);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let node = Node::start(&data);
    assert_eq!(node.get("/healthz").body["node_id"], id.as_str());
}

#[test]
fn bad_flags_and_unusable_data_directories_fail_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&["serve", "--http", "not-an-address"]);
    assert_ne!(code, 0);
    assert!(err.contains("not-an-address"), "{err}");
    let (code, _, err) = run(&["serve", "--peer", "abc@127.0.0.1:1"]);
    assert_ne!(code, 0);
    assert!(err.contains("64 hex digits"), "{err}");

    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("thesis.docx"), b"not ours").unwrap();
    let port = free_port().to_string();
    let (code, _, err) = run(&["serve", "--data", foreign.to_str().unwrap(), "--http", &format!("127.0.0.1:{port}")]);
    assert_eq!(code, 1);
    assert!(err.contains("not a motcua data directory"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1, "nothing was written there");
    // The write probe left by a first start killed at once is no stranger's file.
    let killed = dir.path().join("killed-at-once");
    std::fs::create_dir(&killed).unwrap();
    std::fs::write(killed.join(".motcua-write-test"), b"").unwrap();
    let (code, out, err) = run(&["id", "--data", killed.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim().len(), 64, "{out}");

    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let (code, _, err) = run(&["serve", "--data", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("not a directory"), "{err}");
}

#[test]
fn a_port_in_use_or_a_data_directory_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path());
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let other = dir.path().join("other");
    let (code, _, err) =
        run(&["serve", "--data", other.to_str().unwrap(), "--http", &format!("127.0.0.1:{busy_port}")]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot listen"), "{err}");
    let (code, _, err) =
        run(&["serve", "--data", dir.path().to_str().unwrap(), "--http", &format!("127.0.0.1:{}", free_port())]);
    assert_eq!(code, 1);
    assert!(err.contains("in use"), "{err}");
    assert_eq!(node.get("/healthz").status, 200, "the first node is unharmed");
}

#[test]
fn sigterm_shuts_down_cleanly_and_data_persists() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start_logged_in(dir.path());
    let code = node.receive(&motcua_tests::dossier_request("2.000720", 1)).body["code"].as_str().unwrap().to_string();
    node.get(&format!("/api/v1/dossiers/{code}"));
    let data = dir.path().to_str().unwrap();
    let (status, _, err) = run(&["audit", "verify", "--data", data]);
    assert_eq!(status, 1, "a running node's store is in use");
    assert!(err.contains("in use"), "{err}");
    assert_eq!(node.stop(), Some(0));
    let (status, out, err) = run(&["audit", "verify", "--data", data]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out.trim(), "audit log intact: 2 lines", "reception and read are audited");
    let node = Node::start_logged_in(dir.path());
    assert_eq!(node.get(&format!("/api/v1/dossiers/{code}")).body["state"], 2);
}

#[test]
fn a_generated_admin_password_is_printed_once_and_works() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let spawn = || {
        Command::new(binary("motcua"))
            .args(["serve", "--data", dir.path().to_str().unwrap(), "--http", &format!("127.0.0.1:{port}")])
            .env_remove("MOTCUA_ADMIN_PASSWORD")
            .env("MOTCUA_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let read_until_serving = |child: &mut std::process::Child| {
        use std::io::BufRead;
        let mut lines = Vec::new();
        let reader = std::io::BufReader::new(child.stdout.take().unwrap());
        for line in reader.lines() {
            let line = line.unwrap();
            let done = line.contains("serving");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    };
    let mut child = spawn();
    let lines = read_until_serving(&mut child);
    let password = lines
        .iter()
        .find_map(|l| l.split("password: ").nth(1))
        .expect("password printed on first start")
        .trim()
        .to_string();
    let node = Node::detached(dir.path(), port);
    assert!(node.login("admin", &password).is_ok());
    assert!(node.login("admin", ADMIN_PASSWORD).is_err());
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let mut child = spawn();
    let lines = read_until_serving(&mut child);
    assert!(!lines.iter().any(|l| l.contains("password")), "{lines:?}");
    child.kill().ok();
    child.wait().ok();
}
