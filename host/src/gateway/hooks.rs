//! Hooks on the ONES API: which plugin functions run before and after an
//! ONES call, and the rules that keep a plugin set coherent.
//!
//! Order: hooks run in plugin load order (for `op serve`, installation
//! order), and within a plugin in declaration order.

use std::collections::HashMap;

use crate::manifest::{ApiScope, ApiType, HookFailure, Method, Segment};
use crate::runtime::Plugin;

use super::routes::{Declared, params, path_matches, query_matches};

/// One hook entry of one plugin (`replace`, `prefix`, `intercept`,
/// `suffix` or `subscribe`).
#[derive(Debug, Clone)]
pub struct Hook {
    /// The entry.
    pub declared: Declared,
    /// The team a team-level plugin is installed in (`None`: every team).
    pub team: Option<String>,
    /// What a failure of this hook does to the call.
    pub failure: HookFailure,
    /// How the log and the metrics name it: `kind:function`, e.g.
    /// `intercept:guard` (made once, not per call).
    pub label: String,
}

impl std::ops::Deref for Hook {
    type Target = Declared;
    fn deref(&self) -> &Declared {
        &self.declared
    }
}

impl Hook {
    /// Whether the hooked API is team-level (`/team/:teamUUID`).
    pub fn team_level(&self) -> bool {
        self.pattern.is_team_level()
    }

    /// How the API is shown in messages, e.g. `POST /project/api/project/team/:teamUUID/tasks/add2`.
    pub fn api(&self, method: Method) -> String {
        format!("{method} {}{}", self.scope.base(), self.pattern)
    }
}

/// The hooks that apply to one request, by kind, in run order.
#[derive(Debug, Default)]
pub struct Matching<'a> {
    /// `intercept` hooks.
    pub intercept: Vec<(&'a Hook, Vec<(String, String)>)>,
    /// The `prefix` hook.
    pub prefix: Option<(&'a Hook, Vec<(String, String)>)>,
    /// The `replace` hook.
    pub replace: Option<(&'a Hook, Vec<(String, String)>)>,
    /// The `suffix` hook.
    pub suffix: Option<(&'a Hook, Vec<(String, String)>)>,
    /// `subscribe` hooks.
    pub subscribe: Vec<(&'a Hook, Vec<(String, String)>)>,
}

impl Matching<'_> {
    /// Whether no hook applies.
    pub fn is_empty(&self) -> bool {
        self.intercept.is_empty()
            && self.prefix.is_none()
            && self.replace.is_none()
            && self.suffix.is_none()
            && self.subscribe.is_empty()
    }

    /// Whether a hook needs the upstream's answer.
    pub fn needs_answer(&self) -> bool {
        self.suffix.is_some() || !self.subscribe.is_empty()
    }
}

/// Every hook of a plugin set, with an index of their paths.
#[derive(Debug, Default)]
pub struct HookTable {
    hooks: Vec<Hook>,
    /// The hooks by path, one tree per scope: a request's candidates are
    /// found by walking its segments, whatever the number of hooks.
    paths: HashMap<ApiScope, PathNode>,
}

/// One level of the path index: the hooks whose pattern ends here, and the
/// patterns that go on with a literal segment or a parameter.
#[derive(Debug, Default)]
struct PathNode {
    ends: Vec<usize>,
    literals: HashMap<String, PathNode>,
    param: Option<Box<PathNode>>,
}

impl PathNode {
    fn insert(&mut self, segments: &[Segment], hook: usize) {
        match segments.split_first() {
            None => self.ends.push(hook),
            Some((Segment::Literal(literal), rest)) => self
                .literals
                .entry(literal.clone())
                .or_default()
                .insert(rest, hook),
            Some((Segment::Param(_), rest)) => {
                self.param.get_or_insert_default().insert(rest, hook)
            }
        }
    }

    /// Adds to `found` every hook whose pattern matches `segments` (a
    /// parameter takes any non-empty segment).
    fn collect(&self, segments: &[&str], found: &mut Vec<usize>) {
        let Some((first, rest)) = segments.split_first() else {
            found.extend_from_slice(&self.ends);
            return;
        };
        if let Some(next) = self.literals.get(*first) {
            next.collect(rest, found);
        }
        if let Some(next) = &self.param
            && !first.is_empty()
        {
            next.collect(rest, found);
        }
    }
}

/// A plugin set that breaks the ownership and combination rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugins `{first}` and `{second}` conflict on {api}: {rule}")]
pub struct ConflictError {
    /// The plugin loaded first.
    pub first: String,
    /// The other plugin.
    pub second: String,
    /// The API, e.g. `GET /project/api/project/users/me`.
    pub api: String,
    /// The rule they break.
    pub rule: String,
}

impl HookTable {
    /// The hooks of `plugins`, checked against the rules: on one API (at
    /// one level, per team for team-level APIs) `replace`, `prefix` and
    /// `suffix` have one owner each, and `intercept`/`subscribe` cannot be
    /// combined with `replace`.
    pub fn new(plugins: &[std::sync::Arc<Plugin>]) -> Result<Self, ConflictError> {
        let mut hooks = Vec::new();
        for (index, plugin) in plugins.iter().enumerate() {
            let manifest = plugin.manifest();
            let failure = manifest
                .sandbox
                .as_ref()
                .map(|s| s.hook_failure)
                .unwrap_or_default();
            let team = if manifest.is_org_level() {
                None
            } else {
                plugin.instance().installation.team_uuid.clone()
            };
            for api in manifest.apis.iter().filter(|api| !api.kind.is_route()) {
                let Some(declared) = Declared::new(index, manifest, api) else {
                    continue;
                };
                let label = format!("{}:{}", declared.kind.as_str(), declared.function);
                hooks.push(Hook {
                    declared,
                    team: team.clone(),
                    failure,
                    label,
                });
            }
        }
        let mut paths: HashMap<ApiScope, PathNode> = HashMap::new();
        for (index, hook) in hooks.iter().enumerate() {
            paths
                .entry(hook.scope)
                .or_default()
                .insert(&hook.pattern.segments, index);
        }
        let table = HookTable { hooks, paths };
        table.check()?;
        Ok(table)
    }

    /// Every hook.
    pub fn hooks(&self) -> &[Hook] {
        &self.hooks
    }

    fn check(&self) -> Result<(), ConflictError> {
        for (i, a) in self.hooks.iter().enumerate() {
            for b in &self.hooks[i + 1..] {
                if a.plugin == b.plugin
                    || a.scope != b.scope
                    || a.pattern.shape() != b.pattern.shape()
                {
                    continue;
                }
                let Some(method) = a.methods.iter().find(|m| b.methods.contains(m)) else {
                    continue;
                };
                // Two team-level plugins in different teams never meet.
                if a.team_level() && a.team.is_some() && b.team.is_some() && a.team != b.team {
                    continue;
                }
                let rule = match (a.kind, b.kind) {
                    (x, y)
                        if x == y
                            && matches!(
                                x,
                                ApiType::Replace | ApiType::Prefix | ApiType::Suffix
                            ) =>
                    {
                        format!("an API has one `{}` owner", x.as_str())
                    }
                    (ApiType::Replace, ApiType::Intercept | ApiType::Subscribe)
                    | (ApiType::Intercept | ApiType::Subscribe, ApiType::Replace) => {
                        "`intercept` and `subscribe` cannot be combined with `replace`".to_string()
                    }
                    _ => continue,
                };
                return Err(ConflictError {
                    first: a.plugin_id.clone(),
                    second: b.plugin_id.clone(),
                    api: a.api(*method),
                    rule,
                });
            }
        }
        Ok(())
    }

    /// The hooks that apply to a request.
    pub fn matching(
        &self,
        scope: ApiScope,
        segments: &[&str],
        method: Option<Method>,
        query: &[(String, String)],
    ) -> Matching<'_> {
        let mut found = Matching::default();
        let Some(method) = method else { return found };
        let Some(paths) = self.paths.get(&scope) else {
            return found;
        };
        let mut candidates = Vec::new();
        paths.collect(segments, &mut candidates);
        // Load order, then declaration order: the order hooks run in.
        candidates.sort_unstable();
        for hook in candidates.into_iter().map(|i| &self.hooks[i]) {
            debug_assert!(path_matches(&hook.pattern, segments));
            if !hook.methods.contains(&method) || !query_matches(&hook.query, query) {
                continue;
            }
            let params = params(&hook.pattern, segments);
            if let Some(team) = &hook.team
                && hook.team_level()
                && params
                    .iter()
                    .any(|(name, value)| name == "teamUUID" && value != team)
            {
                continue;
            }
            let entry = (hook, params);
            match hook.kind {
                ApiType::Intercept => found.intercept.push(entry),
                ApiType::Subscribe => found.subscribe.push(entry),
                ApiType::Prefix => {
                    found.prefix.get_or_insert(entry);
                }
                ApiType::Replace => {
                    found.replace.get_or_insert(entry);
                }
                ApiType::Suffix => {
                    found.suffix.get_or_insert(entry);
                }
                ApiType::Addition | ApiType::External => {}
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::UrlPattern;

    /// The path index finds exactly the patterns a scan of every pattern
    /// finds, in declaration order, for literal and parameter segments
    /// that overlap.
    #[test]
    fn the_path_index_finds_what_a_scan_finds() {
        let urls = [
            "/team/:teamUUID/tasks/add2",
            "/team/:teamUUID/tasks/:op",
            "/team/:teamUUID/:what/add2",
            "/team/TeamA/tasks/add2",
            "/users/me",
            "/users/:id",
            "/team/:teamUUID/tasks3/add2",
            "/team/:teamUUID/tasks/add2",
            "/:a/:b",
        ];
        let patterns: Vec<UrlPattern> =
            urls.iter().map(|u| UrlPattern::parse(u).unwrap()).collect();
        let mut index = PathNode::default();
        for (i, p) in patterns.iter().enumerate() {
            index.insert(&p.segments, i);
        }
        let paths = [
            "team/TeamA/tasks/add2",
            "team/TeamB/tasks/add2",
            "team/TeamB/tasks/delete",
            "team/TeamB/items/add2",
            "team/TeamB/tasks3/add2",
            "team//tasks/add2",
            "users/me",
            "users/u1",
            "users/",
            "users/me/more",
            "team",
            "",
        ];
        for path in paths {
            let segments: Vec<&str> = path.split('/').collect();
            let scanned: Vec<usize> = patterns
                .iter()
                .enumerate()
                .filter(|(_, p)| p.segments.len() == segments.len() && path_matches(p, &segments))
                .map(|(i, _)| i)
                .collect();
            let mut indexed = Vec::new();
            index.collect(&segments, &mut indexed);
            indexed.sort_unstable();
            assert_eq!(indexed, scanned, "{path}");
        }
        let mut all = Vec::new();
        index.collect(&["team", "TeamA", "tasks", "add2"], &mut all);
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3, 7], "both copies of one pattern, in order");
    }
}
