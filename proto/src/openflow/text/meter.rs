//! Meters in the `ovs-ofctl` text dialect: parsing `add-meter`/`mod-meter`/
//! `del-meter`/`dump-meters` arguments into a [`MeterMod`] and printing a
//! meter's configuration as `dump-meters` does (Open vSwitch 3.1).
//!
//! Text: `meter=N|all,kbps|pktps[,burst][,stats],band[s]=type=drop|
//! dscp_remark,rate=R[,burst_size=B][,prec_level=P][,type=…]`. As in Open
//! vSwitch, words are separated by `=`, `,` or white space, and everything
//! from the first `band` on is the band list.

use super::super::meter::{band_type, command, flags, MeterBand, MeterConfig, MeterMod, METER_ALL, METER_CONTROLLER, METER_MAX, METER_SLOWPATH};
use super::lex::*;
use super::parse::ParseError;
use std::fmt::Write as _;

/// What a meter text is for: which parts it must and may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterText {
    /// `add-meter`/`mod-meter`: id, flags and bands.
    Mod(u16),
    /// `del-meter`, `dump-meters`: the id only.
    Select,
}

/// Parses a meter text. `Select` with an empty text means all meters.
pub fn meter_mod(s: &str, what: MeterText) -> Result<MeterMod, ParseError> {
    meter_inner(s, what).map_err(|e| to_public(s, None, e))
}

const SEPS: &[char] = &['=', ',', ' ', '\t', '\r', '\n'];

/// The words of `s` (non-empty runs between separators).
fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(SEPS).filter(|w| !w.is_empty())
}

fn meter_inner(s: &str, what: MeterText) -> R<MeterMod> {
    let cmd = match what {
        MeterText::Mod(c) => c,
        MeterText::Select => command::DELETE,
    };
    let mut mm = MeterMod { command: cmd, meter: MeterConfig::default() };
    if what == MeterText::Select && s.trim().is_empty() {
        mm.meter.meter_id = METER_ALL;
        return Ok(mm);
    }
    let with_bands = what != MeterText::Select;
    let (head, bands) = match (with_bands, s.find("band")) {
        (true, Some(i)) => match s[i..].find('=') {
            Some(eq) => (&s[..i], Some(&s[i + eq + 1..])),
            None => return fail(at(s, i), "bands=type=… (a meter must specify bands)"),
        },
        (true, None) => return fail_found(at(s, s.len()), "bands=type=… (a meter must specify bands)", "end of input"),
        (false, _) => (s, None),
    };
    let mut it = words(head);
    while let Some(w) = it.next() {
        match w {
            "kbps" if with_bands => mm.meter.flags |= flags::KBPS,
            "pktps" if with_bands => mm.meter.flags |= flags::PKTPS,
            "burst" if with_bands => mm.meter.flags |= flags::BURST,
            "stats" if with_bands => mm.meter.flags |= flags::STATS,
            "meter" => {
                let Some(v) = it.next() else { return fail(w, "meter=N") };
                mm.meter.meter_id = meter_id(v)?;
            }
            _ => return fail_found(w, "meter=N, kbps, pktps, burst, stats or bands=…", w),
        }
    }
    if mm.meter.meter_id == 0 {
        return fail_found(at(s, s.len()), "meter=N (a meter must name its id)", "end of input");
    }
    if with_bands && mm.meter.flags & (flags::KBPS | flags::PKTPS) == 0 {
        return fail_found(at(s, s.len()), "kbps or pktps (a meter must name its unit)", "end of input");
    }
    if let Some(b) = bands {
        mm.meter.bands = parse_bands(b, mm.meter.flags)?;
    }
    Ok(mm)
}

fn meter_id(v: &str) -> R<u32> {
    Ok(match v {
        "all" => METER_ALL,
        "controller" => METER_CONTROLLER,
        "slowpath" => METER_SLOWPATH,
        _ => {
            let id: u32 = num(v, "a meter id (1 to 4294901760, all, controller, slowpath)")?;
            if id == 0 || id > METER_MAX {
                return fail(v, "a meter id (1 to 4294901760, all, controller, slowpath)");
            }
            id
        }
    })
}

fn parse_bands(s: &str, meter_flags: u16) -> R<Vec<MeterBand>> {
    let mut bands: Vec<(MeterBand, &str)> = Vec::new();
    let mut it = words(s);
    while let Some(w) = it.next() {
        let Some(v) = it.next() else { return fail(w, format!("a value after {w}")) };
        if w == "type" {
            let band_type = match v {
                "drop" => band_type::DROP,
                "dscp_remark" => band_type::DSCP_REMARK,
                _ => return fail(v, "a band type (drop, dscp_remark)"),
            };
            bands.push((MeterBand { band_type, ..MeterBand::default() }, w));
            continue;
        }
        let Some((band, _)) = bands.last_mut() else { return fail(w, "type=… first (a band starts with its type)") };
        match w {
            "rate" => band.rate = num(v, "a rate (32 bits)")?,
            "burst_size" => band.burst_size = num(v, "a burst size (32 bits)")?,
            "prec_level" => band.tail[0] = num(v, "a precedence level (0 to 255)")?,
            _ => return fail_found(w, "rate, burst_size, prec_level or type", w),
        }
    }
    if bands.is_empty() {
        return fail_found(s, "type=… (a meter must have bands)", "no band");
    }
    for (b, at_) in &bands {
        let burst = meter_flags & flags::BURST != 0;
        let problem = match () {
            _ if b.band_type == band_type::DSCP_REMARK && b.prec_level() == 0 => Some("prec_level (a dscp_remark band needs one)"),
            _ if b.band_type != band_type::DSCP_REMARK && b.prec_level() != 0 => Some("no prec_level (only dscp_remark bands have one)"),
            _ if b.rate == 0 => Some("rate=R (a band needs a rate)"),
            _ if burst && b.burst_size == 0 => Some("burst_size=B (the burst flag needs one in every band)"),
            _ if !burst && b.burst_size != 0 => Some("no burst_size (only with the burst flag)"),
            _ => None,
        };
        if let Some(p) = problem {
            return fail(at_, p);
        }
    }
    Ok(bands.into_iter().map(|(b, _)| b).collect())
}

/// `meter=1` (or `meter=all`, …) as Open vSwitch prints an id.
pub fn meter_id_text(id: u32, sep: char) -> String {
    match id {
        id if id <= METER_MAX => format!("meter{sep}{id}"),
        METER_SLOWPATH => format!("meter{sep}slowpath"),
        METER_CONTROLLER => format!("meter{sep}controller"),
        METER_ALL => format!("meter{sep}all"),
        _ => format!("meter{sep}unknown"),
    }
}

/// A meter as `ovs-ofctl dump-meters` prints it: `meter=1 kbps bands=`
/// then one `type=… rate=…` line per band, ending in a newline.
pub fn meter_config(m: &MeterConfig) -> String {
    let mut s = meter_id_text(m.meter_id, '=');
    s.push(' ');
    for (bit, name) in [(flags::KBPS, "kbps "), (flags::PKTPS, "pktps "), (flags::BURST, "burst "), (flags::STATS, "stats ")] {
        if m.flags & bit != 0 {
            s.push_str(name);
        }
    }
    let rest = m.flags & !(flags::KBPS | flags::PKTPS | flags::BURST | flags::STATS);
    if rest != 0 {
        let _ = write!(s, "flags:{rest:#x} ");
    }
    s.push_str("bands=");
    for b in &m.bands {
        s.push_str("\ntype=");
        match b.band_type {
            band_type::DROP => s.push_str("drop"),
            band_type::DSCP_REMARK => s.push_str("dscp_remark"),
            t => {
                let _ = write!(s, "{t}");
            }
        }
        let _ = write!(s, " rate={}", b.rate);
        if m.flags & flags::BURST != 0 {
            let _ = write!(s, " burst_size={}", b.burst_size);
        }
        if b.band_type == band_type::DSCP_REMARK {
            let _ = write!(s, " prec_level={}", b.prec_level());
        }
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print_like_ovs_ofctl() {
        for (text, want) in [
            ("meter=1,kbps,band=type=drop,rate=1000", "meter=1 kbps bands=\ntype=drop rate=1000\n"),
            ("meter=2,pktps,burst,stats,bands=type=drop,rate=10,burst_size=20", "meter=2 pktps burst stats bands=\ntype=drop rate=10 burst_size=20\n"),
            (
                "meter=3 kbps bands=type=dscp_remark rate=100 prec_level=1 type=drop rate=200",
                "meter=3 kbps bands=\ntype=dscp_remark rate=100 prec_level=1\ntype=drop rate=200\n",
            ),
        ] {
            let mm = meter_mod(text, MeterText::Mod(command::ADD)).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(meter_config(&mm.meter), want, "{text}");
        }
        assert_eq!(meter_mod("", MeterText::Select).unwrap().meter.meter_id, METER_ALL);
        assert_eq!(meter_mod("meter=5", MeterText::Select).unwrap().meter.meter_id, 5);
        assert_eq!(meter_mod("meter=all", MeterText::Select).unwrap().meter.meter_id, METER_ALL);
    }

    #[test]
    fn refusals_name_the_column() {
        for (text, col) in [
            ("meter=1,kbps", 13),
            ("meter=1,band=type=drop,rate=1", 30),
            ("kbps,band=type=drop,rate=1", 27),
            ("meter=1,kbps,band=type=drop", 19),
            ("meter=1,kbps,band=rate=1", 19),
            ("meter=1,kbps,band=type=drop,rate=1,burst_size=2", 19),
            ("meter=1,kbps,band=type=dscp_remark,rate=1", 19),
            ("meter=0,kbps,band=type=drop,rate=1", 7),
            ("meter=1,kbps,band=type=pass,rate=1", 24),
        ] {
            let e = meter_mod(text, MeterText::Mod(command::ADD)).expect_err(text);
            assert_eq!(e.column, col, "{text}: {e}");
        }
        assert!(meter_mod("meter=1,kbps", MeterText::Select).is_err());
    }
}
