//! The OVSDB client and typed Open_vSwitch operations against a real
//! ovsdb-server + ovs-vswitchd (sandbox), cross-checked with ovs-vsctl.
mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use podflow::ovsdb::proto::monitor::column;
use podflow::ovsdb::proto::{Condition, Operation};
use podflow::ovsdb::vswitch::{self, BridgeSpec, DatapathType, PortKind, PortSpec};
use podflow::ovsdb::{Client, Error, Options, RetryPolicy};
use tokio::time::Instant;

fn secs(n: u64) -> Instant {
    Instant::now() + Duration::from_secs(n)
}

async fn client(sb: &podflow::sandbox::Sandbox) -> Client {
    Client::connect(sb.db_addr().parse().unwrap(), Options::default(), secs(10)).await.unwrap()
}

fn ids(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_ports_and_cross_checks_with_ovs_vsctl() {
    let Some(sb) = common::sandbox("ovsdbops") else { return };
    let c = client(&sb).await;
    let weird = "q\"uote \\back {brace} [x] ünï€😀";
    let spec = BridgeSpec {
        name: "br-pf".into(),
        datapath_type: DatapathType::Netdev,
        external_ids: ids(&[("owner", "podflow"), ("weird", weird)]),
    };
    let a = vswitch::ensure_bridge(&c, &spec, secs(10)).await.unwrap();
    // Our own monitor updates arrived before the transaction's reply.
    assert!(c.read(|s| s.replica.find("Bridge", "name", "br-pf").is_some()), "replica lags our own transaction");
    vswitch::wait_applied(&c, a.next_cfg, secs(10)).await.unwrap();
    assert_eq!(sb.vsctl(&["get", "bridge", "br-pf", "datapath_type"]).unwrap().trim(), "netdev");
    assert_eq!(sb.vsctl(&["get", "bridge", "br-pf", "fail_mode"]).unwrap().trim(), "secure");
    assert!(sb.vsctl(&["get", "bridge", "br-pf", "protocols"]).unwrap().contains("OpenFlow15"));
    let got: String = serde_json_str(&sb.vsctl(&["--format=json", "get", "bridge", "br-pf", "external_ids:weird"]).unwrap());
    assert_eq!(got, weird);
    // Idempotent, and keeps foreign external_ids keys.
    sb.vsctl(&["set", "bridge", "br-pf", "external_ids:foreign=keep"]).unwrap();
    let a2 = vswitch::ensure_bridge(&c, &spec, secs(10)).await.unwrap();
    assert_eq!(a2.uuid, a.uuid);
    assert_eq!(sb.vsctl(&["get", "bridge", "br-pf", "external_ids:foreign"]).unwrap().trim(), "keep");

    // A value written by ovs-vsctl reads back identically through our replica.
    sb.vsctl(&["set", "bridge", "br-pf", &format!("external_ids:fromvsctl=\"{}\"", weird.replace('\\', "\\\\").replace('"', "\\\""))]).unwrap();
    let seen = c
        .wait_until(secs(5), |s| {
            let (_, r) = s.replica.find("Bridge", "name", "br-pf")?;
            column(r, "external_ids").string_map().get("fromvsctl").cloned()
        })
        .await
        .unwrap();
    assert_eq!(seen, weird);

    // Internal port with ofport_request.
    let p1 = PortSpec { name: "pf-int1".into(), kind: PortKind::Internal, ofport_request: Some(17), external_ids: ids(&[("pod", "ns/a")]) };
    assert_eq!(vswitch::add_port(&c, "br-pf", &p1, secs(15)).await.unwrap(), 17);
    assert_eq!(sb.vsctl(&["get", "interface", "pf-int1", "ofport"]).unwrap().trim(), "17");
    assert_eq!(sb.vsctl(&["get", "port", "pf-int1", "external_ids:pod"]).unwrap().trim(), "\"ns/a\"");
    // Adding it again is idempotent.
    assert_eq!(vswitch::add_port(&c, "br-pf", &p1, secs(15)).await.unwrap(), 17);
    // A system port on a veth in the namespace.
    sb.exec(&["ip", "link", "add", "pf-veth0", "type", "veth", "peer", "name", "pf-veth1"]).unwrap();
    let p2 = PortSpec { name: "pf-veth0".into(), kind: PortKind::System, ofport_request: None, external_ids: ids(&[]) };
    let of2 = vswitch::add_port(&c, "br-pf", &p2, secs(15)).await.unwrap();
    assert!(of2 > 0);
    // A system port whose device does not exist: the Interface error is reported.
    let bad = PortSpec { name: "pf-nodev".into(), kind: PortKind::System, ofport_request: None, external_ids: ids(&[]) };
    let e = vswitch::add_port(&c, "br-pf", &bad, secs(15)).await.unwrap_err();
    assert!(matches!(e, Error::Refused(_)), "{e}");
    assert!(e.to_string().contains("pf-nodev"), "{e}");

    // Ports added by ovs-vsctl appear in the replica.
    sb.vsctl(&["add-port", "br-pf", "vs-int", "--", "set", "interface", "vs-int", "type=internal"]).unwrap();
    vswitch::wait_ofport(&c, "vs-int", secs(10)).await.unwrap();

    // Several ports deleted atomically.
    let d = vswitch::delete_ports(&c, "br-pf", &["pf-int1", "pf-veth0", "pf-nodev"], secs(10)).await.unwrap();
    vswitch::wait_applied(&c, d.next_cfg, secs(10)).await.unwrap();
    let ports = sb.vsctl(&["list-ports", "br-pf"]).unwrap();
    assert_eq!(ports.trim(), "vs-int");
    assert!(c.read(|s| s.replica.find("Interface", "name", "pf-int1").is_none()));
    // Deleting a port that exists and one the server no longer has fails as a whole.
    sb.vsctl(&["add-port", "br-pf", "vs-int2", "--", "set", "interface", "vs-int2", "type=internal"]).unwrap();
    vswitch::wait_ofport(&c, "vs-int2", secs(10)).await.unwrap();
    c.transact(vec![Operation::comment("podflow test")], secs(5)).await.unwrap();
    // insert + delete + commit in one transaction: delete counts the row.
    let row: podflow::ovsdb::proto::ops::RowData = [("name".to_string(), podflow::ovsdb::proto::Datum::atom("tmp-port"))].into();
    let r = c
        .transact(
            vec![
                Operation::insert("Port", row),
                Operation::delete("Port", vec![Condition::eq("name", "tmp-port")]),
                Operation::commit(false),
            ],
            secs(5),
        )
        .await
        .unwrap();
    assert!(r[0].uuid.is_some());
    assert_eq!(r[1].count, Some(1));

    // Raw operations: select with a condition, update/delete counting.
    let r = c
        .transact(vec![Operation::select("Interface", vec![Condition::eq("name", "vs-int")]).with_columns(&["ofport"])], secs(5))
        .await
        .unwrap();
    assert_eq!(r[0].rows.len(), 1);
    let e = c.transact(vec![Operation::comment("x"), Operation::abort()], secs(5)).await.unwrap_err();
    assert!(e.is_refused(), "{e}");
    let e = c
        .transact(vec![Operation::assert_lock("no-such-lock")], secs(5))
        .await
        .unwrap_err();
    assert!(e.is_refused(), "{e}");
    let sh = sb.vsctl(&["show"]).unwrap();
    assert!(sh.contains("vs-int2"), "{sh}");
}

fn serde_json_str(s: &str) -> String {
    serde_json::from_str::<String>(s.trim()).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_restore_wait_by_mutation_keeps_foreign_keys() {
    let Some(sb) = common::sandbox("ovsdbfrw") else { return };
    let c = client(&sb).await;
    sb.vsctl(&["set", "open_vswitch", ".", "other_config:foreign-key=kept"]).unwrap();
    assert!(!vswitch::flow_restore_wait(&c, secs(5)).await.unwrap());
    vswitch::set_flow_restore_wait(&c, secs(5)).await.unwrap();
    assert!(vswitch::flow_restore_wait(&c, secs(5)).await.unwrap());
    assert!(c.read(vswitch::flow_restore_wait_cached));
    assert_eq!(sb.vsctl(&["get", "open_vswitch", ".", "other_config:flow-restore-wait"]).unwrap().trim(), "\"true\"");
    // Setting twice is harmless.
    vswitch::set_flow_restore_wait(&c, secs(5)).await.unwrap();
    assert_eq!(sb.vsctl(&["get", "open_vswitch", ".", "other_config:foreign-key"]).unwrap().trim(), "kept");
    vswitch::clear_flow_restore_wait(&c, secs(5)).await.unwrap();
    assert!(!vswitch::flow_restore_wait(&c, secs(5)).await.unwrap());
    let oc = sb.vsctl(&["get", "open_vswitch", ".", "other_config"]).unwrap();
    assert!(!oc.contains("flow-restore-wait") && oc.contains("foreign-key=kept"), "{oc}");
    // Clearing an absent key succeeds.
    vswitch::clear_flow_restore_wait(&c, secs(5)).await.unwrap();
    // Set by ovs-vsctl, seen by us; cleared by us, seen by ovs-vsctl.
    sb.vsctl(&["set", "open_vswitch", ".", "other_config:flow-restore-wait=true"]).unwrap();
    assert!(vswitch::flow_restore_wait(&c, secs(5)).await.unwrap());
    vswitch::clear_flow_restore_wait(&c, secs(5)).await.unwrap();
    let oc = sb.vsctl(&["get", "open_vswitch", ".", "other_config"]).unwrap();
    assert!(!oc.contains("flow-restore-wait") && oc.contains("foreign-key=kept"), "{oc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ovsdb_restart_resyncs_replica_and_pending_transaction_is_outcome_unknown() {
    let Some(sb) = common::sandbox("ovsdbrst") else { return };
    // A backoff of an hour: the reconnect below must come from polling the
    // socket while nobody listens (after a connection a full sync proved).
    let hour = Duration::from_secs(3600);
    let retry = RetryPolicy { backoff_min: hour, backoff_max: hour, ..RetryPolicy::default() };
    let c = Client::connect(sb.db_addr().parse().unwrap(), Options { retry, ..Options::default() }, secs(10)).await.unwrap();
    let g1 = c.wait_synced(secs(5)).await.unwrap();
    sb.vsctl(&["add-br", "br-stale", "--", "set", "bridge", "br-stale", "datapath_type=netdev"]).unwrap();
    sb.vsctl(&["add-br", "br-keep", "--", "set", "bridge", "br-keep", "datapath_type=netdev"]).unwrap();
    let stale = c.wait_until(secs(5), |s| s.replica.find("Bridge", "name", "br-stale").map(|(u, _)| u.clone())).await.unwrap();

    // A transaction the server holds (a blocking wait) when it dies.
    let c2 = c.clone();
    let pending = tokio::spawn(async move {
        let op = Operation::wait("Bridge", vec![Condition::eq("name", "never")], &["name"], false, vec![], Some(20_000));
        c2.transact(vec![op], secs(30)).await
    });
    let t0 = std::time::Instant::now();
    while c.in_flight() == 0 {
        assert!(t0.elapsed() < Duration::from_secs(5), "transaction never sent");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Give the server a moment to read it (it then holds it in the wait).
    tokio::time::sleep(Duration::from_millis(100)).await;
    sb.kill_ovsdb().unwrap();
    let e = pending.await.unwrap().unwrap_err();
    assert!(matches!(e, Error::OutcomeUnknown(_)), "{e}");
    assert!(e.to_string().contains("may or may not have committed"), "{e}");
    // The pending transactions are failed just before the state says so.
    c.wait_until(secs(5), |s| (!s.connected).then_some(())).await.expect("still connected after the server died");
    assert_eq!(c.in_flight(), 0);

    // While the server is down, change the database behind our back.
    let tx = format!(
        r#"["Open_vSwitch",{{"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["bridges","delete",["uuid","{stale}"]]]}}]"#
    );
    let out = std::process::Command::new("ovsdb-tool").arg("transact").arg(sb.path("conf.db")).arg(&tx).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A transaction sent while disconnected is queued and runs after the resync.
    let c3 = c.clone();
    let queued = tokio::spawn(async move { c3.transact(vec![Operation::comment("queued")], secs(30)).await });
    sb.start_ovsdb().unwrap();
    let g2 = c.wait_until(secs(15), |s| (s.connected && s.generation > g1).then_some(s.generation)).await.unwrap();
    assert_eq!(g2, g1 + 1);
    c.read(|s| {
        assert!(s.replica.find("Bridge", "name", "br-stale").is_none(), "stale row survived the resync");
        assert!(s.replica.find("Bridge", "name", "br-keep").is_some());
    });
    queued.await.unwrap().unwrap();
    assert!(c.read(|s| s.method.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_monitor_sees_only_matching_rows() {
    use podflow::ovsdb::client::vswitch_monitor;
    use podflow::ovsdb::proto::monitor::MonitorMethod;
    let Some(sb) = common::sandbox("ovsdbcond") else { return };
    let opts = Options { monitor: vswitch_monitor().filter("Bridge", vec![Condition::eq("name", "br-a")]), ..Options::default() };
    let c = Client::connect(sb.db_addr().parse().unwrap(), opts, secs(10)).await.unwrap();
    assert_eq!(c.read(|s| s.method), Some(MonitorMethod::MonitorCondSince));
    sb.vsctl(&["add-br", "br-b", "--", "set", "bridge", "br-b", "datapath_type=netdev"]).unwrap();
    sb.vsctl(&["add-br", "br-a", "--", "set", "bridge", "br-a", "datapath_type=netdev"]).unwrap();
    c.wait_until(secs(5), |s| s.replica.find("Bridge", "name", "br-a").map(|_| ())).await.unwrap();
    assert!(c.read(|s| s.replica.find("Bridge", "name", "br-b").is_none()));
    // The other monitored tables are unfiltered.
    assert!(c.read(|s| s.replica.find("Port", "name", "br-b").is_some()));
}
