use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = podflow::cli::Cli::parse();
    match podflow::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("podflow: {e}");
            ExitCode::from(1)
        }
    }
}
