//! The `realtime-hub` binary: environment, logging, command line; the work is in the library.

use std::net::TcpListener;
use std::process::ExitCode;

use clap::Parser;
use realtime_hub::cli::{self, Cli, CliError, Command};
use realtime_hub::config::{redacted_url, Config};

fn main() -> ExitCode {
    if let Err(e) = realtime_hub::logging::load_dotenv() {
        eprintln!("configuration error: {e}");
        return ExitCode::from(2);
    }
    realtime_hub::logging::init();
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config),
        Command::Migrate => cli::migrate(&config).map(|msg| println!("{msg}")),
        Command::User {
            action:
                cli::UserCommand::Add {
                    id,
                    name,
                    username,
                    password,
                    email,
                },
        } => match (id, name, username, password) {
            (Some(id), Some(name), _, _) => cli::user_add(&config, id, &name),
            (_, _, Some(username), Some(password)) => {
                cli::mattermost_user_add(&config, &username, &password, &email)
            }
            _ => Err(cli::CliError::Usage(
                "give --id and --name, or --username and --password".into(),
            )),
        }
        .map(|msg| println!("{msg}")),
        Command::Token {
            user_id,
            name,
            channel,
            ttl,
        } => cli::token(&config, user_id, &name, channel.as_deref(), &ttl).map(|t| println!("{t}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn serve(config: Config) -> Result<(), CliError> {
    let failed = CliError::Failed;
    let listener = TcpListener::bind(config.bind)
        .map_err(|e| failed(format!("cannot bind {}: {e}", config.bind)))?;
    let addr = listener.local_addr().map_err(|e| failed(e.to_string()))?;
    // On stdout whatever RUST_LOG says: the address (port 0 picks one), where the data is
    // (passwords in the URLs replaced by `***`: stdout ends up in journals and CI logs) and
    // how to start.
    let redis = config
        .redis_url
        .as_deref()
        .map(|url| format!(", redis {}", redacted_url(url)))
        .unwrap_or_default();
    println!(
        "realtime-hub listening on http://{addr} (database {}{redis})",
        redacted_url(&config.database_url)
    );
    println!("chat: open http://{addr}/chat/lobby/ · mint a token: realtime-hub token --user-id 1 --name alice");
    actix_web::rt::System::new()
        .block_on(realtime_hub::server::run(listener, config, signals()))
        .map_err(|e| failed(e.to_string()))
}

/// Resolves on SIGTERM or SIGINT.
async fn signals() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => log::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => log::info!("SIGINT received"),
    }
}
