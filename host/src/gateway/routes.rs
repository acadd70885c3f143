//! The route table: which plugin function answers a request.
//!
//! Routes are the `addition` and `external` entries of every loaded plugin.
//! A request matches an entry when its API base (scope), path segments
//! (`:name` takes any segment), method and `query` map all match. Several
//! plugins may declare the same route; the `Ones-Plugin-Id` header picks one.
//! Within one plugin, the first declared entry that matches wins.
//!
//! One plugin may be installed in several teams (one instance each): a
//! route whose url has `:teamUUID` goes to the instance of that team; a
//! route without one goes to the instance of the team the
//! `Ones-Team-UUID` header names, and without the header to the only
//! instance, or, when there are several, nowhere ([`Miss::TeamNeeded`]).

use std::collections::{BTreeMap, HashMap};

use crate::manifest::{ApiScope, ApiType, Manifest, Method, Segment, UrlPattern};

/// One `apis` entry of one plugin, parsed for matching: what routes and
/// hooks have in common.
#[derive(Debug, Clone)]
pub struct Declared {
    /// Index of the plugin in the set the table was built from.
    pub plugin: usize,
    /// The plugin's app_id.
    pub plugin_id: String,
    /// The entry's type.
    pub kind: ApiType,
    /// API base.
    pub scope: ApiScope,
    /// Methods it applies to.
    pub methods: Vec<Method>,
    /// The url.
    pub pattern: UrlPattern,
    /// Query parameters that must be present with these values.
    pub query: BTreeMap<String, String>,
    /// Function to call.
    pub function: String,
    /// Manifest path of the entry (`apis[2]`), for messages.
    pub entry: String,
}

impl Declared {
    /// The entry `api` of plugin number `plugin`; `None` when its url does
    /// not parse (a manifest that loaded has none such).
    pub fn new(
        plugin: usize,
        manifest: &Manifest,
        api: &crate::manifest::Located<crate::manifest::Api>,
    ) -> Option<Self> {
        Some(Declared {
            plugin,
            plugin_id: manifest.app_id().to_string(),
            kind: api.kind,
            scope: api.scope,
            methods: api
                .methods
                .iter()
                .filter_map(|m| Method::parse(m))
                .collect(),
            pattern: UrlPattern::parse(&api.url).ok()?,
            query: api
                .query
                .as_ref()
                .map(|q| q.value.clone())
                .unwrap_or_default(),
            function: api.function.value.clone(),
            entry: api.path.clone(),
        })
    }
}

/// One routable entry (`addition` or `external`).
#[derive(Debug, Clone)]
pub struct Route {
    /// The entry.
    pub declared: Declared,
    /// The team of the instance of a team-level plugin (`None`: an
    /// organization-level plugin, or a plugin not installed in a team).
    pub team: Option<String>,
}

impl std::ops::Deref for Route {
    type Target = Declared;
    fn deref(&self) -> &Declared {
        &self.declared
    }
}

/// A matched route and the values of its path parameters.
#[derive(Debug)]
pub struct Matched<'a> {
    /// The route.
    pub route: &'a Route,
    /// `:name` values, in url order.
    pub params: Vec<(String, String)>,
}

/// Why no route answers.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    /// No route has this path (with this query).
    NoRoute,
    /// Routes have this path, but not this method.
    MethodNotAllowed(Vec<Method>),
    /// Several plugins answer and the request does not say which.
    Ambiguous(Vec<String>),
    /// `Ones-Plugin-Id` names a plugin that has no such route.
    NotInPlugin(String),
    /// The plugin that answers is installed in several teams, and neither
    /// the url nor the `Ones-Team-UUID` header says which.
    TeamNeeded {
        /// Its app_id.
        plugin: String,
        /// The teams it is installed in.
        teams: Vec<String>,
    },
}

/// The index key of a route: API base, number of segments, and the first
/// segment when it is a literal (`None` for a `:param`).
type ShapeKey = (ApiScope, usize, Option<String>);

/// Every route of a plugin set, indexed by [`ShapeKey`]; each bucket holds
/// route indices in table order.
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
    by_shape: HashMap<ShapeKey, Vec<usize>>,
}

impl RouteTable {
    /// Builds the table of `manifests` (in load order), none installed in
    /// a team.
    pub fn new<'a>(manifests: impl IntoIterator<Item = &'a Manifest>) -> Self {
        Self::with_teams(manifests.into_iter().map(|m| (m, None)))
    }

    /// Builds the table of plugin instances (in load order): each manifest
    /// with the team its instance is installed in.
    pub fn with_teams<'a>(
        instances: impl IntoIterator<Item = (&'a Manifest, Option<&'a str>)>,
    ) -> Self {
        let mut table = RouteTable::default();
        for (plugin, (manifest, team)) in instances.into_iter().enumerate() {
            for api in manifest.apis.iter().filter(|api| api.kind.is_route()) {
                let Some(declared) = Declared::new(plugin, manifest, api) else {
                    continue;
                };
                let route = Route {
                    declared,
                    team: team.map(str::to_string),
                };
                let first = match route.pattern.segments.first() {
                    Some(Segment::Literal(literal)) => Some(literal.clone()),
                    _ => None,
                };
                let key = (route.scope, route.pattern.segments.len(), first);
                table
                    .by_shape
                    .entry(key)
                    .or_default()
                    .push(table.routes.len());
                table.routes.push(route);
            }
        }
        table
    }

    /// Every route, in table order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Finds the route for a request. `path` is below the API base and
    /// percent-decoded per segment by the caller; `method` is `None` for a
    /// method no route can have; `team` is the `Ones-Team-UUID` header.
    pub fn find(
        &self,
        scope: ApiScope,
        segments: &[&str],
        method: Option<Method>,
        query: &[(String, String)],
        plugin_id: Option<&str>,
        team: Option<&str>,
    ) -> Result<Matched<'_>, Miss> {
        let literal = segments.first().and_then(|first| {
            self.by_shape
                .get(&(scope, segments.len(), Some((*first).to_string())))
        });
        let param = self.by_shape.get(&(scope, segments.len(), None));
        let candidates = merge(
            literal.map_or(&[][..], Vec::as_slice),
            param.map_or(&[][..], Vec::as_slice),
        );
        if candidates.is_empty() {
            return Err(Miss::NoRoute);
        }
        let mut allowed: Vec<Method> = Vec::new();
        let mut chosen: Option<Matched<'_>> = None;
        let mut other_plugins: Vec<&str> = Vec::new();
        let mut other_teams: Vec<&str> = Vec::new();
        let mut any_path = false;
        for index in candidates {
            let route = &self.routes[index];
            if !path_matches(&route.pattern, segments) {
                continue;
            }
            if !query_matches(&route.query, query) {
                continue;
            }
            // An instance of another team is not there at all: no 405 for
            // it either.
            if let Some(installed_in) = &route.team {
                // The url's team wins over the header's.
                let url_team =
                    route
                        .pattern
                        .segments
                        .iter()
                        .zip(segments)
                        .find_map(|(segment, actual)| match segment {
                            Segment::Param(name) if name == "teamUUID" => Some(*actual),
                            _ => None,
                        });
                if url_team
                    .or(team)
                    .is_some_and(|wanted| wanted != installed_in)
                {
                    continue;
                }
            }
            any_path = true;
            if !method.is_some_and(|m| route.methods.contains(&m)) {
                allowed.extend(route.methods.iter().copied());
                continue;
            }
            if plugin_id.is_some_and(|id| id != route.plugin_id) {
                continue;
            }
            match &chosen {
                None => {
                    chosen = Some(Matched {
                        route,
                        params: params(&route.pattern, segments),
                    });
                }
                Some(first) if first.route.plugin_id == route.plugin_id => {
                    // Another instance of the same plugin, in another team.
                    if first.route.plugin != route.plugin
                        && let Some(other) = &route.team
                        && !other_teams.contains(&other.as_str())
                    {
                        other_teams.push(other);
                    }
                }
                Some(first) if first.route.plugin != route.plugin => {
                    if !other_plugins.contains(&route.plugin_id.as_str()) {
                        other_plugins.push(&route.plugin_id);
                    }
                }
                Some(_) => {}
            }
        }
        match chosen {
            Some(found) if !other_plugins.is_empty() => {
                let mut plugins = vec![found.route.plugin_id.clone()];
                plugins.extend(other_plugins.into_iter().map(str::to_string));
                Err(Miss::Ambiguous(plugins))
            }
            Some(found) if !other_teams.is_empty() => {
                let mut teams: Vec<String> = found.route.team.iter().cloned().collect();
                teams.extend(other_teams.into_iter().map(str::to_string));
                Err(Miss::TeamNeeded {
                    plugin: found.route.plugin_id.clone(),
                    teams,
                })
            }
            Some(found) => Ok(found),
            None if !allowed.is_empty() && plugin_id.is_none() => {
                allowed.sort();
                allowed.dedup();
                Err(Miss::MethodNotAllowed(allowed))
            }
            None if any_path && plugin_id.is_some() => {
                Err(Miss::NotInPlugin(plugin_id.unwrap_or_default().to_string()))
            }
            None => Err(Miss::NoRoute),
        }
    }
}

/// Two ascending index lists merged into one, so that table order is kept.
fn merge(a: &[usize], b: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if j == b.len() || (i < a.len() && a[i] < b[j]) {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out
}

pub(super) fn path_matches(pattern: &UrlPattern, segments: &[&str]) -> bool {
    pattern
        .segments
        .iter()
        .zip(segments)
        .all(|(expected, actual)| match expected {
            Segment::Literal(literal) => literal == actual,
            Segment::Param(_) => !actual.is_empty(),
        })
}

pub(super) fn query_matches(wanted: &BTreeMap<String, String>, query: &[(String, String)]) -> bool {
    wanted
        .iter()
        .all(|(key, value)| query.iter().any(|(k, v)| k == key && v == value))
}

pub(super) fn params(pattern: &UrlPattern, segments: &[&str]) -> Vec<(String, String)> {
    pattern
        .segments
        .iter()
        .zip(segments)
        .filter_map(|(segment, actual)| match segment {
            Segment::Param(name) => Some((name.clone(), (*actual).to_string())),
            Segment::Literal(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse;

    fn manifest(app_id: &str, apis: &str) -> Manifest {
        let text =
            format!("service:\n  app_id: {app_id}\n  name: t\n  version: 1.0.0\napis:\n{apis}");
        parse(&text, "plugin.yaml").unwrap()
    }

    fn route(kind: &str, methods: &str, url: &str, function: &str, extra: &str) -> String {
        format!(
            "  - type: {kind}\n    methods: [{methods}]\n    url: {url}\n    function: {function}\n{extra}"
        )
    }

    fn find<'a>(
        table: &'a RouteTable,
        path: &str,
        method: Method,
        query: &[(&str, &str)],
        plugin: Option<&str>,
    ) -> Result<Matched<'a>, Miss> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        table.find(
            ApiScope::Project,
            &segments,
            Some(method),
            &query,
            plugin,
            None,
        )
    }

    #[test]
    fn params_methods_and_first_declared_wins() {
        let a = manifest(
            "a",
            &[
                route("addition", "GET", "/items/:id", "getItem", ""),
                route("addition", "GET", "/items/new", "never", ""),
                route("addition", "PUT", "/items/:id", "putItem", ""),
            ]
            .concat(),
        );
        let table = RouteTable::new([&a]);
        let found = find(&table, "/items/42", Method::Get, &[], None).unwrap();
        assert_eq!(found.route.function, "getItem");
        assert_eq!(found.params, [("id".to_string(), "42".to_string())]);
        assert_eq!(
            find(&table, "/items/new", Method::Get, &[], None)
                .unwrap()
                .route
                .function,
            "getItem"
        );
        assert_eq!(
            find(&table, "/items/1", Method::Put, &[], None)
                .unwrap()
                .route
                .function,
            "putItem"
        );
        assert_eq!(
            find(&table, "/items/1", Method::Delete, &[], None).unwrap_err(),
            Miss::MethodNotAllowed(vec![Method::Get, Method::Put])
        );
        assert_eq!(
            find(&table, "/items", Method::Get, &[], None).unwrap_err(),
            Miss::NoRoute
        );
        assert_eq!(
            find(&table, "/items/1/x", Method::Get, &[], None).unwrap_err(),
            Miss::NoRoute
        );
    }

    #[test]
    fn declaration_order_holds_between_literal_and_parameter_first_segments() {
        let a = manifest(
            "a",
            &[
                route("addition", "GET", "/:kind/list", "anyList", ""),
                route("addition", "GET", "/users/list", "usersList", ""),
                route("addition", "GET", "/users/:id", "user", ""),
            ]
            .concat(),
        );
        let table = RouteTable::new([&a]);
        assert_eq!(
            find(&table, "/users/list", Method::Get, &[], None)
                .unwrap()
                .route
                .function,
            "anyList"
        );
        assert_eq!(
            find(&table, "/users/7", Method::Get, &[], None)
                .unwrap()
                .route
                .function,
            "user"
        );
        assert_eq!(
            find(&table, "/tasks/list", Method::Get, &[], None)
                .unwrap()
                .route
                .function,
            "anyList"
        );
    }

    #[test]
    fn the_query_map_narrows_matches() {
        let a = manifest(
            "a",
            &[
                route(
                    "addition",
                    "GET",
                    "/export",
                    "csv",
                    "    query:\n      format: csv\n",
                ),
                route("addition", "GET", "/export", "plain", ""),
            ]
            .concat(),
        );
        let table = RouteTable::new([&a]);
        let pick = |query: &[(&str, &str)]| {
            find(&table, "/export", Method::Get, query, None)
                .unwrap()
                .route
                .function
                .clone()
        };
        assert_eq!(pick(&[("format", "csv")]), "csv");
        assert_eq!(pick(&[("x", "1"), ("format", "csv")]), "csv");
        assert_eq!(pick(&[("format", "json")]), "plain");
        assert_eq!(pick(&[]), "plain");
    }

    #[test]
    fn the_plugin_id_header_chooses_between_plugins() {
        let a = manifest("alpha", &route("addition", "POST", "/hello", "a", ""));
        let b = manifest("beta", &route("addition", "POST", "/hello", "b", ""));
        let table = RouteTable::new([&a, &b]);
        assert_eq!(
            find(&table, "/hello", Method::Post, &[], None).unwrap_err(),
            Miss::Ambiguous(vec!["alpha".into(), "beta".into()])
        );
        assert_eq!(
            find(&table, "/hello", Method::Post, &[], Some("beta"))
                .unwrap()
                .route
                .function,
            "b"
        );
        assert_eq!(
            find(&table, "/hello", Method::Post, &[], Some("gamma")).unwrap_err(),
            Miss::NotInPlugin("gamma".into())
        );
        let only_a = RouteTable::new([&a]);
        assert_eq!(
            find(&only_a, "/hello", Method::Post, &[], None)
                .unwrap()
                .route
                .function,
            "a"
        );
    }

    /// Where `method path` goes when the request names `team` (the
    /// `Ones-Team-UUID` header) or none.
    fn find_in<'a>(
        table: &'a RouteTable,
        method: Method,
        path: &str,
        team: Option<&str>,
    ) -> Result<Matched<'a>, Miss> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        table.find(ApiScope::Project, &segments, Some(method), &[], None, team)
    }

    #[test]
    fn one_plugin_in_two_teams_is_dispatched_by_the_team_of_the_request() {
        let apis = route("addition", "POST", "/hello", "hello", "")
            + &route("external", "GET", "/team/:teamUUID/who", "who", "");
        let plugin = manifest("alpha", &apis);
        let table = RouteTable::with_teams([(&plugin, Some("TEAMA")), (&plugin, Some("TEAMB"))]);
        let in_url = find_in(&table, Method::Get, "/team/TEAMB/who", None).unwrap();
        assert_eq!(
            (in_url.route.plugin, in_url.route.team.as_deref()),
            (1, Some("TEAMB"))
        );
        // The url's team wins over the header's.
        let both = find_in(&table, Method::Get, "/team/TEAMB/who", Some("TEAMA")).unwrap();
        assert_eq!(both.route.plugin, 1);
        assert_eq!(
            find_in(&table, Method::Get, "/team/TEAMC/who", None).unwrap_err(),
            Miss::NoRoute
        );
        assert_eq!(
            find_in(&table, Method::Post, "/hello", None).unwrap_err(),
            Miss::TeamNeeded {
                plugin: "alpha".into(),
                teams: vec!["TEAMA".into(), "TEAMB".into()]
            }
        );
        let by_header = find_in(&table, Method::Post, "/hello", Some("TEAMA")).unwrap();
        assert_eq!(by_header.route.plugin, 0);
        // A team the plugin is not in, named by the header, is no route,
        // whatever the method.
        assert_eq!(
            find_in(&table, Method::Post, "/hello", Some("TEAMC")).unwrap_err(),
            Miss::NoRoute
        );
        assert_eq!(
            find_in(&table, Method::Get, "/hello", Some("TEAMC")).unwrap_err(),
            Miss::NoRoute
        );
        assert_eq!(
            find_in(&table, Method::Get, "/hello", Some("TEAMA")).unwrap_err(),
            Miss::MethodNotAllowed(vec![Method::Post])
        );
        let one = RouteTable::with_teams([(&plugin, Some("TEAMA"))]);
        assert_eq!(
            find_in(&one, Method::Post, "/hello", None)
                .unwrap()
                .route
                .plugin,
            0
        );
    }
}
