//! Every route, with the access it requires, in one table: the router is
//! built from it, and the authorization-matrix test enumerates it, so a route
//! cannot exist without a declared access level (or without a matrix entry).

use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};

use super::AppState;
use super::session_auth::Access;
use crate::dashboard as page;
use crate::{api, band_lookup, ingest};

/// One route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    /// Method.
    pub method: MethodSpec,
    /// Path pattern (axum syntax, e.g. `/api/v1/events/{id}`).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

/// The HTTP methods routes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodSpec {
    /// GET (and HEAD).
    Get,
    /// POST.
    Post,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl MethodSpec {
    /// As an HTTP method.
    pub fn method(self) -> Method {
        match self {
            MethodSpec::Get => Method::GET,
            MethodSpec::Post => Method::POST,
            MethodSpec::Patch => Method::PATCH,
            MethodSpec::Delete => Method::DELETE,
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            MethodSpec::Get => MethodFilter::GET,
            MethodSpec::Post => MethodFilter::POST,
            MethodSpec::Patch => MethodFilter::PATCH,
            MethodSpec::Delete => MethodFilter::DELETE,
        }
    }
}

macro_rules! routes {
    ($( $method:ident $path:literal => $access:ident $handler:path ),* $(,)?) => {
        /// The declared routes.
        pub fn table() -> Vec<RouteSpec> {
            vec![$( RouteSpec { method: MethodSpec::$method, path: $path, access: Access::$access } ),*]
        }

        /// The routes with their handlers.
        pub fn handlers() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
            vec![$(
                (
                    RouteSpec { method: MethodSpec::$method, path: $path, access: Access::$access },
                    on(MethodSpec::$method.filter(), $handler),
                )
            ),*]
        }
    };
}

routes! {
    Get    "/healthz"                                   => Public  super::healthz,
    Get    "/readyz"                                    => Public  super::readyz,
    Get    "/metrics"                                   => Public  super::metrics,
    Post   "/internal/v1/taps"                          => Signed  ingest::ingest,
    Get    "/internal/v1/bands/{id}"                    => Signed  band_lookup::lookup,

    Post   "/api/v1/auth/login"                         => Public  api::auth::login_handler,
    Post   "/api/v1/auth/password-reset"                => Public  api::auth::reset_request,
    Post   "/api/v1/auth/password-reset/complete"       => Public  api::auth::reset_complete,
    Post   "/api/v1/auth/mfa"                           => MfaPending api::mfa::challenge,
    Post   "/api/v1/auth/step-up"                       => User    api::mfa::step_up,
    Post   "/api/v1/auth/logout"                        => Enrolment api::auth::logout,
    Get    "/api/v1/me"                                 => Enrolment api::auth::me,
    Post   "/api/v1/me/password"                        => User    api::auth::change_password,
    Get    "/api/v1/me/mfa"                             => Enrolment api::mfa::status,
    Post   "/api/v1/me/mfa/enrol"                       => Enrolment api::mfa::enrol,
    Post   "/api/v1/me/mfa/confirm"                     => Enrolment api::mfa::confirm,
    Post   "/api/v1/me/mfa/recovery-codes"              => User    api::mfa::regenerate,
    Post   "/api/v1/me/mfa/disable"                     => User    api::mfa::disable,

    Get    "/api/v1/sessions"                           => User    api::sessions::list,
    Delete "/api/v1/sessions/{id}"                      => User    api::sessions::revoke,
    Post   "/api/v1/sessions/revoke-all"                => User    api::sessions::revoke_all,

    Get    "/api/v1/orgs"                               => User    api::orgs::list,
    Post   "/api/v1/orgs"                               => Admin   api::orgs::create,
    Get    "/api/v1/orgs/{id}"                          => User    api::orgs::get,
    Patch  "/api/v1/orgs/{id}"                          => User    api::orgs::update,
    Delete "/api/v1/orgs/{id}"                          => Admin   api::trash::delete_org,
    Post   "/api/v1/orgs/{id}/restore"                  => Admin   api::trash::restore_org,

    Get    "/api/v1/events"                             => User    api::events::list,
    Post   "/api/v1/events"                             => User    api::events::create,
    Get    "/api/v1/events/{id}"                        => User    api::events::get,
    Patch  "/api/v1/events/{id}"                        => User    api::events::update,
    Delete "/api/v1/events/{id}"                        => User    api::trash::delete_event,
    Post   "/api/v1/events/{id}/restore"                => User    api::trash::restore_event,
    Get    "/api/v1/events/{id}/windows"                => User    api::events::windows,
    Post   "/api/v1/events/{id}/windows"                => User    api::events::add_window,
    Delete "/api/v1/events/{id}/windows/{window_id}"    => User    api::events::remove_window,
    Get    "/api/v1/events/{id}/bands"                  => User    api::bands::list,
    Post   "/api/v1/events/{id}/bands/import"           => User    api::bands::import,
    Get    "/api/v1/events/{id}/analytics"              => User    api::analytics::show,
    Get    "/api/v1/bands/{band_id}"                    => User    api::bands::get,
    Patch  "/api/v1/bands/{band_id}"                    => User    api::bands::update,
    Delete "/api/v1/bands/{band_id}"                    => User    api::trash::delete_band,
    Post   "/api/v1/bands/{band_id}/restore"            => User    api::trash::restore_band,
    Get    "/api/v1/trash"                              => User    api::trash::list,

    Get    "/api/v1/users"                              => Admin   api::users::list,
    Post   "/api/v1/users"                              => Admin   api::users::invite,
    Get    "/api/v1/users/{id}"                         => Admin   api::users::get,
    Patch  "/api/v1/users/{id}"                         => Admin   api::users::update,
    Post   "/api/v1/users/{id}/deactivate"              => Admin   api::users::deactivate,
    Post   "/api/v1/users/{id}/reactivate"              => Admin   api::users::reactivate,
    Delete "/api/v1/users/{id}"                         => Admin   api::trash::delete_user,
    Post   "/api/v1/users/{id}/restore"                 => Admin   api::trash::restore_user,
    Post   "/api/v1/users/{id}/mfa/reset"               => Admin   api::mfa::admin_reset,

    Get    "/api/v1/audit"                              => User    api::audit::list,

    Get    "/"                                          => Public  page::page::home,
    Get    "/static/app.css"                            => Public  page::assets::css,
    Get    "/static/app.js"                             => Public  page::assets::js,
    Get    "/login"                                     => Public  page::auth_pages::login_form,
    Post   "/login"                                     => Public  page::auth_pages::login_submit,
    Get    "/forgot-password"                           => Public  page::auth_pages::forgot_form,
    Post   "/forgot-password"                           => Public  page::auth_pages::forgot_submit,
    Get    "/reset-password"                            => Public  page::auth_pages::reset_form,
    Post   "/reset-password"                            => Public  page::auth_pages::reset_submit,
    Get    "/login/mfa"                                 => MfaPending page::auth_pages::mfa_form,
    Post   "/login/mfa"                                 => MfaPending page::auth_pages::mfa_submit,
    Get    "/mfa/enrol"                                 => Enrolment page::auth_pages::enrol_form,
    Post   "/mfa/enrol"                                 => Enrolment page::auth_pages::enrol_submit,
    Post   "/logout"                                    => Enrolment page::auth_pages::logout,

    Get    "/events"                                    => User    page::events::list,
    Get    "/events/new"                                => User    page::events::new_form,
    Post   "/events"                                    => User    page::events::create,
    Get    "/events/{id}"                               => User    page::events::show,
    Post   "/events/{id}"                               => User    page::events::update,
    Post   "/events/{id}/windows"                       => User    page::events::add_window,
    Post   "/events/{id}/windows/{window_id}/delete"    => User    page::events::remove_window,
    Post   "/events/{id}/delete"                        => User    page::events::delete,
    Get    "/events/{id}/sync"                          => User    page::events::sync_status,
    Get    "/events/{id}/recent"                        => User    page::events::recent,
    Get    "/events/{id}/bands"                         => User    page::bands::list,
    Post   "/events/{id}/bands/import"                  => User    page::bands::import,
    Post   "/bands/{band_id}"                           => User    page::bands::update,
    Post   "/bands/{band_id}/delete"                    => User    page::bands::delete,
    Get    "/events/{id}/analytics"                     => User    page::analytics::show,
    Get    "/events/{id}/analytics.csv"                 => User    page::analytics::csv,

    Get    "/trash"                                     => User    page::trash::list,
    Post   "/trash/events/{id}/restore"                 => User    page::trash::restore_event,
    Post   "/trash/bands/{band_id}/restore"             => User    page::trash::restore_band,
    Post   "/trash/users/{id}/restore"                  => Admin   page::trash::restore_user,
    Post   "/trash/orgs/{id}/restore"                   => Admin   page::trash::restore_org,

    Get    "/account"                                   => User    page::account::show,
    Post   "/account/password"                          => User    page::account::change_password,
    Post   "/account/step-up"                           => User    page::account::step_up,
    Post   "/account/recovery-codes"                    => User    page::account::regenerate_codes,
    Post   "/account/mfa/disable"                       => User    page::account::disable_mfa,
    Post   "/account/sessions/{id}/revoke"              => User    page::account::revoke_session,
    Post   "/account/sessions/revoke-others"            => User    page::account::revoke_others,

    Get    "/audit"                                     => Admin   page::admin::audit,
    Get    "/users"                                     => Admin   page::admin::users,
    Post   "/users"                                     => Admin   page::admin::invite,
    Post   "/users/{id}"                                => Admin   page::admin::update,
    Post   "/users/{id}/deactivate"                     => Admin   page::admin::deactivate,
    Post   "/users/{id}/reactivate"                     => Admin   page::admin::reactivate,
    Post   "/users/{id}/mfa-reset"                      => Admin   page::admin::reset_mfa,
}
