//! Who is acting: every mutation takes an `Actor`, which decides what it may
//! touch and is recorded in the audit trail.

use uuid::Uuid;

/// A platform role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    /// Runs the platform: every organisation.
    Admin,
    /// An organisation's staff: only that organisation.
    Customer,
}

impl Role {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Customer => "CUSTOMER",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ADMIN" => Some(Role::Admin),
            "CUSTOMER" => Some(Role::Customer),
            _ => None,
        }
    }
}

/// The kind of principal behind an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A signed-in user.
    User {
        /// User id.
        id: Uuid,
        /// Role at the time of the request.
        role: Role,
        /// Organisation (always set for CUSTOMERs).
        org_id: Option<Uuid>,
        /// Email, for the audit trail.
        email: String,
    },
    /// An operator on the admin CLI.
    Cli {
        /// OS user running the command.
        operator: String,
    },
    /// A background job.
    System {
        /// Job name.
        job: &'static str,
    },
    /// Someone not signed in (login attempts, password resets).
    Anonymous,
}

/// An actor plus the request facts the audit trail keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Who.
    pub principal: Principal,
    /// Request id (from the edge or generated).
    pub request_id: Option<String>,
    /// Salted hash of the client IP.
    pub ip_hash: Option<String>,
    /// Coarse user-agent class.
    pub user_agent: Option<String>,
}

impl Actor {
    /// An actor with no request context.
    pub fn new(principal: Principal) -> Self {
        Self { principal, request_id: None, ip_hash: None, user_agent: None }
    }

    /// The CLI operator (from `$USER`).
    pub fn cli() -> Self {
        let operator =
            std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
        Self::new(Principal::Cli { operator })
    }

    /// A background job.
    pub fn system(job: &'static str) -> Self {
        Self::new(Principal::System { job })
    }

    /// `user`, `cli`, `system` or `anonymous`, as stored in the audit log.
    pub fn kind_name(&self) -> &'static str {
        match self.principal {
            Principal::User { .. } => "user",
            Principal::Cli { .. } => "cli",
            Principal::System { .. } => "system",
            Principal::Anonymous => "anonymous",
        }
    }

    /// The user id, when a user acts.
    pub fn user_id(&self) -> Option<Uuid> {
        match &self.principal {
            Principal::User { id, .. } => Some(*id),
            _ => None,
        }
    }

    /// A readable name for the audit trail.
    pub fn label(&self) -> String {
        match &self.principal {
            Principal::User { email, .. } => email.clone(),
            Principal::Cli { operator } => format!("cli:{operator}"),
            Principal::System { job } => format!("system:{job}"),
            Principal::Anonymous => "anonymous".into(),
        }
    }

    /// The organisation this actor is confined to (`None`: every organisation).
    ///
    /// Queries filter on it, so tenancy holds even if a handler forgets a check.
    pub fn org_scope(&self) -> Scope {
        match &self.principal {
            Principal::User { role: Role::Admin, .. } | Principal::Cli { .. } | Principal::System { .. } => {
                Scope::All
            }
            Principal::User { role: Role::Customer, org_id: Some(org), .. } => Scope::Org(*org),
            Principal::User { role: Role::Customer, org_id: None, .. } | Principal::Anonymous => {
                Scope::Nothing
            }
        }
    }

    /// Whether the actor runs the platform (ADMIN, CLI operator, system job).
    pub fn is_platform(&self) -> bool {
        self.org_scope() == Scope::All
    }
}

/// What part of the data an actor may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every organisation.
    All,
    /// One organisation.
    Org(Uuid),
    /// Nothing.
    Nothing,
}

impl Scope {
    /// Whether `org` is inside the scope.
    pub fn allows(self, org: Uuid) -> bool {
        match self {
            Scope::All => true,
            Scope::Org(own) => own == org,
            Scope::Nothing => false,
        }
    }

    /// The SQL filter value: `NULL` means "no filter" in queries written as
    /// `($n::uuid IS NULL OR org_id = $n)`; `Nothing` maps to the nil UUID, which no row has.
    pub fn filter(self) -> Option<Uuid> {
        match self {
            Scope::All => None,
            Scope::Org(org) => Some(org),
            Scope::Nothing => Some(Uuid::nil()),
        }
    }
}
