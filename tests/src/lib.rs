//! End-to-end harness: real `motcua` processes on loopback, real redb files
//! in temporary directories, driven over HTTP.
//!
//! The binaries must be built first (`cargo build --bins`); the README's
//! test command does that.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub mod bench_dossiers;
pub mod netns;

pub const ADMIN_PASSWORD: &str = "mat-khau-thu-nghiem";

/// Path of a workspace binary next to the test executable's directory.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let mut dir = exe.parent().expect("deps dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(path.exists(), "{} is missing: build the binaries first (cargo build --bins)", path.display());
    path
}

/// A free UDP port on 127.0.0.1 (for a sync endpoint).
pub fn free_udp_port() -> u16 {
    free_port()
}

/// The first port of the kernel's ephemeral range (what `bind(0)` and
/// outgoing connections take).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A port on 127.0.0.1 free for both TCP and UDP, for a node to bind.
/// Taken below the ephemeral range: a port the kernel handed out with
/// `bind(0)` could be handed again to another process (an HTTP client's
/// connection, a peer's socket) in the moment before the node binds it.
/// Each test process walks its own sequence of candidates.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = 10_000u32;
    let span = (ephemeral_start() as u32).saturating_sub(low).max(1_000);
    let start = std::process::id().wrapping_mul(7_919);
    for _ in 0..span {
        let port = (low + start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(104_729)) % span) as u16;
        let free = std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok();
        if free {
            return port;
        }
    }
    panic!("no free port below {}", low + span)
}

/// The node id of a data directory (`motcua id`).
pub fn node_id(dir: &Path) -> String {
    let out = Command::new(binary("motcua")).args(["id", "--data"]).arg(dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Polls `f` until it returns `Some`, for at most `secs` seconds.
pub fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// An HTTP answer: status, headers we look at, and the body as JSON (or
/// `Value::String` with the raw text when it is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub total: Option<u64>,
    pub set_cookie: Option<String>,
    pub headers: Box<ureq::http::HeaderMap>,
}

fn answer(res: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    try_answer(res).expect("HTTP request reached the node")
}

fn try_answer(res: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Option<Answer> {
    let mut res = res.ok()?;
    let status = res.status().as_u16();
    let total = res.headers().get("x-total-count").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let set_cookie = res.headers().get("set-cookie").and_then(|v| v.to_str().ok()).map(str::to_string);
    let headers = Box::new(res.headers().clone());
    let text = res.body_mut().with_config().limit(64 * 1024 * 1024).read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Some(Answer { status, body, total, set_cookie, headers })
}

/// A running `motcua serve`.
pub struct Node {
    pub child: Option<Child>,
    pub dir: PathBuf,
    pub port: u16,
    /// The address its HTTP API listens on.
    pub host: String,
    pub token: Option<String>,
    agent: ureq::Agent,
}

impl Node {
    /// Starts a node on `dir` and waits until it answers `/healthz`.
    pub fn start(dir: &Path) -> Node {
        Node::start_syncing(dir, 0, &[])
    }

    /// Starts a node whose sync endpoint listens on 127.0.0.1:`sync_port`
    /// (0: any) and dials `peers` (`NODE_ID@HOST:PORT`), logged in as admin.
    pub fn start_sync(dir: &Path, sync_port: u16, peers: &[String]) -> Node {
        let mut node = Node::start_syncing(dir, sync_port, peers);
        node.token = Some(node.login("admin", ADMIN_PASSWORD).expect("admin login"));
        node
    }

    /// Starts a node whose sync endpoint listens on `sync` (HTTP on
    /// 127.0.0.1), logged in as admin.
    pub fn start_sync_on(dir: &Path, sync: &str) -> Node {
        let mut node = Node::spawn_in(None, dir, "127.0.0.1", sync, &[]);
        node.token = Some(node.login("admin", ADMIN_PASSWORD).expect("admin login"));
        node
    }

    fn start_syncing(dir: &Path, sync_port: u16, peers: &[String]) -> Node {
        Node::spawn_in(None, dir, "127.0.0.1", &format!("127.0.0.1:{sync_port}"), peers)
    }

    /// Starts a node inside network namespace `netns`, its HTTP API on
    /// `host`, its sync endpoint on `sync`, logged in as admin.
    pub fn start_in(netns: &str, dir: &Path, host: &str, sync: &str, peers: &[String]) -> Node {
        let mut node = Node::spawn_in(Some(netns), dir, host, sync, peers);
        node.token = Some(node.login("admin", ADMIN_PASSWORD).expect("admin login"));
        node
    }

    fn spawn_in(netns: Option<&str>, dir: &Path, host: &str, sync: &str, peers: &[String]) -> Node {
        let port = free_port();
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(binary("motcua"));
                c
            }
            None => Command::new(binary("motcua")),
        };
        cmd.args(["serve", "--data"]).arg(dir).args(["--http", &format!("{host}:{port}"), "--sync", sync]);
        for p in peers {
            cmd.args(["--peer", p]);
        }
        let child = cmd
            .env("MOTCUA_ADMIN_PASSWORD", ADMIN_PASSWORD)
            // MOTCUA_TEST_LOG=info shows the nodes' logs (benchmarks, debugging).
            .env("MOTCUA_LOG", std::env::var("MOTCUA_TEST_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn motcua");
        let mut node =
            Node { child: Some(child), dir: dir.to_path_buf(), port, host: host.into(), token: None, agent: agent() };
        node.wait_ready();
        node
    }

    /// Starts `motcua serve` on `dir` with its sync endpoint on `sync`,
    /// dialing `peers`, its stderr (logs, and any panic message) appended
    /// to `log`; waits until it answers, logged in as admin.
    pub fn start_with_log(dir: &Path, sync: &str, peers: &[&str], log: &Path) -> Node {
        let port = free_port();
        let mut cmd = Command::new(binary("motcua"));
        cmd.args(["serve", "--data"]).arg(dir).args(["--http", &format!("127.0.0.1:{port}"), "--sync", sync]);
        for p in peers {
            cmd.args(["--peer", p]);
        }
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("open the node's log");
        let child = cmd
            .env("MOTCUA_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("MOTCUA_LOG", std::env::var("MOTCUA_TEST_LOG").unwrap_or_else(|_| "info".into()))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn motcua");
        let mut node = Node::detached(dir, port);
        node.child = Some(child);
        node.wait_ready();
        node.token = Some(node.login("admin", ADMIN_PASSWORD).expect("admin login"));
        node
    }

    /// A handle on a node process owned elsewhere, without a session.
    pub fn detached(dir: &Path, port: u16) -> Node {
        Node { child: None, dir: dir.to_path_buf(), port, host: "127.0.0.1".into(), token: None, agent: agent() }
    }

    /// Starts a node and logs in as admin.
    pub fn start_logged_in(dir: &Path) -> Node {
        let mut node = Node::start(dir);
        node.token = Some(node.login("admin", ADMIN_PASSWORD).expect("admin login"));
        node
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("motcua exited early with {status}");
            }
            let ok = self.agent.get(&self.url("/healthz")).call().map(|r| r.status() == 200).unwrap_or(false);
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "node did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}:{}{path}", self.host, self.port)
    }

    /// Posts a login as a browser would, naming its page's origin and how
    /// that page relates to the node (`Sec-Fetch-Site`).
    pub fn login_from(&self, origin: &str, fetch_site: Option<&str>) -> Answer {
        let mut req = self.agent.post(&self.url("/api/v1/session")).header("Origin", origin);
        if let Some(site) = fetch_site {
            req = req.header("Sec-Fetch-Site", site);
        }
        answer(req.send_json(json!({"username": "admin", "password": ADMIN_PASSWORD})))
    }

    pub fn login(&self, username: &str, password: &str) -> Result<String, Answer> {
        let a = answer(
            self.agent
                .post(&self.url("/api/v1/session"))
                .send_json(json!({"username": username, "password": password})),
        );
        match a.body["token"].as_str() {
            Some(t) if a.status == 200 => Ok(t.to_string()),
            _ => Err(a),
        }
    }

    fn auth(&self, token: Option<&str>) -> Option<String> {
        token.or(self.token.as_deref()).map(|t| format!("Bearer {t}"))
    }

    pub fn get_as(&self, token: Option<&str>, path: &str) -> Answer {
        let mut req = self.agent.get(&self.url(path));
        if let Some(a) = self.auth(token) {
            req = req.header("Authorization", a);
        }
        answer(req.call())
    }

    pub fn get(&self, path: &str) -> Answer {
        self.get_as(None, path)
    }

    pub fn post_as(&self, token: Option<&str>, path: &str, body: &Value) -> Answer {
        let mut req = self.agent.post(&self.url(path));
        if let Some(a) = self.auth(token) {
            req = req.header("Authorization", a);
        }
        answer(req.send_json(body))
    }

    pub fn post(&self, path: &str, body: &Value) -> Answer {
        self.post_as(None, path, body)
    }

    /// Posts raw bytes with a content type.
    pub fn post_raw(&self, path: &str, content_type: &str, body: &[u8]) -> Answer {
        self.post_raw_as(None, path, content_type, body)
    }

    pub fn post_raw_as(&self, token: Option<&str>, path: &str, content_type: &str, body: &[u8]) -> Answer {
        let mut req = self.agent.post(&self.url(path)).header("Content-Type", content_type);
        if let Some(a) = self.auth(token) {
            req = req.header("Authorization", a);
        }
        answer(req.send(body))
    }

    /// Uploads a file to a dossier: its bytes as the body, chunked (no
    /// length announced) when `chunked`.
    pub fn attach(&self, code: &str, query: &str, content_type: &str, body: &[u8], chunked: bool) -> Answer {
        let mut req = self
            .agent
            .post(&self.url(&format!("/api/v1/dossiers/{code}/attachments?{query}")))
            .header("Content-Type", content_type);
        if let Some(a) = self.auth(None) {
            req = req.header("Authorization", a);
        }
        if chunked {
            let mut reader = body;
            answer(req.send(ureq::SendBody::from_reader(&mut reader)))
        } else {
            answer(req.send(body))
        }
    }

    /// A request written by hand on a fresh connection: `head` (request
    /// line and headers, no blank line), then `body`'s chunks until the
    /// node stops reading; the answer's status and body. For bodies a
    /// client library will not send (a length over the limit, a stream
    /// that never ends) or whose answer comes before the body is sent.
    pub fn raw_request(&self, head: &str, mut body: impl FnMut() -> Option<Vec<u8>> + Send + 'static) -> (u16, Value) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect((self.host.as_str(), self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let auth = self.token.as_deref().map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        s.write_all(format!("{head}\r\n{auth}Connection: close\r\n\r\n").as_bytes()).unwrap();
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            while let Some(chunk) = body() {
                if w.write_all(&chunk).is_err() {
                    break;
                }
            }
        });
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        s.shutdown(std::net::Shutdown::Both).ok();
        writer.join().ok();
        let text = String::from_utf8_lossy(&got).to_string();
        let status = text.split(' ').nth(1).and_then(|c| c.parse().ok());
        let status = status.unwrap_or_else(|| panic!("no status line in {text:?}"));
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (status, serde_json::from_str(body).unwrap_or(Value::String(body.to_string())))
    }

    /// A GET whose answer is bytes: status, content type, body.
    pub fn get_bytes(&self, path: &str) -> (u16, String, Vec<u8>) {
        let mut req = self.agent.get(&self.url(path));
        if let Some(a) = self.auth(None) {
            req = req.header("Authorization", a);
        }
        let mut res = req.call().expect("HTTP request reached the node");
        let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let body = res.body_mut().with_config().limit(256 * 1024 * 1024).read_to_vec().unwrap_or_default();
        (res.status().as_u16(), ct, body)
    }

    /// Posts with a cookie header and optional CSRF token instead of a bearer token.
    pub fn post_with_cookie(&self, path: &str, cookie: &str, csrf: Option<&str>, body: &Value) -> Answer {
        let mut req = self.agent.post(&self.url(path)).header("Cookie", cookie);
        if let Some(c) = csrf {
            req = req.header("X-CSRF-Token", c);
        }
        answer(req.send_json(body))
    }

    /// Creates an account and returns a logged-in token for it.
    pub fn officer(&self, username: &str, roles: &[&str]) -> String {
        let password = "mat-khau-can-bo";
        let a = self.post("/api/v1/accounts", &json!({"username": username, "password": password, "roles": roles}));
        assert_eq!(a.status, 201, "{a:?}");
        self.login(username, password).expect("officer login")
    }

    pub fn receive(&self, body: &Value) -> Answer {
        self.post("/api/v1/dossiers", body)
    }

    /// Receives a dossier; `None` when the node could not be reached or
    /// died before answering.
    pub fn try_receive(&self, body: &Value) -> Option<Answer> {
        let mut req = self.agent.post(&self.url("/api/v1/dossiers"));
        if let Some(a) = self.auth(None) {
            req = req.header("Authorization", a);
        }
        try_answer(req.send_json(body))
    }

    /// Records an action; `None` if the node did not answer (it was killed).
    pub fn try_act(&self, code: &str, body: &Value) -> Option<Answer> {
        let mut req = self.agent.post(&self.url(&format!("/api/v1/dossiers/{code}/actions")));
        if let Some(a) = self.auth(None) {
            req = req.header("Authorization", a);
        }
        try_answer(req.send_json(body))
    }

    pub fn act(&self, code: &str, body: &Value) -> Answer {
        self.post(&format!("/api/v1/dossiers/{code}/actions"), body)
    }

    pub fn total_dossiers(&self) -> u64 {
        let a = self.get("/api/v1/dossiers?limit=1");
        assert_eq!(a.status, 200, "{a:?}");
        a.total.expect("X-Total-Count")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill_hard(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        // SAFETY: kill has no memory preconditions; the pid is our child.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        c.wait().ok()?.code()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

/// A dossier request with an obviously synthetic applicant.
pub fn dossier_request(procedure: &str, n: u32) -> Value {
    json!({
        "procedure_code": procedure,
        "applicant": {
            "name": format!("Người Thử Mẫu {n}"),
            "id_number": format!("{:012}", 900_000_000 + n as u64),
            "phone": "0900000000",
            "address": "Thôn Thử Nghiệm"
        },
        "channel": "direct"
    })
}

/// Runs `motcua-provision` and returns (exit code, stdout, stderr).
pub fn provision(args: &[&str]) -> (i32, String, String) {
    provision_env(args, &[])
}

pub fn provision_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(binary("motcua-provision"));
    cmd.args(args).env_remove("MOTCUA_PROVINCE_PASSPHRASE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Creates province `code` in `dir`.
pub fn init_province(dir: &Path, code: &str) {
    let (c, _, err) =
        provision(&["init-province", "--dir", dir.to_str().unwrap(), "--code", code, "--name", "Tỉnh Thử"]);
    assert_eq!(c, 0, "{err}");
}

/// Enrolls a node bundle into `out`.
pub fn enroll_as(province: &Path, role: &str, unit: &str, agency: &str, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "enroll",
        "--province",
        province.to_str().unwrap(),
        "--role",
        role,
        "--unit",
        unit,
        "--name",
        "Đơn vị thử",
        "--agency-id",
        agency,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (c, _, err) = provision(&args);
    assert_eq!(c, 0, "{err}");
}

/// Runs `motcua serve` on a data directory that must be refused; checks the
/// exit code and the one-line reason, and returns it.
pub fn refusal(dir: &Path) -> String {
    let out = Command::new(binary("motcua"))
        .args(["serve", "--data", dir.to_str().unwrap(), "--http", &format!("127.0.0.1:{}", free_port())])
        .env("MOTCUA_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("MOTCUA_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "the data directory must be refused");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    err
}

/// The serial of a bundle's certificate.
pub fn serial(bundle: &Path) -> String {
    let cert: Value = serde_json::from_str(&std::fs::read_to_string(bundle.join("certificate.json")).unwrap()).unwrap();
    cert["certificate"]["serial"].as_str().unwrap().to_string()
}

/// A province root, its province node's bundle, and the nodes enrolled
/// under it, in one temporary directory; the province node syncs on a
/// fixed port that members dial.
pub struct Province {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub tinh: PathBuf,
    pub port: u16,
    pub peer: String,
}

impl Default for Province {
    fn default() -> Province {
        Province::new()
    }
}

impl Province {
    pub fn new() -> Province {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("province-root");
        init_province(&root, "56");
        let tinh = dir.path().join("tinh");
        enroll_as(&root, "province", "56", "000.00.00.H56", &tinh, &[]);
        let port = free_udp_port();
        let peer = format!("{}@127.0.0.1:{port}", node_id(&tinh));
        Province { root, tinh, port, peer, _dir: dir }
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        self.tinh.parent().unwrap().join(name)
    }

    pub fn enroll(&self, role: &str, unit: &str, agency_id: &str, name: &str) -> PathBuf {
        let out = self.dir(name);
        enroll_as(&self.root, role, unit, agency_id, &out, &[]);
        out
    }

    /// Enrolls commune `unit` into `xa-UNIT` beside the province's bundle.
    pub fn enroll_commune(&self, unit: &str, agency_id: &str) -> PathBuf {
        self.enroll("commune", unit, agency_id, &format!("xa-{unit}"))
    }

    pub fn start(&self) -> Node {
        Node::start_sync(&self.tinh, self.port, &[])
    }

    /// Starts a node that dials the province.
    pub fn start_member(&self, dir: &Path) -> Node {
        Node::start_sync(dir, 0, std::slice::from_ref(&self.peer))
    }
}
