//! `origin-api`: the server (`serve`) and the admin CLI.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = origin_api::cli::Cli::parse();
    let mut out = std::io::stdout();
    match origin_api::cli::run(cli, &mut out).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
