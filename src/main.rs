use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    // Usage errors exit 1, not clap's 2: `diff-flows` uses 2 for "different".
    let cli = match podflow::cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    match podflow::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("podflow: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
