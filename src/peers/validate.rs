//! Checks a list of peers as a whole (pure: no files, no clock). Both
//! sources go through [`validate`]: the file source refuses the whole file
//! on any finding, the Kubernetes source leaves out the nodes named in the
//! findings and keeps the others.

use super::Peer;
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// One thing wrong with one node of a list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node {name:?}: {why}")]
pub struct Finding {
    /// The node's name as given (may be the offending value itself).
    pub name: String,
    pub why: String,
}

fn finding(name: &str, why: impl Into<String>) -> Finding {
    Finding { name: name.chars().take(300).collect(), why: why.into() }
}

/// Node names: 1 to 253 ASCII letters, digits, `-`, `.` and `_` (Kubernetes
/// node names and host names fit).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
}

fn v4(n: &IpNet) -> bool {
    matches!(n, IpNet::V4(_))
}

/// The problems of one node taken alone.
fn check_one(p: &Peer) -> Vec<Finding> {
    let mut out = vec![];
    if !valid_name(&p.name) {
        out.push(finding(&p.name, "the name must be 1 to 253 letters, digits, '-', '.' or '_'"));
    }
    if p.pod_cidrs.is_empty() {
        out.push(finding(&p.name, "no pod CIDR"));
    }
    if p.pod_cidrs.iter().filter(|c| v4(c)).count() > 1 || p.pod_cidrs.iter().filter(|c| !v4(c)).count() > 1 {
        out.push(finding(&p.name, "more than one pod CIDR of one family"));
    }
    for c in &p.pod_cidrs {
        if c.addr() != c.network() {
            out.push(finding(&p.name, format!("pod CIDR {c} has host bits set (the network is {})", c.trunc())));
        }
        let is_unicast = match c.network() {
            IpAddr::V4(a) => !a.is_unspecified() && !a.is_multicast() && !a.is_loopback() && !a.is_broadcast(),
            IpAddr::V6(a) => !a.is_multicast() && !a.is_loopback(),
        };
        if !is_unicast || c.prefix_len() == 0 {
            out.push(finding(&p.name, format!("pod CIDR {c} is not a unicast range")));
        }
    }
    if p.internal_ips.is_empty() {
        out.push(finding(&p.name, "no internal IP"));
    }
    if p.internal_ips.iter().filter(|a| a.is_ipv4()).count() > 1 || p.internal_ips.iter().filter(|a| a.is_ipv6()).count() > 1 {
        out.push(finding(&p.name, "more than one internal IP of one family"));
    }
    for a in &p.internal_ips {
        let bad = a.is_unspecified()
            || a.is_loopback()
            || a.is_multicast()
            || matches!(a, IpAddr::V4(v) if v.is_broadcast())
            || matches!(a, IpAddr::V6(v) if v.segments()[0] & 0xffc0 == 0xfe80);
        if bad {
            out.push(finding(&p.name, format!("internal IP {a} cannot reach a node (unspecified, loopback, multicast, broadcast or link-local)")));
        }
    }
    out
}

/// Checks every node and the list as a whole (unique names, pod CIDRs
/// that do not overlap, internal IPs used once). Returns the list sorted by
/// name, or every finding.
pub fn validate(mut nodes: Vec<Peer>) -> Result<Vec<Peer>, Vec<Finding>> {
    let mut out: Vec<Finding> = nodes.iter().flat_map(check_one).collect();
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &nodes {
        *names.entry(&p.name).or_default() += 1;
    }
    for (n, c) in &names {
        if *c > 1 {
            out.push(finding(n, format!("listed {c} times")));
        }
    }
    for (i, a) in nodes.iter().enumerate() {
        for b in &nodes[i + 1..] {
            for ca in &a.pod_cidrs {
                for cb in &b.pod_cidrs {
                    if ca.contains(&cb.network()) || cb.contains(&ca.network()) {
                        out.push(finding(&b.name, format!("pod CIDR {cb} overlaps {ca} of node {:?}", a.name)));
                    }
                }
            }
            for ip in &a.internal_ips {
                if b.internal_ips.contains(ip) {
                    out.push(finding(&b.name, format!("internal IP {ip} is also node {:?}'s", a.name)));
                }
            }
        }
    }
    if !out.is_empty() {
        return Err(out);
    }
    nodes.sort();
    Ok(nodes)
}

/// Why the text of a peer file was refused.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("not a JSON list of nodes ({0}); expected [{{\"name\": ..., \"podCIDRs\": [...], \"internalIPs\": [...]}}, ...]")]
    Json(#[source] serde_json::Error),
    #[error("{}", join(.0))]
    Invalid(Vec<Finding>),
}

fn join(f: &[Finding]) -> String {
    let shown: Vec<String> = f.iter().take(5).map(|f| f.to_string()).collect();
    let more = if f.len() > 5 { format!(" (and {} more)", f.len() - 5) } else { String::new() };
    format!("{}{more}", shown.join("; "))
}

/// Parses and checks the text of a peer file: the whole list or nothing.
pub fn parse_file(bytes: &[u8]) -> Result<Vec<Peer>, FileError> {
    let nodes: Vec<Peer> = serde_json::from_slice(bytes).map_err(FileError::Json)?;
    validate(nodes).map_err(FileError::Invalid)
}

/// Whether this node's own entry in the list disagrees with the pod CIDRs
/// the agent was started with (`--pod-cidr`). The agent's pods use
/// `--pod-cidr` while the peers route the listed CIDRs here, so a mismatch
/// strands the pods of whichever range is missing: said, never "fixed".
/// `None` when they agree, when nothing is configured or when the list has
/// no entry for this node.
pub fn local_cidr_mismatch(configured: &[IpNet], listed: Option<&Peer>) -> Option<String> {
    let listed = listed?;
    if configured.is_empty() {
        return None;
    }
    let mut want: Vec<IpNet> = configured.iter().map(IpNet::trunc).collect();
    let mut have: Vec<IpNet> = listed.pod_cidrs.iter().map(IpNet::trunc).collect();
    want.sort();
    have.sort();
    if want == have {
        return None;
    }
    let show = |v: &[IpNet]| if v.is_empty() { "none".to_string() } else { v.iter().map(ToString::to_string).collect::<Vec<_>>().join(",") };
    Some(format!(
        "this node's entry {:?} lists pod CIDRs {} but the agent runs with --pod-cidr {}: its pods get addresses from --pod-cidr while the other nodes route {} here",
        listed.name,
        show(&have),
        show(&want),
        show(&have)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(name: &str, cidrs: &[&str], ips: &[&str]) -> Peer {
        Peer { name: name.into(), pod_cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(), internal_ips: ips.iter().map(|c| c.parse().unwrap()).collect() }
    }

    fn whys(r: Result<Vec<Peer>, Vec<Finding>>) -> String {
        r.unwrap_err().iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn parses_the_issue_format_and_sorts() {
        let text = br#"[
            {"name": "node-b", "podCIDRs": ["198.18.23.0/24", "fd00:23::/64"], "internalIPs": ["192.0.2.13", "fd00::13"]},
            {"name": "node-a", "podCIDRs": ["198.18.22.0/24"], "internalIPs": ["192.0.2.12"]}
        ]"#;
        let v = parse_file(text).unwrap();
        assert_eq!(v.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["node-a", "node-b"]);
        assert_eq!(v[1].pod_cidrs[1], "fd00:23::/64".parse::<IpNet>().unwrap());
        // Round trip: the persisted form is the file form.
        let again = serde_json::to_vec(&v).unwrap();
        assert_eq!(parse_file(&again).unwrap(), v);
        assert_eq!(parse_file(b"[]").unwrap(), vec![]);
    }

    #[test]
    fn refuses_malformed_text() {
        for bad in [&b"{"[..], b"{}", b"[{\"name\": \"a\"}]", b"[{\"name\": \"a\", \"podCIDRs\": [\"198.18.0.0/33\"], \"internalIPs\": []}]", b"[{\"name\": \"a\", \"podCIDRs\": [], \"internalIPs\": [\"192.0.2.300\"]}]"] {
            assert!(matches!(parse_file(bad), Err(FileError::Json(_))), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn one_cidr_and_one_address_per_family() {
        let e = whys(validate(vec![peer("a", &["198.18.0.0/24", "198.18.1.0/24"], &["192.0.2.1"])]));
        assert!(e.contains("more than one pod CIDR of one family"), "{e}");
        let e = whys(validate(vec![peer("a", &["fd00:1::/64", "fd00:2::/64"], &["192.0.2.1"])]));
        assert!(e.contains("more than one pod CIDR of one family"), "{e}");
        let e = whys(validate(vec![peer("a", &["198.18.0.0/24"], &["192.0.2.1", "192.0.2.2"])]));
        assert!(e.contains("more than one internal IP of one family"), "{e}");
        assert!(validate(vec![peer("a", &["198.18.0.0/24", "fd00:1::/64"], &["192.0.2.1", "2001:db8::1"])]).is_ok());
    }

    #[test]
    fn refuses_what_cannot_be_routed() {
        let e = whys(validate(vec![peer("a", &["198.18.0.5/24"], &["192.0.2.1"])]));
        assert!(e.contains("host bits set (the network is 198.18.0.0/24)"), "{e}");
        let e = whys(validate(vec![peer("a", &[], &[])]));
        assert!(e.contains("no pod CIDR") && e.contains("no internal IP"), "{e}");
        for ip in ["0.0.0.0", "127.0.0.1", "224.0.0.1", "255.255.255.255", "::", "fe80::1"] {
            let e = whys(validate(vec![peer("a", &["198.18.0.0/24"], &[ip])]));
            assert!(e.contains("cannot reach a node"), "{ip}: {e}");
        }
        for c in ["0.0.0.0/0", "224.0.0.0/4", "127.0.0.0/8", "ff00::/8"] {
            let e = whys(validate(vec![peer("a", &[c], &["192.0.2.1"])]));
            assert!(e.contains("not a unicast range"), "{c}: {e}");
        }
        for n in ["", "a b", "a/b", &"x".repeat(254)] {
            let e = whys(validate(vec![peer(n, &["198.18.0.0/24"], &["192.0.2.1"])]));
            assert!(e.contains("the name must be"), "{n:?}: {e}");
        }
    }

    #[test]
    fn the_list_as_a_whole() {
        let e = whys(validate(vec![peer("a", &["198.18.0.0/24"], &["192.0.2.1"]), peer("a", &["198.18.1.0/24"], &["192.0.2.2"])]));
        assert!(e.contains("node \"a\": listed 2 times"), "{e}");
        let e = whys(validate(vec![peer("a", &["198.18.0.0/16"], &["192.0.2.1"]), peer("b", &["198.18.1.0/24"], &["192.0.2.2"])]));
        assert!(e.contains("node \"b\": pod CIDR 198.18.1.0/24 overlaps 198.18.0.0/16 of node \"a\""), "{e}");
        let e = whys(validate(vec![peer("a", &["198.18.0.0/24"], &["192.0.2.1"]), peer("b", &["198.18.1.0/24"], &["192.0.2.1"])]));
        assert!(e.contains("internal IP 192.0.2.1 is also node \"a\"'s"), "{e}");
    }

    #[test]
    fn file_errors_are_one_sentence_and_bounded() {
        let nodes: Vec<Peer> = (0..20).map(|i| peer(&format!("n{i}"), &["198.18.0.0/24"], &[&format!("192.0.2.{}", i + 1)])).collect();
        let text = serde_json::to_vec(&nodes).unwrap();
        let msg = parse_file(&text).unwrap_err().to_string();
        assert!(msg.contains("more)") && !msg.contains('\n'), "{msg}");
    }

    #[test]
    fn the_local_entry_is_compared_with_the_configured_cidrs() {
        let me = Peer { name: "n1".into(), pod_cidrs: vec!["198.18.1.0/24".parse().unwrap(), "fd00:1::/64".parse().unwrap()], internal_ips: vec![] };
        let same: Vec<IpNet> = vec!["fd00:1::1/64".parse().unwrap(), "198.18.1.1/24".parse().unwrap()];
        assert_eq!(local_cidr_mismatch(&same, Some(&me)), None, "order and host bits do not matter");
        assert_eq!(local_cidr_mismatch(&same, None), None, "not listed: nothing to compare");
        assert_eq!(local_cidr_mismatch(&[], Some(&me)), None);
        let v4: Vec<IpNet> = vec!["198.18.1.0/24".parse().unwrap()];
        let m = local_cidr_mismatch(&v4, Some(&me)).unwrap();
        assert!(m.contains("198.18.1.0/24,fd00:1::/64") && m.contains("--pod-cidr 198.18.1.0/24"), "{m}");
        let other: Vec<IpNet> = vec!["198.18.9.0/24".parse().unwrap(), "fd00:1::/64".parse().unwrap()];
        assert!(local_cidr_mismatch(&other, Some(&me)).is_some());
    }
}
