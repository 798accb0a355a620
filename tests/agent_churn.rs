//! The agent under the faults that were proven only by unit tests or
//! fakes, against real daemons (a sandboxed ovsdb-server/ovs-vswitchd, the
//! real `podflow agent`, the real `podflow-cni` with host-local): a
//! flapping switch, churn across a switch and an agent restart, a DEL
//! while `--gate-deadline 0` waits for a refused pod, a DEL while its ADD
//! runs, work left hanging by a stopped ovsdb-server, and a hung IPAM
//! plugin at start. Each test ends by checking that the node holds exactly
//! the pods it should, everywhere ([`Node::assert_holds_exactly`]).

mod common;
use common::node::{Node, BRIDGE};
use podflow::api::{PodKey, PodState, Request, Response};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Generous bound for one CNI call (the plugin's own limits: 10 s waiting
/// for a ready agent, 30 s for the agent's answer).
const CNI_LIMIT: Duration = Duration::from_secs(60);

fn frw_set(n: &Node) -> bool {
    n.sb.vsctl(&["get", "Open_vSwitch", ".", "other_config:flow-restore-wait"]).is_ok_and(|v| v.contains("true"))
}

fn preset_key(n: &Node) {
    // --no-wait: ovs-vsctl would wait for a vswitchd that is not running.
    n.sb.vsctl(&["--no-wait", "set", "Open_vSwitch", ".", "other_config:flow-restore-wait=true"]).unwrap();
}

fn wait(mut f: impl FnMut() -> bool, limit: Duration, what: &str, n: &Node) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}; agent log:\n{}", n.agent_log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ids<'a>(it: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    it.into_iter().map(str::to_string).collect()
}

fn pod_key(id: &str) -> PodKey {
    PodKey { container_id: id.into(), ifname: "eth0".into() }
}

/// A new pod can be added, forwards, and is deleted again without a trace.
fn cni_works(node: &mut Node, name: &str) {
    let p = node.add_pod(name);
    assert!(p.ping(common::node::GATEWAY_IP), "a pod added at the end cannot reach the gateway\n{}", node.agent_log());
    let (ok, v) = node.cni_bounded("DEL", &p.container_id, &p.netns_path(), CNI_LIMIT);
    assert!(ok, "{v}");
    node.pods.retain(|q| q.container_id != p.container_id);
}

fn pods_ping_each_other(a: &common::node::Pod, b: &common::node::Pod) -> bool {
    a.ping(&b.ip) && b.ping(&a.ip)
}

/// ovs-vswitchd killed and started again and again, with short up-times
/// (some shorter than a round), stalled by SIGSTOP mid-round and killed
/// while stopped, each start with the key preset as an OVS container's
/// entrypoint does. At the end every pod is Ready on its port, the key is
/// gone, nothing is left behind, and the agent did not spin.
///
/// The bound on its OpenFlow connection attempts: while nobody listens on
/// the management socket the supervisor polls every 10 ms (100 attempts a
/// second of downtime, by design); while a switch runs it connects once,
/// and after a failed connection backs off from 100 ms. So: twice the poll
/// rate over the measured downtime, 20 per start (a stall, a socket not
/// yet listening), and 50 to spare. Normal runs make about a third of it;
/// a loop that does not wait between attempts makes about 1,000 a second
/// (tokio's timer granularity) while the switch is down, and one that
/// reconnects at once after every drop one per handshake: both blow it.
#[test]
fn a_flapping_switch_ends_with_every_pod_ready_and_no_spinning() {
    let Some(mut node) = Node::new("flap") else { return };
    node.metrics_addr = Some("127.0.0.1:9481".into());
    node.start_agent();
    let a = node.add_pod("a");
    let b = node.add_pod("b");
    node.add_pod("c");
    let attempts0 = node.metric("podflow_openflow_connect_attempts_total");
    let connects0 = node.metric("podflow_openflow_reconnects_total");
    let t0 = Instant::now();
    let mut down = Duration::ZERO;
    let mut restart = |node: &Node| {
        let t = Instant::now();
        node.sb.kill_vswitchd().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        preset_key(node);
        node.sb.start_vswitchd().unwrap();
        down += t.elapsed();
    };
    // (up-time after the start, stalled and then killed while stopped?)
    let cycles: [(u64, bool); 6] = [(30, false), (300, true), (5, false), (150, false), (600, true), (80, false)];
    for (up_ms, stall) in cycles {
        restart(&node);
        std::thread::sleep(Duration::from_millis(up_ms));
        if stall {
            node.sb.signal("ovs-vswitchd", "STOP").unwrap();
            std::thread::sleep(Duration::from_millis(700));
        }
    }
    // The last one, stalled and resumed, stays.
    restart(&node);
    std::thread::sleep(Duration::from_millis(50));
    node.sb.signal("ovs-vswitchd", "STOP").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    node.sb.signal("ovs-vswitchd", "CONT").unwrap();
    wait(|| !frw_set(&node) && node.status().is_some_and(|s| s.ready), Duration::from_secs(30), "the round after the flapping", &node);
    let secs = t0.elapsed().as_secs_f64();
    let attempts = node.metric("podflow_openflow_connect_attempts_total") - attempts0;
    let connects = node.metric("podflow_openflow_reconnects_total") - connects0;
    let starts = cycles.len() as f64 + 1.0;
    let bound = 2.0 * 100.0 * down.as_secs_f64() + 20.0 * starts + 50.0;
    eprintln!("over {secs:.1} s of flapping ({:.2} s down, {starts} starts): {attempts} OpenFlow connection attempts (bound {bound:.0}), {connects} connections", down.as_secs_f64());
    assert!(attempts <= bound, "{attempts} connection attempts (bound {bound:.0}): the agent spins\n{}", node.agent_log());
    // Each start gives one connection, a stall perhaps one more.
    assert!(connects <= 2.0 * starts, "{connects} connections for {starts} switch starts\n{}", node.agent_log());
    node.assert_holds_exactly(&ids(["ctr-a", "ctr-b", "ctr-c"]));
    assert!(pods_ping_each_other(&a, &b), "pods cannot reach each other after the flapping\n{}", node.agent_log());
    cni_works(&mut node, "after");
}

/// The churn of the issue: 40 parallel ADDs; then 20 DELs and 20 new ADDs
/// in parallel while ovs-vswitchd restarts (key preset); then the agent
/// is replaced on the same state directory, both running at once for a
/// second (a DaemonSet rolling update with a surge) before the old one
/// gets SIGTERM. Every CNI call ends, with success or a
/// clean CNI error; failed calls are retried as kubelet would; at the end
/// the node holds exactly the pods whose last call was a successful ADD,
/// and CNI works with the new agent (its socket survived the old one).
#[test]
fn churn_across_a_switch_and_an_agent_restart_leaves_exactly_the_added_pods() {
    let Some(mut node) = Node::new("churn") else { return };
    node.start_agent();
    let paths: Vec<String> = (0..60).map(|i| format!("/var/run/netns/{}", node.sb.add_netns(&format!("k{i}")).unwrap())).collect();
    let id = |i: usize| format!("ctr-{i}");
    let node = std::sync::Arc::new(node);
    // When each call ended.
    let ends = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    // Runs `cmd` for each pod in parallel; returns the ones that failed.
    let parallel = |calls: Vec<(&'static str, usize)>| -> Vec<(&'static str, usize)> {
        let hs: Vec<_> = calls
            .into_iter()
            .map(|(cmd, i)| {
                let (n, p) = (node.clone(), paths[i].clone());
                let ends = ends.clone();
                std::thread::spawn(move || {
                    let r = n.cni_bounded(cmd, &format!("ctr-{i}"), &p, CNI_LIMIT);
                    ends.lock().unwrap().push(Instant::now());
                    (cmd, i, r)
                })
            })
            .collect();
        let mut failed = vec![];
        for h in hs {
            let (cmd, i, (ok, v)) = h.join().unwrap();
            if !ok {
                eprintln!("{cmd} of ctr-{i} failed (retried): {v}");
                failed.push((cmd, i));
            }
        }
        failed
    };
    // Kubelet retries a failed call until it succeeds.
    let retry = |mut failed: Vec<(&'static str, usize)>| {
        for _ in 0..20 {
            if failed.is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
            failed = parallel(failed);
        }
        panic!("calls still failing after 20 retries: {failed:?}\n{}", node.agent_log());
    };
    retry(parallel((0..40).map(|i| ("ADD", i)).collect()));
    node.assert_holds_exactly(&(0..40).map(id).collect());
    // 20 DELs and 20 new ADDs while the switch restarts.
    let churn = {
        let parallel = &parallel;
        std::thread::scope(|s| {
            let h = s.spawn(move || parallel((0..20).map(|i| ("DEL", i)).chain((40..60).map(|i| ("ADD", i))).collect()));
            std::thread::sleep(Duration::from_millis(150));
            let killed = Instant::now();
            node.sb.kill_vswitchd().unwrap();
            preset_key(&node);
            node.sb.start_vswitchd().unwrap();
            (killed, h.join().unwrap())
        })
    };
    let (killed, churn) = churn;
    let across = ends.lock().unwrap().iter().filter(|t| **t > killed).count();
    eprintln!("{across} of the 40 churn calls ended after ovs-vswitchd was killed");
    // Else the restart came too late to test anything.
    assert!(across > 0, "every churn call ended before the switch restart");
    retry(churn);
    let mut node = std::sync::Arc::into_inner(node).expect("no call is left running");
    // The agent is replaced as a DaemonSet with a surge does it: the new
    // one starts while the old one runs (it must wait for the state
    // directory's lock, not take the socket), then the old one gets
    // SIGTERM (it must remove only its own socket).
    let mut old = node.agent.take().unwrap();
    node.agent = Some(node.spawn_agent("agent.log"));
    std::thread::sleep(Duration::from_secs(1));
    // SAFETY: a signal to the agent this test started (`ip netns exec` execs it).
    unsafe { libc::kill(old.id() as i32, libc::SIGTERM) };
    let t0 = Instant::now();
    while old.try_wait().unwrap().is_none() {
        assert!(t0.elapsed() < Duration::from_secs(10), "the old agent did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }
    node.wait_ready(Duration::from_secs(30));
    let expected: BTreeSet<String> = (20..60).map(id).collect();
    node.assert_holds_exactly(&expected);
    cni_works(&mut node, "after");
    node.assert_holds_exactly(&expected);
}

/// With `--gate-deadline 0` a pod the switch refuses holds the gate for
/// good; its DEL must still complete (the round waits for exactly that
/// pod), then the round completes and the key goes. The switch here is
/// the same process across an agent restart: it ignores the preset key
/// (a one-way latch per process) and the healthy pods forward throughout.
#[test]
fn with_gate_deadline_zero_a_del_of_the_refused_pod_completes_and_the_key_goes() {
    use podflow::pipeline::cookie;
    let Some(mut node) = Node::new("deadline0") else { return };
    node.gate_deadline = 0;
    node.start_agent();
    let a = node.add_pod("a");
    let b = node.add_pod("b");
    let c = node.add_pod("c");
    let c_port = node.pods_info().into_iter().find(|p| p.key.container_id == c.container_id).and_then(|p| p.attachment).unwrap().ofport;
    node.kill_agent();
    // c's flow in table 40 goes, and the table is made full: when the next
    // round installs again, a's and b's flows replace their own (allowed in
    // a full table), c's is refused (OFPFMFC_TABLE_FULL).
    let table = podflow::pipeline::pod::table::L2_OUTPUT;
    let sel = format!("table={table},cookie={:#x}/{:#x}", cookie::make(0, cookie::CATEGORY_POD, c_port), cookie::OBJECT_MASK);
    node.sb.ofctl("del-flows", BRIDGE, &[&sel]).unwrap();
    let n40 = node.sb.ofctl("dump-flows", BRIDGE, &[&format!("table={table}")]).unwrap().lines().filter(|l| l.contains("cookie=")).count();
    node.sb
        .vsctl(&["--", "--id=@ft", "create", "Flow_Table", &format!("flow_limit={n40}"), "overflow_policy=refuse", "--", "set", "Bridge", BRIDGE, &format!("flow_tables:{table}=@ft")])
        .unwrap();
    preset_key(&node);
    // The new agent's round does not complete (that is the point): not waited for.
    node.agent = Some(node.spawn_agent("agent.log"));
    wait(|| node.status().is_some(), Duration::from_secs(30), "the new agent's API", &node);
    let failed = |n: &Node| n.pods_info().into_iter().any(|p| p.key.container_id == c.container_id && matches!(&p.state, PodState::Failed { error } if error.contains("OFPFMFC_TABLE_FULL")));
    wait(|| failed(&node), Duration::from_secs(30), "the refusal of c's flows", &node);
    // The round retries c (with backoff) and, without a deadline, keeps the key.
    wait(|| node.agent_log().matches("OFPFMFC_TABLE_FULL").count() >= 4, Duration::from_secs(30), "the round to retry c", &node);
    assert!(frw_set(&node), "the key went while c's flows were refused, without a deadline");
    assert!(failed(&node));
    assert!(node.status().is_some_and(|s| !s.ready));
    assert!(pods_ping_each_other(&a, &b), "the healthy pods do not forward while the gate waits\n{}", node.agent_log());
    // The runtime's DEL of c completes, and with it the round.
    let (ok, v) = node.cni_bounded("DEL", &c.container_id, &c.netns_path(), CNI_LIMIT);
    assert!(ok, "the DEL of the pod the gate waits for failed: {v}\n{}", node.agent_log());
    wait(|| !frw_set(&node) && node.status().is_some_and(|s| s.ready), Duration::from_secs(30), "the key's removal after the DEL", &node);
    assert!(pods_ping_each_other(&a, &b), "the healthy pods do not forward after the round\n{}", node.agent_log());
    node.sb.vsctl(&["clear", "Bridge", BRIDGE, "flow_tables"]).unwrap();
    node.assert_holds_exactly(&ids(["ctr-a", "ctr-b"]));
    cni_works(&mut node, "after");
}

/// A DEL that arrives while the pod's ADD runs wins, in this order: the
/// ADD (the real plugin, host-local lease taken) waits for the stopped
/// switch to number its port; the DEL arrives (straight on the agent's
/// socket: the plugin's per-pod lock would hold a plugin DEL back) and
/// succeeds while the switch is still stopped; the ADD fails saying the
/// DEL won; once the switch is back nothing of the pod is left.
#[test]
fn a_del_that_arrives_while_its_add_runs_wins() {
    let Some(mut node) = Node::new("delwins") else { return };
    node.start_agent();
    let keep = node.add_pod("k");
    let netns = node.sb.add_netns("x").unwrap();
    let path = format!("/var/run/netns/{netns}");
    let host_if = podflow::agent::runtime::host_ifname(&pod_key("ctr-x"));
    node.sb.signal("ovs-vswitchd", "STOP").unwrap();
    let mut add = node.cni_spawn("ADD", "ctr-x", &path);
    // The ADD is mid-way: its port is in OVSDB, waiting for a number.
    wait(|| node.sb.vsctl(&["list-ports", BRIDGE]).is_ok_and(|p| p.lines().any(|l| l == host_if)), Duration::from_secs(30), "the ADD's port", &node);
    assert!(add.try_wait().unwrap().is_none(), "the ADD ended before the DEL was sent");
    let del = podflow::api::call(&node.api_socket(), &Request::DelPod { key: pod_key("ctr-x"), netns: Some(path.clone()) }, Duration::from_secs(60));
    assert!(matches!(del, Ok(Response::Done)), "the DEL failed: {del:?}\n{}", node.agent_log());
    // The switch is still stopped: the ADD cannot have finished on its own.
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = add.try_wait().unwrap() {
            break st;
        }
        assert!(t0.elapsed() < CNI_LIMIT, "the ADD did not end after the DEL");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut add.stdout.take().unwrap(), &mut out).unwrap();
    node.sb.signal("ovs-vswitchd", "CONT").unwrap();
    assert!(!status.success(), "the ADD succeeded although its DEL came first: {out}");
    assert!(out.contains("the DEL wins"), "the ADD failed, but not because of the DEL: {out}\n{}", node.agent_log());
    // The runtime's DEL that follows through the plugin finds nothing left either.
    let (ok, v) = node.cni_bounded("DEL", "ctr-x", &path, CNI_LIMIT);
    assert!(ok, "{v}");
    node.assert_holds_exactly(&ids([keep.container_id.as_str()]));
    cni_works(&mut node, "after");
}

/// Work of the event loop left hanging: ovsdb-server stopped while
/// ovs-vswitchd dies, so the agent's write of flow-restore-wait (run as a
/// retried task after the switch loss) hangs. The agent still answers
/// (liveness, its pod list, Pending for the switch loss); once
/// ovsdb-server resumes, the write is retried and completes (the key is
/// set without anyone presetting it), and the next switch makes the pods
/// Ready. Stopped again, the agent still ends at once on SIGTERM.
#[test]
fn work_hung_on_a_stopped_ovsdb_is_retried_and_never_blocks_the_agent() {
    let Some(mut node) = Node::new("hungwork") else { return };
    node.start_agent();
    let a = node.add_pod("a");
    let b = node.add_pod("b");
    node.sb.signal("ovsdb-server", "STOP").unwrap();
    node.sb.kill_vswitchd().unwrap();
    wait(|| node.status().is_some_and(|s| !s.openflow_connected), Duration::from_secs(15), "the switch loss", &node);
    let (ok, text) = node.podflow(&["status", "--require-live"]);
    assert!(ok, "the liveness probe failed while OVSDB hangs: {text}");
    let (ok, text) = node.podflow(&["pods"]);
    assert!(ok && text.matches("Pending (switch lost)").count() == 2, "{text}");
    // The first write of the key outlives its 10 s deadline; it is retried.
    wait(|| node.agent_log().contains("set flow-restore-wait after the switch was lost failed; retrying"), Duration::from_secs(30), "a failed attempt to set the key", &node);
    let (ok, text) = node.podflow(&["status", "--require-live"]);
    assert!(ok, "{text}");
    node.sb.signal("ovsdb-server", "CONT").unwrap();
    wait(|| frw_set(&node), Duration::from_secs(30), "the retried write of the key", &node);
    // vswitchd comes back without anyone presetting the key: the agent did.
    node.sb.start_vswitchd().unwrap();
    wait(|| !frw_set(&node) && node.status().is_some_and(|s| s.ready), Duration::from_secs(30), "the round after the switch came back", &node);
    node.assert_holds_exactly(&ids(["ctr-a", "ctr-b"]));
    assert!(pods_ping_each_other(&a, &b));
    // Hung again: SIGTERM still ends the agent at once.
    node.sb.signal("ovsdb-server", "STOP").unwrap();
    node.sb.kill_vswitchd().unwrap();
    wait(|| node.status().is_some_and(|s| !s.openflow_connected), Duration::from_secs(15), "the second switch loss", &node);
    let (took, st) = node.stop_agent();
    node.sb.signal("ovsdb-server", "CONT").unwrap();
    eprintln!("agent exited {took:?} after SIGTERM with OVSDB stopped ({st})");
    assert!(st.success(), "{st}");
    // Generous bound against a hang (the exit is immediate by design).
    assert!(took < Duration::from_secs(6), "the agent took {took:?} to exit");
}

/// An IPAM plugin that hangs while the agent gives a lease back at start
/// (an ADD cut short by a crash): at the 10 s limit the plugin and the
/// child it started are killed, the agent starts serving, and the intent
/// stays for the next start.
#[test]
fn a_hung_ipam_plugin_at_start_is_killed_and_the_agent_carries_on() {
    use std::os::unix::fs::PermissionsExt;
    let Some(mut node) = Node::new("hungipam") else { return };
    // The fake plugin: records its PID and its child's, then waits forever.
    let bin = node.dir.join("cni-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let pids = node.dir.join("hung-ipam.pids");
    let script = bin.join("hung-ipam");
    std::fs::write(&script, format!("#!/bin/sh\necho $$ >> {p}\nsleep 600 &\necho $! >> {p}\nwait\n", p = pids.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    // What an ADD cut short by a crash leaves: an intent with the lease's release.
    let netns = node.sb.add_netns("h").unwrap();
    let req = podflow::api::AddPod {
        key: pod_key("ctr-h"),
        netns: format!("/var/run/netns/{netns}"),
        ips: vec![podflow::api::IpConfig { address: "198.18.0.99/24".into(), gateway: Some(common::node::GATEWAY_IP.into()) }],
        routes: vec![],
        k8s_namespace: None,
        k8s_name: None,
        ipam: Some(podflow::api::IpamRelease { plugin: "hung-ipam".into(), config: r#"{"cniVersion":"1.0.0","name":"x","ipam":{"type":"hung-ipam"}}"#.into(), cni_path: bin.display().to_string(), args: String::new() }),
    };
    podflow::agent::store::PodStore::open(&node.dir.join("state")).unwrap().put_intent(&req).unwrap();
    node.start_agent();
    let log = node.agent_log();
    assert!(log.contains("did not finish within"), "the release did not time out:\n{log}");
    let pids: Vec<i32> = std::fs::read_to_string(&pids).unwrap().lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(pids.len(), 2, "the fake plugin did not start its child: {pids:?}");
    // Killed when the limit passed; a loaded machine may take a moment to
    // tear them down (without the kill they would live for minutes).
    use podflow::sandbox::exited;
    let _ = podflow::sandbox::wait_for(|| pids.iter().all(|&p| exited(p)), Duration::from_secs(5), "the plugin's processes to go");
    for &pid in &pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(exited(pid), "process {pid} of the hung IPAM plugin is still there: {stat}");
    }
    // It is tried again at the next start, or spent by the pod's DEL.
    assert!(node.dir.join("state/intents/ctr-h.eth0.json").exists());
    node.assert_holds_exactly(&BTreeSet::new());
    cni_works(&mut node, "after");
}
