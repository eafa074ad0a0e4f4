//! Outgoing mail (password-reset links, invitations, security notices).
//!
//! SMTP through lettre; production requires TLS (`smtps://` or
//! `smtp://…?tls=required`, checked in `config`). Development without
//! `SMTP_URL` writes each message as an `.eml` file into `MAIL_DIR`, so reset
//! links work locally without putting tokens in the logs.

use std::path::PathBuf;

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::Config;

/// Why mail could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Bad address or message.
    #[error("invalid message: {0}")]
    Message(String),
    /// The SMTP server refused or could not be reached.
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    /// The development mail directory.
    #[error("writing mail file: {0}")]
    File(#[from] std::io::Error),
}

/// Where mail goes.
#[derive(Clone)]
pub enum Mailer {
    /// A real SMTP server.
    Smtp {
        /// Transport.
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// Sender.
        from: Mailbox,
    },
    /// Development: files in a directory.
    Files {
        /// Directory.
        dir: PathBuf,
        /// Sender.
        from: Mailbox,
    },
}

impl Mailer {
    /// From `SMTP_URL`, `MAIL_FROM`, `MAIL_DIR`.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let from: Mailbox =
            config.mail_from.parse().map_err(|e| anyhow::anyhow!("MAIL_FROM is invalid: {e}"))?;
        Ok(match &config.smtp_url {
            Some(url) => Mailer::Smtp {
                transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .map_err(|e| anyhow::anyhow!("SMTP_URL is invalid: {e}"))?
                    .build(),
                from,
            },
            None => Mailer::Files { dir: config.mail_dir.clone(), from },
        })
    }

    /// Sends a plain-text message.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), MailError> {
        let to: Mailbox = to.parse().map_err(|e| MailError::Message(format!("recipient: {e}")))?;
        let from = match self {
            Mailer::Smtp { from, .. } | Mailer::Files { from, .. } => from.clone(),
        };
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError::Message(e.to_string()))?;
        match self {
            Mailer::Smtp { transport, .. } => {
                transport.send(message).await?;
            }
            Mailer::Files { dir, .. } => {
                tokio::fs::create_dir_all(dir).await?;
                let name = format!("{}.eml", uuid::Uuid::now_v7());
                tokio::fs::write(dir.join(name), message.formatted()).await?;
            }
        }
        Ok(())
    }
}
