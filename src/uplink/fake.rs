//! A fake node for the plan's unit tests: it keeps the NIC's name, the
//! objects on the NIC and on the internal port, the bridge and the journal,
//! refuses routes the way the kernel does (a gateway must be reachable on
//! the link unless `onlink`, a `src` must be an address of the link;
//! removing a link's last IPv4 address flushes its IPv4 routes), and can
//! fail any numbered call or crash at any failpoint. No root, no I/O.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::host::{Facts, HostError, IpPrefix, Link, Object, ObjectKind, OperState};

use super::journal::{Journal, Step};
use super::plan::Listing;
use super::plan::Undo;
use super::run::{Dev, UplinkOps};
use super::UplinkError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    pub renamed: bool,
    pub quiet: bool,
    pub bridge: bool,
    pub internal: bool,
    pub uplink_port: bool,
    pub flows: bool,
    pub nic: Vec<Object>,
    pub port: Vec<Object>,
    pub rules: Vec<Object>,
    pub journal: Option<Journal>,
}

#[derive(Debug, Default)]
pub struct Fake {
    pub node: RefCell<Node>,
    pub calls: RefCell<usize>,
    /// The call (0-based) that fails.
    pub fail_at: Option<usize>,
    /// The failpoint that crashes.
    pub crash_at: Option<String>,
    /// Objects (by text) the kernel always refuses to add.
    pub refuse: BTreeSet<String>,
    pub probe_answers: bool,
    pub log: RefCell<Vec<String>>,
}

fn injected(what: &str) -> HostError {
    HostError::Netlink { op: what.into(), errno: 5, message: "injected failure".into() }
}

fn kernel_refuses(o: &Object, on: &[Object]) -> Option<&'static str> {
    if o.kind != ObjectKind::Route {
        return None;
    }
    let f = &o.facts;
    let addr_has = |ip: IpAddr| on.iter().any(|x| x.kind == ObjectKind::Address && x.facts.prefix.is_some_and(|p| p.addr == ip));
    if f.source.is_some_and(|s| !addr_has(s)) {
        return Some("Invalid prefsrc address");
    }
    let reachable = |g: &IpAddr| {
        matches!(g, IpAddr::V6(v) if v.segments()[0] == 0xfe80)
            || on.iter().any(|x| {
                (x.kind == ObjectKind::Address && x.facts.flags & 0x200 == 0 && x.facts.prefix.is_some_and(|p| p.contains(*g)))
                    || (x.kind == ObjectKind::Route && x.facts.gateways.is_empty() && x.facts.prefix.is_some_and(|p| p.contains(*g)))
            })
    };
    (!f.onlink && !f.gateways.iter().all(reachable)).then_some("Nexthop has invalid gateway")
}

impl Fake {
    pub fn new(initial: Node) -> Fake {
        Fake { node: RefCell::new(initial), probe_answers: true, ..Fake::default() }
    }

    fn call(&self, what: String) -> Result<(), HostError> {
        let mut n = self.calls.borrow_mut();
        let this = *n;
        *n += 1;
        self.log.borrow_mut().push(what.clone());
        if self.fail_at == Some(this) {
            return Err(injected(&what));
        }
        Ok(())
    }

    fn uerr(&self, what: String) -> Result<(), UplinkError> {
        self.call(what.clone()).map_err(|source| UplinkError::Host { context: what, source })
    }
}

impl UplinkOps for Fake {
    async fn save(&self, j: &Journal) -> Result<(), UplinkError> {
        self.uerr(format!("save {:?}", j.phase))?;
        self.node.borrow_mut().journal = Some(j.clone());
        Ok(())
    }

    async fn forget(&self, _j: &Journal) -> Result<(), UplinkError> {
        self.uerr("forget".into())?;
        self.node.borrow_mut().journal = None;
        Ok(())
    }

    async fn step(&self, _j: &Journal, step: Step) -> Result<(), UplinkError> {
        self.uerr(step.name().into())?;
        let mut n = self.node.borrow_mut();
        match step {
            Step::CreateBridge => n.bridge = true,
            Step::RenameNic => n.renamed = true,
            Step::QuietNic => n.quiet = true,
            Step::CreateInternalPort if n.renamed && n.bridge => n.internal = true,
            Step::AttachUplink if n.bridge => n.uplink_port = true,
            Step::InstallFlows if n.uplink_port && n.internal => n.flows = true,
            _ => return Err(UplinkError::State(format!("{} out of order", step.name()))),
        }
        Ok(())
    }

    async fn probe(&self, _j: &Journal, target: IpAddr) -> Result<(), UplinkError> {
        self.uerr(format!("probe {target}"))?;
        let n = self.node.borrow();
        if self.probe_answers && n.flows && n.port.iter().any(|o| o.kind == ObjectKind::Address) {
            Ok(())
        } else {
            Err(UplinkError::State(format!("no answer from {target}")))
        }
    }

    async fn undo(&self, _j: &Journal, u: Undo) -> Result<(), UplinkError> {
        self.uerr(u.name().into())?;
        let mut n = self.node.borrow_mut();
        match u {
            Undo::RemoveFlows => n.flows = false,
            Undo::DeletePorts => {
                n.internal = false;
                n.uplink_port = false;
                n.flows = false;
                n.port.clear();
            }
            Undo::RestoreName if n.internal => return Err(UplinkError::State("the internal port holds the name".into())),
            Undo::RestoreName => {
                n.renamed = false;
                n.quiet = false;
            }
            Undo::RestoreLink => {}
            Undo::DeleteBridge => n.bridge = false,
            Undo::RestoreObjects => unreachable!("the driver places objects itself"),
        }
        Ok(())
    }

    async fn add(&self, _j: &Journal, dev: Dev, o: &Object) -> Result<(), HostError> {
        self.call(format!("add {o} on {dev:?}"))?;
        let mut n = self.node.borrow_mut();
        if dev == Dev::Internal && !n.internal {
            return Err(HostError::NotFound { what: "the internal port".into(), errno: 19 });
        }
        if o.kind == ObjectKind::Rule {
            if !n.rules.contains(o) {
                n.rules.push(o.clone());
            }
            return Ok(());
        }
        let on = if dev == Dev::Nic { &mut n.nic } else { &mut n.port };
        if on.contains(o) {
            return Ok(());
        }
        if self.refuse.contains(&o.text) {
            return Err(HostError::Netlink { op: format!("add {o}"), errno: 22, message: "refused by the test".into() });
        }
        if let Some(why) = kernel_refuses(o, on) {
            return Err(HostError::Netlink { op: format!("add {o}"), errno: 22, message: why.into() });
        }
        on.push(o.clone());
        Ok(())
    }

    async fn delete(&self, _j: &Journal, dev: Dev, o: &Object) -> Result<(), HostError> {
        self.call(format!("delete {o} from {dev:?}"))?;
        let mut n = self.node.borrow_mut();
        let on = if dev == Dev::Nic { &mut n.nic } else { &mut n.port };
        on.retain(|x| x != o);
        if o.kind == ObjectKind::Address && !o.facts.v6 {
            let addr = o.facts.prefix.map(|p| p.addr);
            on.retain(|x| !(x.kind == ObjectKind::Route && x.facts.source.is_some() && x.facts.source == addr));
            if !on.iter().any(|x| x.kind == ObjectKind::Address && !x.facts.v6) {
                on.retain(|x| x.kind != ObjectKind::Route || x.facts.v6);
            }
        }
        Ok(())
    }

    async fn settle(&self, _j: &Journal, dev: Dev) -> Result<(), UplinkError> {
        self.uerr(format!("settle {dev:?}"))
    }

    fn failpoint(&self, name: &str) -> Result<(), UplinkError> {
        if self.crash_at.as_deref() == Some(name) {
            return Err(UplinkError::Crashed(name.to_string()));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- layouts

pub const NIC: u32 = 3;
pub const OTHER: u32 = 4;

pub fn link(name: &str, index: u32) -> Link {
    Link {
        index,
        name: name.into(),
        altnames: vec![],
        mac: None,
        mtu: 1500,
        admin_up: true,
        oper_state: OperState::Up,
        master: None,
        kind: Some("veth".into()),
        txqlen: 1000,
        parent: None,
    }
}

fn p(s: &str) -> IpPrefix {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn addr(cidr: &str) -> Object {
    let pr = p(cidr);
    let facts = Facts { v6: pr.addr.is_ipv6(), links: vec![NIC], prefix: Some(pr), ..Facts::default() };
    Object { kind: ObjectKind::Address, text: format!("address {cidr}"), facts, bytes: vec![] }
}

/// A route: `dst`, gateways (one per nexthop), on `links`, in `table`.
pub fn route(dst: &str, gws: &[&str], links: &[u32], table: u32, metric: u32) -> Object {
    let pr = p(dst);
    let facts = Facts {
        v6: pr.addr.is_ipv6(),
        links: links.to_vec(),
        prefix: Some(pr),
        gateways: gws.iter().map(|g| ip(g)).collect(),
        table,
        metric,
        protocol: 4,
        route_type: 1,
        ..Facts::default()
    };
    let text = format!("route {dst} via {gws:?} table {table} metric {metric}");
    Object { kind: ObjectKind::Route, text, facts, bytes: vec![] }
}

pub fn rule_from(src: &str, table: u32) -> Object {
    let facts = Facts { prefix: Some(p(src)), table, ..Facts::default() };
    Object { kind: ObjectKind::Rule, text: format!("rule from {src} lookup {table}"), facts, bytes: vec![] }
}

pub fn onlink(mut o: Object) -> Object {
    o.facts.onlink = true;
    o.text += " onlink";
    o
}

pub fn src(mut o: Object, s: &str) -> Object {
    o.facts.source = Some(ip(s));
    o.text += &format!(" src {s}");
    o
}

/// The layouts of issue 10, as the fake node holds them.
pub fn layouts() -> Vec<(&'static str, Listing)> {
    let l = |addresses: Vec<Object>, routes: Vec<Object>, rules: Vec<Object>| Listing {
        links: vec![link("eth1", NIC), link("eth0", OTHER)],
        addresses,
        routes,
        rules,
        neighbours: vec![],
    };
    vec![
        ("simple", l(vec![addr("192.0.2.2/24")], vec![route("0.0.0.0/0", &["192.0.2.1"], &[NIC], 254, 0), route("198.51.100.0/24", &["192.0.2.1"], &[NIC], 254, 50)], vec![])),
        ("ecmp", l(vec![addr("192.0.2.10/24")], vec![route("0.0.0.0/0", &["192.0.2.1", "192.0.2.2"], &[NIC, NIC], 254, 0)], vec![])),
        (
            "gcp",
            l(
                vec![addr("192.0.2.10/32"), addr("2001:db8::10/64")],
                // Dump order: table 100 first, the default before the
                // scope-link route it needs for its table-100 sibling.
                vec![
                    route("198.51.100.0/24", &["192.0.2.1"], &[NIC], 100, 0),
                    onlink(route("0.0.0.0/0", &["192.0.2.1"], &[NIC], 254, 0)),
                    src(route("192.0.2.1/32", &[], &[NIC], 254, 0), "192.0.2.10"),
                ],
                vec![rule_from("192.0.2.10/32", 100)],
            ),
        ),
        (
            "aws",
            l(
                vec![addr("192.0.2.20/24")],
                vec![route("0.0.0.0/0", &["192.0.2.1"], &[NIC], 101, 0), route("0.0.0.0/0", &["203.0.113.1"], &[OTHER], 254, 0)],
                vec![rule_from("192.0.2.20/32", 101)],
            ),
        ),
        ("dual-stack", l(vec![addr("192.0.2.30/24"), addr("2001:db8::30/64")], vec![route("::/0", &["fe80::1"], &[NIC], 254, 1024)], vec![])),
    ]
}

/// One layout of [`layouts`] by name.
pub fn layout(name: &str) -> Listing {
    layouts().into_iter().find(|(n, _)| *n == name).map(|(_, l)| l).expect("a known layout")
}
