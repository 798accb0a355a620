//! The ARP prober and `podflow arping` between namespaces these tests
//! create, joined by veth pairs (198.18.0.0/15 addresses only). Each test
//! sends at most a few hundred probes in well under a few seconds.
mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::netns::{can_run, TestNetns};
use podflow::probe::{Limit, ProbeError, ProbeOptions, Prober};

/// Two namespaces: `a` with `pfa` 198.18.0.1/24, `b` with `pfb`
/// 198.18.0.2/24, joined by a veth pair, both up.
struct Pair {
    a: TestNetns,
    b: TestNetns,
}

const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const TARGET: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PEER_MAC: &str = "02:00:c6:12:00:02";

fn pair(tag: &str) -> Pair {
    let a = TestNetns::new(&format!("{tag}A"));
    let b = TestNetns::new(&format!("{tag}B"));
    a.ip(&["link", "add", "pfa", "type", "veth", "peer", "name", "pfb", "netns", &b.name]);
    a.ip(&["addr", "add", "198.18.0.1/24", "dev", "pfa"]);
    b.ip(&["link", "set", "pfb", "address", PEER_MAC]);
    b.ip(&["addr", "add", "198.18.0.2/24", "dev", "pfb"]);
    a.ip(&["link", "set", "pfa", "up"]);
    b.ip(&["link", "set", "pfb", "up"]);
    Pair { a, b }
}

fn opts(count: u32, interval_ms: u64) -> ProbeOptions {
    ProbeOptions {
        interval: Duration::from_millis(interval_ms),
        limit: Limit::Count(count),
        reply_window: Duration::from_millis(300),
        ..ProbeOptions::default()
    }
}

#[tokio::test]
async fn every_probe_is_answered_across_a_veth() {
    if !can_run() {
        return;
    }
    let p = pair("arpOk");
    let t0 = Instant::now();
    let r = Prober::new(Some(&p.a.name), "pfa", TARGET, opts(100, 5)).run().await.unwrap();
    let took = t0.elapsed();
    let s = &r.summary;
    assert_eq!((s.sent, s.answered, s.lost), (100, 100, 0), "{s:?}");
    assert!(r.all_answered());
    assert!(s.lost_probes.is_empty());
    assert_eq!(s.unmatched_replies, 0);
    assert_eq!(r.source_ip, SRC, "source taken from the interface");
    assert_eq!(r.target_mac.map(|m| m.to_string()).as_deref(), Some(PEER_MAC));
    // Upper bounds here only catch a hang: a loaded machine delays probes.
    assert!(took < Duration::from_secs(15), "took {took:?}");
    // Paced: 99 intervals of 5 ms, never faster.
    let span = Duration::from_nanos(r.probes[99].offset_ns - r.probes[0].offset_ns);
    assert!(span >= Duration::from_millis(490) && span < Duration::from_secs(10), "span {span:?}");
    for w in r.probes.windows(2) {
        assert!(w[1].sent_monotonic_ns > w[0].sent_monotonic_ns);
        assert!(w[1].sent_unix_ns > w[0].sent_unix_ns);
        assert_eq!(w[1].seq, w[0].seq + 1);
    }
    for pr in &r.probes {
        let rtt = pr.rtt().expect("rtt");
        assert!(rtt < Duration::from_secs(2), "probe {} rtt {rtt:?}", pr.seq);
        assert!(pr.send_error.is_none());
    }
}

#[tokio::test]
async fn one_millisecond_interval_is_kept_and_answered() {
    if !can_run() {
        return;
    }
    let p = pair("arp1ms");
    let r = Prober::new(Some(&p.a.name), "pfa", TARGET, opts(200, 1)).run().await.unwrap();
    assert_eq!((r.summary.sent, r.summary.answered), (200, 200), "{:?}", r.summary);
    let span = Duration::from_nanos(r.probes[199].offset_ns - r.probes[0].offset_ns);
    assert!(span >= Duration::from_millis(199), "never faster than the interval: {span:?}");
    assert!(span < Duration::from_secs(10), "{span:?}");
    let min_gap = r.probes.windows(2).map(|w| w[1].offset_ns - w[0].offset_ns).min().unwrap();
    assert!(min_gap >= 500_000, "no bursts: smallest gap {min_gap} ns");
}

#[tokio::test]
async fn with_the_peer_down_every_probe_is_lost_and_listed() {
    if !can_run() {
        return;
    }
    let p = pair("arpDown");
    p.b.ip(&["link", "set", "pfb", "down"]);
    let r = Prober::new(Some(&p.a.name), "pfa", TARGET, opts(50, 5)).run().await.unwrap();
    let s = &r.summary;
    assert_eq!((s.sent, s.answered, s.lost), (50, 0, 50), "{s:?}");
    assert!(!r.all_answered());
    assert_eq!(s.lost_probes.iter().map(|l| l.seq).collect::<Vec<_>>(), (0..50).collect::<Vec<_>>());
    assert!(s.lost_probes.windows(2).all(|w| w[1].sent_monotonic_ns > w[0].sent_monotonic_ns));
    assert!((s.loss_percent - 100.0).abs() < 1e-9);
    assert!(r.target_mac.is_none());
    assert!(s.rtt_avg_ns.is_none());
}

#[tokio::test]
async fn loss_in_the_middle_is_attributed_to_the_right_probes() {
    if !can_run() {
        return;
    }
    let p = pair("arpGap");
    let mut o = opts(0, 5);
    o.limit = Limit::UntilStopped;
    let h = Prober::new(Some(&p.a.name), "pfa", TARGET, o).start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let down_at = Instant::now();
    p.b.ip(&["link", "set", "pfb", "down"]);
    tokio::time::sleep(Duration::from_millis(150)).await;
    p.b.ip(&["link", "set", "pfb", "up"]);
    let up_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = h.finish().await.unwrap();
    let s = &r.summary;
    assert!(s.sent >= 60, "{s:?}");
    assert!(s.lost >= 10, "a 150 ms outage at 5 ms loses probes: {s:?}");
    // Every lost probe was sent during the outage (with a little slack for
    // probes in flight when it started, and carrier coming back).
    for l in &s.lost_probes {
        let pr = &r.probes[l.seq as usize];
        assert!(pr.sent_at + Duration::from_millis(5) >= down_at, "probe {} lost before the outage", l.seq);
        assert!(pr.sent_at <= up_at + Duration::from_millis(300), "probe {} lost long after the outage", l.seq);
    }
    // And the loss is one contiguous run.
    let seqs: Vec<u32> = s.lost_probes.iter().map(|l| l.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert!(r.probes.last().unwrap().replied, "answered again after the outage");
}

#[tokio::test]
async fn events_arrive_in_order_and_match_the_report() {
    if !can_run() {
        return;
    }
    let p = pair("arpEv");
    let mut o = opts(30, 2);
    o.reply_window = Duration::from_millis(50);
    let (h, mut events) = Prober::new(Some(&p.a.name), "pfa", TARGET, o).start_with_events().await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(2), events.recv()).await.expect("an event while running").unwrap();
    assert_eq!(first.seq, 0);
    let mut seen = vec![first];
    while let Some(e) = events.recv().await {
        seen.push(e);
    }
    let r = h.join().await.unwrap();
    assert_eq!(seen.iter().map(|e| e.seq).collect::<Vec<_>>(), (0..30).collect::<Vec<_>>());
    for (e, p) in seen.iter().zip(&r.probes) {
        assert_eq!((e.replied, e.rtt_ns, e.sent_unix_ns), (p.replied, p.rtt_ns, p.sent_unix_ns));
    }
}

#[tokio::test]
async fn only_arp_of_the_chosen_interface_is_seen() {
    if !can_run() {
        return;
    }
    // A second veth from `a` to a third namespace `c` that also has
    // 198.18.0.2 and answers probes sent on `pfc` (same source address).
    // With pfb down, the prober on pfa must see none of those replies.
    let p = pair("arpIso");
    let c = TestNetns::new("arpIsoC");
    p.a.ip(&["link", "add", "pfc", "type", "veth", "peer", "name", "pfd", "netns", &c.name]);
    p.a.ip(&["addr", "add", "198.18.0.1/24", "dev", "pfc", "noprefixroute"]);
    c.ip(&["addr", "add", "198.18.0.2/24", "dev", "pfd"]);
    p.a.ip(&["link", "set", "pfc", "up"]);
    c.ip(&["link", "set", "pfd", "up"]);
    p.b.ip(&["link", "set", "pfb", "down"]);

    let on_pfa = Prober::new(Some(&p.a.name), "pfa", TARGET, opts(40, 5)).start().await.unwrap();
    let mut oc = opts(40, 5);
    oc.source_ip = Some(SRC);
    let on_pfc = Prober::new(Some(&p.a.name), "pfc", TARGET, oc).start().await.unwrap();
    let (ra, rc) = (on_pfa.join().await.unwrap(), on_pfc.join().await.unwrap());
    assert_eq!(rc.summary.answered, 40, "{:?}", rc.summary);
    assert_eq!(ra.summary.answered, 0, "{:?}", ra.summary);
    assert_eq!(ra.summary.unmatched_replies, 0, "replies from another interface leaked in");
}

#[tokio::test]
async fn bad_inputs_are_refused_with_a_reason() {
    if !can_run() {
        return;
    }
    let p = pair("arpBad");
    let e = Prober::new(Some("pf-no-such-netns-x"), "pfa", TARGET, opts(1, 5)).run().await.unwrap_err();
    assert!(e.to_string().contains("pf-no-such-netns-x"), "{e}");
    let e = Prober::new(Some(&p.a.name), "nope0", TARGET, opts(1, 5)).run().await.unwrap_err();
    assert!(matches!(e, ProbeError::Host(_)), "{e:?}");
    let mut o = opts(1, 5);
    o.interval = Duration::from_micros(100);
    assert!(matches!(Prober::new(Some(&p.a.name), "pfa", TARGET, o).run().await, Err(ProbeError::InvalidOptions(_))));
    // `lo` has no IPv4 address other than loopback's; in `b` pfb has one,
    // but a fresh veth without addresses has none.
    p.b.ip(&["link", "add", "pfe", "type", "veth", "peer", "name", "pff"]);
    let e = Prober::new(Some(&p.b.name), "pfe", SRC, opts(1, 5)).run().await.unwrap_err();
    assert!(matches!(e, ProbeError::NoSourceAddress { .. }), "{e:?}");
}

fn podflow(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_podflow")).args(args).output().expect("run podflow")
}

#[test]
fn cli_json_report_parses_and_exit_status_tells_loss() {
    if !can_run() {
        return;
    }
    let p = pair("arpCli");
    let out = podflow(&["arping", "--netns", &p.a.name, "--interface", "pfa", "198.18.0.2", "--interval", "5ms", "--count", "20", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(v["summary"]["sent"], 20);
    assert_eq!(v["summary"]["answered"], 20);
    assert_eq!(v["summary"]["lost"], 0);
    assert_eq!(v["target"], "198.18.0.2");
    assert_eq!(v["target_mac"], PEER_MAC);
    let probes = v["probes"].as_array().unwrap();
    assert_eq!(probes.len(), 20);
    assert!(probes.iter().all(|p| p["replied"] == true && p["rtt_ns"].is_u64() && p["sent_unix_ns"].is_u64()));

    // Human format, peer down: every line says no, exit status 1.
    p.b.ip(&["link", "set", "pfb", "down"]);
    let out = podflow(&["arping", "--netns", &p.a.name, "-I", "pfa", "198.18.0.2", "--interval", "5ms", "--duration", "50ms", "--timeout", "100ms"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("seq=0 reply=no"), "{text}");
    assert!(text.contains("answered, ") && text.contains("100.0% loss"), "{text}");

    // CSV: a header and one row per probe.
    p.b.ip(&["link", "set", "pfb", "up"]);
    let out = podflow(&["arping", "--netns", &p.a.name, "-I", "pfa", "--source", "198.18.0.1", "198.18.0.2", "--interval", "2ms", "-c", "5", "--format", "csv"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 6, "{text}");
    assert!(text.lines().skip(1).all(|l| l.split(',').nth(5) == Some("yes")), "{text}");

    // Usage errors.
    let out = podflow(&["arping", "-I", "pfa", "198.18.0.2", "--count", "3", "--duration", "1s"]);
    assert_ne!(out.status.code(), Some(0));
    let out = podflow(&["arping", "--netns", &p.a.name, "-I", "pfa", "198.18.0.2", "--interval", "10"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unit"));
}

#[tokio::test]
async fn cni_style_setup_with_host_then_probe_both_ways() {
    use podflow::host::{AddrFlags, Host, NetnsTarget, Route};
    if !can_run() {
        return;
    }
    // What a CNI ADD does, with podflow::host only: veth in the "node"
    // namespace, one end moved into the "pod" namespace and renamed eth0,
    // MAC, MTU, address and default route set inside the pod.
    let node = TestNetns::new("cniNode");
    let pod = TestNetns::new("cniPod");
    let hn = Host::open(Some(&node.name)).await.unwrap();
    let hp = Host::open(Some(&pod.name)).await.unwrap();
    hn.create_veth("pfvethpod", "pftmp0").await.unwrap();
    hn.move_link("pftmp0", NetnsTarget::Name(&pod.name)).await.unwrap();
    hp.rename_link("pftmp0", "eth0").await.unwrap();
    hp.set_mac("eth0", "02:00:c6:13:00:05".parse().unwrap()).await.unwrap();
    hp.set_mtu("eth0", 1450).await.unwrap();
    hp.add_address("eth0", "198.19.0.5/24".parse().unwrap(), None, AddrFlags::EMPTY).await.unwrap();
    hp.set_up("eth0", true).await.unwrap();
    hp.add_route(&Route::default_via("198.19.0.1".parse().unwrap()).dev("eth0")).await.unwrap();
    hn.add_address("pfvethpod", "198.19.0.1/24".parse().unwrap(), None, AddrFlags::EMPTY).await.unwrap();
    hn.set_up("pfvethpod", true).await.unwrap();
    assert!(pod.ip(&["route", "show"]).contains("default via 198.19.0.1 dev eth0"));

    let node_to_pod = Prober::new(Some(&node.name), "pfvethpod", Ipv4Addr::new(198, 19, 0, 5), opts(20, 2)).run().await.unwrap();
    assert!(node_to_pod.all_answered(), "{:?}", node_to_pod.summary);
    assert_eq!(node_to_pod.target_mac.unwrap().to_string(), "02:00:c6:13:00:05");
    let pod_to_node = Prober::new(Some(&pod.name), "eth0", Ipv4Addr::new(198, 19, 0, 1), opts(20, 2)).run().await.unwrap();
    assert!(pod_to_node.all_answered(), "{:?}", pod_to_node.summary);
    assert_eq!(pod_to_node.source_mac.to_string(), "02:00:c6:13:00:05");
}
