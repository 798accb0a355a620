//! Actions: the OpenFlow 1.5 standard set and the Nicira extensions that
//! real pipelines use (`resubmit`, `move`, `load`, `ct`, `nat`, `note`,
//! `controller(...)`, `conjunction`). Unknown actions keep their bytes.

mod encap;
mod ext;
mod hash;
pub use encap::{EdProp, Encap, PT_USE_NEXT_PROTO};
mod learn;
pub use hash::{Bundle, Multipath};
pub use ext::nxast as nxast_ext;
pub use learn::{learn_flags, Learn, LearnDst, LearnSpec, LearnSrc};

use super::oxm::{OxmField, OxmId};
use super::port::PortNo;
use crate::error::{DecodeError, EncodeError};
use crate::wire::{pad_to, patch_len16, Reader};
use bytes::{BufMut, BytesMut};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Standard action type numbers (`ofp_action_type`).
pub mod types {
    pub const OUTPUT: u16 = 0;
    pub const COPY_TTL_OUT: u16 = 11;
    pub const COPY_TTL_IN: u16 = 12;
    pub const SET_MPLS_TTL: u16 = 15;
    pub const DEC_MPLS_TTL: u16 = 16;
    pub const PUSH_VLAN: u16 = 17;
    pub const POP_VLAN: u16 = 18;
    pub const PUSH_MPLS: u16 = 19;
    pub const POP_MPLS: u16 = 20;
    pub const SET_QUEUE: u16 = 21;
    pub const GROUP: u16 = 22;
    pub const SET_NW_TTL: u16 = 23;
    pub const DEC_NW_TTL: u16 = 24;
    pub const SET_FIELD: u16 = 25;
    pub const COPY_FIELD: u16 = 28;
    pub const METER: u16 = 29;
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// The Nicira experimenter id.
pub const NX_VENDOR_ID: u32 = 0x0000_2320;

/// Nicira action subtypes.
pub mod nxast {
    pub const RESUBMIT: u16 = 1;
    pub const REG_MOVE: u16 = 6;
    pub const REG_LOAD: u16 = 7;
    pub const NOTE: u16 = 8;
    pub const RESUBMIT_TABLE: u16 = 14;
    pub const DEC_TTL: u16 = 18;
    pub const CONTROLLER: u16 = 20;
    pub const CONJUNCTION: u16 = 34;
    pub const CT: u16 = 35;
    pub const NAT: u16 = 36;
    pub const CONTROLLER2: u16 = 37;
    pub const CT_CLEAR: u16 = 43;
    pub const RESUBMIT_TABLE_CT: u16 = 44;
}

/// `OFPCML_NO_BUFFER`: send the whole packet to the controller.
pub const CONTROLLER_MAX_LEN_NO_BUFFER: u16 = 0xffff;

/// A bit range of a field: `NXM_NX_REG0[4..7]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subfield {
    pub field: OxmId,
    pub ofs: u16,
    pub n_bits: u16,
}

/// Connection tracking (`ct(...)`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ct {
    /// [`ct_flags::COMMIT`], [`ct_flags::FORCE`].
    pub flags: u16,
    /// Zone: an immediate value, or a subfield to read it from.
    pub zone: CtZone,
    /// Table to resubmit to after conntrack; `None` for no recirculation.
    pub table: Option<u8>,
    pub alg: u16,
    /// Nested actions (`exec(...)` and `nat(...)`).
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CtZone {
    Imm(u16),
    Field(Subfield),
}

pub mod ct_flags {
    pub const COMMIT: u16 = 1;
    pub const FORCE: u16 = 2;
}

/// `NX_CT_RECIRC_NONE`.
pub const CT_RECIRC_NONE: u8 = 0xff;

/// Network address translation inside `ct(...)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Nat {
    /// [`nat_flags`].
    pub flags: u16,
    pub addr: Option<NatAddrRange>,
    pub proto_min: Option<u16>,
    pub proto_max: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NatAddrRange {
    V4(Ipv4Addr, Option<Ipv4Addr>),
    V6(Ipv6Addr, Option<Ipv6Addr>),
}

pub mod nat_flags {
    pub const SRC: u16 = 1 << 0;
    pub const DST: u16 = 1 << 1;
    pub const PERSISTENT: u16 = 1 << 2;
    pub const PROTO_HASH: u16 = 1 << 3;
    pub const PROTO_RANDOM: u16 = 1 << 4;
}

mod nat_range {
    pub const IPV4_MIN: u16 = 1 << 0;
    pub const IPV4_MAX: u16 = 1 << 1;
    pub const IPV6_MIN: u16 = 1 << 2;
    pub const IPV6_MAX: u16 = 1 << 3;
    pub const PROTO_MIN: u16 = 1 << 4;
    pub const PROTO_MAX: u16 = 1 << 5;
}

/// `controller(...)` (NXAST_CONTROLLER2 and the older NXAST_CONTROLLER).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Controller {
    pub max_len: u16,
    pub controller_id: u16,
    /// `ofp_packet_in_reason`: 0 no_match, 1 action, 2 invalid_ttl, …
    pub reason: u8,
    pub userdata: Vec<u8>,
    pub pause: bool,
    pub meter_id: Option<u32>,
    /// Whether it came as the older fixed-size NXAST_CONTROLLER.
    pub legacy: bool,
}

impl Default for Controller {
    fn default() -> Self {
        Controller {
            max_len: CONTROLLER_MAX_LEN_NO_BUFFER,
            controller_id: 0,
            reason: 1,
            userdata: Vec::new(),
            pause: false,
            meter_id: None,
            legacy: false,
        }
    }
}

/// One action.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    Output { port: PortNo, max_len: u16 },
    Group(u32),
    SetQueue(u32),
    /// `set_field`, masked when the field carries a mask.
    SetField(OxmField),
    PushVlan(u16),
    PopVlan,
    SetNwTtl(u8),
    /// OFPAT_DEC_NW_TTL (`dec_ttl` in `ovs-ofctl`).
    DecNwTtl,
    /// OFPAT_COPY_FIELD (`move:` in `ovs-ofctl`, as Open vSwitch sends it in OpenFlow 1.5).
    CopyField { n_bits: u16, src: Subfield, dst: Subfield },
    Meter(u32),
    /// Nicira `resubmit`: `in_port` 0xfff8 (IN_PORT) keeps the packet's, `table` None keeps the current.
    Resubmit { in_port: u16, table: Option<u8>, ct: bool },
    /// NXAST_REG_MOVE (`move:`). Decoded from peers; Open vSwitch 3.1
    /// refuses it in OpenFlow 1.5 (`OFPBAC_BAD_VENDOR_TYPE`): send
    /// [`Action::CopyField`] instead.
    RegMove { src: Subfield, dst: Subfield },
    /// NXAST_REG_LOAD (`load:`); `value` fits in `dst.n_bits`. Refused by
    /// Open vSwitch in OpenFlow 1.5: send a masked [`Action::SetField`].
    RegLoad { dst: Subfield, value: u64 },
    /// NXAST_DEC_TTL. Refused by Open vSwitch in OpenFlow 1.5: send
    /// [`Action::DecNwTtl`].
    NxDecTtl,
    Note(Vec<u8>),
    Ct(Ct),
    CtClear,
    Nat(Nat),
    Controller(Controller),
    Conjunction { id: u32, clause: u8, n_clauses: u8 },
    /// NXAST_OUTPUT_REG(2): output to the port number held in a subfield.
    OutputReg { src: Subfield, max_len: u16 },
    /// NXAST_OUTPUT_TRUNC: `output(port=P,max_len=N)`.
    OutputTrunc { port: u16, max_len: u32 },
    PopQueue,
    Exit,
    /// `fin_timeout(idle_timeout=…,hard_timeout=…)`.
    FinTimeout { idle: u16, hard: u16 },
    Clone(Vec<Action>),
    /// `push:SUBFIELD` onto the field stack.
    StackPush(Subfield),
    /// `pop:SUBFIELD` from the field stack.
    StackPop(Subfield),
    PushMpls(u16),
    /// `pop_mpls:ETHERTYPE` (the Ethertype after the pop).
    PopMpls(u16),
    SetMplsTtl(u8),
    DecMplsTtl,
    Learn(Box<Learn>),
    /// `check_pkt_larger(LEN)->DST`: DST (1 bit) = packet longer than LEN.
    CheckPktLarger { pkt_len: u16, dst: Subfield },
    Sample(Sample),
    Bundle(Box<Bundle>),
    Multipath(Multipath),
    Encap(Box<Encap>),
    /// `decap(...)`: the packet type of the result (see [`PT_USE_NEXT_PROTO`]).
    Decap(u32),
    DecNshTtl,
    /// `delete_field:FIELD`: removes a `tun_metadata` option from the packet.
    DeleteField(OxmId),
    /// An experimenter action we do not decode; `data` follows the experimenter id.
    Experimenter { experimenter: u32, data: Vec<u8> },
    /// A standard action we do not decode; `body` follows type and length.
    Unknown { ty: u16, body: Vec<u8> },
}

/// `sample(...)`: sends sampled packets to an IPFIX collector set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sample {
    pub probability: u16,
    pub collector_set_id: u32,
    pub obs_domain_id: u32,
    pub obs_point_id: u32,
    /// OpenFlow 1.0 port number; None is OFPP_NONE.
    pub sampling_port: Option<u16>,
    /// 0 default, 1 ingress, 2 egress.
    pub direction: u8,
}

/// A note's bytes as they travel: zero-padded so the action is a multiple
/// of 8 bytes (at least 16). What a switch sends back, and so what a
/// parsed `note:` becomes, to compare equal with a dumped flow.
pub fn note_on_wire(mut note: Vec<u8>) -> Vec<u8> {
    let len = (10 + note.len()).max(16);
    note.resize(len.div_ceil(8) * 8 - 10, 0);
    note
}

/// The 16-bit port value `resubmit` uses for "the packet's in_port".
pub const RESUBMIT_IN_PORT: u16 = 0xfff8;

fn put_nx_header(out: &mut BytesMut, subtype: u16) -> usize {
    let start = out.len();
    out.put_u16(types::EXPERIMENTER);
    out.put_u16(0);
    out.put_u32(NX_VENDOR_ID);
    out.put_u16(subtype);
    start
}

/// Fills in the length of an action started at `start` after padding it to 8.
fn finish_action(out: &mut BytesMut, start: usize) -> Result<(), EncodeError> {
    pad_to(out, start, 8);
    patch_len16(out, start + 2, start, "action")
}

/// NXM/OXM header word as used in Nicira actions (class, field, no mask, len).
fn nxm_header(id: OxmId) -> Result<u64, EncodeError> {
    let len = id.action_def().map(|d| d.len).ok_or_else(|| EncodeError::Invalid {
        what: "subfield",
        detail: format!("unknown field {}", id.name()),
    })?;
    match id.experimenter {
        None => Ok(((id.class as u64) << 16) | ((id.field as u64) << 9) | len as u64),
        Some(e) => Ok((((id.class as u64) << 16 | (id.field as u64) << 9 | (len as u64 + 4)) << 32) | e as u64),
    }
}

fn put_nxm_header(out: &mut BytesMut, id: OxmId) -> Result<(), EncodeError> {
    let h = nxm_header(id)?;
    if id.experimenter.is_some() {
        out.put_u64(h);
    } else {
        out.put_u32(h as u32);
    }
    Ok(())
}

/// Reads the field of a subfield reference. An unknown field cannot be
/// re-encoded faithfully, so the caller keeps the whole action raw instead.
fn read_field_id(r: &mut Reader<'_>) -> Result<OxmId, DecodeError> {
    let (id, _, _) = OxmId::read_header(r)?;
    let id = id.canonical().unwrap_or(id);
    if id.action_def().is_none() {
        return Err(DecodeError::Unsupported { what: "subfield", detail: format!("unknown field {}", id.name()) });
    }
    Ok(id)
}

fn check_subfield(sf: &Subfield, what: &'static str) -> Result<(), DecodeError> {
    if let Some(d) = sf.field.action_def() {
        if sf.n_bits == 0 || sf.ofs as u32 + sf.n_bits as u32 > d.len as u32 * 8 {
            return Err(DecodeError::invalid(
                what,
                format!("bits {}..{} are outside {} ({} bits)", sf.ofs, sf.ofs as u32 + sf.n_bits as u32, d.name, d.len * 8),
            ));
        }
    }
    Ok(())
}

impl Action {
    pub fn output(port: PortNo) -> Action {
        Action::Output { port, max_len: 0 }
    }

    /// Encodes the action with its header, padded to 8 bytes.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        match self {
            Action::Output { port, max_len } => {
                out.put_u16(types::OUTPUT);
                out.put_u16(16);
                out.put_u32(port.0);
                out.put_u16(*max_len);
                out.put_bytes(0, 6);
            }
            Action::Group(g) => simple32(out, types::GROUP, *g),
            Action::SetQueue(q) => simple32(out, types::SET_QUEUE, *q),
            Action::Meter(m) => simple32(out, types::METER, *m),
            Action::SetField(f) => {
                out.put_u16(types::SET_FIELD);
                out.put_u16(0);
                f.encode(out)?;
                return finish_action(out, start);
            }
            Action::PushVlan(ethertype) => {
                out.put_u16(types::PUSH_VLAN);
                out.put_u16(8);
                out.put_u16(*ethertype);
                out.put_u16(0);
            }
            Action::PopVlan => simple32(out, types::POP_VLAN, 0),
            Action::SetNwTtl(t) => simple32(out, types::SET_NW_TTL, (*t as u32) << 24),
            Action::DecNwTtl => simple32(out, types::DEC_NW_TTL, 0),
            Action::CopyField { n_bits, src, dst } => {
                out.put_u16(types::COPY_FIELD);
                out.put_u16(0);
                out.put_u16(*n_bits);
                out.put_u16(src.ofs);
                out.put_u16(dst.ofs);
                out.put_u16(0);
                put_nxm_header(out, src.field)?;
                put_nxm_header(out, dst.field)?;
                return finish_action(out, start);
            }
            Action::Resubmit { in_port, table, ct } => {
                // Open vSwitch always sends the table form (0xff = current
                // table); the older NXAST_RESUBMIT decodes to the same value.
                let sub = if *ct { nxast::RESUBMIT_TABLE_CT } else { nxast::RESUBMIT_TABLE };
                put_nx_header(out, sub);
                out.put_u16(*in_port);
                out.put_u8(table.unwrap_or(0xff));
                out.put_bytes(0, 3);
            }
            Action::RegMove { src, dst } => {
                put_nx_header(out, nxast::REG_MOVE);
                out.put_u16(src.n_bits);
                out.put_u16(src.ofs);
                out.put_u16(dst.ofs);
                put_nxm_header(out, src.field)?;
                put_nxm_header(out, dst.field)?;
                return finish_action(out, start);
            }
            Action::RegLoad { dst, value } => {
                put_nx_header(out, nxast::REG_LOAD);
                out.put_u16((dst.ofs << 6) | (dst.n_bits.wrapping_sub(1) & 0x3f));
                let h = nxm_header(dst.field)?;
                if dst.field.experimenter.is_some() {
                    return Err(EncodeError::Invalid { what: "load", detail: "experimenter fields need set_field".into() });
                }
                out.put_u32(h as u32);
                out.put_u64(*value);
            }
            Action::NxDecTtl => {
                put_nx_header(out, nxast::DEC_TTL);
                out.put_bytes(0, 6);
            }
            Action::Note(note) => {
                put_nx_header(out, nxast::NOTE);
                out.put_slice(note);
                // A note is at least 6 bytes long after its subtype.
                if note.len() < 6 {
                    out.put_bytes(0, 6 - note.len());
                }
                return finish_action(out, start);
            }
            Action::Ct(ct) => {
                put_nx_header(out, nxast::CT);
                out.put_u16(ct.flags);
                match ct.zone {
                    CtZone::Imm(z) => {
                        out.put_u32(0);
                        out.put_u16(z);
                    }
                    CtZone::Field(sf) => {
                        put_nxm_header(out, sf.field)?;
                        out.put_u16((sf.ofs << 6) | (sf.n_bits.wrapping_sub(1) & 0x3f));
                    }
                }
                out.put_u8(ct.table.unwrap_or(CT_RECIRC_NONE));
                out.put_bytes(0, 3);
                out.put_u16(ct.alg);
                for a in &ct.actions {
                    a.encode(out)?;
                }
                return finish_action(out, start);
            }
            Action::CtClear => {
                put_nx_header(out, nxast::CT_CLEAR);
                out.put_bytes(0, 6);
            }
            Action::Nat(nat) => {
                put_nx_header(out, nxast::NAT);
                out.put_u16(0);
                out.put_u16(nat.flags);
                let mut present = 0u16;
                let at = out.len();
                out.put_u16(0);
                match nat.addr {
                    Some(NatAddrRange::V4(min, max)) => {
                        present |= nat_range::IPV4_MIN;
                        out.put_slice(&min.octets());
                        if let Some(max) = max {
                            present |= nat_range::IPV4_MAX;
                            out.put_slice(&max.octets());
                        }
                    }
                    Some(NatAddrRange::V6(min, max)) => {
                        present |= nat_range::IPV6_MIN;
                        out.put_slice(&min.octets());
                        if let Some(max) = max {
                            present |= nat_range::IPV6_MAX;
                            out.put_slice(&max.octets());
                        }
                    }
                    None => {}
                }
                if let Some(p) = nat.proto_min {
                    present |= nat_range::PROTO_MIN;
                    out.put_u16(p);
                }
                if let Some(p) = nat.proto_max {
                    present |= nat_range::PROTO_MAX;
                    out.put_u16(p);
                }
                crate::wire::patch_u16(out, at, present);
                return finish_action(out, start);
            }
            Action::Controller(c) if c.legacy => {
                put_nx_header(out, nxast::CONTROLLER);
                out.put_u16(c.max_len);
                out.put_u16(c.controller_id);
                out.put_u8(c.reason);
                out.put_u8(0);
            }
            Action::Controller(c) => {
                put_nx_header(out, nxast::CONTROLLER2);
                out.put_bytes(0, 6);
                // 16-bit properties carry two bytes of padding inside their
                // length, as Open vSwitch encodes them.
                if c.max_len != CONTROLLER_MAX_LEN_NO_BUFFER {
                    let [a, b] = c.max_len.to_be_bytes();
                    super::port::encode_prop(out, 0, &[a, b, 0, 0])?;
                }
                if c.controller_id != 0 {
                    let [a, b] = c.controller_id.to_be_bytes();
                    super::port::encode_prop(out, 1, &[a, b, 0, 0])?;
                }
                if c.reason != 1 {
                    super::port::encode_prop(out, 2, &[c.reason])?;
                }
                if !c.userdata.is_empty() {
                    super::port::encode_prop(out, 3, &c.userdata)?;
                }
                if c.pause {
                    super::port::encode_prop(out, 4, &[])?;
                }
                if let Some(m) = c.meter_id {
                    super::port::encode_prop(out, 5, &m.to_be_bytes())?;
                }
                return finish_action(out, start);
            }
            Action::Conjunction { id, clause, n_clauses } => {
                put_nx_header(out, nxast::CONJUNCTION);
                out.put_u8(*clause);
                out.put_u8(*n_clauses);
                out.put_u32(*id);
            }
            Action::Experimenter { experimenter, data } => {
                out.put_u16(types::EXPERIMENTER);
                out.put_u16(0);
                out.put_u32(*experimenter);
                out.put_slice(data);
                return finish_action(out, start);
            }
            Action::Unknown { ty, body } => {
                out.put_u16(*ty);
                out.put_u16(0);
                out.put_slice(body);
                return finish_action(out, start);
            }
            other => ext::encode(other, out).unwrap_or(Ok(()))?,
        }
        finish_action(out, start)
    }

    /// Decodes one action.
    pub fn decode(r: &mut Reader<'_>) -> Result<Action, DecodeError> {
        let ty = r.peek_u16(0, "action header")?;
        let len = r.peek_u16(2, "action header")? as usize;
        if len < 8 || !len.is_multiple_of(8) {
            return Err(DecodeError::BadLength { what: "action", len, why: "must be a multiple of 8, at least 8" });
        }
        let mut a = r.sub(len, "action")?;
        a.skip(4, "action header")?;
        let action = match ty {
            types::OUTPUT => {
                let port = PortNo(a.u32("output")?);
                let max_len = a.u16("output")?;
                a.skip(6, "output")?;
                Action::Output { port, max_len }
            }
            types::GROUP => Action::Group(a.u32("group")?),
            types::SET_QUEUE => Action::SetQueue(a.u32("set_queue")?),
            types::METER => Action::Meter(a.u32("meter")?),
            types::PUSH_VLAN => {
                let e = a.u16("push_vlan")?;
                a.skip(2, "push_vlan")?;
                Action::PushVlan(e)
            }
            types::POP_VLAN => {
                a.skip(4, "pop_vlan")?;
                Action::PopVlan
            }
            types::SET_NW_TTL => {
                let t = a.u8("set_nw_ttl")?;
                a.skip(3, "set_nw_ttl")?;
                Action::SetNwTtl(t)
            }
            types::DEC_NW_TTL => {
                a.skip(4, "dec_nw_ttl")?;
                Action::DecNwTtl
            }
            types::SET_FIELD => {
                let f = OxmField::decode_masked_if(&mut a, true)?;
                // `action_def`: Open vSwitch sets some fields podflow does not
                // match on (the 16-bit NXM in_port of `load:…->in_port`).
                if f.id.action_def().is_none() {
                    // Unknown field: keep the whole action as raw bytes.
                    let mut body = BytesMut::new();
                    f.encode(&mut body).map_err(|e| DecodeError::invalid("set_field", e.to_string()))?;
                    body.put_slice(a.rest());
                    return Ok(Action::Unknown { ty, body: body.to_vec() });
                }
                a.rest(); // padding
                Action::SetField(f)
            }
            types::COPY_FIELD if !copy_field_is_known(a.peek_rest()) => Action::Unknown { ty, body: a.rest().to_vec() },
            types::COPY_FIELD => {
                let n_bits = a.u16("copy_field")?;
                let src_ofs = a.u16("copy_field")?;
                let dst_ofs = a.u16("copy_field")?;
                a.skip(2, "copy_field")?;
                let src = Subfield { field: read_field_id(&mut a)?, ofs: src_ofs, n_bits };
                let dst = Subfield { field: read_field_id(&mut a)?, ofs: dst_ofs, n_bits };
                check_subfield(&src, "copy_field source")?;
                check_subfield(&dst, "copy_field destination")?;
                a.rest();
                Action::CopyField { n_bits, src, dst }
            }
            types::EXPERIMENTER => {
                let experimenter = a.u32("experimenter action")?;
                if experimenter == NX_VENDOR_ID {
                    let save = a.clone();
                    match decode_nx(&mut a) {
                        Ok(Some(act)) => act,
                        Ok(None) | Err(DecodeError::Unsupported { .. }) => {
                            a.rest();
                            Action::Experimenter { experimenter, data: save.peek_rest().to_vec() }
                        }
                        Err(e) => return Err(e),
                    }
                } else {
                    Action::Experimenter { experimenter, data: a.rest().to_vec() }
                }
            }
            _ => match ext::decode_std(ty, &mut a)? {
                Some(act) => act,
                None => Action::Unknown { ty, body: a.rest().to_vec() },
            },
        };
        // Fixed-size actions must have used their whole length, except for
        // trailing zero padding that some encoders add.
        if a.peek_rest().iter().any(|&b| b != 0) {
            return Err(DecodeError::TrailingData { what: "action", count: a.remaining() });
        }
        Ok(action)
    }

    /// Encodes a list of actions.
    pub fn encode_list(actions: &[Action], out: &mut BytesMut) -> Result<(), EncodeError> {
        actions.iter().try_for_each(|a| a.encode(out))
    }

    /// Decodes actions until `r` is empty.
    pub fn decode_list(r: &mut Reader<'_>) -> Result<Vec<Action>, DecodeError> {
        let mut v = Vec::with_capacity(crate::wire::count_len16_units(r.peek_rest(), 2));
        while !r.is_empty() {
            v.push(Action::decode(r)?);
        }
        Ok(v)
    }
}

/// Whether both fields named by a COPY_FIELD body are known to podflow.
fn copy_field_is_known(body: &[u8]) -> bool {
    let mut r = Reader::new(body);
    if r.skip(8, "copy_field").is_err() {
        return true; // let the typed decoder report the truncation
    }
    let ok = |r: &mut Reader<'_>| {
        OxmId::read_header(r).map(|(id, _, _)| id.canonical().unwrap_or(id).action_def().is_some()).unwrap_or(true)
    };
    ok(&mut r) && ok(&mut r)
}

fn simple32(out: &mut BytesMut, ty: u16, v: u32) {
    out.put_u16(ty);
    out.put_u16(8);
    out.put_u32(v);
}

fn decode_ofs_nbits(v: u16) -> (u16, u16) {
    (v >> 6, (v & 0x3f) + 1)
}

/// Decodes a Nicira action body (after the vendor id). Returns `None` for
/// subtypes podflow does not model, which are then kept as raw bytes.
fn decode_nx(a: &mut Reader<'_>) -> Result<Option<Action>, DecodeError> {
    let subtype = a.u16("nicira action")?;
    Ok(Some(match subtype {
        nxast::RESUBMIT | nxast::RESUBMIT_TABLE | nxast::RESUBMIT_TABLE_CT => {
            let in_port = a.u16("resubmit")?;
            let table = a.u8("resubmit")?;
            a.skip(3, "resubmit")?;
            let table = if subtype == nxast::RESUBMIT || table == 0xff { None } else { Some(table) };
            Action::Resubmit { in_port, table, ct: subtype == nxast::RESUBMIT_TABLE_CT }
        }
        nxast::REG_MOVE => {
            let n_bits = a.u16("move")?;
            let src_ofs = a.u16("move")?;
            let dst_ofs = a.u16("move")?;
            let src = Subfield { field: read_field_id(a)?, ofs: src_ofs, n_bits };
            let dst = Subfield { field: read_field_id(a)?, ofs: dst_ofs, n_bits };
            check_subfield(&src, "move source")?;
            check_subfield(&dst, "move destination")?;
            a.rest();
            Action::RegMove { src, dst }
        }
        nxast::REG_LOAD => {
            let (ofs, n_bits) = decode_ofs_nbits(a.u16("load")?);
            let field = read_field_id(a)?;
            let value = a.u64("load")?;
            let dst = Subfield { field, ofs, n_bits };
            check_subfield(&dst, "load destination")?;
            if n_bits < 64 && value >> n_bits != 0 {
                return Err(DecodeError::invalid("load", format!("value {value:#x} does not fit in {n_bits} bits")));
            }
            Action::RegLoad { dst, value }
        }
        nxast::DEC_TTL => {
            a.skip(6, "dec_ttl")?;
            Action::NxDecTtl
        }
        nxast::NOTE => Action::Note(a.rest().to_vec()),
        nxast::CONTROLLER => {
            let max_len = a.u16("controller")?;
            let controller_id = a.u16("controller")?;
            let reason = a.u8("controller")?;
            a.skip(1, "controller")?;
            Action::Controller(Controller { max_len, controller_id, reason, legacy: true, ..Controller::default() })
        }
        nxast::CONTROLLER2 => {
            a.skip(6, "controller")?;
            let mut c = Controller::default();
            for (ty, body) in super::port::decode_props(a, "controller property")? {
                let mut b = Reader::new(&body);
                match ty {
                    0 => c.max_len = b.u16("controller max_len")?,
                    1 => c.controller_id = b.u16("controller id")?,
                    2 => c.reason = b.u8("controller reason")?,
                    3 => c.userdata = body.clone(),
                    4 => c.pause = true,
                    5 => c.meter_id = Some(b.u32("controller meter_id")?),
                    _ => return Ok(None),
                }
            }
            Action::Controller(c)
        }
        nxast::CONJUNCTION => {
            let clause = a.u8("conjunction")?;
            let n_clauses = a.u8("conjunction")?;
            let id = a.u32("conjunction")?;
            if n_clauses < 2 || clause >= n_clauses {
                return Err(DecodeError::invalid("conjunction", format!("clause {} of {}", clause as u16 + 1, n_clauses)));
            }
            Action::Conjunction { id, clause, n_clauses }
        }
        nxast::CT => {
            let flags = a.u16("ct")?;
            let zone_src = a.u32("ct")?;
            let zone_v = a.u16("ct")?;
            let zone = if zone_src == 0 {
                CtZone::Imm(zone_v)
            } else {
                let hb = zone_src.to_be_bytes();
                let field = read_field_id(&mut Reader::new(&hb))?;
                let (ofs, n_bits) = decode_ofs_nbits(zone_v);
                CtZone::Field(Subfield { field, ofs, n_bits })
            };
            let t = a.u8("ct")?;
            a.skip(3, "ct")?;
            let alg = a.u16("ct")?;
            let actions = Action::decode_list(a)?;
            Action::Ct(Ct { flags, zone, table: if t == CT_RECIRC_NONE { None } else { Some(t) }, alg, actions })
        }
        nxast::CT_CLEAR => {
            a.skip(6, "ct_clear")?;
            Action::CtClear
        }
        nxast::NAT => {
            a.skip(2, "nat")?;
            let flags = a.u16("nat")?;
            let present = a.u16("nat")?;
            let mut nat = Nat { flags, ..Nat::default() };
            if present & nat_range::IPV4_MIN != 0 {
                let min = Ipv4Addr::from(a.array::<4>("nat")?);
                let max = if present & nat_range::IPV4_MAX != 0 { Some(Ipv4Addr::from(a.array::<4>("nat")?)) } else { None };
                nat.addr = Some(NatAddrRange::V4(min, max));
            } else if present & nat_range::IPV6_MIN != 0 {
                let min = Ipv6Addr::from(a.array::<16>("nat")?);
                let max = if present & nat_range::IPV6_MAX != 0 { Some(Ipv6Addr::from(a.array::<16>("nat")?)) } else { None };
                nat.addr = Some(NatAddrRange::V6(min, max));
            }
            if present & nat_range::PROTO_MIN != 0 {
                nat.proto_min = Some(a.u16("nat")?);
            }
            if present & nat_range::PROTO_MAX != 0 {
                nat.proto_max = Some(a.u16("nat")?);
            }
            a.rest();
            Action::Nat(nat)
        }
        _ => return ext::decode_nx(subtype, a),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::oxm::fields;

    fn rt(a: Action) {
        let mut b = BytesMut::new();
        a.encode(&mut b).unwrap();
        assert_eq!(b.len() % 8, 0, "{a:?}");
        let mut r = Reader::new(&b);
        let d = Action::decode(&mut r).unwrap();
        assert!(r.is_empty());
        assert_eq!(d, a);
    }

    #[test]
    fn round_trips() {
        let reg0 = Subfield { field: fields::reg(0), ofs: 0, n_bits: 4 };
        let reg1 = Subfield { field: fields::reg(1), ofs: 4, n_bits: 4 };
        for a in [
            Action::output(PortNo(3)),
            Action::Output { port: PortNo::CONTROLLER, max_len: 0xffff },
            Action::Group(7),
            Action::SetQueue(3),
            Action::Meter(2),
            Action::SetField(OxmField::new(fields::ETH_SRC, [1, 2, 3, 4, 5, 6])),
            Action::SetField(OxmField::masked(fields::reg(0), [0, 0, 0, 1], [0, 0, 0, 0xf])),
            Action::PushVlan(0x8100),
            Action::PopVlan,
            Action::SetNwTtl(9),
            Action::DecNwTtl,
            Action::CopyField { n_bits: 4, src: reg0, dst: reg1 },
            Action::Resubmit { in_port: RESUBMIT_IN_PORT, table: Some(20), ct: false },
            Action::Resubmit { in_port: 3, table: None, ct: false },
            Action::RegMove { src: reg0, dst: reg1 },
            Action::RegLoad { dst: reg0, value: 5 },
            Action::NxDecTtl,
            Action::Note(vec![1, 2, 3, 0, 0, 0]),
            Action::Note(vec![1; 14]),
            Action::Ct(Ct {
                flags: ct_flags::COMMIT,
                zone: CtZone::Imm(5),
                table: Some(20),
                alg: 0,
                actions: vec![
                    Action::SetField(OxmField::new(fields::CT_MARK, [0, 0, 0, 1])),
                    Action::Nat(Nat {
                        flags: nat_flags::SRC | nat_flags::PROTO_RANDOM,
                        addr: Some(NatAddrRange::V4(Ipv4Addr::new(203, 0, 113, 1), Some(Ipv4Addr::new(203, 0, 113, 5)))),
                        proto_min: Some(1000),
                        proto_max: Some(2000),
                    }),
                ],
            }),
            Action::Ct(Ct { flags: 0, zone: CtZone::Field(Subfield { field: fields::reg(3), ofs: 0, n_bits: 16 }), table: None, alg: 0, actions: vec![] }),
            Action::CtClear,
            Action::Controller(Controller { max_len: 128, reason: 0, userdata: vec![1, 2], ..Controller::default() }),
            Action::Controller(Controller { legacy: true, ..Controller::default() }),
            Action::Conjunction { id: 7, clause: 0, n_clauses: 2 },
            Action::OutputReg { src: reg1, max_len: u16::MAX },
            Action::OutputTrunc { port: 3, max_len: 100 },
            Action::PopQueue,
            Action::Exit,
            Action::FinTimeout { idle: 10, hard: 0 },
            Action::Clone(vec![Action::PopVlan, Action::output(PortNo(2))]),
            Action::Clone(vec![]),
            Action::StackPush(reg0),
            Action::StackPop(reg1),
            Action::PushMpls(0x8847),
            Action::PopMpls(0x0800),
            Action::SetMplsTtl(7),
            Action::DecMplsTtl,
            Action::Learn(Box::new(Learn {
                table_id: 10,
                idle_timeout: 30,
                cookie: 5,
                specs: vec![
                    LearnSpec { n_bits: 48, src: LearnSrc::Field(Subfield { field: fields::ETH_SRC, ofs: 0, n_bits: 48 }), dst: LearnDst::Match(Subfield { field: fields::ETH_DST, ofs: 0, n_bits: 48 }) },
                    LearnSpec { n_bits: 12, src: LearnSrc::Imm(vec![0, 5]), dst: LearnDst::Match(Subfield { field: fields::VLAN_TCI, ofs: 0, n_bits: 12 }) },
                    LearnSpec { n_bits: 4, src: LearnSrc::Field(reg0), dst: LearnDst::Load(reg1) },
                    LearnSpec { n_bits: 4, src: LearnSrc::Field(reg0), dst: LearnDst::Output },
                ],
                ..Learn::default()
            })),
            Action::CheckPktLarger { pkt_len: 1500, dst: Subfield { field: fields::reg(0), ofs: 3, n_bits: 1 } },
            Action::Sample(Sample { probability: 7, collector_set_id: 1, obs_domain_id: 2, obs_point_id: 3, sampling_port: None, direction: 0 }),
            Action::Sample(Sample { probability: 7, collector_set_id: 1, obs_domain_id: 2, obs_point_id: 3, sampling_port: Some(4), direction: 0 }),
            Action::Sample(Sample { probability: 7, collector_set_id: 1, obs_domain_id: 2, obs_point_id: 3, sampling_port: None, direction: 2 }),
            Action::Bundle(Box::new(Bundle { algorithm: 1, fields: 1, basis: 60, dst: None, members: vec![2, 3] })),
            Action::Bundle(Box::new(Bundle { algorithm: 0, fields: 0, basis: 0, dst: Some(reg0), members: vec![] })),
            Action::Encap(Box::new(Encap { hdr_size: 0, packet_type: 0x1_894f, props: vec![EdProp::NshMdType(2), EdProp::NshTlv { class: 0x1000, ty: 10, data: vec![0x12, 0x34, 0x56, 0x78] }] })),
            Action::Encap(Box::new(Encap { hdr_size: 0, packet_type: 0, props: vec![] })),
            Action::Decap(PT_USE_NEXT_PROTO),
            Action::Decap(0x1_0800),
            Action::DecNshTtl,
            Action::Multipath(Multipath { fields: 0, basis: 50, algorithm: 2, max_link: 11, arg: 0, dst: reg0 }),
            Action::Learn(Box::new(Learn { limit: 3, result_dst: Some(Subfield { field: fields::reg(2), ofs: 7, n_bits: 1 }), ..Learn::default() })),
            Action::Experimenter { experimenter: 0x1234, data: vec![9; 8] },
            Action::Experimenter { experimenter: NX_VENDOR_ID, data: vec![0, 200, 1, 2, 3, 4, 5, 6] },
            Action::Unknown { ty: 11, body: vec![0; 4] },
        ] {
            rt(a);
        }
    }

    #[test]
    fn rejects_bad_lengths() {
        for bytes in [&[0u8, 0, 0, 0][..], &[0, 0, 0, 4, 0, 0, 0, 0], &[0, 0, 0, 16, 0, 0, 0, 1], &[0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0]] {
            assert!(Action::decode(&mut Reader::new(bytes)).is_err(), "{bytes:?}");
        }
    }
}
