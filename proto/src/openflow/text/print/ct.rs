//! `ct(...)` and `nat(...)`.

use crate::openflow::action::{ct_flags, nat_flags, Action, Ct, CtZone, Nat, NatAddrRange, CT_RECIRC_NONE};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::actions::*;
use super::values::*;

/// `nat(...)` (just `nat` without a direction).
pub(super) fn nat(s: &mut String, n: &Nat) {
    s.push_str("nat");
    if n.flags & (nat_flags::SRC | nat_flags::DST) == 0 {
        return;
    }
    s.push('(');
    s.push_str(if n.flags & nat_flags::SRC != 0 { "src" } else { "dst" });
    if let Some(addr) = n.addr {
        s.push('=');
        nat_range(s, n, addr);
    }
    for (flag, name) in [(nat_flags::PERSISTENT, ",persistent"), (nat_flags::PROTO_HASH, ",hash"), (nat_flags::PROTO_RANDOM, ",random")] {
        if n.flags & flag != 0 {
            s.push_str(name);
        }
    }
    s.push(')');
}

/// The address range and port range after `src=`/`dst=`.
fn nat_range(s: &mut String, n: &Nat, addr: NatAddrRange) {
    let pmin = n.proto_min.unwrap_or(0);
    let pmax = n.proto_max.unwrap_or(0);
    match addr {
        NatAddrRange::V4(min, max) => {
            ipv4(s, min.into());
            if let Some(max) = max {
                if max != Ipv4Addr::UNSPECIFIED && max != min {
                    s.push('-');
                    ipv4(s, max.into());
                }
            }
        }
        NatAddrRange::V6(min, max) => {
            // With a port, IPv6 addresses are bracketed.
            let br = |s: &mut String, a: Ipv6Addr| {
                if pmin != 0 {
                    s.push('[');
                    ipv6(s, a.into());
                    s.push(']');
                } else {
                    ipv6(s, a.into());
                }
            };
            br(s, min);
            if let Some(max) = max {
                if max != Ipv6Addr::UNSPECIFIED && max != min {
                    s.push('-');
                    br(s, max);
                }
            }
        }
    }
    if pmin != 0 {
        s.push(':');
        dec(s, pmin.into());
        if pmax != 0 && pmax != pmin {
            s.push('-');
            dec(s, pmax.into());
        }
    }
}

/// `ct(...)`: flags, table, zone, nat, `exec(...)`, alg, in Open vSwitch's order.
pub(super) fn ct(s: &mut String, c: &Ct) {
    s.push_str("ct(");
    let start = s.len();
    if c.flags & ct_flags::COMMIT != 0 {
        s.push_str("commit,");
    }
    if c.flags & ct_flags::FORCE != 0 {
        s.push_str("force,");
    }
    if let Some(t) = c.table {
        if t != CT_RECIRC_NONE {
            s.push_str("table=");
            dec(s, t.into());
            s.push(',');
        }
    }
    match c.zone {
        CtZone::Field(sf) => {
            s.push_str("zone=");
            write_subfield(s, &sf);
            s.push(',');
        }
        CtZone::Imm(0) => {}
        CtZone::Imm(z) => {
            s.push_str("zone=");
            dec(s, z.into());
            s.push(',');
        }
    }
    let mut rest: &[Action] = &c.actions;
    if let Some(Action::Nat(n)) = rest.first() {
        nat(s, n);
        s.push(',');
        rest = &rest[1..];
    }
    if !rest.is_empty() {
        s.push_str("exec(");
        write_actions(s, rest);
        s.push_str("),");
    }
    match c.alg {
        0 => {}
        21 => s.push_str("alg=ftp,"),
        69 => s.push_str("alg=tftp,"),
        n => {
            s.push_str("alg=");
            dec(s, n.into());
            s.push(',');
        }
    }
    if s.len() > start && s.ends_with(',') {
        s.pop();
    }
    s.push(')');
}

#[cfg(test)]
mod tests {
    //! Expected strings are what `ovs-ofctl` 3.1 prints (the oracle tests in
    //! `tests/text_print_oracle.rs` check the same code against it).
    use super::super::testutil::*;

    use crate::openflow::action::{ct_flags, nat_flags, Action, Ct, CtZone, Nat, NatAddrRange};

    use crate::openflow::oxm::fields;

    #[test]
    fn actions_ct_and_nat() {
        let ct = |flags, zone, table, alg, actions| Action::Ct(Ct { flags, zone, table, alg, actions });
        assert_eq!(a(ct(0, CtZone::Imm(0), None, 0, vec![])), "ct()");
        assert_eq!(
            a(ct(ct_flags::COMMIT, CtZone::Imm(5), Some(20), 0, vec![Action::SetField(f(fields::CT_MARK, &[0, 0, 0, 1]))])),
            "ct(commit,table=20,zone=5,exec(set_field:0x1->ct_mark))"
        );
        assert_eq!(
            a(ct(ct_flags::COMMIT | ct_flags::FORCE, CtZone::Field(sf(fields::reg(3), 0, 16)), None, 21, vec![])),
            "ct(commit,force,zone=NXM_NX_REG3[0..15],alg=ftp)"
        );
        assert_eq!(a(ct(0, CtZone::Imm(0), Some(0), 69, vec![])), "ct(table=0,alg=tftp)");
        assert_eq!(a(ct(0, CtZone::Imm(0), None, 3000, vec![])), "ct(alg=3000)");
        let nat = Nat {
            flags: nat_flags::SRC | nat_flags::PROTO_RANDOM,
            addr: Some(NatAddrRange::V4([203, 0, 113, 1].into(), Some([203, 0, 113, 5].into()))),
            proto_min: Some(1000),
            proto_max: Some(2000),
        };
        assert_eq!(
            a(ct(ct_flags::COMMIT, CtZone::Imm(0), None, 0, vec![Action::Nat(nat.clone())])),
            "ct(commit,nat(src=203.0.113.1-203.0.113.5:1000-2000,random))"
        );
        assert_eq!(
            a(ct(ct_flags::COMMIT, CtZone::Imm(0), None, 0, vec![Action::Nat(nat), Action::SetField(f(fields::CT_MARK, &[0, 0, 0, 2]))])),
            "ct(commit,nat(src=203.0.113.1-203.0.113.5:1000-2000,random),exec(set_field:0x2->ct_mark))"
        );
        assert_eq!(a(Action::Nat(Nat::default())), "nat");
        assert_eq!(a(Action::Nat(Nat { flags: nat_flags::DST, ..Nat::default() })), "nat(dst)");
        assert_eq!(
            a(Action::Nat(Nat {
                flags: nat_flags::DST | nat_flags::PERSISTENT | nat_flags::PROTO_HASH,
                addr: Some(NatAddrRange::V4([1, 2, 3, 4].into(), Some([1, 2, 3, 4].into()))),
                proto_min: Some(80),
                proto_max: Some(80),
            })),
            "nat(dst=1.2.3.4:80,persistent,hash)"
        );
        assert_eq!(
            a(Action::Nat(Nat {
                flags: nat_flags::DST,
                addr: Some(NatAddrRange::V6("fe80::1".parse().unwrap(), Some("fe80::5".parse().unwrap()))),
                proto_min: Some(80),
                proto_max: Some(90),
            })),
            "nat(dst=[fe80::1]-[fe80::5]:80-90)"
        );
        assert_eq!(
            a(Action::Nat(Nat { flags: nat_flags::SRC, addr: Some(NatAddrRange::V6("fe80::1".parse().unwrap(), None)), ..Nat::default() })),
            "nat(src=fe80::1)"
        );
    }
}
