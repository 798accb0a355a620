//! MULTIPART requests and replies: flow desc, aggregate, table stats, port
//! stats, port desc, group desc, meter desc, flow monitor. A reply may span several messages; each carries
//! [`MORE`] except the last, and the session collects them all.

use super::flow::{FlowDesc, FlowStatsRequest};
use super::group::GroupDesc;
use super::meter::MeterConfig;
use super::monitor::{FlowMonitorRequest, FlowUpdate};
use super::oxs::Stats;
use super::port::{Port, PortNo};
use crate::error::{DecodeError, EncodeError};
use crate::wire::{patch_len16, Reader};
use bytes::{BufMut, BytesMut};

/// `OFPMPF_REQ_MORE` / `OFPMPF_REPLY_MORE`.
pub const MORE: u16 = 1;

/// `ofp_multipart_type` numbers.
pub mod types {
    pub const DESC: u16 = 0;
    pub const FLOW_DESC: u16 = 1;
    pub const AGGREGATE_STATS: u16 = 2;
    pub const TABLE_STATS: u16 = 3;
    pub const PORT_STATS: u16 = 4;
    pub const GROUP_DESC: u16 = 7;
    /// `OFPMP_METER_DESC` (OpenFlow 1.3's METER_CONFIG).
    pub const METER_DESC: u16 = 10;
    pub const PORT_DESC: u16 = 13;
    pub const FLOW_MONITOR: u16 = 16;
    pub const EXPERIMENTER: u16 = 0xffff;
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MultipartRequestBody {
    FlowDesc(FlowStatsRequest),
    Aggregate(FlowStatsRequest),
    TableStats,
    PortStats { port_no: PortNo },
    PortDesc { port_no: PortNo },
    GroupDesc { group_id: u32 },
    MeterDesc { meter_id: u32 },
    FlowMonitor(Vec<FlowMonitorRequest>),
    Other { ty: u16, body: Vec<u8> },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MultipartRequest {
    pub flags: u16,
    pub body: MultipartRequestBody,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TableStats {
    pub table_id: u8,
    pub active_count: u32,
    pub lookup_count: u64,
    pub matched_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PortStats {
    pub port_no: PortNo,
    pub duration_sec: u32,
    pub duration_nsec: u32,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    /// Ethernet property: rx_frame_err, rx_over_err, rx_crc_err, collisions.
    pub ethernet: Option<[u64; 4]>,
    pub other_props: Vec<(u16, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MultipartReplyBody {
    FlowDesc(Vec<FlowDesc>),
    Aggregate(Stats),
    TableStats(Vec<TableStats>),
    PortStats(Vec<PortStats>),
    PortDesc(Vec<Port>),
    GroupDesc(Vec<GroupDesc>),
    MeterDesc(Vec<MeterConfig>),
    FlowMonitor(Vec<FlowUpdate>),
    Other { ty: u16, body: Vec<u8> },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MultipartReply {
    pub flags: u16,
    pub body: MultipartReplyBody,
}

/// Entries decoded one after another until `r` is empty.
fn list<T>(r: &mut Reader<'_>, decode: fn(&mut Reader<'_>) -> Result<T, DecodeError>) -> Result<Vec<T>, DecodeError> {
    let mut v = Vec::new();
    while !r.is_empty() {
        v.push(decode(r)?);
    }
    Ok(v)
}

impl MultipartReply {
    /// Whether more replies of the same request follow.
    pub fn more(&self) -> bool {
        self.flags & MORE != 0
    }
}

impl MultipartRequest {
    pub fn new(body: MultipartRequestBody) -> Self {
        MultipartRequest { flags: 0, body }
    }

    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let ty = match &self.body {
            MultipartRequestBody::FlowDesc(_) => types::FLOW_DESC,
            MultipartRequestBody::Aggregate(_) => types::AGGREGATE_STATS,
            MultipartRequestBody::TableStats => types::TABLE_STATS,
            MultipartRequestBody::PortStats { .. } => types::PORT_STATS,
            MultipartRequestBody::PortDesc { .. } => types::PORT_DESC,
            MultipartRequestBody::GroupDesc { .. } => types::GROUP_DESC,
            MultipartRequestBody::MeterDesc { .. } => types::METER_DESC,
            MultipartRequestBody::FlowMonitor(_) => types::FLOW_MONITOR,
            MultipartRequestBody::Other { ty, .. } => *ty,
        };
        out.put_u16(ty);
        out.put_u16(self.flags);
        out.put_bytes(0, 4);
        match &self.body {
            MultipartRequestBody::FlowDesc(f) | MultipartRequestBody::Aggregate(f) => f.encode(out)?,
            MultipartRequestBody::TableStats => {}
            MultipartRequestBody::PortStats { port_no } | MultipartRequestBody::PortDesc { port_no } => {
                out.put_u32(port_no.0);
                out.put_bytes(0, 4);
            }
            MultipartRequestBody::GroupDesc { group_id: id } | MultipartRequestBody::MeterDesc { meter_id: id } => {
                out.put_u32(*id);
                out.put_bytes(0, 4);
            }
            MultipartRequestBody::FlowMonitor(v) => v.iter().try_for_each(|m| m.encode(out))?,
            MultipartRequestBody::Other { body, .. } => out.put_slice(body),
        }
        Ok(())
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ty = r.u16("multipart request")?;
        let flags = r.u16("multipart request")?;
        r.skip(4, "multipart request")?;
        let body = match ty {
            types::FLOW_DESC => MultipartRequestBody::FlowDesc(FlowStatsRequest::decode(r)?),
            types::AGGREGATE_STATS => MultipartRequestBody::Aggregate(FlowStatsRequest::decode(r)?),
            types::TABLE_STATS => MultipartRequestBody::TableStats,
            types::PORT_STATS | types::PORT_DESC if r.remaining() >= 8 => {
                let port_no = PortNo(r.u32("multipart request")?);
                r.skip(4, "multipart request")?;
                if ty == types::PORT_STATS {
                    MultipartRequestBody::PortStats { port_no }
                } else {
                    MultipartRequestBody::PortDesc { port_no }
                }
            }
            types::PORT_DESC => MultipartRequestBody::PortDesc { port_no: PortNo::ANY },
            types::FLOW_MONITOR => {
                let mut v = Vec::new();
                while !r.is_empty() {
                    v.push(FlowMonitorRequest::decode(r)?);
                }
                MultipartRequestBody::FlowMonitor(v)
            }
            types::GROUP_DESC | types::METER_DESC if r.remaining() == 8 => {
                let id = r.u32("multipart request")?;
                r.skip(4, "multipart request")?;
                if ty == types::GROUP_DESC {
                    MultipartRequestBody::GroupDesc { group_id: id }
                } else {
                    MultipartRequestBody::MeterDesc { meter_id: id }
                }
            }
            _ => MultipartRequestBody::Other { ty, body: r.rest().to_vec() },
        };
        r.finish("multipart request")?;
        Ok(MultipartRequest { flags, body })
    }
}

impl MultipartReply {
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let ty = match &self.body {
            MultipartReplyBody::FlowDesc(_) => types::FLOW_DESC,
            MultipartReplyBody::Aggregate(_) => types::AGGREGATE_STATS,
            MultipartReplyBody::TableStats(_) => types::TABLE_STATS,
            MultipartReplyBody::PortStats(_) => types::PORT_STATS,
            MultipartReplyBody::PortDesc(_) => types::PORT_DESC,
            MultipartReplyBody::GroupDesc(_) => types::GROUP_DESC,
            MultipartReplyBody::MeterDesc(_) => types::METER_DESC,
            MultipartReplyBody::FlowMonitor(_) => types::FLOW_MONITOR,
            MultipartReplyBody::Other { ty, .. } => *ty,
        };
        out.put_u16(ty);
        out.put_u16(self.flags);
        out.put_bytes(0, 4);
        match &self.body {
            MultipartReplyBody::FlowDesc(v) => v.iter().try_for_each(|f| f.encode(out))?,
            MultipartReplyBody::Aggregate(s) => s.encode(out)?,
            MultipartReplyBody::TableStats(v) => {
                for t in v {
                    out.put_u8(t.table_id);
                    out.put_bytes(0, 3);
                    out.put_u32(t.active_count);
                    out.put_u64(t.lookup_count);
                    out.put_u64(t.matched_count);
                }
            }
            MultipartReplyBody::PortStats(v) => {
                for p in v {
                    let start = out.len();
                    out.put_u16(0);
                    out.put_u16(0);
                    out.put_u32(p.port_no.0);
                    out.put_u32(p.duration_sec);
                    out.put_u32(p.duration_nsec);
                    for c in [p.rx_packets, p.tx_packets, p.rx_bytes, p.tx_bytes, p.rx_dropped, p.tx_dropped, p.rx_errors, p.tx_errors] {
                        out.put_u64(c);
                    }
                    if let Some(e) = p.ethernet {
                        let mut body = BytesMut::new();
                        body.put_bytes(0, 4);
                        e.iter().for_each(|c| body.put_u64(*c));
                        super::port::encode_prop(out, 0, &body)?;
                    }
                    for (ty, body) in &p.other_props {
                        super::port::encode_prop(out, *ty, body)?;
                    }
                    patch_len16(out, start, start, "port stats")?;
                }
            }
            MultipartReplyBody::PortDesc(v) => v.iter().try_for_each(|p| p.encode(out))?,
            MultipartReplyBody::GroupDesc(v) => v.iter().try_for_each(|g| g.encode(out))?,
            MultipartReplyBody::MeterDesc(v) => v.iter().try_for_each(|m| m.encode(out))?,
            MultipartReplyBody::FlowMonitor(v) => v.iter().try_for_each(|u| u.encode(out))?,
            MultipartReplyBody::Other { body, .. } => out.put_slice(body),
        }
        Ok(())
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ty = r.u16("multipart reply")?;
        let flags = r.u16("multipart reply")?;
        r.skip(4, "multipart reply")?;
        let body = match ty {
            types::FLOW_DESC => {
                let mut v = Vec::with_capacity(crate::wire::count_len16_units(r.peek_rest(), 0));
                while !r.is_empty() {
                    v.push(FlowDesc::decode(r)?);
                }
                MultipartReplyBody::FlowDesc(v)
            }
            types::AGGREGATE_STATS => MultipartReplyBody::Aggregate(Stats::decode(r)?),
            types::TABLE_STATS => {
                let mut v = Vec::new();
                while !r.is_empty() {
                    let table_id = r.u8("table stats")?;
                    r.skip(3, "table stats")?;
                    v.push(TableStats {
                        table_id,
                        active_count: r.u32("table stats")?,
                        lookup_count: r.u64("table stats")?,
                        matched_count: r.u64("table stats")?,
                    });
                }
                MultipartReplyBody::TableStats(v)
            }
            types::PORT_STATS => {
                let mut v = Vec::new();
                while !r.is_empty() {
                    let len = r.peek_u16(0, "port stats")? as usize;
                    if len < 80 {
                        return Err(DecodeError::BadLength { what: "port stats", len, why: "shorter than 80 bytes" });
                    }
                    let mut b = r.sub(len, "port stats")?;
                    b.skip(4, "port stats")?;
                    let mut p = PortStats {
                        port_no: PortNo(b.u32("port stats")?),
                        duration_sec: b.u32("port stats")?,
                        duration_nsec: b.u32("port stats")?,
                        ..PortStats::default()
                    };
                    for c in [
                        &mut p.rx_packets,
                        &mut p.tx_packets,
                        &mut p.rx_bytes,
                        &mut p.tx_bytes,
                        &mut p.rx_dropped,
                        &mut p.tx_dropped,
                        &mut p.rx_errors,
                        &mut p.tx_errors,
                    ] {
                        *c = b.u64("port stats")?;
                    }
                    for (pty, body) in super::port::decode_props(&mut b, "port stats property")? {
                        if pty == 0 && body.len() >= 36 {
                            let mut e = Reader::new(&body);
                            e.skip(4, "port stats ethernet")?;
                            p.ethernet = Some([
                                e.u64("port stats ethernet")?,
                                e.u64("port stats ethernet")?,
                                e.u64("port stats ethernet")?,
                                e.u64("port stats ethernet")?,
                            ]);
                        } else {
                            p.other_props.push((pty, body));
                        }
                    }
                    v.push(p);
                }
                MultipartReplyBody::PortStats(v)
            }
            types::PORT_DESC => {
                let mut v = Vec::new();
                while !r.is_empty() {
                    v.push(Port::decode(r)?);
                }
                MultipartReplyBody::PortDesc(v)
            }
            types::GROUP_DESC => MultipartReplyBody::GroupDesc(list(r, GroupDesc::decode)?),
            types::METER_DESC => MultipartReplyBody::MeterDesc(list(r, MeterConfig::decode)?),
            types::FLOW_MONITOR => MultipartReplyBody::FlowMonitor(list(r, FlowUpdate::decode)?),
            _ => MultipartReplyBody::Other { ty, body: r.rest().to_vec() },
        };
        r.finish("multipart reply")?;
        Ok(MultipartReply { flags, body })
    }
}
