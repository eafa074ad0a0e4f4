//! Repository hygiene: nothing secret-looking in the files git would commit,
//! and local secret files (`.env`, `.dev.vars`) ignored and untracked.
//!
//! The scanned set is what `git add -A` would pick up: tracked files plus
//! untracked files that are not ignored. Lockfiles and binaries are skipped.
//! A finding names `file:line`, the rule and a redacted excerpt (the value
//! itself is never printed, so CI logs do not spread it further).
//!
//! Deliberate fakes are allowed by exact value and path in [`allowlist`], each
//! with a reason; keep it short. Test code that needs key material generates
//! it at runtime (`"ab".repeat(32)`, `rand`), so no literal has to be allowed.
//! `.gitleaks.toml` carries the same project rules for `gitleaks`.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use system_tests::repo_root;

/// Exactly-known fake values, by the path they may appear in.
struct Allow {
    path: &'static str,
    value: String,
    reason: &'static str,
}

fn allowlist() -> Vec<Allow> {
    vec![
        Allow {
            path: ".env.example",
            value: format!("example:{}", "0".repeat(64)),
            reason: "documented SIGNING_KEYS placeholder; production refuses example values",
        },
        Allow {
            path: ".env.example",
            value: format!("example:{}", "0123456789abcdef".repeat(4)),
            reason: "documented AUDIT_KEYS placeholder; production refuses example values",
        },
        Allow {
            path: ".dev.vars.example",
            value: format!("dev:{}", "0".repeat(64)),
            reason: "template for `wrangler dev`; `make dev` writes its own throwaway key",
        },
    ]
}

/// One secret-looking match on a line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hit {
    rule: &'static str,
    value: String,
}

#[test]
fn no_secret_looking_strings_in_committable_files() {
    let root = repo_root();
    let allow = allowlist();
    let mut used = vec![false; allow.len()];
    let mut findings = Vec::new();
    let mut scanned = 0;

    for rel in committable_files(&root) {
        if skipped_by_name(&rel) {
            continue;
        }
        let Ok(bytes) = std::fs::read(root.join(&rel)) else {
            continue; // deleted in the working tree, or not a regular file
        };
        let Some(text) = as_text(&bytes) else {
            continue;
        };
        scanned += 1;
        for (n, line) in text.lines().enumerate() {
            for hit in scan_line(line) {
                let allowed = allow.iter().position(|a| a.path == rel && a.value == hit.value);
                match allowed {
                    Some(i) => used[i] = true,
                    None => findings.push(format!("{rel}:{}: {}: {}", n + 1, hit.rule, redact(&hit))),
                }
            }
        }
    }

    assert!(scanned > 50, "only {scanned} files scanned: is `git ls-files` working in {}?", root.display());
    let stale: Vec<String> = allow
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(a, _)| format!("{} ({})", a.path, a.reason))
        .collect();
    assert!(
        findings.is_empty() && stale.is_empty(),
        "secret-looking strings in committable files:\n  {}\n\
         Move real secrets to the environment / `wrangler secret put`, rotate anything that was \
         committed, and generate test keys at runtime. A deliberate fake may be added to \
         `allowlist()` in tests/tests/system/repo_hygiene.rs with its exact value and a reason.\n\
         Stale allow-list entries (value no longer present): {stale:?}",
        findings.join("\n  ")
    );
}

#[test]
fn local_env_files_are_not_committable() {
    let tracked: Vec<String> = committable_files(&repo_root())
        .into_iter()
        .filter(|rel| {
            let name = rel.rsplit('/').next().unwrap_or(rel);
            let env = name == ".env" || (name.starts_with(".env.") && name != ".env.example");
            let dev_vars =
                name == ".dev.vars" || (name.starts_with(".dev.vars.") && name != ".dev.vars.example");
            env || dev_vars
        })
        .collect();
    assert!(
        tracked.is_empty(),
        "local secret files are tracked or would be committed (git rm --cached them, rotate their secrets): {tracked:?}"
    );
}

#[test]
fn gitignore_covers_local_secret_files() {
    let root = repo_root();
    let ignored = |path: &str| {
        let out = Command::new("git")
            .args(["check-ignore", "--no-index", "-q", path])
            .current_dir(&root)
            .output()
            .expect("run git check-ignore");
        match out.status.code() {
            Some(0) => true,
            Some(1) => false,
            _ => panic!("git check-ignore {path}: {}", String::from_utf8_lossy(&out.stderr)),
        }
    };
    let must_ignore = [
        ".env",
        ".env.dev",
        ".env.local",
        ".env.production",
        ".dev.vars",
        ".dev.vars.staging",
        "origin-api/.env",
        "target/debug/x",
        "node_modules/x/index.js",
        ".wrangler/state/x",
        "artifacts/screenshots/x.png",
    ];
    let not_ignored: Vec<&str> = must_ignore.into_iter().filter(|p| !ignored(p)).collect();
    assert!(not_ignored.is_empty(), ".gitignore does not ignore {not_ignored:?}");
    for template in [".env.example", ".dev.vars.example"] {
        assert!(!ignored(template), ".gitignore ignores the committed template {template}");
    }
}

/// Tracked files plus untracked, non-ignored ones (what `git add -A` would add).
fn committable_files(root: &Path) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    for extra in [&[][..], &["--others", "--exclude-standard"][..]] {
        let out = Command::new("git")
            .args(["-c", "core.quotepath=off", "ls-files", "-z"])
            .args(extra)
            .current_dir(root)
            .output()
            .expect("run git ls-files");
        assert!(out.status.success(), "git ls-files {extra:?}: {}", String::from_utf8_lossy(&out.stderr));
        files.extend(
            out.stdout
                .split(|b| *b == 0)
                .filter(|p| !p.is_empty())
                .map(|p| String::from_utf8_lossy(p).into_owned()),
        );
    }
    files
}

fn skipped_by_name(rel: &str) -> bool {
    const LOCKFILES: [&str; 5] =
        ["Cargo.lock", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml"];
    const BINARY: [&str; 16] = [
        "png", "jpg", "jpeg", "gif", "ico", "webp", "woff", "woff2", "ttf", "otf", "wasm", "pdf", "zip",
        "gz", "tgz", "zst",
    ];
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    LOCKFILES.contains(&name) || BINARY.contains(&ext.as_str())
}

/// The file as text, or `None` for binaries (NUL bytes or not UTF-8).
fn as_text(bytes: &[u8]) -> Option<&str> {
    if bytes.iter().take(8192).any(|b| *b == 0) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

fn redact(hit: &Hit) -> String {
    if hit.rule == "pem-private-key" {
        return hit.value.clone(); // the header names the key type, it is not the key
    }
    let n = hit.value.chars().count();
    let shown: String = hit.value.chars().take((n / 5).min(8)).collect();
    format!("{shown}… ({n} chars)")
}

// ---------------------------------------------------------------------------
// Detectors. Each works on one line; hand-written (no regex dependency).

fn scan_line(line: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    pem_private_key(line, &mut hits);
    aws_access_key_id(line, &mut hits);
    github_token(line, &mut hits);
    slack_token(line, &mut hits);
    key_spec(line, &mut hits);
    jwt(line, &mut hits);
    url_with_password(line, &mut hits);
    secret_assignment(line, &mut hits);
    // One report per value (a key spec assigned to SIGNING_KEYS matches twice).
    let mut seen = BTreeSet::new();
    hits.retain(|h| seen.insert(h.value.clone()));
    hits
}

fn hit(hits: &mut Vec<Hit>, rule: &'static str, value: &str) {
    hits.push(Hit { rule, value: value.to_string() });
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Length of the run of bytes from `start` that satisfy `pred`.
fn run(b: &[u8], start: usize, pred: impl Fn(u8) -> bool) -> usize {
    b.get(start..).map_or(0, |rest| rest.iter().take_while(|c| pred(**c)).count())
}

/// Whether the byte before `i` is absent or fails `pred` (a left word boundary).
fn starts_fresh(b: &[u8], i: usize, pred: impl Fn(u8) -> bool) -> bool {
    i == 0 || !pred(b[i - 1])
}

/// `-----BEGIN [RSA |EC |OPENSSH |ENCRYPTED |PGP ]PRIVATE KEY[ BLOCK]-----`
fn pem_private_key(line: &str, hits: &mut Vec<Hit>) {
    let marker = "-----BEGIN ";
    for (i, _) in line.match_indices(marker) {
        let after = i + marker.len();
        let label_len =
            run(line.as_bytes(), after, |c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b' ');
        let label = &line[after..after + label_len];
        let private = label.ends_with("PRIVATE KEY") || label.ends_with("PRIVATE KEY BLOCK");
        if private && line[after + label_len..].starts_with("-----") {
            hit(hits, "pem-private-key", &line[i..after + label_len + 5]);
        }
    }
}

/// AWS access key ids: `AKIA` (long-term), `ASIA` (STS) and friends + 16 of `[A-Z0-9]`.
fn aws_access_key_id(line: &str, hits: &mut Vec<Hit>) {
    let b = line.as_bytes();
    for prefix in ["AKIA", "ASIA", "ABIA", "ACCA"] {
        for (i, _) in line.match_indices(prefix) {
            let body = run(b, i + 4, |c| c.is_ascii_uppercase() || c.is_ascii_digit());
            if starts_fresh(b, i, |c| c.is_ascii_alphanumeric())
                && body == 16
                && b.get(i + 20).is_none_or(|c| !c.is_ascii_alphanumeric())
            {
                hit(hits, "aws-access-key-id", &line[i..i + 20]);
            }
        }
    }
}

/// GitHub tokens: classic `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` + 36, fine-grained `github_pat_…`.
fn github_token(line: &str, hits: &mut Vec<Hit>) {
    let b = line.as_bytes();
    // (prefix, minimum body length, body may contain `_`)
    let kinds = [
        ("ghp_", 36, false),
        ("gho_", 36, false),
        ("ghu_", 36, false),
        ("ghs_", 36, false),
        ("ghr_", 36, false),
        ("github_pat_", 22, true),
    ];
    for (prefix, min, underscore) in kinds {
        for (i, _) in line.match_indices(prefix) {
            let n = run(b, i + prefix.len(), |c| c.is_ascii_alphanumeric() || (underscore && c == b'_'));
            if starts_fresh(b, i, is_word) && n >= min {
                hit(hits, "github-token", &line[i..i + prefix.len() + n]);
            }
        }
    }
}

/// Slack tokens (`xoxb-`, `xoxp-`, … , app-level `xapp-`) and incoming-webhook URLs.
fn slack_token(line: &str, hits: &mut Vec<Hit>) {
    let b = line.as_bytes();
    for prefix in ["xoxa-", "xoxb-", "xoxe-", "xoxo-", "xoxp-", "xoxr-", "xoxs-", "xapp-"] {
        for (i, _) in line.match_indices(prefix) {
            let n = run(b, i + prefix.len(), |c| c.is_ascii_alphanumeric() || c == b'-');
            let body = &line[i + prefix.len()..i + prefix.len() + n];
            if starts_fresh(b, i, is_word) && n >= 10 && body.bytes().any(|c| c.is_ascii_digit()) {
                hit(hits, "slack-token", &line[i..i + prefix.len() + n]);
            }
        }
    }
    let webhook = "hooks.slack.com/services/";
    for (i, _) in line.match_indices(webhook) {
        let n = run(b, i + webhook.len(), |c| c.is_ascii_alphanumeric() || c == b'/' || c == b'_');
        if n >= 20 {
            hit(hits, "slack-webhook", &line[i..i + webhook.len() + n]);
        }
    }
}

/// The project's key format, `id:hex64` (SIGNING_KEYS, AUDIT_KEYS, MFA keys).
/// `sha256:<hex>` is a content digest (container images), not a key.
fn key_spec(line: &str, hits: &mut Vec<Hit>) {
    let b = line.as_bytes();
    let is_id = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    for (colon, _) in line.match_indices(':') {
        let hex = run(b, colon + 1, |c| c.is_ascii_hexdigit());
        if hex != 64 || b.get(colon + 65).is_some_and(|c| c.is_ascii_alphanumeric()) {
            continue;
        }
        let id_len = b[..colon].iter().rev().take_while(|c| is_id(**c)).count();
        let id = &line[colon - id_len..colon];
        if id.is_empty() || id.eq_ignore_ascii_case("sha256") || id.eq_ignore_ascii_case("sha-256") {
            continue;
        }
        hit(hits, "key-spec", &line[colon - id_len..colon + 65]);
    }
}

/// JWTs: `eyJ<header>.eyJ<payload>.<signature>` (the signature may be empty: `alg: none`).
fn jwt(line: &str, hits: &mut Vec<Hit>) {
    let b = line.as_bytes();
    for (i, _) in line.match_indices("eyJ") {
        if !starts_fresh(b, i, is_b64url) {
            continue;
        }
        let header = run(b, i, is_b64url);
        let payload_at = i + header + 1;
        if header < 10 || b.get(i + header) != Some(&b'.') || !line[payload_at..].starts_with("eyJ") {
            continue;
        }
        let payload = run(b, payload_at, is_b64url);
        if payload < 10 || b.get(payload_at + payload) != Some(&b'.') {
            continue;
        }
        let signature = run(b, payload_at + payload + 1, is_b64url);
        hit(hits, "jwt", &line[i..payload_at + payload + 1 + signature]);
    }
}

/// Connection URLs with an inline password: `postgres://user:<password>@host`, `redis://:<password>@host`.
fn url_with_password(line: &str, hits: &mut Vec<Hit>) {
    const SCHEMES: [&str; 9] =
        ["postgres", "postgresql", "redis", "rediss", "mysql", "mongodb", "mongodb+srv", "amqp", "amqps"];
    let b = line.as_bytes();
    for (sep, _) in line.match_indices("://") {
        let scheme_len =
            b[..sep].iter().rev().take_while(|c| c.is_ascii_alphanumeric() || **c == b'+').count();
        let start = sep - scheme_len;
        if !SCHEMES.contains(&line[start..sep].to_ascii_lowercase().as_str()) {
            continue;
        }
        let auth = sep + 3;
        let len =
            run(b, auth, |c| !matches!(c, b'@' | b'/' | b'?' | b'#' | b'"' | b'\'' | b'`' | b' ' | b'\t'));
        if b.get(auth + len) != Some(&b'@') {
            continue;
        }
        let userinfo = &line[auth..auth + len];
        if let Some((_, password)) = userinfo.split_once(':')
            && !password.is_empty()
            && !is_placeholder(password)
        {
            hit(hits, "url-with-password", &line[start..=auth + len]);
        }
    }
}

/// `NAME = "value"` where NAME mentions a secret and the value is long and random-looking.
/// Quoted values anywhere (`const SIGNING_KEY: &str = "…"`, `"api_key": "…"`, TOML,
/// YAML); unquoted ones only in `NAME=value` / `NAME: value` lines (.env, YAML).
fn secret_assignment(line: &str, hits: &mut Vec<Hit>) {
    const WORDS: [&str; 6] = ["SECRET", "TOKEN", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL"];
    let b = line.as_bytes();
    let is_name = |c: u8| is_word(c) || c == b'-' || c == b'.';
    let mut i = 0;
    while i < b.len() {
        if !is_name(b[i]) || !starts_fresh(b, i, is_name) {
            i += 1;
            continue;
        }
        let end = i + run(b, i, is_name);
        let name = line[i..end].to_ascii_uppercase();
        if WORDS.iter().any(|w| name.contains(w))
            && let Some(value) = assigned_value(line, i, end)
            && looks_random(value)
        {
            hit(hits, "secret-assignment", value);
        }
        i = end;
    }
}

/// The literal assigned to the name at `line[start..end]`, if any.
fn assigned_value(line: &str, start: usize, end: usize) -> Option<&str> {
    const QUOTED_SEPARATORS: [&str; 9] =
        ["=", ":", ":=", "=>", "?=", ":&str=", ":&'staticstr=", ":String=", ":str="];
    let b = line.as_bytes();
    let is_quote = |c: u8| matches!(c, b'"' | b'\'' | b'`');
    // A quoted key (`"api_key": …`): step over its closing quote.
    let mut after = end;
    if b.get(end).is_some_and(|c| is_quote(*c)) && start > 0 && b[start - 1] == b[end] {
        after += 1;
    }
    let rest = &line[after..];
    if let Some(q) = rest.bytes().position(is_quote) {
        let separator: String = rest[..q].chars().filter(|c| !c.is_whitespace()).collect();
        if QUOTED_SEPARATORS.contains(&separator.as_str()) {
            let quote = rest.as_bytes()[q];
            let body = &rest[q + 1..];
            return body.bytes().position(|c| c == quote).map(|close| &body[..close]);
        }
    }
    // `NAME=value`, `export NAME=value`, `name: value` as the whole line.
    let head = line[..start].trim();
    if head.is_empty() || head == "export" || head == "-" {
        let value = rest.trim_start();
        let value = value.strip_prefix('=').or_else(|| value.strip_prefix(':'))?.trim();
        let token_char = |c: char| c.is_ascii_alphanumeric() || "+/=_-.:~".contains(c);
        if !value.is_empty() && value.chars().all(token_char) {
            return Some(value);
        }
    }
    None
}

/// Long, no spaces, letters and digits, high Shannon entropy, and not a template.
fn looks_random(value: &str) -> bool {
    value.chars().count() >= 20
        && !value.chars().any(char::is_whitespace)
        && !is_placeholder(value)
        && !value.contains("://")
        && !value.starts_with('/')
        && !value.starts_with("./")
        && !value.contains(['{', '}'])
        && value.chars().any(|c| c.is_ascii_digit())
        && value.chars().any(|c| c.is_alphabetic())
        && entropy(value) >= 3.5
}

/// Template or redaction, not a value: `${VAR}`, `{{ secrets.X }}`, `{password}`, `<password>`, `%s`, `***`.
fn is_placeholder(value: &str) -> bool {
    value.starts_with(['$', '{', '<', '%']) || value.chars().all(|c| c == '*')
}

/// Shannon entropy in bits per character.
fn entropy(s: &str) -> f64 {
    let mut counts: HashMap<char, usize> = HashMap::new();
    for c in s.chars() {
        *counts.entry(c).or_default() += 1;
    }
    let n = s.chars().count() as f64;
    counts.values().map(|&k| k as f64 / n).map(|p| -p * p.log2()).sum()
}

// ---------------------------------------------------------------------------
// Self-test: every detector fires on a synthetic secret and stays quiet on an
// obvious non-secret. Positives are assembled at runtime, so this file holds
// no literal secret (it is scanned like every other file).

#[cfg(test)]
mod self_test {
    use super::*;

    /// A random-looking 24-character value, assembled from harmless pieces.
    fn sample() -> String {
        ["q8ZtLm3V", "x9Rk2PwN", "b7Hc4YsJ"].concat()
    }

    fn rules(line: &str) -> Vec<&'static str> {
        scan_line(line).into_iter().map(|h| h.rule).collect()
    }

    #[track_caller]
    fn fires(rule: &str, line: &str) {
        assert!(rules(line).contains(&rule), "{rule} should fire on {line:?}, got {:?}", rules(line));
    }

    #[track_caller]
    fn quiet(line: &str) {
        assert!(rules(line).is_empty(), "nothing should fire on {line:?}, got {:?}", scan_line(line));
    }

    #[test]
    fn pem_private_key_headers() {
        let dashes = "-----";
        for kind in ["RSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "PRIVATE KEY"] {
            fires("pem-private-key", &format!("{dashes}BEGIN {kind}{dashes}"));
        }
        fires("pem-private-key", &format!("  \"{dashes}BEGIN PGP PRIVATE KEY BLOCK{dashes}\\n\""));
        quiet(&format!("{dashes}BEGIN PUBLIC KEY{dashes}"));
        quiet(&format!("{dashes}BEGIN CERTIFICATE{dashes}"));
    }

    #[test]
    fn aws_access_key_ids() {
        fires("aws-access-key-id", &format!("aws_access_key_id = {}{}", "AKIA", "IOSFODNN7EXAMPL3"));
        fires("aws-access-key-id", &format!("\"{}{}\"", "ASIA", "Y3FAKE0STS0TOKEN"));
        quiet("AKIA is the prefix of long-term AWS access key ids");
        quiet(&format!("{}{}", "AKIA", "IOSFODNN7EXAMPL3XYZ")); // too long: not a key id
    }

    #[test]
    fn github_tokens() {
        fires("github-token", &format!("GH={}{}", "ghp_", "a1B2c3D4".repeat(5)));
        fires("github-token", &format!("token: {}{}", "github_pat_", "11ABCDEFG0_".repeat(4)));
        quiet("fn ghp_prefix() -> &'static str");
        quiet(&format!("{}{}", "ghp_", "short1"));
    }

    #[test]
    fn slack_tokens_and_webhooks() {
        fires("slack-token", &format!("{}{}", "xoxb-", "123456789012-1234567890123-AbCdEfGhIjKl"));
        fires(
            "slack-webhook",
            &format!("https://hooks.slack.com/services/{}", "T0000AAAA/B0000BBBB/xyzXYZ0123456789"),
        );
        quiet("the bot token starts with xoxb- and lives in the vault");
    }

    #[test]
    fn key_specs() {
        fires("key-spec", &format!("SIGNING_KEYS=k202601:{}", "ab".repeat(32)));
        fires("key-spec", &format!("const A: &str = \"a:{}2\";", "1".repeat(63)));
        fires("key-spec", &format!("old:{},new:{}", "c".repeat(64), "d".repeat(64)));
        quiet(&format!("k1:{}", "ab".repeat(31))); // 62 hex digits
        quiet(&format!("k1:{}", "ab".repeat(40))); // 80 hex digits
        quiet(&format!("image: postgres@sha256:{}", "e3".repeat(32)));
        quiet("SIGNING_KEYS is a secret: `wrangler secret put SIGNING_KEYS` (format id:hex64[,id:hex64]).");
    }

    #[test]
    fn jwts() {
        let token = ["eyJhbGciOiJIUzI1NiJ9", "eyJzdWIiOiIxMjM0NTY3ODkwIn0", "c2lnbmF0dXJlLWJ5dGVz"].join(".");
        fires("jwt", &format!("Authorization: Bearer {token}"));
        let unsigned = ["eyJhbGciOiJub25lIn0", "eyJzdWIiOiJ4eHh4eHh4In0", ""].join(".");
        fires("jwt", &format!("\"{unsigned}\""));
        quiet("a JWT starts with eyJ because base64('{\"') does");
    }

    #[test]
    fn connection_urls_with_passwords() {
        fires("url-with-password", &format!("DATABASE_URL=postgres://app:{}@db:5432/x", "hunter2"));
        fires("url-with-password", &format!("redis_url = \"rediss://:{}@cache:6380\"", "s3cret"));
        quiet("DATABASE_URL=postgres://postgres@127.0.0.1:5432/sparkmotion");
        quiet("redis://127.0.0.1:6379");
        quiet("format!(\"postgres://{user}:{password}@{host}/db\")");
        quiet("postgres://app:${DB_PASSWORD}@db/x");
        quiet("postgres://app:***@db/x (redacted in logs)");
    }

    #[test]
    fn secret_assignments() {
        let v = sample();
        fires("secret-assignment", &format!("API_{} = \"{v}\"", "TOKEN"));
        fires("secret-assignment", &format!("DB_{}={v}", "PASSWORD"));
        fires("secret-assignment", &format!("export SESSION_{}={v}", "SECRET"));
        fires("secret-assignment", &format!("  client_{}: {v}", "secret"));
        fires("secret-assignment", &format!("const SIGNING_{}: &str = \"{v}\";", "KEY"));
        fires("secret-assignment", &format!("{{\"api_{}\": \"{v}\"}}", "key"));
        quiet("PASSWORD = \"short\"");
        quiet("TOKEN = \"${{ secrets.NPM_TOKEN }}\"");
        quiet("API_TOKEN: ${{ secrets.API_TOKEN }}");
        quiet("password_reset_template = \"password_reset_email.html\"");
        quiet("KEY_PATH = \"/etc/sparkmotion/keys/signing-2026.pem\"");
        quiet("let key = format!(\"bands:{band_id}\");");
        quiet(&format!("const GREETING_ID: &str = \"{v}\";"));
        quiet("    signing_key: key.clone(),");
    }

    #[test]
    fn redaction_hides_the_value() {
        let value = sample();
        let shown = redact(&Hit { rule: "secret-assignment", value: value.clone() });
        assert!(!shown.contains(&value) && shown.contains("24 chars"), "{shown}");
    }

    #[test]
    fn allowlist_entries_are_reportable() {
        for a in allowlist() {
            assert!(!a.reason.is_empty());
            // Each entry must be something a rule reports, bare or as an assigned value.
            let as_assignment = format!("SECRET = \"{}\"", a.value);
            let reported = !rules(&a.value).is_empty() || !rules(&as_assignment).is_empty();
            assert!(reported, "allow-list entry {:?} in {} matches no rule", a.value, a.path);
        }
    }
}
