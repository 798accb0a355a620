//! `podflow arping`: send ARP probes from an interface (optionally inside a
//! network namespace), print one line per probe and the loss summary. Exit
//! status 0 when every probe was answered, 1 otherwise. Thin: all probing is
//! in [`crate::probe`].

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

use super::CliError;
use crate::probe::{Limit, ProbeOptions, ProbeRecord, ProbeReport, Prober};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per probe and a summary, for people.
    Human,
    /// The whole report as one JSON document.
    Json,
    /// One CSV row per probe; the summary goes to stderr.
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct ArpingArgs {
    /// Network namespace to probe from (a name under /var/run/netns).
    #[arg(long)]
    pub netns: Option<String>,
    /// Interface to send from.
    #[arg(long, short = 'I')]
    pub interface: String,
    /// Source IPv4 address (default: the interface's).
    #[arg(long, short = 's')]
    pub source: Option<Ipv4Addr>,
    /// Address to probe: IPv4 by ARP, IPv6 by neighbor solicitations.
    pub target: std::net::IpAddr,
    /// Time between probes, e.g. 10ms, 1ms, 0.5s (at least 1ms).
    #[arg(long, default_value = "10ms", value_parser = parse_duration)]
    pub interval: Duration,
    /// Number of probes to send.
    #[arg(long, short = 'c', conflicts_with = "duration")]
    pub count: Option<u32>,
    /// How long to send probes, e.g. 3s. Without --count or --duration,
    /// probes until interrupted (Ctrl-C).
    #[arg(long, short = 'w', value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// How long after a probe its reply still counts.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// Parses `500us`, `10ms`, `1.5s`, `2m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("`{s}` is not a duration (e.g. 10ms, 1.5s)"))?;
    let scale = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "" => return Err(format!("`{s}` needs a unit: ns, us, ms, s or m")),
        _ => return Err(format!("`{unit}` is not a time unit (ns, us, ms, s, m)")),
    };
    Duration::try_from_secs_f64(value * scale).map_err(|_| format!("`{s}` is out of range"))
}

pub async fn run(args: ArpingArgs) -> Result<ExitCode, CliError> {
    let limit = match (args.count, args.duration) {
        (Some(n), _) => Limit::Count(n),
        (None, Some(d)) => Limit::Duration(d),
        (None, None) => Limit::UntilStopped,
    };
    let opts = ProbeOptions {
        interval: args.interval,
        limit,
        reply_window: args.timeout,
        source_ip: args.source,
        source_mac: None,
    };
    let prober = Prober::new(args.netns.as_deref(), &args.interface, args.target, opts);
    let (handle, mut events) = prober.start_with_events().await.map_err(|e| CliError::Failed(e.to_string()))?;
    let stop = handle.stop_flag();
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    // Per-probe lines as the probes settle; the summary at the end.
    match args.format {
        Format::Human => {
            let ns = args.netns.as_deref().map(|n| format!(" in netns {n}")).unwrap_or_default();
            println!("ARPING {} on {}{ns}", args.target, args.interface);
        }
        Format::Csv => println!("{CSV_HEADER}"),
        Format::Json => {}
    }
    while let Some(p) = events.recv().await {
        match args.format {
            Format::Human => println!("{}", human_line(&p)),
            Format::Csv => println!("{}", csv_line(&p)),
            Format::Json => {}
        }
    }
    let report = handle.join().await.map_err(|e| CliError::Failed(e.to_string()));
    interrupt.abort();
    let report = report?;
    match args.format {
        Format::Human => print_summary(&report, &mut std::io::stdout()),
        Format::Json => {
            let text = serde_json::to_string_pretty(&report).map_err(|e| CliError::Failed(format!("cannot encode the report as JSON: {e}")))?;
            println!("{text}");
        }
        Format::Csv => print_summary(&report, &mut std::io::stderr()),
    }
    Ok(if report.all_answered() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn ms(ns: u64) -> String {
    format!("{:.3}", ns as f64 / 1e6)
}

fn human_line(p: &ProbeRecord) -> String {
    match (p.rtt_ns, &p.send_error) {
        (Some(rtt), _) => format!("{} seq={} reply=yes rtt={} ms{}", p.sent_rfc3339(), p.seq, ms(rtt), if p.ambiguous { " (ambiguous)" } else { "" }),
        (None, Some(e)) => format!("{} seq={} reply=no send-error=\"{e}\"", p.sent_rfc3339(), p.seq),
        (None, None) => format!("{} seq={} reply=no", p.sent_rfc3339(), p.seq),
    }
}

fn print_summary(r: &ProbeReport, out: &mut dyn std::io::Write) {
    let s = &r.summary;
    let ns = r.netns.as_deref().map(|n| format!(" in netns {n}")).unwrap_or_default();
    let _ = writeln!(out, "--- {} arping statistics ({} {} on {}{ns}) ---", r.target, r.source_ip, r.source_mac, r.interface);
    let _ = writeln!(out, "{} sent, {} answered, {} lost ({:.1}% loss)", s.sent, s.answered, s.lost, s.loss_percent);
    if let (Some(min), Some(avg), Some(max)) = (s.rtt_min_ns, s.rtt_avg_ns, s.rtt_max_ns) {
        let _ = writeln!(out, "rtt min/avg/max = {}/{}/{} ms", ms(min), ms(avg), ms(max));
    }
    if let Some(mac) = r.target_mac {
        let _ = writeln!(out, "target MAC {mac}");
    }
    if !s.lost_probes.is_empty() {
        let seqs: Vec<String> = s.lost_probes.iter().map(|l| l.seq.to_string()).collect();
        let _ = writeln!(out, "lost probes: {}", seqs.join(","));
    }
    if s.unmatched_replies > 0 || s.ambiguous_matches > 0 {
        let _ = writeln!(out, "{} unmatched replies, {} ambiguous matches", s.unmatched_replies, s.ambiguous_matches);
    }
}

const CSV_HEADER: &str = "seq,sent_rfc3339,sent_unix_ns,sent_monotonic_ns,offset_ns,replied,rtt_ns,ambiguous,send_error";

fn csv_line(p: &ProbeRecord) -> String {
    let err = p.send_error.as_deref().unwrap_or("").replace('"', "\"\"");
    format!(
        "{},{},{},{},{},{},{},{},\"{err}\"",
        p.seq,
        p.sent_rfc3339(),
        p.sent_unix_ns,
        p.sent_monotonic_ns,
        p.offset_ns,
        if p.replied { "yes" } else { "no" },
        p.rtt_ns.map(|v| v.to_string()).unwrap_or_default(),
        p.ambiguous,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10ms").unwrap(), Duration::from_millis(10));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("500us").unwrap(), Duration::from_micros(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        for bad in ["", "10", "ms", "10 parsecs", "-1s", "1e400s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
