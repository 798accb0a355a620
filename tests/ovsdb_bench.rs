//! Benchmark (ignored by default): monitor initial sync and replica update
//! throughput with 10,000 ports. Run with
//! `cargo test --release --test ovsdb_bench -- --ignored --nocapture`.
//! ovs-vswitchd is stopped first so that only OVSDB is measured.
mod common;

use std::time::{Duration, Instant as StdInstant};

use podflow::ovsdb::proto::monitor::column;
use podflow::ovsdb::proto::ops::RowData;
use podflow::ovsdb::proto::{Atom, Condition, Datum, Mutation, Operation};
use podflow::ovsdb::vswitch::{self, BridgeSpec, DatapathType};
use podflow::ovsdb::{Client, Options};
use tokio::time::Instant;

const PORTS: usize = 10_000;
const BATCH: usize = 1_000;

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(120)
}

fn rate(n: usize, d: Duration) -> String {
    format!("{:.0}/s", n as f64 / d.as_secs_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run explicitly"]
async fn bench_10k_ports_initial_sync_and_update_throughput() {
    let Some(sb) = common::sandbox("ovsdbbench") else { return };
    sb.kill_vswitchd().unwrap();
    let c = Client::connect(sb.db_addr().parse().unwrap(), Options::default(), deadline()).await.unwrap();
    let spec = BridgeSpec { name: "br-bench".into(), datapath_type: DatapathType::Netdev, external_ids: Default::default() };
    vswitch::ensure_bridge(&c, &spec, deadline()).await.unwrap();

    // 1. Insert 10,000 ports (Port + Interface), 1,000 per transaction.
    let t0 = StdInstant::now();
    for b in 0..PORTS / BATCH {
        let mut ops = Vec::new();
        let mut refs = Vec::new();
        for i in b * BATCH..(b + 1) * BATCH {
            let name = format!("pod{i:05}");
            let iface: RowData = [
                ("name".to_string(), Datum::atom(name.as_str())),
                ("type".to_string(), Datum::atom("internal")),
                ("external_ids".to_string(), Datum::map([("pod", format!("ns/pod-{i}").as_str())])),
            ]
            .into();
            ops.push(Operation::insert("Interface", iface).with_uuid_name(&format!("i{i}")));
            let port: RowData = [
                ("name".to_string(), Datum::atom(name.as_str())),
                ("interfaces".to_string(), Datum::atom(Atom::NamedUuid(format!("i{i}")))),
            ]
            .into();
            ops.push(Operation::insert("Port", port).with_uuid_name(&format!("p{i}")));
            refs.push(Atom::NamedUuid(format!("p{i}")));
        }
        ops.push(Operation::mutate("Bridge", vec![Condition::eq("name", "br-bench")], vec![Mutation::insert("ports", Datum::set(refs))]));
        c.transact(ops, deadline()).await.unwrap();
    }
    let insert = t0.elapsed();
    assert_eq!(c.read(|s| s.replica.rows("Interface").count()), PORTS + 1);

    // 2. Initial sync of a fresh monitor (get_schema + monitor_cond_since reply).
    let mut syncs = vec![];
    for _ in 0..3 {
        let t = StdInstant::now();
        let c2 = Client::connect(sb.db_addr().parse().unwrap(), Options::default(), deadline()).await.unwrap();
        syncs.push(t.elapsed());
        assert_eq!(c2.read(|s| s.replica.rows("Port").count()), PORTS + 1);
    }
    syncs.sort();

    // 3. One transaction modifying all 10,000 interfaces, seen by a second
    //    monitor (time from commit to replica updated).
    let watcher = Client::connect(sb.db_addr().parse().unwrap(), Options::default(), deadline()).await.unwrap();
    let t = StdInstant::now();
    c.transact(
        vec![Operation::mutate("Interface", vec![Condition::ne("name", "br-bench")], vec![Mutation::insert("external_ids", Datum::map([("round", "2")]))])],
        deadline(),
    )
    .await
    .unwrap();
    let bulk_txn = t.elapsed();
    watcher
        .wait_until(deadline(), |s| {
            s.replica.rows("Interface").filter(|(_, r)| column(r, "external_ids").get("round").is_some()).count().eq(&PORTS).then_some(())
        })
        .await
        .unwrap();
    let bulk_seen = t.elapsed();

    // 4. 1,000 small sequential transactions (one interface each): latency
    //    including our own update arriving in the replica.
    let t = StdInstant::now();
    for i in 0..1000 {
        let name = format!("pod{i:05}");
        c.transact(
            vec![Operation::mutate("Interface", vec![Condition::eq("name", name.as_str())], vec![Mutation::insert("external_ids", Datum::map([("small", "1")]))])],
            deadline(),
        )
        .await
        .unwrap();
    }
    let small = t.elapsed();

    println!("BENCH ovsdb: {PORTS} ports (+interfaces) inserted in {:?} ({} rows, incl. replica update)", insert, rate(2 * PORTS, insert));
    println!("BENCH ovsdb: monitor initial sync of {} rows: min {:?} median {:?} max {:?}", 2 * PORTS + 3, syncs[0], syncs[1], syncs[2]);
    println!("BENCH ovsdb: 1 txn modifying {PORTS} interfaces: reply {:?}, visible in another replica after {:?} ({})", bulk_txn, bulk_seen, rate(PORTS, bulk_seen));
    println!("BENCH ovsdb: 1000 sequential single-row txns: {:?} ({:?}/txn)", small, small / 1000);
}
