//! Organisations (tenants).

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::actor::Actor;
use super::{Domain, DomainError, validate};
use crate::audit::Entry;

/// A tenant.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Organization {
    /// Id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// URL-safe unique name.
    pub slug: String,
    /// Members must use MFA.
    pub mfa_required: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Input for [`Domain::create_org`].
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NewOrg {
    /// Display name.
    pub name: String,
    /// URL-safe unique name; derived from the name when absent.
    pub slug: Option<String>,
}

/// Changes to an organisation.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct OrgPatch {
    /// New name (platform operators only).
    pub name: Option<String>,
    /// Require MFA for every member.
    pub mfa_required: Option<bool>,
}

macro_rules! org_columns {
    () => {
        "id, name, slug, mfa_required, created_at"
    };
}

/// Derives a slug: lower-case ASCII letters and digits, dashes between words.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').chars().take(63).collect()
}

impl Domain {
    /// Creates an organisation (platform operators only).
    pub async fn create_org(&self, actor: &Actor, input: NewOrg) -> Result<Organization, DomainError> {
        if !actor.is_platform() {
            return Err(DomainError::Forbidden);
        }
        let name = validate::text("name", &input.name, 200)?;
        let slug = input
            .slug
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map_or_else(|| slugify(&name), str::to_string);
        if slug.is_empty()
            || slug.len() > 63
            || !slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            || slug.starts_with('-')
        {
            return Err(DomainError::invalid("slug", "must be 1-63 characters of a-z, 0-9 and '-'"));
        }
        let mut tx = self.begin().await?;
        let org: Organization = sqlx::query_as(concat!(
            "INSERT INTO organizations (id, name, slug) VALUES ($1, $2, $3) RETURNING ",
            org_columns!()
        ))
        .bind(Uuid::now_v7())
        .bind(&name)
        .bind(&slug)
        .fetch_one(&mut *tx)
        .await
        .map_err(DomainError::from_db)?;
        self.audit(&mut tx, actor, Entry::new("org.created", "org", org.id, Some(org.id)).after(&org))
            .await?;
        tx.commit().await?;
        Ok(org)
    }

    /// Renames an organisation (platform operators) or sets its MFA requirement
    /// (platform operators, or the organisation's own members).
    pub async fn update_org(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: OrgPatch,
    ) -> Result<Organization, DomainError> {
        if !actor.org_scope().allows(id) {
            return Err(DomainError::NotFound);
        }
        if patch.name.is_some() && !actor.is_platform() {
            return Err(DomainError::Forbidden);
        }
        let mut tx = self.begin().await?;
        let before: Organization = sqlx::query_as(concat!(
            "SELECT ",
            org_columns!(),
            " FROM organizations WHERE id = $1 AND deleted_at IS NULL FOR UPDATE"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::NotFound)?;
        let name = patch
            .name
            .as_deref()
            .map(|n| validate::text("name", n, 200))
            .transpose()?
            .unwrap_or_else(|| before.name.clone());
        let after: Organization = sqlx::query_as(concat!(
            "UPDATE organizations SET name = $2, mfa_required = $3 WHERE id = $1 RETURNING ",
            org_columns!()
        ))
        .bind(id)
        .bind(&name)
        .bind(patch.mfa_required.unwrap_or(before.mfa_required))
        .fetch_one(&mut *tx)
        .await?;
        self.audit(
            &mut tx,
            actor,
            Entry::new("org.updated", "org", id, Some(id)).before(&before).after(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// One organisation, if visible to the actor.
    pub async fn get_org(&self, actor: &Actor, id: Uuid) -> Result<Organization, DomainError> {
        if !actor.org_scope().allows(id) {
            return Err(DomainError::NotFound);
        }
        sqlx::query_as(concat!(
            "SELECT ",
            org_columns!(),
            " FROM organizations WHERE id = $1 AND deleted_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(&self.db)
        .await?
        .ok_or(DomainError::NotFound)
    }

    /// Organisations visible to the actor.
    pub async fn list_orgs(&self, actor: &Actor) -> Result<Vec<Organization>, DomainError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            org_columns!(),
            " FROM organizations WHERE deleted_at IS NULL AND ($1::uuid IS NULL OR id = $1) ORDER BY name"
        ))
        .bind(actor.org_scope().filter())
        .fetch_all(&self.db)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::slugify;

    #[test]
    fn slugs() {
        assert_eq!(slugify("Glastonbury Festival 2027!"), "glastonbury-festival-2027");
        assert_eq!(slugify("  Ünïcode  Fest "), "n-code-fest");
        assert_eq!(slugify("!!!"), "");
    }
}
