//! `ct(...)` and `nat(...)`.

use crate::openflow::action::{ct_flags, nat_flags, Action, Ct, CtZone, Nat, NatAddrRange, CT_RECIRC_NONE};
use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::actions::*;
use super::values::*;

pub(super) fn nat(n: &Nat) -> String {
    let mut s = String::from("nat");
    if n.flags & (nat_flags::SRC | nat_flags::DST) != 0 {
        s.push('(');
        s.push_str(if n.flags & nat_flags::SRC != 0 { "src" } else { "dst" });
        let pmin = n.proto_min.unwrap_or(0);
        let pmax = n.proto_max.unwrap_or(0);
        if let Some(addr) = n.addr {
            s.push('=');
            match addr {
                NatAddrRange::V4(min, max) => {
                    let _ = write!(s, "{min}");
                    if let Some(max) = max {
                        if max != Ipv4Addr::UNSPECIFIED && max != min {
                            let _ = write!(s, "-{max}");
                        }
                    }
                }
                NatAddrRange::V6(min, max) => {
                    let br = |a: Ipv6Addr| {
                        if pmin != 0 {
                            format!("[{}]", ipv6(a.into()))
                        } else {
                            ipv6(a.into())
                        }
                    };
                    s.push_str(&br(min));
                    if let Some(max) = max {
                        if max != Ipv6Addr::UNSPECIFIED && max != min {
                            s.push('-');
                            s.push_str(&br(max));
                        }
                    }
                }
            }
            if pmin != 0 {
                let _ = write!(s, ":{pmin}");
                if pmax != 0 && pmax != pmin {
                    let _ = write!(s, "-{pmax}");
                }
            }
        }
        s.push(',');
        if n.flags & nat_flags::PERSISTENT != 0 {
            s.push_str("persistent,");
        }
        if n.flags & nat_flags::PROTO_HASH != 0 {
            s.push_str("hash,");
        }
        if n.flags & nat_flags::PROTO_RANDOM != 0 {
            s.push_str("random,");
        }
        if s.ends_with(',') {
            s.pop();
        }
        s.push(')');
    }
    s
}

pub(super) fn ct(c: &Ct) -> String {
    let mut s = String::from("ct(");
    if c.flags & ct_flags::COMMIT != 0 {
        s.push_str("commit,");
    }
    if c.flags & ct_flags::FORCE != 0 {
        s.push_str("force,");
    }
    if let Some(t) = c.table {
        if t != CT_RECIRC_NONE {
            let _ = write!(s, "table={t},");
        }
    }
    match c.zone {
        CtZone::Field(sf) => {
            let _ = write!(s, "zone={},", subfield(&sf));
        }
        CtZone::Imm(0) => {}
        CtZone::Imm(z) => {
            let _ = write!(s, "zone={z},");
        }
    }
    let mut rest: &[Action] = &c.actions;
    if let Some(Action::Nat(n)) = rest.first() {
        s.push_str(&nat(n));
        s.push(',');
        rest = &rest[1..];
    }
    if !rest.is_empty() {
        let _ = write!(s, "exec({}),", actions(rest));
    }
    match c.alg {
        0 => {}
        21 => s.push_str("alg=ftp,"),
        69 => s.push_str("alg=tftp,"),
        n => {
            let _ = write!(s, "alg={n},");
        }
    }
    if s.ends_with(',') {
        s.pop();
    }
    s.push(')');
    s
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
