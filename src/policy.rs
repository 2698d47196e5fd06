//! Who may request what, who may decide it, and within which limits.
//!
//! The policy is read from the `[settings]`, `[users.*]` and `[services.*]`
//! tables of the gateway's TOML config (see `assets/dev-policy.toml` for a
//! commented example), validated once at load, and then only answers
//! questions. It is pure: no I/O, no clock (callers pass `now`), no state.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;

use crate::protocol::{AccessRequest, Capability, CatalogService, ErrorCode, Grant, UserInfo};

/// Role names as `hello` announces them.
pub const ROLE_ENGINEER: &str = "engineer";
pub const ROLE_APPROVER: &str = "approver";
pub const ROLE_LEAD: &str = "lead";

/// Policy-wide settings (`[settings]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// How long a request may stay pending before it expires.
    #[serde(with = "crate::duration::serde_human")]
    pub request_ttl: Duration,
    /// Shortest grant anyone may ask for (dev mode allows 1 s to watch expiry).
    #[serde(with = "crate::duration::serde_human")]
    pub min_duration: Duration,
    /// Members of these groups are leads: they see everything and may revoke.
    pub lead_groups: Vec<String>,
    /// Shortest reason accepted, in characters (break-glass reasons included).
    pub min_reason_chars: usize,
    /// Token bucket per user for ops: burst size and refill per second.
    pub ops_burst: u32,
    pub ops_per_sec: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            request_ttl: Duration::from_secs(24 * 3600),
            min_duration: Duration::from_secs(60),
            lead_groups: vec!["leads".into()],
            min_reason_chars: 3,
            ops_burst: 100,
            ops_per_sec: 20.0,
        }
    }
}

/// One person (`[users.NAME]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct UserDef {
    pub groups: Vec<String>,
    pub display_name: Option<String>,
}

/// One service people may ask access to (`[services.NAME]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceDef {
    #[serde(default)]
    pub description: String,
    pub capabilities: Vec<Capability>,
    #[serde(with = "crate::duration::serde_human")]
    pub max_duration: Duration,
    #[serde(default = "one")]
    pub approvals_required: u32,
    /// Groups whose members may ask for access.
    pub requesters: Vec<String>,
    /// Groups whose members may approve or deny (never their own requests).
    #[serde(default)]
    pub approvers: Vec<String>,
    /// Groups whose requests are approved at once.
    #[serde(default)]
    pub auto_approve: Vec<String>,
    /// Groups that may self-grant in an emergency (raised to every lead).
    #[serde(default)]
    pub break_glass: Vec<String>,
}

fn one() -> u32 {
    1
}

/// The policy tables as they appear in the config file.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
pub struct PolicyFile {
    #[serde(default)]
    pub settings: Settings,
    #[serde(default)]
    pub users: BTreeMap<String, UserDef>,
    #[serde(default)]
    pub services: BTreeMap<String, ServiceDef>,
}

/// A policy file that does not make sense, caught at load time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyConfigError {
    #[error("service `{service}`: {problem}")]
    Service { service: String, problem: String },
    #[error("user `{user}`: {problem}")]
    User { user: String, problem: String },
    #[error("settings: {0}")]
    Settings(String),
}

/// Why the policy refuses something a user asked for. Each says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error(
        "unknown service `{0}`; `breakglass` lists the services you may request (catalog.list)"
    )]
    UnknownService(String),
    #[error("service `{service}` offers {offered}, not `{cap}`")]
    CapabilityNotOffered {
        service: String,
        cap: Capability,
        offered: String,
    },
    #[error("ask for at least one capability ({0})")]
    NoCapabilities(String),
    #[error("you are not in a group that may request access to `{0}`")]
    NotARequester(String),
    #[error(
        "duration {asked_s}s is above the cap of {max_s}s for `{service}`; ask for less or extend later"
    )]
    DurationTooLong {
        service: String,
        asked_s: u64,
        max_s: u64,
    },
    #[error("duration {asked_s}s is below the minimum of {min_s}s")]
    DurationTooShort { asked_s: u64, min_s: u64 },
    #[error("a reason of at least {0} characters is required")]
    ReasonTooShort(usize),
    #[error("break-glass is not allowed for you on `{0}`; file a normal request")]
    BreakGlassNotAllowed(String),
}

impl PolicyError {
    pub fn code(&self) -> ErrorCode {
        match self {
            PolicyError::UnknownService(_) => ErrorCode::NotFound,
            PolicyError::NotARequester(_) | PolicyError::BreakGlassNotAllowed(_) => {
                ErrorCode::Forbidden
            }
            _ => ErrorCode::BadRequest,
        }
    }
}

/// What the policy says about a request it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestRules {
    pub approvals_required: u32,
    pub auto_approve: bool,
    pub break_glass: bool,
    pub request_ttl: Duration,
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    file: PolicyFile,
    /// Derived once: the leads, and each service's approvers (who receives
    /// which event is asked for every event, so it must be cheap).
    leads: BTreeSet<String>,
    approvers: BTreeMap<String, BTreeSet<String>>,
}

impl Policy {
    /// Validates the tables so that mistakes show at start, not at 3 a.m.
    pub fn new(file: PolicyFile) -> Result<Policy, PolicyConfigError> {
        let s = &file.settings;
        if s.min_duration.is_zero() {
            return Err(PolicyConfigError::Settings(
                "min_duration must be at least 1s".into(),
            ));
        }
        if s.request_ttl.is_zero() {
            return Err(PolicyConfigError::Settings(
                "request_ttl must be at least 1s".into(),
            ));
        }
        if s.ops_burst == 0 || s.ops_per_sec <= 0.0 {
            return Err(PolicyConfigError::Settings(
                "ops_burst and ops_per_sec must be positive".into(),
            ));
        }
        let known_groups: BTreeSet<&str> = file
            .users
            .values()
            .flat_map(|u| u.groups.iter().map(String::as_str))
            .collect();
        for (name, user) in &file.users {
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(PolicyConfigError::User {
                    user: name.clone(),
                    problem: "names may not be empty or contain spaces".into(),
                });
            }
            if user.groups.is_empty() {
                return Err(PolicyConfigError::User {
                    user: name.clone(),
                    problem: "belongs to no group, so can do nothing; give it `groups = [...]`"
                        .into(),
                });
            }
        }
        for (name, svc) in &file.services {
            let bad = |problem: String| PolicyConfigError::Service {
                service: name.clone(),
                problem,
            };
            if svc.capabilities.is_empty() {
                return Err(bad("offers no capabilities".into()));
            }
            if svc.max_duration < s.min_duration {
                return Err(bad(format!(
                    "max_duration is below settings.min_duration ({}s)",
                    s.min_duration.as_secs()
                )));
            }
            if svc.requesters.is_empty() {
                return Err(bad(
                    "has no requester groups, so nobody can ask for it".into()
                ));
            }
            for group in svc
                .requesters
                .iter()
                .chain(&svc.approvers)
                .chain(&svc.auto_approve)
                .chain(&svc.break_glass)
            {
                if !known_groups.contains(group.as_str()) {
                    return Err(bad(format!("group `{group}` has no members (a typo?)")));
                }
            }
            if svc.approvals_required == 0 && svc.auto_approve.is_empty() {
                return Err(bad(
                    "approvals_required is 0: use auto_approve groups to approve automatically"
                        .into(),
                ));
            }
            let approvers = file
                .users
                .iter()
                .filter(|(_, u)| u.groups.iter().any(|g| svc.approvers.contains(g)))
                .count() as u32;
            let needs_approval = svc.requesters.iter().any(|g| !svc.auto_approve.contains(g));
            // A requester never approves their own request, so when approvers
            // can also request, one more approver than required must exist.
            if needs_approval && approvers < svc.approvals_required {
                return Err(bad(format!(
                    "needs {} approvals but only {} users are in its approver groups",
                    svc.approvals_required, approvers
                )));
            }
        }
        let member_of = |groups: &[String]| -> BTreeSet<String> {
            file.users
                .iter()
                .filter(|(_, u)| u.groups.iter().any(|g| groups.contains(g)))
                .map(|(n, _)| n.clone())
                .collect()
        };
        let leads = member_of(&file.settings.lead_groups);
        let approvers = file
            .services
            .iter()
            .map(|(name, svc)| (name.clone(), member_of(&svc.approvers)))
            .collect();
        Ok(Policy {
            file,
            leads,
            approvers,
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.file.settings
    }

    pub fn service(&self, name: &str) -> Option<&ServiceDef> {
        self.file.services.get(name)
    }

    pub fn service_names(&self) -> impl Iterator<Item = &str> {
        self.file.services.keys().map(String::as_str)
    }

    pub fn user_names(&self) -> impl Iterator<Item = &str> {
        self.file.users.keys().map(String::as_str)
    }

    fn groups_of(&self, user: &str) -> &[String] {
        self.file
            .users
            .get(user)
            .map(|u| u.groups.as_slice())
            .unwrap_or(&[])
    }

    fn in_any(&self, user: &str, groups: &[String]) -> bool {
        self.groups_of(user).iter().any(|g| groups.contains(g))
    }

    /// The user as `hello` announces them, or `None` when the policy no
    /// longer knows them (their tokens stop working).
    pub fn user(&self, name: &str) -> Option<UserInfo> {
        let def = self.file.users.get(name)?;
        let mut roles = Vec::new();
        if self
            .file
            .services
            .values()
            .any(|s| self.in_any(name, &s.requesters))
        {
            roles.push(ROLE_ENGINEER.to_string());
        }
        if self
            .file
            .services
            .values()
            .any(|s| self.in_any(name, &s.approvers))
        {
            roles.push(ROLE_APPROVER.to_string());
        }
        if self.is_lead(name) {
            roles.push(ROLE_LEAD.to_string());
        }
        Some(UserInfo {
            name: name.to_string(),
            groups: def.groups.clone(),
            roles,
        })
    }

    pub fn is_lead(&self, user: &str) -> bool {
        self.leads.contains(user)
    }

    pub fn leads(&self) -> &BTreeSet<String> {
        &self.leads
    }

    /// The users the policy names as approvers of `service`.
    pub fn approvers_of(&self, service: &str) -> impl Iterator<Item = &str> {
        self.approvers
            .get(service)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// Services this user may request, as `catalog.list` shows them.
    pub fn catalog_for(&self, user: &str) -> Vec<CatalogService> {
        self.file
            .services
            .iter()
            .filter(|(_, s)| self.in_any(user, &s.requesters))
            .map(|(name, s)| CatalogService {
                name: name.clone(),
                description: s.description.clone(),
                capabilities: s.capabilities.clone(),
                max_duration_s: s.max_duration.as_secs(),
                min_duration_s: self.file.settings.min_duration.as_secs(),
                approvals_required: s.approvals_required,
                auto_approve: self.in_any(user, &s.auto_approve),
                break_glass: self.in_any(user, &s.break_glass),
            })
            .collect()
    }

    /// Checks a new request against the policy; never shortens or widens it.
    pub fn check_request(
        &self,
        user: &str,
        service: &str,
        capabilities: &[Capability],
        duration_s: u64,
        reason: &str,
        break_glass: bool,
    ) -> Result<RequestRules, PolicyError> {
        let svc = self
            .service(service)
            .ok_or_else(|| PolicyError::UnknownService(service.to_string()))?;
        if !self.in_any(user, &svc.requesters) {
            return Err(PolicyError::NotARequester(service.to_string()));
        }
        let offered = || {
            svc.capabilities
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if capabilities.is_empty() {
            return Err(PolicyError::NoCapabilities(offered()));
        }
        if let Some(cap) = capabilities.iter().find(|c| !svc.capabilities.contains(c)) {
            return Err(PolicyError::CapabilityNotOffered {
                service: service.to_string(),
                cap: *cap,
                offered: offered(),
            });
        }
        let max_s = svc.max_duration.as_secs();
        if duration_s > max_s {
            return Err(PolicyError::DurationTooLong {
                service: service.to_string(),
                asked_s: duration_s,
                max_s,
            });
        }
        let min_s = self.file.settings.min_duration.as_secs();
        if duration_s < min_s {
            return Err(PolicyError::DurationTooShort {
                asked_s: duration_s,
                min_s,
            });
        }
        let min_reason = self.file.settings.min_reason_chars;
        if reason.trim().chars().count() < min_reason {
            return Err(PolicyError::ReasonTooShort(min_reason));
        }
        if break_glass && !self.in_any(user, &svc.break_glass) {
            return Err(PolicyError::BreakGlassNotAllowed(service.to_string()));
        }
        Ok(RequestRules {
            approvals_required: svc.approvals_required,
            auto_approve: self.in_any(user, &svc.auto_approve),
            break_glass,
            request_ttl: self.file.settings.request_ttl,
        })
    }

    /// Whether `user` is named by the policy as an approver of `service`.
    pub fn is_approver_of(&self, user: &str, service: &str) -> bool {
        self.approvers
            .get(service)
            .is_some_and(|a| a.contains(user))
    }

    /// Whether `user` may approve or deny this request: a named approver of
    /// its service, and never the requester.
    pub fn may_decide(&self, user: &str, request: &AccessRequest) -> bool {
        user != request.requester && self.is_approver_of(user, &request.service)
    }

    /// Requester, the service's approvers and leads see a request.
    pub fn can_see_request(&self, user: &str, request: &AccessRequest) -> bool {
        user == request.requester
            || self.is_lead(user)
            || self.is_approver_of(user, &request.service)
    }

    /// Holder, the service's approvers and leads see a grant.
    pub fn can_see_grant(&self, user: &str, grant: &Grant) -> bool {
        user == grant.user || self.is_lead(user) || self.is_approver_of(user, &grant.service)
    }

    /// Leads may revoke any grant; holders may give theirs up.
    pub fn may_revoke(&self, user: &str, grant: &Grant) -> bool {
        user == grant.user || self.is_lead(user)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn demo_policy() -> Policy {
        let file: PolicyFile = toml::from_str(include_str!("../assets/dev-policy.toml")).unwrap();
        Policy::new(file).unwrap()
    }

    #[test]
    fn demo_policy_roles_match_the_design() {
        let p = demo_policy();
        assert_eq!(p.user("alice").unwrap().roles, vec![ROLE_ENGINEER]);
        assert_eq!(p.user("erin").unwrap().roles, vec![ROLE_ENGINEER]);
        assert!(p.user("bob").unwrap().has_role(ROLE_APPROVER));
        assert!(p.user("dave").unwrap().has_role(ROLE_APPROVER));
        assert!(p.user("carol").unwrap().has_role(ROLE_LEAD));
        assert!(p.user("mallory").is_none());
    }

    #[test]
    fn catalog_tells_alice_she_may_break_glass_on_payments_but_erin_not() {
        let p = demo_policy();
        let pay = |u: &str| {
            p.catalog_for(u)
                .into_iter()
                .find(|s| s.name == "payments")
                .unwrap()
        };
        assert!(pay("alice").break_glass);
        assert!(!pay("erin").break_glass);
        assert_eq!(pay("alice").max_duration_s, 7200);
        let search = |u: &str| {
            p.catalog_for(u)
                .into_iter()
                .find(|s| s.name == "search")
                .unwrap()
        };
        assert!(search("alice").auto_approve);
        assert!(!search("erin").auto_approve);
    }

    #[test]
    fn over_long_durations_are_refused_not_shortened() {
        let p = demo_policy();
        let err = p
            .check_request(
                "alice",
                "payments",
                &[Capability::LogsRead],
                7201,
                "INC-1 debugging",
                false,
            )
            .unwrap_err();
        assert_eq!(
            err,
            PolicyError::DurationTooLong {
                service: "payments".into(),
                asked_s: 7201,
                max_s: 7200
            }
        );
        assert_eq!(err.code(), ErrorCode::BadRequest);
        let err = p
            .check_request(
                "alice",
                "payments",
                &[Capability::LogsRead],
                0,
                "INC-1 debugging",
                false,
            )
            .unwrap_err();
        assert!(matches!(err, PolicyError::DurationTooShort { .. }));
    }

    #[test]
    fn unknown_services_and_capabilities_are_named() {
        let p = demo_policy();
        let err = p
            .check_request(
                "alice",
                "ledger",
                &[Capability::LogsRead],
                60,
                "why not",
                false,
            )
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::NotFound);
        assert!(err.to_string().contains("ledger"));
        let err = p
            .check_request("alice", "payments", &[], 60, "why not", false)
            .unwrap_err();
        assert!(err.to_string().contains("logs:read"));
    }

    #[test]
    fn break_glass_only_for_the_groups_the_policy_names() {
        let p = demo_policy();
        assert!(
            p.check_request(
                "alice",
                "payments",
                &[Capability::LogsRead],
                60,
                "prod down",
                true
            )
            .is_ok()
        );
        assert_eq!(
            p.check_request(
                "erin",
                "payments",
                &[Capability::LogsRead],
                60,
                "prod down",
                true
            )
            .unwrap_err(),
            PolicyError::BreakGlassNotAllowed("payments".into())
        );
    }

    #[test]
    fn approvers_never_decide_their_own_requests() {
        let p = demo_policy();
        let req = |who: &str| AccessRequest {
            requester: who.to_string(),
            ..crate::lifecycle::tests::pending_request("alice", "payments", 1)
        };
        assert!(p.may_decide("bob", &req("alice")));
        assert!(!p.may_decide("bob", &req("bob")));
        assert!(!p.may_decide("erin", &req("alice")));
        assert!(!p.may_decide("carol", &req("alice")));
    }

    #[test]
    fn visibility_is_requester_approvers_and_leads() {
        let p = demo_policy();
        let r = crate::lifecycle::tests::pending_request("alice", "payments", 1);
        assert!(p.can_see_request("alice", &r));
        assert!(p.can_see_request("bob", &r));
        assert!(p.can_see_request("carol", &r));
        assert!(!p.can_see_request("erin", &r));
    }

    proptest::proptest! {
        /// Whatever anyone asks, an accepted request is within the service's
        /// duration bounds, only for offered capabilities, from a requester,
        /// and break-glass only for the groups named.
        #[test]
        fn accepted_requests_never_exceed_what_the_policy_allows(
            who in proptest::sample::select(vec!["alice", "erin", "bob", "dave", "carol", "mallory"]),
            service in proptest::sample::select(vec!["payments", "checkout", "search", "ledger"]),
            caps in proptest::collection::vec(proptest::sample::select(Capability::ALL.to_vec()), 0..3),
            duration_s in 0u64..20_000,
            reason in "[ a-z]{0,8}",
            break_glass in proptest::bool::ANY,
        ) {
            let p = demo_policy();
            if let Ok(rules) = p.check_request(who, service, &caps, duration_s, &reason, break_glass) {
                let svc = p.service(service).unwrap();
                proptest::prop_assert!(duration_s <= svc.max_duration.as_secs());
                proptest::prop_assert!(duration_s >= p.settings().min_duration.as_secs());
                proptest::prop_assert!(!caps.is_empty() && caps.iter().all(|c| svc.capabilities.contains(c)));
                proptest::prop_assert!(p.catalog_for(who).iter().any(|s| s.name == service));
                proptest::prop_assert!(reason.trim().len() >= p.settings().min_reason_chars);
                proptest::prop_assert!(!break_glass || p.catalog_for(who).iter().any(|s| s.name == service && s.break_glass));
                proptest::prop_assert!(rules.approvals_required >= 1);
            }
        }
    }

    #[test]
    fn mistakes_in_the_policy_file_are_caught_at_load() {
        let base = include_str!("../assets/dev-policy.toml");
        let typo = base.replace("approvers = [\"approvers\"]", "approvers = [\"aprovers\"]");
        let err = Policy::new(toml::from_str(&typo).unwrap()).unwrap_err();
        assert!(err.to_string().contains("aprovers"), "{err}");
        let needs_three = base.replace("approvals_required = 2", "approvals_required = 3");
        let err = Policy::new(toml::from_str(&needs_three).unwrap()).unwrap_err();
        assert!(err.to_string().contains("needs 3 approvals"), "{err}");
        let unknown_key = format!("{base}\n[settings.nope]\n");
        assert!(toml::from_str::<PolicyFile>(&unknown_key).is_err());
    }
}
