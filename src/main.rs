/// mimalloc instead of glibc's malloc: a flow dump allocates and frees
/// ~1 M small objects on the threads that decode and print it. When the
/// session's reader decoded and another thread printed (cross-thread
/// frees), glibc's frees and arena refills were a quarter of the CPU and
/// mimalloc took 20 % less CPU and 14 % less time; with each reply decoded
/// and dropped by one thread it still makes `dump-flows` of 60,003 flows
/// 6 % faster (116.1 vs 123.3 ms median of 30; docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Usage errors exit 1, not clap's 2: `diff-flows` uses 2 for "different".
    let cli = match podflow::cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    if cli.command.is_switch_client() {
        no_transparent_huge_pages();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("podflow: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(podflow::cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("podflow: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Turns transparent huge pages off for this process, before the runtime's
/// threads first touch their allocator pages. mimalloc asks for huge pages
/// on its arenas, and each first touch then zeroes 2 MiB: a `dump-flows`
/// of 60,003 flows spent 9 % of its CPU in the kernel zeroing pages it
/// barely used (with huge pages: 0.137 s and 0.079 s of CPU, median of
/// 21, maximum resident size 38.8 MiB; without: 0.132 s, 0.062 s,
/// 18.9 MiB; docs/benchmarks.md). Only for the switch commands: programs
/// this process starts would inherit the setting (the agent runs `nft`,
/// the demo Open vSwitch itself).
fn no_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments and changes only
    // the huge page policy of this process and of those it starts.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}
