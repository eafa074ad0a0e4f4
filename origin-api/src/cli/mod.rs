//! The admin CLI: `origin-api <subcommand>`. Every mutation goes through the
//! domain services as the CLI operator, so it is audited like any other.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::band_import;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::actor::{Actor, Role};
use crate::domain::bands::ImportOutcome;
use crate::domain::events::{EventPatch, EventStatus, NewEvent, NewWindow};
use crate::domain::orgs::NewOrg;
use crate::domain::users::NewUser;
use crate::domain::{Domain, DomainError};
use crate::key_rotation::{self, KeyKind};
use crate::retention::{self, RunOptions};
use crate::{app, audit, db, demo, kv_sync, telemetry};

/// SparkMotion origin server and admin CLI.
#[derive(Debug, Parser)]
#[command(name = "origin-api", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server and background tasks.
    Serve,
    /// Apply database migrations.
    Migrate,
    /// Organisations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Users.
    #[command(subcommand)]
    User(UserCommand),
    /// Events and their schedule windows.
    #[command(subcommand)]
    Event(EventCommand),
    /// Bands.
    #[command(subcommand)]
    Bands(BandsCommand),
    /// The edge's KV copy.
    #[command(subcommand)]
    Kv(KvCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Demo data for local development.
    #[command(subcommand)]
    Demo(DemoCommand),
    /// Key rotation with overlap (prints the new keyring value to install).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Sign-in sessions (incident response).
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// The retention job (normally run daily by `serve`).
    #[command(subcommand)]
    Retention(RetentionCommand),
}

/// `keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print the keyring with a fresh signing key in front of the current ones (overlap).
    Rotate {
        /// Which keyring.
        #[arg(long, value_enum)]
        kind: KeyKind,
    },
    /// Print the keyring reduced to one key, once the overlap is over (signing and jwt only).
    Retire {
        /// Which keyring.
        #[arg(long, value_enum)]
        kind: KeyKind,
        /// The key id to keep.
        #[arg(long)]
        keep: String,
    },
}

/// `sessions …`
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Sign out everyone, or one user, everywhere at once.
    Revoke {
        /// Every live session of every user.
        #[arg(long, conflicts_with = "user", required_unless_present = "user")]
        all: bool,
        /// One user's sessions (email).
        #[arg(long)]
        user: Option<String>,
    },
}

/// `retention …`
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Summarise and drop expired taps, clear expired auth state, purge exported old audit rows.
    Run {
        /// Count what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Act as if it were this moment (RFC 3339): a past moment, or with --dry-run any moment.
        #[arg(long)]
        now: Option<DateTime<Utc>>,
    },
}

/// `demo …`
#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Create the demo organisation, event and bands DEMO0001–DEMO0100 (idempotent);
    /// with --password-stdin also the demo ADMIN and organiser (development only).
    Seed {
        /// Read the demo users' password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// `org …`
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organisation; prints its id.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// URL-safe name (derived from the name if omitted).
        #[arg(long)]
        slug: Option<String>,
    },
}

/// `user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from stdin with --password-stdin,
    /// otherwise generated and shown only with --show-password.
    Create {
        /// Email (login name).
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// ADMIN or CUSTOMER.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Organisation id (required for CUSTOMER).
        #[arg(long)]
        org: Option<Uuid>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Print the generated password.
        #[arg(long)]
        show_password: bool,
    },
}

/// `event …`
#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// Create an event; prints its id.
    Create {
        /// Organisation id.
        #[arg(long)]
        org: Uuid,
        /// Display name.
        #[arg(long)]
        name: String,
        /// IANA time zone.
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// Default destination.
        #[arg(long)]
        default_url: Option<String>,
        /// Fallback destination.
        #[arg(long)]
        fallback_url: Option<String>,
        /// active, inactive or frozen.
        #[arg(long)]
        status: Option<String>,
        /// Start (RFC 3339).
        #[arg(long)]
        starts_at: Option<DateTime<Utc>>,
        /// End (RFC 3339).
        #[arg(long)]
        ends_at: Option<DateTime<Utc>>,
    },
    /// Incident response: pin every band of the event to its fallback at the edge at once.
    Freeze {
        /// Event id.
        id: Uuid,
    },
    /// Undo a freeze: the event routes normally again.
    Unfreeze {
        /// Event id.
        id: Uuid,
    },
    /// Change an event.
    Update {
        /// Event id.
        id: Uuid,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New time zone.
        #[arg(long)]
        timezone: Option<String>,
        /// New default destination ("" clears).
        #[arg(long)]
        default_url: Option<String>,
        /// New fallback destination ("" clears).
        #[arg(long)]
        fallback_url: Option<String>,
        /// active, inactive or frozen.
        #[arg(long)]
        status: Option<String>,
    },
    /// Schedule windows.
    #[command(subcommand)]
    Window(WindowCommand),
}

/// `event window …`
#[derive(Debug, Subcommand)]
pub enum WindowCommand {
    /// Add a window; overlapping windows are refused.
    Add {
        /// Event id.
        event: Uuid,
        /// Start (RFC 3339, inclusive).
        #[arg(long)]
        starts_at: DateTime<Utc>,
        /// End (RFC 3339, exclusive).
        #[arg(long)]
        ends_at: DateTime<Utc>,
        /// Destination while active.
        #[arg(long)]
        url: String,
        /// Label (pre-show, live, recap…).
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Remove a window (taps then follow the next rule: another window, the default, the fallback).
    Remove {
        /// Event id.
        event: Uuid,
        /// Window id (as `window add` printed it).
        window: Uuid,
    },
}

/// `bands …`
#[derive(Debug, Subcommand)]
pub enum BandsCommand {
    /// Register bands from a CSV file (header: band_id[,label][,status][,override_url]); all or nothing.
    Import {
        /// Event id.
        #[arg(long)]
        event: Uuid,
        /// CSV file.
        #[arg(long)]
        csv: PathBuf,
    },
}

/// `kv …`
#[derive(Debug, Subcommand)]
pub enum KvCommand {
    /// Push an event and all its bands to the edge again.
    Resync {
        /// Event id.
        #[arg(long)]
        event: Uuid,
    },
}

/// `audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain; names the first broken row.
    Verify,
    /// Write rows older than a date as verifiable JSON lines (and allow retention to purge them).
    #[command(group(clap::ArgGroup::new("range").required(true).args(["before", "since"])))]
    Export {
        /// Archival: rows before this moment (RFC 3339 or YYYY-MM-DD, UTC); lets retention purge them after 13 months.
        #[arg(long, value_parser = parse_moment)]
        before: Option<DateTime<Utc>>,
        /// Evidence: rows from this moment to now (purges nothing).
        #[arg(long, value_parser = parse_moment)]
        since: Option<DateTime<Utc>>,
        /// Output file (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check an export file's hash chain with the audit keys.
    VerifyExport {
        /// The export file.
        file: PathBuf,
    },
}

/// An RFC 3339 time, or a date meaning its midnight UTC.
fn parse_moment(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = s.parse::<DateTime<Utc>>() {
        return Ok(t);
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        .map_err(|_| format!("{s:?} is neither an RFC 3339 time nor a YYYY-MM-DD date"))
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(&s.to_ascii_uppercase()).ok_or_else(|| "role must be ADMIN or CUSTOMER".into())
}

/// Runs a command, writing its report to `out`.
pub async fn run(cli: Cli, out: &mut (dyn Write + Send)) -> anyhow::Result<ExitCode> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = Config::from_env().context("configuration")?;
    telemetry::init(config.env);
    run_with(cli, config, Arc::new(SystemClock), out).await
}

/// Runs a command with explicit configuration and clock (tests).
pub async fn run_with(
    cli: Cli,
    config: Config,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<ExitCode> {
    if let Command::Serve = cli.command {
        let listener = tokio::net::TcpListener::bind(config.bind_addr)
            .await
            .with_context(|| format!("binding {}", config.bind_addr))?;
        app::start(config, clock, listener).await?.wait().await;
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Keys(command) = &cli.command {
        return keys(command, &config, clock.now(), out);
    }
    // Refused before anything touches a production database (not even a migration).
    if matches!(cli.command, Command::Demo(_)) && config.is_production() {
        bail!("demo data is for development only (APP_ENV=production)");
    }
    db::create_if_missing(&config).await.context("creating the database (DATABASE_URL)")?;
    let pool = db::connect(&config).await.context("connecting to the database (DATABASE_URL)")?;
    db::migrate(&pool).await.context("applying migrations")?;
    if let Command::Migrate = cli.command {
        writeln!(out, "migrations applied")?;
        return Ok(ExitCode::SUCCESS);
    }
    let domain = Domain::new(pool, config.audit_keys.clone(), clock);
    let actor = Actor::cli();
    match cli.command {
        Command::Serve | Command::Migrate | Command::Keys(_) => Ok(ExitCode::SUCCESS),
        Command::Org(OrgCommand::Create { name, slug }) => {
            let org = domain.create_org(&actor, NewOrg { name, slug }).await.map_err(explain)?;
            writeln!(out, "{}\t{}", org.id, org.slug)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::User(UserCommand::Create { email, name, role, org, password_stdin, show_password }) => {
            let (password, generated) = if password_stdin {
                (read_password()?.expose_secret().to_string(), false)
            } else {
                let mut bytes = [0u8; 18];
                rand::rng().fill_bytes(&mut bytes);
                (hex::encode(bytes), true)
            };
            let user = domain
                .create_user(
                    &actor,
                    NewUser {
                        email,
                        name,
                        role,
                        org_id: org,
                        password: SecretString::from(password.clone()),
                    },
                )
                .await
                .map_err(explain)?;
            writeln!(out, "{}\t{}\t{}", user.id, user.email, user.role)?;
            if generated && show_password {
                writeln!(out, "password: {password}")?;
            } else if generated {
                writeln!(
                    out,
                    "a random password was set; rerun with --show-password to see one, or use the password reset"
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Event(EventCommand::Create {
            org,
            name,
            timezone,
            default_url,
            fallback_url,
            status,
            starts_at,
            ends_at,
        }) => {
            let status = status.as_deref().map(EventStatus::parse).transpose().map_err(explain)?;
            let input = NewEvent {
                org_id: org,
                name,
                timezone: Some(timezone),
                default_url,
                fallback_url,
                status,
                starts_at,
                ends_at,
            };
            let event = domain.create_event(&actor, input).await.map_err(explain)?;
            writeln!(out, "{}", event.id)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Event(EventCommand::Freeze { id }) => {
            let patch = EventPatch { status: Some(EventStatus::Frozen), ..Default::default() };
            let event = domain.update_event(&actor, id, patch).await.map_err(explain)?;
            writeln!(
                out,
                "frozen {}: every band goes to {} once the edge has it (`kv resync` is not needed; the outbox is queued)",
                event.id,
                event.fallback_url.as_deref().unwrap_or("the platform fallback")
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Event(EventCommand::Unfreeze { id }) => {
            let patch = EventPatch { status: Some(EventStatus::Active), ..Default::default() };
            let event = domain.update_event(&actor, id, patch).await.map_err(explain)?;
            writeln!(out, "unfrozen {}: routing follows its destinations again", event.id)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sessions(SessionsCommand::Revoke { all, user }) => {
            let revoked =
                crate::auth::session::revoke_by_operator(&domain, &actor, user.as_deref().filter(|_| !all))
                    .await
                    .map_err(explain)?;
            writeln!(out, "revoked {revoked} live session(s)")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Event(EventCommand::Update { id, name, timezone, default_url, fallback_url, status }) => {
            let status = status.as_deref().map(EventStatus::parse).transpose().map_err(explain)?;
            let patch = EventPatch {
                name,
                timezone,
                default_url,
                fallback_url,
                status,
                starts_at: None,
                ends_at: None,
            };
            let event = domain.update_event(&actor, id, patch).await.map_err(explain)?;
            writeln!(out, "updated {}", event.id)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Event(EventCommand::Window(WindowCommand::Add {
            event,
            starts_at,
            ends_at,
            url,
            label,
        })) => {
            let window = domain
                .add_window(&actor, event, NewWindow { label, url, starts_at, ends_at })
                .await
                .map_err(explain)?;
            writeln!(out, "{}", window.id)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Event(EventCommand::Window(WindowCommand::Remove { event, window })) => {
            domain.remove_window(&actor, event, window).await.map_err(explain)?;
            writeln!(out, "removed {window}")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bands(BandsCommand::Import { event, csv }) => {
            // Read at most one byte past the limit: the size of a pipe or device is unknown up front.
            let file = std::fs::File::open(&csv).with_context(|| format!("reading {}", csv.display()))?;
            let mut bytes = Vec::new();
            file.take(band_import::MAX_FILE_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
                .with_context(|| format!("reading {}", csv.display()))?;
            if bytes.len() > band_import::MAX_FILE_BYTES {
                bail!("{} is larger than {} MiB", csv.display(), band_import::MAX_FILE_BYTES / (1024 * 1024));
            }
            let outcome = match band_import::parse(&bytes) {
                Ok(parsed) => {
                    domain.import_bands(&actor, event, parsed.bands, parsed.errors).await.map_err(explain)?
                }
                Err(errors) => ImportOutcome::Rejected { errors },
            };
            match outcome {
                ImportOutcome::Imported { count } => {
                    writeln!(out, "imported {count} bands")?;
                    Ok(ExitCode::SUCCESS)
                }
                ImportOutcome::Rejected { errors } => {
                    writeln!(out, "nothing imported: {} row(s) rejected", errors.len())?;
                    for e in errors {
                        let id = e.band_id.map(|id| format!(" ({id})")).unwrap_or_default();
                        writeln!(out, "line {}{id}: {}", e.line, e.reason)?;
                    }
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Kv(KvCommand::Resync { event }) => {
            domain.get_event(&actor, event).await.map_err(explain)?;
            let mut tx = domain.begin().await.map_err(explain)?;
            let queued = kv_sync::outbox::enqueue_event_with_bands(&mut tx, event).await?;
            tx.commit().await?;
            writeln!(out, "queued {queued} records for the edge")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(DemoCommand::Seed { password_stdin }) => {
            let password = if password_stdin { Some(read_password()?) } else { None };
            let seeded = demo::seed(&domain, &actor, password).await.map_err(explain)?;
            writeln!(out, "demo event {} ({} bands)", seeded.event_id, seeded.bands)?;
            for email in seeded.created_users {
                writeln!(out, "demo user {email} created")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Retention(RetentionCommand::Run { dry_run, now }) => {
            // Acting for a future moment would drop live taps, sessions and replay nonces early:
            // rehearse it with --dry-run instead.
            if let Some(at) = now
                && !dry_run
                && at > domain.now() + chrono::Duration::minutes(1)
            {
                bail!("--now {at} is in the future: only a --dry-run may act for a future moment");
            }
            let options = RunOptions { as_of: now.unwrap_or_else(|| domain.now()), dry_run };
            let outcome =
                retention::run(&domain.db, domain.audit_keys(), domain.clock(), config.retention, options)
                    .await
                    .context("retention run")?;
            match outcome {
                retention::Outcome::Skipped => {
                    writeln!(out, "another retention run holds the lock; nothing done")?;
                }
                retention::Outcome::Done { run_id, counts } => {
                    writeln!(
                        out,
                        "retention run {run_id}{}",
                        if dry_run { " (dry run: nothing changed)" } else { "" }
                    )?;
                    for (step, n) in counts {
                        writeln!(out, "{step}\t{n}")?;
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCommand::Export { before, since, out: path }) => {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .with_context(|| format!("creating {} (it must not exist)", path.display()))?;
            let mut writer = std::io::BufWriter::new(file);
            let (keys, clock) = (domain.audit_keys(), domain.clock());
            let exported = match (before, since) {
                (Some(before), _) => {
                    audit::export::export(&domain.db, keys, clock, &actor, before, &mut writer).await
                }
                (None, Some(since)) => {
                    audit::export::export_since(&domain.db, keys, clock, &actor, since, &mut writer).await
                }
                (None, None) => bail!("give --before or --since"),
            }
            .context("audit export")?;
            writeln!(
                out,
                "exported {} rows (seq {}..={}) to {}; sha256 {}",
                exported.rows,
                exported.first_seq,
                exported.through_seq,
                path.display(),
                exported.sha256
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCommand::VerifyExport { file }) => {
            let reader = std::io::BufReader::new(
                std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?,
            );
            match audit::export::verify_file(reader, domain.audit_keys()) {
                Ok(rows) => {
                    writeln!(out, "export intact: {rows} rows verified")?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    writeln!(out, "export BROKEN: {e}")?;
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Audit(AuditCommand::Verify) => {
            let report = audit::verify::verify(&domain.db, domain.audit_keys()).await?;
            match report.first_broken {
                None => {
                    writeln!(out, "audit chain intact: {} rows verified", report.rows)?;
                    Ok(ExitCode::SUCCESS)
                }
                Some(broken) => {
                    writeln!(out, "audit chain BROKEN at row {}: {}", broken.seq, broken.reason)?;
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

/// Domain errors as operator-facing messages.
/// `keys rotate|retire`: computes the new keyring value from the configured one.
fn keys(
    command: &KeysCommand,
    config: &Config,
    now: DateTime<Utc>,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<ExitCode> {
    let kind = match command {
        KeysCommand::Rotate { kind } | KeysCommand::Retire { kind, .. } => *kind,
    };
    if config.generated.contains(&kind.variable()) {
        bail!(
            "{} is not set: there is no keyring to rotate (set it to the current value first)",
            kind.variable()
        );
    }
    let ring = match kind {
        KeyKind::Signing => &config.signing_keys,
        KeyKind::Jwt => &config.jwt_keys,
        KeyKind::Audit => &config.audit_keys,
        KeyKind::Mfa => &config.mfa_keys,
    };
    let spec = match command {
        KeysCommand::Rotate { .. } => key_rotation::rotate(ring, kind, now),
        KeysCommand::Retire { keep, .. } => key_rotation::retire(ring, kind, keep)?,
    };
    // The value on its own line, so it can be piped into a secret store.
    writeln!(out, "{}={spec}", kind.variable())?;
    Ok(ExitCode::SUCCESS)
}

/// A password from standard input, without its line ending.
fn read_password() -> anyhow::Result<SecretString> {
    let mut line = String::new();
    std::io::stdin().read_to_string(&mut line).context("reading the password from stdin")?;
    Ok(SecretString::from(line.trim_end_matches(['\r', '\n']).to_string()))
}

fn explain(e: DomainError) -> anyhow::Error {
    match e {
        DomainError::Database(db) => anyhow::Error::new(db).context("database error"),
        other => anyhow::anyhow!("{other}"),
    }
}
