//! The agent's decisions against fake backends that share one event log,
//! so ordering (acks before the key's removal) is asserted directly.

use super::*;
use crate::agent::backend::Plumbed;
use crate::api::IpConfig;
use std::collections::HashSet;
use std::sync::Mutex as StdMutex;

type Log = Arc<StdMutex<Vec<String>>>;

#[derive(Default)]
struct SwitchInner {
    cookies: Vec<u64>,
    /// ofports whose pod flows fail this many more times.
    fail: HashMap<u32, usize>,
    delay: Duration,
}

#[derive(Clone)]
struct FakeSwitch {
    log: Log,
    inner: Arc<StdMutex<SwitchInner>>,
    /// The ports the switch reports: the fake OVSDB's, as in OVS.
    ports: Arc<StdMutex<BTreeMap<String, u32>>>,
}

impl SwitchOps for FakeSwitch {
    async fn install(&self, flows: Vec<FlowMod>) -> Result<(), BackendError> {
        let delay = self.inner.lock().unwrap().delay;
        tokio::time::sleep(delay).await;
        let mut i = self.inner.lock().unwrap();
        let obj = (flows[0].cookie & 0xffff_ffff) as u32;
        let cat = (flows[0].cookie >> cookie::CATEGORY_SHIFT) as u8;
        if cat == cookie::CATEGORY_POD {
            if let Some(n) = i.fail.get_mut(&obj) {
                if *n > 0 {
                    *n -= 1;
                    self.log.lock().unwrap().push(format!("fail pod {obj}"));
                    return Err(BackendError::Refused("OFPFMFC_TABLE_FULL".into()));
                }
            }
            self.log.lock().unwrap().push(format!("ack pod {obj}"));
        } else {
            self.log.lock().unwrap().push("ack base".into());
        }
        i.cookies.extend(flows.iter().map(|f| f.cookie));
        Ok(())
    }

    async fn ports(&self) -> Result<BTreeMap<String, u32>, BackendError> {
        Ok(self.ports.lock().unwrap().clone())
    }

    async fn delete(&self, deletes: Vec<FlowMod>) -> Result<(), BackendError> {
        let mut i = self.inner.lock().unwrap();
        for d in deletes {
            i.cookies.retain(|c| c & d.cookie_mask != d.cookie);
        }
        Ok(())
    }
}

#[derive(Clone)]
struct FakeDb {
    log: Log,
    frw: Arc<StdMutex<bool>>,
    ports: Arc<StdMutex<BTreeMap<String, u32>>>,
    /// Port deletions fail while set.
    down: Arc<StdMutex<bool>>,
}

impl DbOps for FakeDb {
    async fn flow_restore_wait(&self) -> Result<bool, BackendError> {
        Ok(*self.frw.lock().unwrap())
    }
    async fn set_flow_restore_wait(&self) -> Result<(), BackendError> {
        *self.frw.lock().unwrap() = true;
        self.log.lock().unwrap().push("frw set".into());
        Ok(())
    }
    async fn clear_flow_restore_wait(&self) -> Result<(), BackendError> {
        *self.frw.lock().unwrap() = false;
        self.log.lock().unwrap().push("frw cleared".into());
        Ok(())
    }
    /// Like OVS: the requested number unless another interface has it,
    /// then the next free one. It yields first, as a real OVSDB round trip
    /// does, so concurrent ADDs interleave.
    async fn add_port(&self, name: &str, ofport_request: u32, _ids: BTreeMap<String, String>) -> Result<u32, BackendError> {
        tokio::task::yield_now().await;
        self.log.lock().unwrap().push(format!("port request {ofport_request}"));
        let mut ports = self.ports.lock().unwrap();
        if let Some(&p) = ports.get(name) {
            return Ok(p);
        }
        let taken: HashSet<u32> = ports.values().copied().collect();
        let p = (ofport_request..).find(|p| !taken.contains(p)).unwrap();
        ports.insert(name.into(), p);
        Ok(p)
    }
    fn pod_ports(&self) -> Vec<(String, PodKey)> {
        self.ports.lock().unwrap().keys().map(|n| (n.clone(), PodKey { container_id: format!("owner-of-{n}"), ifname: "eth0".into() })).collect()
    }
    async fn del_port(&self, name: &str) -> Result<(), BackendError> {
        if *self.down.lock().unwrap() {
            return Err(BackendError::Unavailable("OVSDB", "test: down".into()));
        }
        self.ports.lock().unwrap().remove(name);
        Ok(())
    }

}

#[derive(Clone)]
struct FakeHost {
    netns: Arc<StdMutex<HashSet<String>>>,
    plumbed: Arc<StdMutex<HashSet<String>>>,
    /// Pods whose lease was given back, in order.
    released: Arc<StdMutex<Vec<PodKey>>>,
}

impl HostOps for FakeHost {
    async fn plumb(&self, _req: &AddPod, host_ifname: &str) -> Result<Plumbed, BackendError> {
        tokio::task::yield_now().await;
        self.plumbed.lock().unwrap().insert(host_ifname.into());
        Ok(Plumbed { host_ifname: host_ifname.into(), host_mac: [2, 0, 0, 0, 0, 1], pod_mac: [2, 0, 0, 0, 0, 2] })
    }
    async fn unplumb(&self, host_ifname: &str) -> Result<(), BackendError> {
        self.plumbed.lock().unwrap().remove(host_ifname);
        Ok(())
    }
    async fn pod_links(&self) -> Result<Vec<String>, BackendError> {
        Ok(self.plumbed.lock().unwrap().iter().cloned().collect())
    }
    fn netns_exists(&self, netns: &str) -> bool {
        self.netns.lock().unwrap().contains(netns)
    }
    async fn release_lease(&self, req: &AddPod) -> Result<(), BackendError> {
        if req.ipam.is_some() {
            self.released.lock().unwrap().push(req.key.clone());
        }
        Ok(())
    }
}

struct Rig {
    agent: Agent<FakeSwitch, FakeDb, FakeHost>,
    log: Log,
    switch: FakeSwitch,
    db: FakeDb,
    host: FakeHost,
    dir: PathBuf,
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn rig(deadline: Option<Duration>) -> Rig {
    let dir = std::env::temp_dir().join(format!("podflow-agent-{}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)));
    let _ = std::fs::remove_dir_all(&dir);
    rig_in(dir, deadline)
}

fn rig_in(dir: PathBuf, deadline: Option<Duration>) -> Rig {
    let log: Log = Arc::default();
    let ports: Arc<StdMutex<BTreeMap<String, u32>>> = Arc::default();
    let switch = FakeSwitch { log: log.clone(), inner: Arc::default(), ports: ports.clone() };
    let db = FakeDb { log: log.clone(), frw: Arc::new(StdMutex::new(true)), ports, down: Arc::default() };
    let host = FakeHost { netns: Arc::default(), plumbed: Arc::default(), released: Arc::default() };
    let cfg = AgentConfig {
        bridge: "br-int".into(),
        state_dir: dir.clone(),
        gateway: Gateway::v4(2, [2, 0, 0, 0, 0, 0xfe], Ipv4Addr::new(198, 18, 0, 1)),
        gate_deadline: deadline,
        retry_initial: Duration::from_millis(5),
        retry_max: Duration::from_millis(20),
        fault_clear_key_early: false,
        fault_hang_after_plumbing: false,
    };
    let agent = Agent::new(cfg, switch.clone(), db.clone(), host.clone()).unwrap();
    Rig { agent, log, switch, db, host, dir }
}

fn add_req(i: u32) -> AddPod {
    AddPod {
        key: PodKey { container_id: format!("c{i}"), ifname: "eth0".into() },
        netns: format!("/var/run/netns/p{i}"),
        ips: vec![IpConfig { address: format!("198.18.{}.{}/16", i / 250, i % 250 + 2), gateway: Some("198.18.0.1".into()) }],
        routes: vec![],
        k8s_namespace: None,
        k8s_name: None,
        ipam: None,
    }
}

async fn with_pods(n: u32) -> Rig {
    let r = rig(None);
    r.agent.run_round().await.unwrap();
    for i in 0..n {
        r.host.netns.lock().unwrap().insert(format!("/var/run/netns/p{i}"));
        r.agent.add_pod(add_req(i)).await.unwrap();
    }
    r
}

/// Last position of `what` (for acks: the latest one counts).
fn pos(log: &[String], what: &str) -> usize {
    log.iter().rposition(|l| l == what).unwrap_or_else(|| panic!("{what} not in {log:?}"))
}

/// First position of `what` (for the key's removal: the earliest one counts).
fn first(log: &[String], what: &str) -> usize {
    log.iter().position(|l| l == what).unwrap_or_else(|| panic!("{what} not in {log:?}"))
}

#[tokio::test]
async fn key_removed_only_after_every_pod_ack_for_0_1_100_pods() {
    for n in [0u32, 1, 100] {
        let r = with_pods(n).await;
        // A restart: the agent starts over from its store.
        let r2 = rig_in(r.dir.clone(), None);
        *r2.host.netns.lock().unwrap() = r.host.netns.lock().unwrap().clone();
        r2.log.lock().unwrap().clear();
        r2.agent.run_round().await.unwrap();
        let log = r2.log.lock().unwrap().clone();
        let cleared = first(&log, "frw cleared");
        assert!(pos(&log, "ack base") < cleared);
        for i in 0..n {
            assert!(pos(&log, &format!("ack pod {}", FIRST_POD_OFPORT + i)) < cleared, "pod {i} acked after the key was removed: {log:?}");
        }
        assert_eq!(r2.agent.status().await.pods_ready, n as usize);
        assert!(!*r2.db.frw.lock().unwrap());
        std::mem::forget(r2); // shares the directory with r
    }
}

#[tokio::test]
async fn a_failing_pod_holds_the_key_until_it_succeeds() {
    let r = with_pods(2).await;
    r.switch.inner.lock().unwrap().fail.insert(FIRST_POD_OFPORT + 1, 3);
    r.log.lock().unwrap().clear();
    r.agent.run_round().await.unwrap();
    let log = r.log.lock().unwrap().clone();
    assert_eq!(log.iter().filter(|l| l.starts_with("fail pod")).count(), 3);
    assert!(pos(&log, &format!("ack pod {}", FIRST_POD_OFPORT + 1)) < first(&log, "frw cleared"));
}

// Paused time: the 100 ms deadline counts virtual time, so a slow disk
// (the store's fsyncs) cannot pass it before the healthy pod is acked.
#[tokio::test(start_paused = true)]
async fn past_the_deadline_the_key_goes_and_the_failure_is_reported() {
    let r = with_pods(2).await;
    let r = {
        let d = r.dir.clone();
        std::mem::forget(r);
        let r = rig_in(d, Some(Duration::from_millis(100)));
        r.host.netns.lock().unwrap().extend(["/var/run/netns/p0".to_string(), "/var/run/netns/p1".to_string()]);
        r
    };
    r.switch.inner.lock().unwrap().fail.insert(FIRST_POD_OFPORT, usize::MAX);
    r.agent.run_round().await.unwrap();
    let st = r.agent.status().await;
    assert_eq!((st.pods_ready, st.pods_failed), (1, 1));
    let ev = r.agent.events().await;
    assert!(ev.iter().any(|(_, e)| matches!(e, RoundEvent::GateOpened { missing, .. } if missing.len() == 1)));
    assert!(!*r.db.frw.lock().unwrap());
}

// Paused time, as above: the deadline must not pass during real fsyncs.
#[tokio::test(start_paused = true)]
async fn failed_pods_are_retried_after_the_gate_opened() {
    let r = with_pods(2).await;
    let d = r.dir.clone();
    std::mem::forget(r);
    let r = rig_in(d, Some(Duration::from_millis(50)));
    r.host.netns.lock().unwrap().extend(["/var/run/netns/p0".to_string(), "/var/run/netns/p1".to_string()]);
    // Refused for longer than the deadline, then accepted.
    r.switch.inner.lock().unwrap().fail.insert(FIRST_POD_OFPORT, 1000);
    r.agent.run_round().await.unwrap();
    assert_eq!(r.agent.status().await.pods_failed, 1);
    assert_eq!(r.agent.retry_failed().await, 1);
    r.switch.inner.lock().unwrap().fail.insert(FIRST_POD_OFPORT, 0);
    assert_eq!(r.agent.retry_failed().await, 0);
    let st = r.agent.status().await;
    assert_eq!((st.pods_ready, st.pods_failed), (2, 0));
}

#[tokio::test]
async fn stale_rounds_go_and_foreign_flows_stay() {
    let r = rig(None);
    let foreign = 0x1234_5678u64;
    let old = cookie::make(7, cookie::CATEGORY_POD, 11);
    r.switch.inner.lock().unwrap().cookies.extend([foreign, old]);
    let round = r.agent.run_round().await.unwrap();
    let cookies = r.switch.inner.lock().unwrap().cookies.clone();
    assert!(cookies.contains(&foreign));
    assert!(!cookies.contains(&old));
    assert!(cookies.iter().filter(|c| cookie::is_ours(**c)).all(|c| cookie::round_of(*c) == round));
}

#[tokio::test]
async fn add_is_idempotent_del_of_absent_succeeds_and_failures_leave_nothing() {
    let r = with_pods(1).await;
    let a1 = r.agent.add_pod(add_req(0)).await.unwrap();
    let a2 = r.agent.add_pod(add_req(0)).await.unwrap();
    assert_eq!(a1, a2);
    r.agent.del_pod(&add_req(5).key).await.unwrap();
    // A switch refusal undoes the pod entirely.
    r.host.netns.lock().unwrap().insert("/var/run/netns/p1".into());
    r.switch.inner.lock().unwrap().fail.insert(FIRST_POD_OFPORT + 1, 1);
    let e = r.agent.add_pod(add_req(1)).await.unwrap_err();
    assert!(e.msg.contains("OFPFMFC_TABLE_FULL"), "{e:?}");
    assert_eq!(r.agent.pods().await.len(), 1);
    assert_eq!(r.db.ports.lock().unwrap().len(), 1);
    assert_eq!(r.host.plumbed.lock().unwrap().len(), 1);
    assert!(r.agent.store.get(&add_req(1).key).unwrap().is_none());
    // The runtime's retry then succeeds.
    r.agent.add_pod(add_req(1)).await.unwrap();
    r.agent.del_pod(&add_req(1).key).await.unwrap();
    r.agent.del_pod(&add_req(1).key).await.unwrap();
    assert_eq!(r.agent.pods().await.len(), 1);
}

#[tokio::test]
async fn a_pod_whose_namespace_is_gone_is_removed_at_the_next_round() {
    let r = with_pods(2).await;
    r.host.netns.lock().unwrap().remove("/var/run/netns/p0");
    r.agent.run_round().await.unwrap();
    let pods = r.agent.pods().await;
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0].key.container_id, "c1");
}

#[tokio::test]
async fn add_during_a_round_waits_for_it_and_is_not_lost() {
    let r = Arc::new(with_pods(3).await);
    r.switch.inner.lock().unwrap().delay = Duration::from_millis(20);
    r.host.netns.lock().unwrap().insert("/var/run/netns/p9".into());
    let rr = r.clone();
    let round = tokio::spawn(async move { rr.agent.run_round().await.unwrap() });
    tokio::time::sleep(Duration::from_millis(5)).await;
    r.agent.add_pod(add_req(9)).await.unwrap();
    round.await.unwrap();
    let log = r.log.lock().unwrap().clone();
    assert!(first(&log, "frw cleared") < pos(&log, &format!("ack pod {}", FIRST_POD_OFPORT + 3)), "{log:?}");
    assert_eq!(r.agent.status().await.pods_ready, 4);
}

#[tokio::test]
async fn switch_loss_sets_flow_restore_wait() {
    let r = rig(None);
    r.agent.run_round().await.unwrap();
    assert!(!*r.db.frw.lock().unwrap());
    r.agent.switch_gone().await;
    r.agent.set_flow_restore_wait().await.unwrap();
    assert!(*r.db.frw.lock().unwrap());
    assert!(!r.agent.status().await.ready);
}

#[test]
fn host_ifnames_are_short_and_stable() {
    let k = PodKey { container_id: "0123456789abcdef".into(), ifname: "eth0".into() };
    assert_eq!(host_ifname(&k), host_ifname(&k.clone()));
    assert!(host_ifname(&k).len() <= 15);
    assert_ne!(host_ifname(&k), host_ifname(&PodKey { container_id: "x".into(), ifname: "eth0".into() }));
}

/// A secondary bridge whose installs fail `fail` times, logging to the shared log.
struct FakeSecondary {
    log: Log,
    fail: StdMutex<usize>,
}

impl SecondaryFlows for FakeSecondary {
    fn bridges(&self) -> Vec<String> {
        vec!["br-ext".into()]
    }
    fn install<'a>(&'a self, bridge: &'a str) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), BackendError>> + Send + 'a>> {
        Box::pin(async move {
            let mut f = self.fail.lock().unwrap();
            if *f > 0 {
                *f -= 1;
                self.log.lock().unwrap().push(format!("fail bridge {bridge}"));
                return Err(BackendError::Unavailable("the switch", "br-ext.mgmt not there yet".into()));
            }
            self.log.lock().unwrap().push(format!("ack bridge {bridge}"));
            Ok(())
        })
    }
}

#[tokio::test]
async fn a_secondary_bridge_holds_the_key_until_its_flows_are_acked() {
    let r = with_pods(1).await;
    r.agent.set_secondary(Arc::new(FakeSecondary { log: r.log.clone(), fail: StdMutex::new(2) }));
    r.log.lock().unwrap().clear();
    r.agent.run_round().await.unwrap();
    let log = r.log.lock().unwrap().clone();
    assert_eq!(log.iter().filter(|l| *l == "fail bridge br-ext").count(), 2, "{log:?}");
    assert!(pos(&log, "ack bridge br-ext") < first(&log, "frw cleared"), "{log:?}");
    assert!(pos(&log, &format!("ack pod {FIRST_POD_OFPORT}")) < first(&log, "frw cleared"));
}

#[tokio::test]
async fn after_a_switch_loss_nothing_is_ready_until_the_next_round_acks_it() {
    let r = with_pods(2).await;
    r.agent.check_pod(&add_req(0).key).await.unwrap();
    r.agent.switch_gone().await;
    let st = r.agent.status().await;
    assert_eq!((st.ready, st.pods_ready, st.pods_pending), (false, 0, 2));
    assert_eq!(st.not_ready_reason.as_deref(), Some("switch lost"));
    assert!(r.agent.pods().await.iter().all(|p| p.state == PodState::Pending { reason: Some("switch lost".into()) }));
    let e = r.agent.check_pod(&add_req(0).key).await.unwrap_err();
    assert!(e.code == code::TRY_AGAIN_LATER && e.msg.contains("switch lost"), "{e:?}");
    r.agent.run_round().await.unwrap();
    r.agent.check_pod(&add_req(0).key).await.unwrap();
    assert_eq!(r.agent.status().await.pods_ready, 2);
}

#[tokio::test]
async fn concurrent_adds_ask_for_distinct_ports_and_keep_what_ovs_gave() {
    let r = Arc::new(rig(None));
    r.agent.run_round().await.unwrap();
    // Another interface already has the first pod number: OVS gives the pod another.
    r.db.ports.lock().unwrap().insert("foreign0".into(), FIRST_POD_OFPORT);
    for i in 0..32 {
        r.host.netns.lock().unwrap().insert(format!("/var/run/netns/p{i}"));
    }
    let adds: Vec<_> = (0..32)
        .map(|i| {
            let r = r.clone();
            tokio::spawn(async move { r.agent.add_pod(add_req(i)).await.unwrap() })
        })
        .collect();
    let mut got = HashSet::new();
    for a in adds {
        let att = a.await.unwrap();
        assert_eq!(Some(att.ofport), r.db.ports.lock().unwrap().get(&att.host_ifname).copied(), "the record disagrees with OVS");
        assert!(got.insert(att.ofport), "ofport {} given twice", att.ofport);
    }
    assert!(!got.contains(&FIRST_POD_OFPORT));
    let asked: Vec<String> = r.log.lock().unwrap().iter().filter(|l| l.starts_with("port request")).cloned().collect();
    assert_eq!(asked.iter().collect::<HashSet<_>>().len(), 32, "two ADDs asked OVS for the same number: {asked:?}");
    // OVS renumbers a port (re-added after a restart): the next round uses its number.
    let (name, old) = {
        let info = r.agent.pod(&add_req(3).key).await.unwrap().attachment.unwrap();
        (info.host_ifname, info.ofport)
    };
    r.db.ports.lock().unwrap().insert(name, 900);
    r.log.lock().unwrap().clear();
    r.agent.run_round().await.unwrap();
    let log = r.log.lock().unwrap().clone();
    assert!(log.contains(&"ack pod 900".to_string()) && !log.contains(&format!("ack pod {old}")), "{log:?}");
    assert_eq!(r.agent.store.get(&add_req(3).key).unwrap().unwrap().attachment.ofport, 900);
}

#[tokio::test]
async fn del_without_a_record_removes_port_and_veth_by_name_and_a_failed_cleanup_keeps_the_record() {
    let r = with_pods(1).await;
    // A crash between plumbing and the record: a veth and a port, no record.
    let orphan = PodKey { container_id: "crashed".into(), ifname: "eth0".into() };
    r.host.plumbed.lock().unwrap().insert(host_ifname(&orphan));
    r.db.ports.lock().unwrap().insert(host_ifname(&orphan), 77);
    r.agent.del_pod(&orphan).await.unwrap();
    assert!(!r.host.plumbed.lock().unwrap().contains(&host_ifname(&orphan)));
    assert!(!r.db.ports.lock().unwrap().contains_key(&host_ifname(&orphan)));
    // OVSDB unreachable: DEL fails and the record stays for the retry.
    *r.db.down.lock().unwrap() = true;
    let e = r.agent.del_pod(&add_req(0).key).await.unwrap_err();
    assert_eq!(e.code, code::TRY_AGAIN_LATER);
    assert!(r.agent.store.get(&add_req(0).key).unwrap().is_some());
    assert_eq!(r.agent.pods().await.len(), 1);
    *r.db.down.lock().unwrap() = false;
    r.agent.del_pod(&add_req(0).key).await.unwrap();
    assert!(r.agent.store.get(&add_req(0).key).unwrap().is_none());
    assert!(r.db.ports.lock().unwrap().is_empty() && r.host.plumbed.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_corrupt_record_is_quarantined_and_the_gate_still_opens() {
    let r = with_pods(2).await;
    let d = r.dir.clone();
    std::mem::forget(r);
    std::fs::write(d.join("pods/c1.eth0.json"), b"{\"request\": {\"key\"").unwrap();
    let r = rig_in(d.clone(), None);
    r.host.netns.lock().unwrap().insert("/var/run/netns/p0".into());
    r.agent.run_round().await.unwrap();
    assert!(!*r.db.frw.lock().unwrap(), "one bad record kept the key");
    let pods = r.agent.pods().await;
    assert_eq!(pods.len(), 2);
    let q = pods.iter().find(|p| p.key.container_id == "c1").unwrap();
    assert!(matches!(&q.state, PodState::Quarantined { reason } if reason.contains("not a pod record")), "{q:?}");
    let st = r.agent.status().await;
    assert_eq!((st.pods_ready, st.pods_quarantined), (1, 1));
    assert!(d.join("quarantine/c1.eth0.json").exists());
    assert!(r.agent.check_pod(&add_req(1).key).await.is_err());
    // DEL cleans the pod up by name and forgets the quarantined record.
    r.agent.del_pod(&add_req(1).key).await.unwrap();
    assert_eq!(r.agent.status().await.pods_quarantined, 0);
    assert!(!d.join("quarantine/c1.eth0.json").exists());
}

#[tokio::test]
async fn requests_with_unsafe_fields_are_refused_before_anything_happens() {
    let r = with_pods(0).await;
    let mut bad = add_req(1);
    bad.key.container_id = "../../etc".into();
    assert_eq!(r.agent.add_pod(bad.clone()).await.unwrap_err().code, code::INVALID_ENV);
    assert_eq!(r.agent.del_pod(&bad.key).await.unwrap_err().code, code::INVALID_ENV);
    let mut bad = add_req(1);
    bad.key.ifname = "a/b".into();
    assert_eq!(r.agent.add_pod(bad).await.unwrap_err().code, code::INVALID_ENV);
    let mut bad = add_req(1);
    bad.netns = "relative/ns".into();
    assert_eq!(r.agent.add_pod(bad).await.unwrap_err().code, code::INVALID_ENV);
    let mut bad = add_req(1);
    bad.ips[0].address = "198.18.0.5".into();
    assert_eq!(r.agent.add_pod(bad).await.unwrap_err().code, code::INVALID_ENV);
    assert!(r.host.plumbed.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_add_whose_client_went_away_is_undone() {
    let r = with_pods(0).await;
    r.host.netns.lock().unwrap().insert("/var/run/netns/p1".into());
    let e = r.agent.add_pod_for(add_req(1), || true).await.unwrap_err();
    assert!(e.msg.contains("went away"), "{e:?}");
    assert!(r.agent.pods().await.is_empty());
    assert!(r.db.ports.lock().unwrap().is_empty() && r.host.plumbed.lock().unwrap().is_empty());
    assert!(r.agent.store.get(&add_req(1).key).unwrap().is_none());
    // Gone only after the commit: undone before the answer.
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let e = r.agent.add_pod_for(add_req(1), || calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0).await.unwrap_err();
    assert!(e.msg.contains("went away"), "{e:?}");
    assert!(r.agent.pods().await.is_empty() && r.db.ports.lock().unwrap().is_empty());
    r.agent.add_pod(add_req(1)).await.unwrap();
}

#[tokio::test]
async fn a_del_that_arrives_while_its_add_waits_for_the_switch_wins() {
    let r = with_pods(0).await;
    r.host.netns.lock().unwrap().insert("/var/run/netns/p1".into());
    // The switch takes a minute to acknowledge: the ADD waits there.
    r.switch.inner.lock().unwrap().delay = Duration::from_secs(60);
    let key = add_req(1).key;
    let del = async {
        while r.agent.pod(&key).await.is_none() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        r.agent.del_pod(&key).await
    };
    let both = tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(r.agent.add_pod(add_req(1)), del) }).await;
    let (add, del) = both.expect("the DEL waited for the ADD to finish on its own");
    del.unwrap();
    assert!(add.unwrap_err().msg.contains("the DEL wins"));
    assert!(r.agent.pods().await.is_empty());
    assert!(r.db.ports.lock().unwrap().is_empty() && r.host.plumbed.lock().unwrap().is_empty());
    assert!(r.agent.store.get(&key).unwrap().is_none());
    // A later ADD of the same pod is not affected by the old DEL.
    r.switch.inner.lock().unwrap().delay = Duration::ZERO;
    r.agent.add_pod(add_req(1)).await.unwrap();
}

#[tokio::test]
async fn without_a_deadline_a_del_is_carried_out_by_the_round_it_would_block() {
    let r = with_pods(2).await;
    let d = r.dir.clone();
    std::mem::forget(r);
    let r = Arc::new(rig_in(d, None));
    r.host.netns.lock().unwrap().extend(["/var/run/netns/p0".to_string(), "/var/run/netns/p1".to_string()]);
    r.switch.inner.lock().unwrap().fail.insert(FIRST_POD_OFPORT + 1, usize::MAX);
    let rr = r.clone();
    let round = tokio::spawn(async move { rr.agent.run_round().await });
    // The round now waits for pod 1 forever; its DEL must not wait for the round.
    while !r.log.lock().unwrap().iter().any(|l| l.starts_with("fail pod")) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::timeout(Duration::from_secs(10), r.agent.del_pod(&add_req(1).key)).await.expect("DEL blocked by the round").unwrap();
    tokio::time::timeout(Duration::from_secs(10), round).await.expect("the round did not open without the deleted pod").unwrap().unwrap();
    assert!(!*r.db.frw.lock().unwrap());
    assert_eq!(r.agent.pods().await.len(), 1);
    assert!(r.agent.store.get(&add_req(1).key).unwrap().is_none());
}

// Paused time, as above: the deadline must not pass during real fsyncs.
#[tokio::test(start_paused = true)]
async fn a_pod_refused_past_the_deadline_keeps_its_older_flows_until_it_is_installed_again() {
    let r = with_pods(2).await;
    let d = r.dir.clone();
    let old: Vec<u64> = r.switch.inner.lock().unwrap().cookies.iter().copied().filter(|c| cookie::round_of(*c) == 1).collect();
    std::mem::forget(r);
    // An agent restart: the switch still has round 1's flows.
    let r = rig_in(d, Some(Duration::from_millis(30)));
    r.switch.inner.lock().unwrap().cookies.extend(old.iter().copied());
    r.host.netns.lock().unwrap().extend(["/var/run/netns/p0".to_string(), "/var/run/netns/p1".to_string()]);
    r.switch.inner.lock().unwrap().fail.insert(FIRST_POD_OFPORT + 1, usize::MAX);
    r.agent.run_round().await.unwrap();
    let pod1_old = |r: &Rig| r.switch.inner.lock().unwrap().cookies.iter().any(|c| cookie::round_of(*c) == 1 && (*c & 0xffff_ffff) as u32 == FIRST_POD_OFPORT + 1);
    assert!(pod1_old(&r), "the refused pod's older flows were deleted");
    r.switch.inner.lock().unwrap().fail.insert(FIRST_POD_OFPORT + 1, 0);
    assert_eq!(r.agent.retry_failed().await, 0);
    assert!(!pod1_old(&r));
    assert!(r.switch.inner.lock().unwrap().cookies.iter().filter(|c| cookie::is_ours(**c)).all(|c| cookie::round_of(*c) == 2));
}

#[tokio::test]
async fn reconcile_removes_what_no_record_names_and_spares_quarantine() {
    let r = with_pods(2).await;
    let d = r.dir.clone();
    let (ports, plumbed) = (r.db.ports.clone(), r.host.plumbed.clone());
    std::mem::forget(r);
    std::fs::write(d.join("pods/c1.eth0.json"), b"{cut").unwrap();
    let orphan = host_ifname(&PodKey { container_id: "crashed".into(), ifname: "eth0".into() });
    ports.lock().unwrap().insert(orphan.clone(), 40);
    plumbed.lock().unwrap().insert(orphan.clone());
    let r = rig_in(d, None);
    *r.db.ports.lock().unwrap() = ports.lock().unwrap().clone();
    *r.host.plumbed.lock().unwrap() = plumbed.lock().unwrap().clone();
    let removed = r.agent.reconcile().await.unwrap();
    assert_eq!(removed, vec![orphan.clone()]);
    let c1 = host_ifname(&add_req(1).key);
    assert!(r.db.ports.lock().unwrap().contains_key(&c1) && r.host.plumbed.lock().unwrap().contains(&c1), "a quarantined pod's port or veth was removed");
    assert!(r.host.plumbed.lock().unwrap().contains(&host_ifname(&add_req(0).key)));
    assert!(!r.db.ports.lock().unwrap().contains_key(&orphan) && !r.host.plumbed.lock().unwrap().contains(&orphan));
}

fn with_lease(mut req: AddPod) -> AddPod {
    req.ipam = Some(crate::api::IpamRelease { plugin: "host-local".into(), config: r#"{"name":"n"}"#.into(), cni_path: "/usr/lib/cni".into(), args: String::new() });
    req
}

#[tokio::test]
async fn an_add_keeps_its_lease_only_in_an_intent_while_it_runs() {
    let r = with_pods(0).await;
    r.host.netns.lock().unwrap().insert("/var/run/netns/p0".into());
    r.agent.add_pod(with_lease(add_req(0))).await.unwrap();
    assert!(!r.dir.join("intents/c0.eth0.json").exists(), "a committed ADD left its intent");
    let stored = r.agent.store.get(&add_req(0).key).unwrap().unwrap();
    assert_eq!(stored.request, add_req(0), "the record carries the release");
    // The same ADD again (the plugin's retry) is the same pod.
    r.agent.add_pod(with_lease(add_req(0))).await.unwrap();
    assert_eq!(r.db.ports.lock().unwrap().len(), 1);
    assert!(r.host.released.lock().unwrap().is_empty());
}

#[tokio::test]
async fn reconcile_undoes_adds_cut_short_releases_their_leases_and_spares_quarantine() {
    let r = with_pods(2).await;
    let d = r.dir.clone();
    let (ports, plumbed) = (r.db.ports.clone(), r.host.plumbed.clone());
    std::mem::forget(r);
    // c1's record is corrupt (quarantined); c0 committed; "crashed" never did.
    std::fs::write(d.join("pods/c1.eth0.json"), b"{cut").unwrap();
    let mut crashed = with_lease(add_req(7));
    crashed.key.container_id = "crashed".into();
    let orphan = host_ifname(&crashed.key);
    ports.lock().unwrap().insert(orphan.clone(), 40);
    plumbed.lock().unwrap().insert(orphan.clone());
    let store = PodStore::open(&d).unwrap();
    for i in [&crashed, &with_lease(add_req(0)), &with_lease(add_req(1))] {
        store.put_intent(i).unwrap();
    }
    let r = rig_in(d.clone(), None);
    *r.db.ports.lock().unwrap() = ports.lock().unwrap().clone();
    *r.host.plumbed.lock().unwrap() = plumbed.lock().unwrap().clone();
    let removed = r.agent.reconcile().await.unwrap();
    assert_eq!(removed, vec![orphan.clone()]);
    assert_eq!(*r.host.released.lock().unwrap(), vec![crashed.key.clone()], "only the ADD that never committed gives its lease back");
    assert!(!r.db.ports.lock().unwrap().contains_key(&orphan) && !r.host.plumbed.lock().unwrap().contains(&orphan));
    assert!(!d.join("intents/crashed.eth0.json").exists() && !d.join("intents/c0.eth0.json").exists());
    assert!(d.join("intents/c1.eth0.json").exists(), "a quarantined pod's intent was touched");
    let c1 = host_ifname(&add_req(1).key);
    assert!(r.db.ports.lock().unwrap().contains_key(&c1) && r.host.plumbed.lock().unwrap().contains(&c1));
    // Its DEL, later, spends it.
    r.agent.del_pod(&add_req(1).key).await.unwrap();
    assert!(!d.join("intents/c1.eth0.json").exists());
}

#[tokio::test]
async fn an_add_during_a_round_without_a_deadline_does_not_wait_for_it() {
    let r = with_pods(1).await;
    let d = r.dir.clone();
    std::mem::forget(r);
    let r = Arc::new(rig_in(d, None));
    r.host.netns.lock().unwrap().extend(["/var/run/netns/p0".to_string(), "/var/run/netns/p1".to_string()]);
    r.switch.inner.lock().unwrap().fail.insert(FIRST_POD_OFPORT, usize::MAX);
    let rr = r.clone();
    let round = tokio::spawn(async move { rr.agent.run_round().await });
    // The round now waits for pod 0 forever.
    while !r.log.lock().unwrap().iter().any(|l| l.starts_with("fail pod")) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let a = tokio::time::timeout(Duration::from_secs(10), r.agent.add_pod(add_req(1))).await.expect("ADD waited for the round").unwrap();
    assert_ne!(a.ofport, FIRST_POD_OFPORT);
    r.agent.check_pod(&add_req(1).key).await.unwrap();
    assert!(*r.db.frw.lock().unwrap(), "the key stays while pod 0 is refused");
    assert!(!round.is_finished());
    // Once pod 0 is accepted, the round completes as usual.
    r.switch.inner.lock().unwrap().fail.insert(FIRST_POD_OFPORT, 0);
    tokio::time::timeout(Duration::from_secs(10), round).await.unwrap().unwrap().unwrap();
    assert!(!*r.db.frw.lock().unwrap());
    assert_eq!(r.agent.status().await.pods_ready, 2);
}

#[tokio::test(start_paused = true)]
async fn switch_loss_ends_a_waiting_round_and_answers_its_dels() {
    let r = with_pods(2).await;
    let d = r.dir.clone();
    std::mem::forget(r);
    let r = Arc::new(rig_in(d, None));
    r.host.netns.lock().unwrap().extend(["/var/run/netns/p0".to_string(), "/var/run/netns/p1".to_string()]);
    r.switch.inner.lock().unwrap().fail.insert(FIRST_POD_OFPORT, usize::MAX);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let rr = r.clone();
    let round = tokio::spawn(async move { rr.agent.run_round_until(async { let _ = rx.await; }).await });
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(!round.is_finished(), "a round without a deadline waits");
    assert!(*r.db.frw.lock().unwrap());
    let _ = tx.send(());
    let e = round.await.unwrap().unwrap_err();
    assert!(matches!(e, BackendError::Unavailable(..)), "{e:?}");
    assert!(*r.db.frw.lock().unwrap(), "the key stays: nothing was acknowledged by a switch that is there");
    let st = r.agent.status().await;
    assert!(!st.ready);
}

#[test]
fn pod_addresses_one_per_family_old_records_load() {
    let ips = |v: &[&str]| v.iter().map(|a| IpConfig { address: a.to_string(), gateway: None }).collect::<Vec<_>>();
    let v4: std::net::Ipv4Addr = "198.18.0.5".parse().unwrap();
    let v6: std::net::Ipv6Addr = "fd00::5".parse().unwrap();
    // A record written before IPv6 existed: one IPv4 address.
    assert_eq!(super::pod_addrs(&ips(&["198.18.0.5/24"])), Ok((Some(v4), None)));
    assert_eq!(super::pod_addrs(&ips(&["fd00::5/64"])), Ok((None, Some(v6))));
    assert_eq!(super::pod_addrs(&ips(&["fd00::5/64", "198.18.0.5/24"])), Ok((Some(v4), Some(v6))));
    for bad in [&[][..], &["198.18.0.5/24", "198.18.0.6/24"], &["fd00::5/64", "fd00::6/64"], &["nonsense/24"]] {
        assert!(super::pod_addrs(&ips(bad)).is_err(), "{bad:?}");
    }
}

/// The per-pod slots exist only while a pod has requests in flight: after
/// 200 pods came and went through concurrent ADDs and DELs, none is left
/// (before, the map kept one entry per pod the node ever ran).
#[tokio::test]
async fn pod_key_slots_go_with_their_last_request() {
    let r = Arc::new(with_pods(0).await);
    for i in 0..200 {
        r.host.netns.lock().unwrap().insert(format!("/var/run/netns/p{i}"));
    }
    let tasks: Vec<_> = (0..200u32)
        .map(|i| {
            let r = r.clone();
            tokio::spawn(async move {
                let _ = r.agent.add_pod(add_req(i)).await;
                r.agent.del_pod(&add_req(i).key).await.unwrap();
                // A DEL racing the ADD of the same pod holds the slot too.
                let key = add_req(i).key;
                let (a, d) = tokio::join!(r.agent.add_pod(add_req(i)), r.agent.del_pod(&key));
                d.unwrap();
                if a.is_ok() {
                    r.agent.del_pod(&add_req(i).key).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(r.agent.pods().await.is_empty());
    assert_eq!(r.agent.key_locks.len(), 0);
}
