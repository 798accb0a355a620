//! METER_MOD and the METER_DESC (`METER_CONFIG`) multipart body: meters
//! and their bands (OpenFlow 1.3–1.5 layout).

use crate::error::{DecodeError, EncodeError};
use crate::wire::{patch_len16, Reader};
use bytes::{BufMut, BytesMut};

/// `ofp_meter_mod_command`.
pub mod command {
    pub const ADD: u16 = 0;
    pub const MODIFY: u16 = 1;
    pub const DELETE: u16 = 2;
}

/// `ofp_meter_flags`.
pub mod flags {
    pub const KBPS: u16 = 1 << 0;
    pub const PKTPS: u16 = 1 << 1;
    pub const BURST: u16 = 1 << 2;
    pub const STATS: u16 = 1 << 3;
}

/// `ofp_meter_band_type`.
pub mod band_type {
    pub const DROP: u16 = 1;
    pub const DSCP_REMARK: u16 = 2;
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// `OFPM_MAX`, and the virtual meters.
pub const METER_MAX: u32 = 0xffff_0000;
pub const METER_SLOWPATH: u32 = 0xffff_fffd;
pub const METER_CONTROLLER: u32 = 0xffff_fffe;
pub const METER_ALL: u32 = 0xffff_ffff;

/// One band: 16 bytes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MeterBand {
    pub band_type: u16,
    pub rate: u32,
    pub burst_size: u32,
    /// The last four bytes: `prec_level` and padding for DSCP_REMARK, the
    /// experimenter id for EXPERIMENTER, padding for DROP.
    pub tail: [u8; 4],
}

impl MeterBand {
    pub fn prec_level(&self) -> u8 {
        self.tail[0]
    }

    fn encode(&self, out: &mut BytesMut) {
        out.put_u16(self.band_type);
        out.put_u16(16);
        out.put_u32(self.rate);
        out.put_u32(self.burst_size);
        out.put_slice(&self.tail);
    }

    fn decode_list(r: &mut Reader<'_>) -> Result<Vec<MeterBand>, DecodeError> {
        let mut v = Vec::new();
        while !r.is_empty() {
            let band_type = r.u16("meter band")?;
            let len = r.u16("meter band")? as usize;
            if len != 16 {
                return Err(DecodeError::BadLength { what: "meter band", len, why: "not 16 bytes" });
            }
            v.push(MeterBand { band_type, rate: r.u32("meter band")?, burst_size: r.u32("meter band")?, tail: r.array::<4>("meter band")? });
        }
        Ok(v)
    }
}

/// A meter's configuration: what METER_MOD sets and METER_DESC reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct MeterConfig {
    pub flags: u16,
    pub meter_id: u32,
    pub bands: Vec<MeterBand>,
}

/// METER_MOD.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct MeterMod {
    pub command: u16,
    pub meter: MeterConfig,
}

impl MeterMod {
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u16(self.command);
        out.put_u16(self.meter.flags);
        out.put_u32(self.meter.meter_id);
        self.meter.bands.iter().for_each(|b| b.encode(out));
        Ok(())
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let command = r.u16("meter_mod")?;
        let flags = r.u16("meter_mod")?;
        let meter_id = r.u32("meter_mod")?;
        let bands = MeterBand::decode_list(r)?;
        Ok(MeterMod { command, meter: MeterConfig { flags, meter_id, bands } })
    }
}

impl MeterConfig {
    /// One entry of a METER_DESC reply (with its length).
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        out.put_u16(0);
        out.put_u16(self.flags);
        out.put_u32(self.meter_id);
        self.bands.iter().for_each(|b| b.encode(out));
        patch_len16(out, start, start, "meter config")
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let len = r.u16("meter config")? as usize;
        if len < 8 {
            return Err(DecodeError::BadLength { what: "meter config", len, why: "shorter than 8 bytes" });
        }
        let mut m = r.sub(len - 2, "meter config")?;
        let flags = m.u16("meter config")?;
        let meter_id = m.u32("meter config")?;
        let bands = MeterBand::decode_list(&mut m)?;
        Ok(MeterConfig { flags, meter_id, bands })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let band = MeterBand { band_type: band_type::DSCP_REMARK, rate: 100, burst_size: 5, tail: [1, 0, 0, 0] };
        let mm = MeterMod { command: command::ADD, meter: MeterConfig { flags: flags::KBPS, meter_id: 3, bands: vec![band] } };
        let mut b = BytesMut::new();
        mm.encode(&mut b).unwrap();
        assert_eq!(b.len(), 24);
        assert_eq!(MeterMod::decode(&mut Reader::new(&b)).unwrap(), mm);
        let mut b = BytesMut::new();
        mm.meter.encode(&mut b).unwrap();
        assert_eq!(MeterConfig::decode(&mut Reader::new(&b)).unwrap(), mm.meter);
        assert_eq!(mm.meter.bands[0].prec_level(), 1);
        assert!(MeterConfig::decode(&mut Reader::new(&b[..20])).is_err());
    }
}
