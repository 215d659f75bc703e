//! Network namespaces for thin-link tests and benchmarks: a node in its
//! own namespace reaches the root namespace over a veth pair shaped with
//! `tc tbf`, and over a second, unshaped one for the test's HTTP. Needs
//! root (CAP_NET_ADMIN).

use std::process::Command;

pub fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().expect("run ip/tc");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A namespace with two veth links to the root namespace: `sync` (shaped)
/// and `ctl` (the test's HTTP, unshaped). Removed on drop.
pub struct Netns {
    pub name: String,
    sync_root: String,
    sync_ns: String,
}

impl Netns {
    /// With the sync link shaped to `rate` each way (`tc tbf`).
    pub fn shaped(tag: u32, rate: &str) -> Netns {
        let name = format!("mc{tag}");
        let (sync_root, sync_ns) = (format!("ms{tag}a"), format!("ms{tag}b"));
        let (ctl_root, ctl_ns) = (format!("mk{tag}a"), format!("mk{tag}b"));
        let subnet = 100 + (tag % 100);
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name: name.clone(), sync_root: sync_root.clone(), sync_ns: sync_ns.clone() };
        for (root, inner, net) in [(&sync_root, &sync_ns, 1), (&ctl_root, &ctl_ns, 2)] {
            sh(&["ip", "link", "add", root, "type", "veth", "peer", "name", inner]);
            sh(&["ip", "link", "set", inner, "netns", &name]);
            sh(&["ip", "addr", "add", &format!("10.{subnet}.{net}.1/24"), "dev", root]);
            sh(&["ip", "link", "set", root, "up"]);
            sh(&["ip", "netns", "exec", &name, "ip", "addr", "add", &format!("10.{subnet}.{net}.2/24"), "dev", inner]);
            sh(&["ip", "netns", "exec", &name, "ip", "link", "set", inner, "up"]);
        }
        sh(&["ip", "netns", "exec", &name, "ip", "link", "set", "lo", "up"]);
        sh(&["tc", "qdisc", "add", "dev", &sync_root, "root", "tbf", "rate", rate, "burst", "4kb", "latency", "500ms"]);
        sh(&[
            "ip", "netns", "exec", &name, "tc", "qdisc", "add", "dev", &sync_ns, "root", "tbf", "rate", rate, "burst",
            "4kb", "latency", "500ms",
        ]);
        ns
    }

    /// Bytes the namespace has sent on the sync link (its egress qdisc's
    /// count: every packet, headers included).
    pub fn bytes_sent(&self) -> u64 {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "tc", "-s", "qdisc", "show", "dev", &self.sync_ns])
            .output()
            .expect("run tc");
        let text = String::from_utf8_lossy(&out.stdout);
        let sent = text.split("Sent ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok());
        sent.unwrap_or_else(|| panic!("no byte count in {text}"))
    }

    pub fn set_link(&self, up: bool) {
        sh(&["ip", "link", "set", &self.sync_root, if up { "up" } else { "down" }]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        Command::new("ip").args(["netns", "del", &self.name]).status().ok();
        Command::new("ip").args(["link", "del", &self.sync_root]).status().ok();
    }
}
