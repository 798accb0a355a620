//! The uplink migration's decisions, without any I/O: which kernel objects
//! move with the NIC, in which order they can be put back, whether the NIC
//! is the node's primary interface (and why), what to probe, and what an
//! interrupted run must do next. Everything here takes plain values (the
//! objects the kernel listed) and returns plain values; the steps that act
//! on them are in [`super::run`].
//!
//! Must never touch the kernel, Open vSwitch or the journal file.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::host::{AddrFlags, Link, Object, ObjectKind, RT_TABLE_LOCAL, RT_TABLE_MAIN};
use crate::host::wire::NUD_PERMANENT;

use super::journal::{Journal, Phase, Step};

/// `RTPROT_KERNEL`: routes the kernel derives from addresses; they come
/// back with the addresses and are never recorded.
const RTPROT_KERNEL: u8 = 2;
/// `RTN_UNICAST`.
const RTN_UNICAST: u8 = 1;

/// Link kinds stacked on a parent link that moving the parent would break.
const CHILD_KINDS: [&str; 6] = ["vlan", "macvlan", "macvtap", "ipvlan", "ipvtap", "vxlan"];

/// What the kernel listed, for the NIC being moved.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub links: Vec<Link>,
    pub addresses: Vec<Object>,
    pub routes: Vec<Object>,
    pub rules: Vec<Object>,
    pub neighbours: Vec<Object>,
}

/// The objects that move with the NIC, and the rules that name it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Addresses, permanent neighbours and routes, in restore order.
    pub objects: Vec<Object>,
    /// Policy rules naming the NIC (`iif`/`oif`) or one of its addresses.
    /// They name links by name, so they follow the name to the internal
    /// port by themselves; they are recorded to be put back if missing.
    pub rules: Vec<Object>,
}

fn is_v6_link_local(a: IpAddr) -> bool {
    matches!(a, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}

/// Why the NIC cannot be moved at all (whatever `--allow-primary` says):
/// stacked links, a master, objects podflow cannot record.
pub fn unmovable(nic: &Link, l: &Listing) -> Option<String> {
    if let Some(m) = nic.master {
        let master = l.links.iter().find(|x| x.index == m);
        let kind = master.and_then(|x| x.kind.clone()).unwrap_or_else(|| "device".into());
        let name = master.map_or_else(|| format!("index {m}"), |x| x.name.clone());
        return Some(format!("{} is a port of the {kind} {name}; moving it would take it out of {name}", nic.name));
    }
    if let Some(child) = l.links.iter().find(|x| x.parent == Some(nic.index) && x.kind.as_deref().is_some_and(|k| CHILD_KINDS.contains(&k))) {
        return Some(format!(
            "{} carries the {} link {}; moving {} into a bridge would silently break it",
            nic.name,
            child.kind.as_deref().unwrap_or("stacked"),
            child.name,
            nic.name
        ));
    }
    // With `nexthop_compat_mode=0` the kernel does not say which link a
    // nexthop-object route uses: it might be this one, so refuse.
    if let Some(r) = l.routes.iter().find(|r| r.facts.nh_id.is_some() && r.facts.links.is_empty()) {
        return Some(format!("the {r} uses a nexthop object and the kernel does not say through which link (net.ipv4.nexthop_compat_mode=0); podflow cannot record nexthop objects"));
    }
    if let Some(r) = l.routes.iter().find(|r| r.facts.nh_id.is_some() && r.facts.links.contains(&nic.index)) {
        return Some(format!(
            "the {r} uses a nexthop object through {}; podflow cannot record nexthop objects, so it would move them only half",
            nic.name
        ));
    }
    None
}

/// Chooses what moves with `nic` and puts it in restore order.
pub fn select(nic: &Link, l: &Listing) -> Selection {
    let mine = |o: &&Object| o.facts.links.contains(&nic.index);
    let mut objects: Vec<Object> = l.addresses.iter().filter(mine).filter(|a| a.facts.prefix.is_some_and(|p| !is_v6_link_local(p.addr))).cloned().collect();
    let nic_addrs: Vec<IpAddr> = objects.iter().filter_map(|a| a.facts.prefix.map(|p| p.addr)).collect();
    objects.extend(l.neighbours.iter().filter(mine).filter(|n| n.facts.flags & NUD_PERMANENT != 0).cloned());
    objects.extend(l.routes.iter().filter(mine).filter(|r| r.facts.table != RT_TABLE_LOCAL && r.facts.protocol != RTPROT_KERNEL).filter(|r| {
        // IPv6 link-local and multicast routes are the kernel's, per link.
        r.facts.prefix.is_some_and(|p| !(p.addr.is_ipv6() && (is_v6_link_local(p.addr) || p.addr.is_multicast())))
    }).cloned());
    let order = restore_order(&objects);
    let objects = order.into_iter().map(|i| objects[i].clone()).collect();
    let rules = l
        .rules
        .iter()
        .filter(|r| {
            r.facts.iif.as_deref() == Some(nic.name.as_str())
                || r.facts.oif.as_deref() == Some(nic.name.as_str())
                || [r.facts.prefix, r.facts.to].iter().flatten().any(|p| nic_addrs.contains(&p.addr))
        })
        .cloned()
        .collect();
    Selection { objects, rules }
}

/// The order in which `objs` can be added back: addresses (as listed:
/// primaries before secondaries), then permanent neighbours, then routes
/// once what each depends on is placed (its `src` address; each gateway
/// reachable through a placed address or gateway-less route, unless the
/// route is `onlink` or the gateway is IPv6 link-local). Routes whose
/// needs are never met here (e.g. a gateway reached through another link)
/// come last, in listed order; the kernel has the last word.
pub fn restore_order(objs: &[Object]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::with_capacity(objs.len());
    for kind in [ObjectKind::Address, ObjectKind::Neighbour] {
        out.extend((0..objs.len()).filter(|i| objs[*i].kind == kind));
    }
    let mut left: Vec<usize> = (0..objs.len()).filter(|i| objs[*i].kind == ObjectKind::Route).collect();
    loop {
        let placed: Vec<&Object> = out.iter().map(|i| &objs[*i]).collect();
        let (ready, wait): (Vec<usize>, Vec<usize>) = left.iter().partition(|i| route_ready(&objs[**i], &placed));
        if ready.is_empty() {
            out.extend(wait);
            return out;
        }
        out.extend(ready);
        left = wait;
    }
}

fn route_ready(r: &Object, placed: &[&Object]) -> bool {
    let src_ok = r.facts.source.is_none_or(|s| placed.iter().any(|p| p.kind == ObjectKind::Address && p.facts.prefix.is_some_and(|a| a.addr == s)));
    let gw_ok = |g: &IpAddr| {
        is_v6_link_local(*g)
            || placed.iter().any(|p| match p.kind {
                ObjectKind::Address => p.facts.flags & AddrFlags::NOPREFIXROUTE.0 == 0 && p.facts.prefix.is_some_and(|a| a.contains(*g)),
                ObjectKind::Route => {
                    p.facts.gateways.is_empty()
                        && (p.facts.table == r.facts.table || p.facts.table == RT_TABLE_MAIN)
                        && p.facts.prefix.is_some_and(|d| d.contains(*g))
                }
                _ => false,
            })
    };
    src_ok && (r.facts.onlink || r.facts.gateways.iter().all(gw_ok))
}

/// The tables that traffic not sourced from the NIC's own addresses can
/// reach: main, and every table a rule sends to, except rules that only
/// select `from <one of the NIC's addresses>` (the AWS secondary-NIC
/// layout: that table serves the NIC's own replies, not the node).
fn node_tables(nic_addrs: &[IpAddr], rules: &[Object]) -> BTreeSet<u32> {
    let mut t = BTreeSet::from([RT_TABLE_MAIN]);
    for r in rules {
        let own_source = r.facts.prefix.is_some_and(|p| nic_addrs.contains(&p.addr) && p.len == if p.addr.is_ipv4() { 32 } else { 128 });
        if !own_source && r.facts.table != RT_TABLE_LOCAL && r.facts.table != 0 {
            t.insert(r.facts.table);
        }
    }
    t
}

/// What makes the NIC primary, and the warnings worth printing either way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Primary {
    /// Each reason names the route that makes the NIC primary.
    pub reasons: Vec<String>,
    /// Backup routes on the NIC that move with it.
    pub warnings: Vec<String>,
}

/// Decides whether `nic` is the node's primary interface: the best default
/// route (by metric) of either family in a table the node's traffic uses
/// goes through it, or the route to one of `keep` does (the addresses that
/// must stay reachable: `--keep-reachable`, a `tcp:` OVSDB endpoint).
pub fn primary(nic: &Link, l: &Listing, keep: &[IpAddr]) -> Primary {
    let nic_addrs: Vec<IpAddr> = l.addresses.iter().filter(|a| a.facts.links.contains(&nic.index)).filter_map(|a| a.facts.prefix.map(|p| p.addr)).collect();
    let tables = node_tables(&nic_addrs, &l.rules);
    let mut out = Primary::default();
    let uses = |r: &Object| r.facts.links.contains(&nic.index);
    for &table in &tables {
        for v6 in [false, true] {
            let mut defaults: Vec<&Object> = l
                .routes
                .iter()
                .filter(|r| r.facts.v6 == v6 && r.facts.table == table && r.facts.route_type == RTN_UNICAST && r.facts.prefix.is_some_and(|p| p.len == 0))
                .collect();
            defaults.sort_by_key(|r| r.facts.metric);
            for (i, r) in defaults.iter().enumerate().filter(|(_, r)| uses(r)) {
                if i == 0 {
                    out.reasons.push(format!("the node's default {r} goes through it"));
                } else {
                    out.warnings.push(format!("the backup default {r} goes through {} and moves with it", nic.name));
                }
            }
        }
    }
    for &ip in keep {
        if let Some(r) = route_to(ip, &tables, l).filter(|r| uses(r)) {
            out.reasons.push(format!("{ip}, which must stay reachable, is reached by its {r}"));
        }
    }
    out
}

/// The route the node would use to reach `ip` from the tables it uses:
/// the longest prefix, then the lowest metric, main table first.
fn route_to<'a>(ip: IpAddr, tables: &BTreeSet<u32>, l: &'a Listing) -> Option<&'a Object> {
    let order = std::iter::once(RT_TABLE_MAIN).chain(tables.iter().copied().filter(|t| *t != RT_TABLE_MAIN));
    for t in order {
        let best = l
            .routes
            .iter()
            .filter(|r| r.facts.table == t && r.facts.prefix.is_some_and(|p| p.contains(ip)))
            .max_by_key(|r| (r.facts.prefix.map_or(0, |p| p.len), std::cmp::Reverse(r.facts.metric)));
        if best.is_some() {
            return best;
        }
    }
    None
}

/// What attach probes through the bridge: `--probe` when given, else the
/// gateway of the NIC's best default route (IPv4 first), else a gateway
/// of any of its routes. `None`: attach must refuse.
pub fn probe_target(explicit: Option<IpAddr>, moved: &[Object]) -> Option<IpAddr> {
    if explicit.is_some() {
        return explicit;
    }
    let mut routes: Vec<&Object> = moved.iter().filter(|o| o.kind == ObjectKind::Route && !o.facts.gateways.is_empty()).collect();
    routes.sort_by_key(|r| (r.facts.v6, r.facts.prefix.map_or(255, |p| p.len) != 0, r.facts.table != RT_TABLE_MAIN, r.facts.metric));
    routes.first().and_then(|r| r.facts.gateways.first().copied())
}

/// One stage of a rollback. Their names are failpoints (`undo-…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Undo {
    /// Delete the bridge's uplink flows (best effort).
    RemoveFlows,
    /// Delete both ports; the internal port takes its addresses and routes.
    DeletePorts,
    /// Give the NIC its name and IPv6 settings back.
    RestoreName,
    /// The NIC's MTU, MAC, txqueuelen and up state.
    RestoreLink,
    /// Addresses, neighbours, routes and rules, in dependency order.
    RestoreObjects,
    /// Delete a bridge the attach created.
    DeleteBridge,
}

impl Undo {
    pub const ALL: [Undo; 6] = [Undo::RemoveFlows, Undo::DeletePorts, Undo::RestoreName, Undo::RestoreLink, Undo::RestoreObjects, Undo::DeleteBridge];

    pub fn name(self) -> &'static str {
        match self {
            Undo::RemoveFlows => "undo-remove-flows",
            Undo::DeletePorts => "undo-delete-ports",
            Undo::RestoreName => "undo-restore-name",
            Undo::RestoreLink => "undo-restore-link",
            Undo::RestoreObjects => "undo-restore-objects",
            Undo::DeleteBridge => "undo-delete-bridge",
        }
    }
}

/// The rollback of an attach that got as far as `from` (which may or may
/// not have happened): the NIC's name and addresses come back before any
/// route, so a route that cannot be restored never strands them.
pub fn undo_plan(from: Step, bridge_created: bool) -> Vec<Undo> {
    let mut v = Vec::new();
    if from >= Step::InstallFlows {
        v.push(Undo::RemoveFlows);
    }
    if from >= Step::CreateInternalPort {
        v.push(Undo::DeletePorts);
    }
    if from >= Step::RenameNic {
        v.push(Undo::RestoreName);
    }
    v.push(Undo::RestoreLink);
    if from >= Step::MoveAddresses {
        v.push(Undo::RestoreObjects);
    }
    if bridge_created {
        v.push(Undo::DeleteBridge);
    }
    v
}

/// What an interrupted migration found in its journal must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Nothing to do.
    Consistent,
    /// Undo every step up to and including `from`.
    RollBack { from: Step },
    /// An earlier rollback restored all it could; these items it could
    /// not. Never retried: the operator acknowledges with `detach`.
    Terminal { failed: Vec<String> },
}

/// Decides how to recover from a journal. An attach interrupted at any
/// step is rolled back from that step (every undo is idempotent), and an
/// interrupted rollback is resumed from its start: one tested path to
/// "restored", instead of one per crash point.
pub fn recovery(j: &Journal) -> Recovery {
    match &j.phase {
        Phase::Attached => Recovery::Consistent,
        Phase::Attaching { step } | Phase::RollingBack { step, .. } => Recovery::RollBack { from: *step },
        Phase::RestoredWithErrors { failed } => Recovery::Terminal { failed: failed.clone() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uplink::fake::*;

    fn listing(addresses: Vec<Object>, routes: Vec<Object>, rules: Vec<Object>) -> Listing {
        Listing { links: vec![link("eth1", NIC), link("eth0", OTHER)], addresses, routes, rules, neighbours: vec![] }
    }

    fn texts(v: &[Object]) -> Vec<&str> {
        v.iter().map(|o| o.text.as_str()).collect()
    }

    #[test]
    fn gcp_routes_are_ordered_by_what_they_need() {
        let l = layout("gcp");
        let s = select(&link("eth1", NIC), &l);
        assert_eq!(
            texts(&s.objects),
            vec![
                "address 192.0.2.10/32",
                "address 2001:db8::10/64",
                "route 0.0.0.0/0 via [\"192.0.2.1\"] table 254 metric 0 onlink",
                "route 192.0.2.1/32 via [] table 254 metric 0 src 192.0.2.10",
                "route 198.51.100.0/24 via [\"192.0.2.1\"] table 100 metric 0",
            ]
        );
        assert_eq!(texts(&s.rules), vec!["rule from 192.0.2.10/32 lookup 100"]);
        let p = primary(&link("eth1", NIC), &l, &[]);
        assert_eq!(p.reasons.len(), 1, "{p:?}");
        assert!(p.reasons[0].contains("onlink"), "{p:?}");
        assert_eq!(probe_target(None, &s.objects), Some("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn ecmp_default_is_primary_and_names_the_route() {
        let l = listing(vec![addr("192.0.2.10/24")], vec![route("0.0.0.0/0", &["192.0.2.1", "192.0.2.2"], &[NIC, NIC], 254, 0)], vec![]);
        let p = primary(&link("eth1", NIC), &l, &[]);
        assert_eq!(p.reasons, vec!["the node's default route 0.0.0.0/0 via [\"192.0.2.1\", \"192.0.2.2\"] table 254 metric 0 goes through it".to_string()]);
        let s = select(&link("eth1", NIC), &l);
        assert_eq!(s.objects.len(), 2, "the multipath route is recorded");
    }

    #[test]
    fn a_table_reached_only_from_the_nics_address_is_not_primary() {
        let l = listing(
            vec![addr("192.0.2.20/24")],
            vec![route("0.0.0.0/0", &["192.0.2.1"], &[NIC], 101, 0), route("0.0.0.0/0", &["203.0.113.1"], &[OTHER], 254, 0)],
            vec![rule_from("192.0.2.20/32", 101)],
        );
        let nic = link("eth1", NIC);
        assert_eq!(primary(&nic, &l, &[]), Primary::default());
        // The same table reached by another rule makes it primary.
        let mut l2 = l.clone();
        l2.rules.push(rule_from("198.18.0.0/15", 101));
        assert_eq!(primary(&nic, &l2, &[]).reasons.len(), 1);
        // --keep-reachable through it makes it primary too.
        l2 = l.clone();
        l2.routes.push(route("198.51.100.0/24", &["192.0.2.1"], &[NIC], 254, 0));
        let p = primary(&nic, &l2, &["198.51.100.7".parse().unwrap()]);
        assert!(p.reasons[0].starts_with("198.51.100.7, which must stay reachable"), "{p:?}");
        assert_eq!(primary(&nic, &l2, &["203.0.113.9".parse().unwrap()]), Primary::default());
    }

    #[test]
    fn a_backup_default_is_moved_and_warned_about_not_primary() {
        let l = listing(
            vec![addr("192.0.2.20/24")],
            vec![route("0.0.0.0/0", &["192.0.2.1"], &[NIC], 254, 200), route("0.0.0.0/0", &["203.0.113.1"], &[OTHER], 254, 100)],
            vec![],
        );
        let p = primary(&link("eth1", NIC), &l, &[]);
        assert!(p.reasons.is_empty() && p.warnings.len() == 1, "{p:?}");
    }

    #[test]
    fn an_ipv6_default_via_a_link_local_router_is_primary_and_ready_at_once() {
        let l = listing(vec![addr("2001:db8::30/64")], vec![route("::/0", &["fe80::1"], &[NIC], 254, 1024)], vec![]);
        assert_eq!(primary(&link("eth1", NIC), &l, &[]).reasons.len(), 1);
        let s = select(&link("eth1", NIC), &l);
        assert_eq!(s.objects.len(), 2);
        assert_eq!(probe_target(None, &s.objects), Some("fe80::1".parse().unwrap()));
        assert_eq!(probe_target(Some("192.0.2.1".parse().unwrap()), &s.objects), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(probe_target(None, &s.objects[..1]), None);
    }

    #[test]
    fn stacked_links_masters_and_nexthop_objects_are_refused() {
        let nic = link("eth1", NIC);
        let mut l = listing(vec![], vec![], vec![]);
        assert_eq!(unmovable(&nic, &l), None);
        let mut vlan = link("eth1.100", 9);
        vlan.kind = Some("vlan".into());
        vlan.parent = Some(NIC);
        l.links.push(vlan);
        assert!(unmovable(&nic, &l).unwrap().contains("vlan link eth1.100"));
        l.links.pop();
        let mut r = route("0.0.0.0/0", &["192.0.2.1"], &[NIC], 254, 0);
        r.facts.nh_id = Some(7);
        l.routes.push(r);
        assert!(unmovable(&nic, &l).unwrap().contains("nexthop object through eth1"));
        l.routes[0].facts.links.clear();
        assert!(unmovable(&nic, &l).unwrap().contains("nexthop_compat_mode=0"));
        let mut bonded = nic.clone();
        bonded.master = Some(OTHER);
        assert!(unmovable(&bonded, &listing(vec![], vec![], vec![])).unwrap().contains("is a port of"));
    }

    #[test]
    fn unknown_needs_go_last_in_listed_order() {
        let objs = vec![route("198.51.100.0/24", &["203.0.113.1"], &[NIC], 254, 0), addr("192.0.2.2/24"), route("0.0.0.0/0", &["192.0.2.1"], &[NIC], 254, 0)];
        assert_eq!(restore_order(&objs), vec![1, 2, 0]);
    }

    #[test]
    fn rollback_restores_the_name_before_any_object() {
        let u = undo_plan(Step::Probe, true);
        assert_eq!(u, Undo::ALL.to_vec());
        assert_eq!(undo_plan(Step::RenameNic, false), vec![Undo::RestoreName, Undo::RestoreLink]);
        assert_eq!(undo_plan(Step::CreateBridge, true), vec![Undo::RestoreLink, Undo::DeleteBridge]);
    }
}
