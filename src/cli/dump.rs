//! Printing a streamed flow dump: the session hands over each reply
//! undecoded; one thread per core (up to four) takes the next reply,
//! decodes it and prints its flows, and whichever finishes a reply writes
//! every reply now due, in arrival order, to standard output.
//!
//! Why: a dump's replies all arrive within a few milliseconds once the
//! switch starts sending, and decoding and printing 60,000 flows takes
//! several times that on one core (docs/benchmarks.md). One thread per
//! stage (the session's reader decoding, one printer) left the two
//! waiting on each other about half of the time.
//!
//! Owns: the order of the output and what a failed dump leaves printed.
//! Never: holds more than one reply per thread, or prints a reply after
//! one that failed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use podflow_proto::openflow::text::print::{self, FlowDescPrinter};
use podflow_proto::openflow::text::{with_port_names, PortMap, PrintOptions};

use crate::openflow::{MultipartStream, OfError, RawPart};

use super::switch::emit;
use super::CliError;

/// Beyond a few threads the single in-order writer is the limit.
const MAX_THREADS: usize = 4;

/// How one dump is printed.
pub struct DumpFormat<'a> {
    pub opts: PrintOptions,
    /// The xid `ovs-ofctl` prints in reply headers.
    pub xid: u32,
    /// Print a header line per reply (`ovs-ofctl` does for a plain dump).
    pub headers: bool,
    /// Print port names from this map instead of numbers.
    pub names: Option<&'a PortMap>,
    /// Hold all output until the dump is complete, and lose it if the dump
    /// fails (the `dump-buffered` fault knob: breaks streaming on purpose
    /// for a test).
    pub buffered: bool,
    /// Ends the stream (closes the session) once the dump has failed, so
    /// that a thread waiting for a reply that may never come returns.
    pub abandon: &'a (dyn Fn() + Sync),
}

/// Prints every reply of `parts` (blocking: call it from a thread outside
/// the runtime). A dump that fails midway leaves the replies before the
/// failure printed and returns what happened, with the counts printed.
pub fn print_dump(parts: MultipartStream, f: &DumpFormat<'_>) -> Result<(), CliError> {
    widen_stdout_pipe();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, MAX_THREADS);
    let source = Source { stream: Mutex::new((parts, 0)), stop: AtomicBool::new(false) };
    let sink = Mutex::new(Sink { buffered: f.buffered.then(String::new), ..Sink::default() });
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(|| worker(&source, &sink, f));
        }
        worker(&source, &sink, f);
    });
    let sink = sink.into_inner().unwrap_or_else(PoisonError::into_inner);
    match (sink.failed, &sink.buffered) {
        (Some(e), _) => Err(e),
        (None, Some(all)) => emit(all),
        (None, None) => Ok(()),
    }
}

/// The stream and the index its next reply gets.
struct Source {
    stream: Mutex<(MultipartStream, usize)>,
    /// Set once the dump failed: take no further replies.
    stop: AtomicBool,
}

/// Why a reply printed nothing.
enum Failure {
    /// The stream ended early (a reply that does not decode, a refusal,
    /// a lost connection): the output is incomplete.
    Incomplete(OfError),
    Other(CliError),
}

/// Replies printed out of order wait here for the ones before them.
#[derive(Default)]
struct Sink {
    /// Index of the next reply to write.
    next: usize,
    waiting: BTreeMap<usize, Result<(String, usize), Failure>>,
    n_flows: usize,
    n_parts: usize,
    /// Written texts, kept to print the next replies into.
    spare: Vec<String>,
    buffered: Option<String>,
    failed: Option<CliError>,
}

impl Sink {
    /// Takes reply `index`'s text (and its flow count) and writes every
    /// reply now due. False once the dump has failed.
    fn put(&mut self, index: usize, printed: Result<(String, usize), Failure>) -> bool {
        self.waiting.insert(index, printed);
        while self.failed.is_none() {
            let Some(r) = self.waiting.remove(&self.next) else { break };
            self.next += 1;
            let (n_flows, n_parts) = (self.n_flows, self.n_parts);
            let written = match r {
                Ok((mut text, flows)) => {
                    let w = match &mut self.buffered {
                        Some(all) => {
                            all.push_str(&text);
                            Ok(())
                        }
                        None => emit(&text),
                    };
                    text.clear();
                    self.spare.push(text);
                    w.map(|()| flows)
                }
                Err(Failure::Incomplete(e)) => Err(CliError::Failed(format!(
                    "the dump stopped after {n_flows} flows in {n_parts} replies, so the output is incomplete: {e}"
                ))),
                Err(Failure::Other(e)) => Err(e),
            };
            match written {
                Ok(flows) => {
                    self.n_flows += flows;
                    self.n_parts += 1;
                }
                Err(e) => self.failed = Some(e),
            }
        }
        self.failed.is_none()
    }
}

/// A dump is about 250 bytes a flow. Through the default 64 KiB pipe
/// whoever reads standard output is woken every ~260 flows, and a full pipe
/// stops the printing threads; a 1 MiB pipe (Linux's limit for
/// unprivileged processes) takes sixteen times fewer round trips.
fn widen_stdout_pipe() {
    // SAFETY: F_SETPIPE_SZ takes an integer and changes nothing but the
    // pipe's capacity; on anything that is not a pipe it fails, harmlessly.
    unsafe { libc::fcntl(1, libc::F_SETPIPE_SZ, 1 << 20) };
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A worker that panicked already failed the command; the others
    // finish what they hold rather than panic in turn.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn worker(source: &Source, sink: &Mutex<Sink>, f: &DumpFormat<'_>) {
    let run = || {
        let mut text = String::new();
        let mut printer = FlowDescPrinter::new(f.opts);
        while !source.stop.load(Ordering::Relaxed) {
            let (index, part) = {
                let mut g = lock(&source.stream);
                let (stream, next) = &mut *g;
                let Some(part) = stream.blocking_next() else { return };
                *next += 1;
                (*next - 1, part)
            };
            let printed = part.map_err(Failure::Incomplete).and_then(|part| {
                let flows = print_reply(&mut text, &part, &mut printer, f)?;
                Ok((std::mem::take(&mut text), flows))
            });
            let mut s = lock(sink);
            if !s.put(index, printed) {
                source.stop.store(true, Ordering::Relaxed);
                (f.abandon)();
                return;
            }
            text = s.spare.pop().unwrap_or_default();
        }
    };
    match f.names {
        Some(m) => with_port_names(m, run),
        None => run(),
    }
}

/// Prints one reply's flows (after its header line, if wanted) into
/// `out`; returns how many.
fn print_reply(out: &mut String, part: &RawPart, printer: &mut FlowDescPrinter, f: &DumpFormat<'_>) -> Result<usize, Failure> {
    let Some(flows) = part.flow_descs() else {
        // Not a flow dump's reply: decoding says what it is instead.
        return Err(match part.decode() {
            Err(e) => Failure::Incomplete(e),
            Ok(_) => Failure::Other(CliError::Failed("the switch answered a flow dump with another kind of reply".into())),
        });
    };
    if f.headers {
        print::write_reply_header(out, "OFPST_FLOW", f.xid, part.flags());
        out.push('\n');
    }
    printer.write_flows(out, flows).map_err(|e| Failure::Incomplete(part.malformed(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffered() -> Sink {
        Sink { buffered: Some(String::new()), ..Sink::default() }
    }

    fn text(s: &str, flows: usize) -> Result<(String, usize), Failure> {
        Ok((s.to_string(), flows))
    }

    /// Replies finished out of order are written in arrival order, each
    /// as soon as the ones before it are.
    #[test]
    fn replies_are_written_in_arrival_order() {
        let mut s = buffered();
        assert!(s.put(1, text("b", 2)));
        assert_eq!(s.buffered.as_deref(), Some(""), "reply 1 waits for reply 0");
        assert!(s.put(0, text("a", 1)));
        assert!(s.put(3, text("d", 1)));
        assert!(s.put(2, text("c", 1)));
        assert_eq!(s.buffered.as_deref(), Some("abcd"));
        assert_eq!((s.n_flows, s.n_parts, s.waiting.len()), (5, 4, 0));
        assert_eq!(s.spare.len(), 4, "written texts are kept for reuse");
    }

    /// A failed reply ends the dump after the replies before it, with
    /// their counts; nothing after it is written, even if already printed.
    #[test]
    fn a_failed_reply_ends_the_dump_after_the_ones_before_it() {
        let mut s = buffered();
        assert!(s.put(2, text("c", 1)));
        assert!(s.put(0, text("a", 3)));
        assert!(!s.put(1, Err(Failure::Incomplete(OfError::Disconnected("gone".into())))));
        assert_eq!(s.buffered.as_deref(), Some("a"));
        let e = s.failed.as_ref().unwrap().to_string();
        assert!(e.contains("stopped after 3 flows in 1 replies") && e.contains("gone"), "{e}");
        assert!(!s.put(3, text("d", 1)));
        assert_eq!(s.buffered.as_deref(), Some("a"));
    }
}
