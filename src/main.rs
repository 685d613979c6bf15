//! `wharf`: the one binary's start-up. Parses the command line, starts the runtime and
//! telemetry, reads the configuration, hands the command to [`serve`] or [`cli`], and turns
//! the outcome into an exit code. No business logic lives here.
#![forbid(unsafe_code)]

mod cli;
mod config;
mod serve;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;
use wharf_core::CoreError;

use cli::{Cli, Command, Usage};
use config::{Config, ProcessEnv};
use serve::Parts;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wharf: cannot start the runtime: {e}");
            return ExitCode::from(70);
        }
    };
    let telemetry = {
        let _in_runtime = rt.enter();
        match telemetry::init(cli.command.service_name(), &ProcessEnv) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("wharf: configuration: {e}");
                return ExitCode::from(64);
            }
        }
    };
    let cfg = match Config::from_source(&ProcessEnv) {
        Ok(c) => c,
        Err(errors) => {
            for e in errors {
                eprintln!("wharf: configuration: {e}");
            }
            return ExitCode::from(64);
        }
    };
    let outcome = rt.block_on(run(cli.command, cfg));
    // Spans still buffered go out before the process ends (the runtime still runs).
    telemetry.shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wharf: {e:#}");
            exit_code(&e)
        }
    }
}

async fn run(command: Command, cfg: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve::serve_all(cfg).await,
        Command::Core => serve::serve_alone(cfg, "core", Parts::NONE.with_core()).await,
        Command::Gateway => serve::serve_alone(cfg, "gateway", Parts::NONE.with_gateway()).await,
        Command::Ftp => serve::serve_alone(cfg, "ftp", Parts::NONE.with_ftp()).await,
        Command::Upload => serve::serve_alone(cfg, "upload", Parts::NONE.with_upload()).await,
        Command::Sftp { action: None } => {
            serve::serve_alone(cfg, "sftp", Parts::NONE.with_sftp()).await
        }
        Command::Sftp {
            action: Some(cli::SftpCmd::HostKey),
        } => cli::sftp_host_key(cfg).await,
        Command::Admin(cmd) => cli::run(cmd, cfg).await,
    }
}

/// Bad usage or configuration (a listener's address taken included): 64; a request core refused: 65; anything else: 1.
fn exit_code(e: &anyhow::Error) -> ExitCode {
    if e.downcast_ref::<Usage>().is_some() || e.downcast_ref::<serve::BindError>().is_some() {
        return ExitCode::from(64);
    }
    match e.downcast_ref::<CoreError>() {
        Some(CoreError::Invalid(_))
        | Some(CoreError::NotFound(_))
        | Some(CoreError::Conflict(_))
        | Some(CoreError::Precondition(_)) => ExitCode::from(65),
        _ => ExitCode::from(1),
    }
}
