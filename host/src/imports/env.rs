//! `op:plugin/env`: where the plugin is installed and its config values.

use super::HostState;
use crate::bindings::op::plugin::env::{Environment, Host};

impl Host for HostState {
    fn current(&mut self) -> Environment {
        let call = &self.call;
        let instance = &call.instance;
        Environment {
            team_uuid: instance
                .team(call.request_team.as_deref())
                .map(str::to_string),
            organization_uuid: instance.installation.organization_uuid.clone(),
            instance_id: instance.installation.instance_id.clone(),
        }
    }

    fn config(&mut self) -> Vec<(String, String)> {
        self.call.instance.config.clone()
    }
}
